/**
 * KVM_X86_SET_MSR_FILTER validation and lookup (api.rst; kvm_vm_ioctl_set_msr_filter(),
 * kvm_add_msr_filter(), kvm_msr_allowed()), KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR), and the
 * per-VM rows the attack-surface panel shows: MSRs, CPUID, capabilities.
 */
import { describe, expect, it } from 'vitest';
import { SysError } from '../core/errno';
import { scenario } from '../test-helpers';
import { capRows } from './kvm';
import { allowBitmap, kvmMsrAllowed, parseMsrFilter, setMsrConstraint, type KvmMsrFilter } from './msr-filter';
import { cpuidRows, msrRows } from './msr-cpuid';
import {
  KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER, KVM_MSR_FILTER_DEFAULT_ALLOW, KVM_MSR_FILTER_DEFAULT_DENY,
  KVM_MSR_FILTER_MAX_BITMAP_SIZE, KVM_MSR_FILTER_READ, KVM_MSR_FILTER_WRITE,
} from './uapi';

const R = KVM_MSR_FILTER_READ;
const W = KVM_MSR_FILTER_WRITE;
const errno = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    if (e instanceof SysError) return e.errno;
    throw e;
  }
  return undefined;
};

function vms() {
  const sim = scenario([], { vms: [{ name: 'plain', type: 'default', memory: '4M', program: 'hlt' }, { name: 'td', type: 'tdx', memory: '4M', tdx: { firmware_accept: 0 }, program: 'hlt' }] });
  return { plain: sim.vmms.get('plain')!.vm, td: sim.vmms.get('td')!.vm, sim };
}

describe('KVM_X86_SET_MSR_FILTER validation', () => {
  const range = { flags: R, nmsrs: 8, base: 0x10, bitmap: [0xff] };
  it.each<[string, KvmMsrFilter, string]>([
    ['unknown filter flags', { flags: 2, ranges: [range] }, 'EINVAL'],
    ['a range with no flags', { flags: 0, ranges: [{ ...range, flags: 0 }] }, 'EINVAL'],
    ['a range with unknown flags', { flags: 0, ranges: [{ ...range, flags: 4 }] }, 'EINVAL'],
    ['nmsrs needing more than KVM_MSR_FILTER_MAX_BITMAP_SIZE bytes', { flags: 0, ranges: [{ ...range, nmsrs: KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8 + 1, bitmap: allowBitmap(KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8 + 1) }] }, 'EINVAL'],
    ['DEFAULT_DENY with no ranges', { flags: KVM_MSR_FILTER_DEFAULT_DENY, ranges: [] }, 'EINVAL'],
    ['more than KVM_MSR_FILTER_MAX_RANGES ranges', { flags: 0, ranges: Array(17).fill(range) }, 'EINVAL'],
    ['a bitmap shorter than nmsrs bits', { flags: 0, ranges: [{ ...range, nmsrs: 16 }] }, 'EFAULT'],
  ])('%s → %s', (_, f, e) => {
    expect(errno(() => parseMsrFilter(f))).toBe(e);
  });

  it('a range with nmsrs 0 is skipped whatever its flags; the largest bitmap (0x600 bytes) is accepted', () => {
    const f = parseMsrFilter({ flags: 0, ranges: [{ flags: 0xff, nmsrs: 0, base: 0, bitmap: [] }, { flags: R, nmsrs: 0x3000, base: 0, bitmap: allowBitmap(0x3000) }] });
    expect(f.ranges.map((r) => r.nmsrs)).toEqual([0x3000]);
  });

  it('a failed KVM_X86_SET_MSR_FILTER keeps the old filter; DEFAULT_ALLOW with no ranges removes it', () => {
    const { plain } = vms();
    plain.setMsrFilter({ flags: 0, ranges: [{ flags: R, nmsrs: 1, base: 0x277, bitmap: [0] }] });
    expect(errno(() => plain.setMsrFilter({ flags: 8, ranges: [] }))).toBe('EINVAL');
    expect(kvmMsrAllowed(plain.msrPolicy.filter, 0x277, R)).toBe(false);
    plain.setMsrFilter({ flags: KVM_MSR_FILTER_DEFAULT_ALLOW, ranges: [] });
    expect(plain.msrPolicy.filter).toBeNull();
  });
});

describe('kvm_msr_allowed', () => {
  const f = parseMsrFilter({
    flags: KVM_MSR_FILTER_DEFAULT_DENY,
    ranges: [
      { flags: W, nmsrs: 8, base: 0x270, bitmap: [0] },
      { flags: R | W, nmsrs: 16, base: 0x270, bitmap: allowBitmap(16, [7]) },
    ],
  });
  it('the first range covering the index for this kind of access decides; a set bit allows', () => {
    expect(kvmMsrAllowed(f, 0x277, W)).toBe(false); // first range, bit clear
    expect(kvmMsrAllowed(f, 0x277, R)).toBe(false); // second range, bit 7 clear
    expect(kvmMsrAllowed(f, 0x276, R)).toBe(true);
    expect(kvmMsrAllowed(f, 0x27f, W)).toBe(true);
    expect(kvmMsrAllowed(f, 0x280, R)).toBe(false); // no range: default deny
  });
  it('x2APIC MSRs 0x800-0x8ff are always allowed; no filter allows everything', () => {
    expect(kvmMsrAllowed(f, 0x830, W)).toBe(true);
    expect(kvmMsrAllowed(null, 0x12345, R)).toBe(true);
  });
});

describe('KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)', () => {
  it('accepts only KVM_MSR_EXIT_REASON_{INVAL,UNKNOWN,FILTER} (1, 2, 4) and works on a TD too', () => {
    const { plain, td } = vms();
    expect(errno(() => plain.enableCap(KVM_CAP_X86_USER_SPACE_MSR, [8]))).toBe('EINVAL');
    expect(td.enableCap(KVM_CAP_X86_USER_SPACE_MSR, [7])).toBe(0);
    expect(td.userSpaceMsr).toBe(7);
  });
});

describe('rows for the attack-surface panel', () => {
  it('msrRows: the same MSR takes different paths in an ordinary VM and a TD, and the filter and constraints show', () => {
    const { plain, td } = vms();
    plain.enableCap(KVM_CAP_X86_USER_SPACE_MSR, [KVM_MSR_EXIT_REASON_FILTER]);
    plain.setMsrFilter({ flags: 0, ranges: [{ flags: W, nmsrs: 1, base: 0x277, bitmap: [0] }] });
    setMsrConstraint(td, 0x6e0, { kind: 'read-only' });
    const row = (vm: typeof plain, index: string) => msrRows(vm).find((r) => r.index === index)!;
    expect(row(plain, '0x277')).toMatchObject({ tdClass: null, filter: { read: 'allow', write: 'deny' }, readPath: 'VM exit → KVM emulates', reachesHost: true });
    expect(row(plain, '0x277').writePath).toBe('VM exit → kvm_msr_allowed: denied → KVM_EXIT_X86_WRMSR (KVM_MSR_EXIT_REASON_FILTER) → user space answers');
    expect(row(td, '0x277')).toMatchObject({ tdClass: 've', readPath: '#VE → TDG.VP.VMCALL<Instruction.RDMSR> → KVM emulates' });
    expect(row(td, '0xc0000082')).toMatchObject({ tdClass: 'native', reachesHost: false });
    expect(row(td, '0x480')).toMatchObject({ tdClass: 'gp', reachesHost: false });
    expect(row(td, '0x6e0')).toMatchObject({ constraint: { kind: 'read-only' } });
    expect(row(td, '0x4b564d01').readPath).toBe('#VE → TDG.VP.VMCALL<Instruction.RDMSR> → KVM refuses it: #GP');
    expect(row(plain, '0x808').filter).toEqual({ read: 'allow', write: 'allow' });
  });

  it('cpuidRows: KVM_SET_CPUID2 for an ordinary VM; for a TD the module fixes bits, answers 0x21 and sends the hypervisor range to #VE', () => {
    const { plain, td } = vms();
    const p = cpuidRows(plain);
    const t = cpuidRows(td);
    expect(p.every((r) => r.policy === 'KVM_SET_CPUID2' && !r.ve)).toBe(true);
    const leaf = (rows: typeof p, l: string) => rows.find((r) => r.leaf === l)!;
    expect(leaf(t, '0x21')).toMatchObject({ ebx: '0x65746e49', edx: '0x5844546c', ecx: '0x20202020', ve: false }); // "Inte" "lTDX" "    "
    expect(leaf(p, '0x21')).toMatchObject({ ebx: '0x00000000' });
    expect(leaf(t, '0x40000000').ve).toBe(true);
    expect(Number(leaf(t, '0x1').ecx) & (1 << 5)).toBe(0); // VMX fixed 0 in a TD
    expect(Number(leaf(p, '0x1').ecx) & (1 << 5)).not.toBe(0);
    expect(Number(leaf(t, '0x1').ecx) >>> 31).toBe(1); // hypervisor bit
  });

  it('a TD\'s CPUID of the hypervisor range goes #VE → TDG.VP.VMCALL<Instruction.CPUID>', () => {
    const sim = scenario([{ do: 'run', vm: 'td' }], {
      vms: [{ name: 'td', type: 'tdx', memory: '4M', tdx: { firmware_accept: 0 }, program: ['_start: mov rax, 0x40000000', 'cpuid', 'hlt'] }],
    });
    sim.runAll();
    const names = sim.trace.events.map((e) => e.name);
    expect(names.indexOf('#VE')).toBeLessThan(names.indexOf('TDG.VP.VMCALL<Instruction.CPUID>'));
    expect(sim.vmms.get('td')!.vcpus[0].cpu!.get('rbx')).toBe(0x4b4d564bn); // "KVMK"
  });

  it('capRows: the system fd and the VM fd differ for a TD', () => {
    const { plain, td } = vms();
    const caps = (vm: typeof plain) => Object.fromEntries(capRows(vm).map((c) => [c.name, [c.system, c.vm]]));
    const p = caps(plain);
    const t = caps(td);
    expect(p.KVM_CAP_MEMORY_ATTRIBUTES).toEqual([8, 0]);
    expect(t.KVM_CAP_MEMORY_ATTRIBUTES).toEqual([8, 8]);
    expect(p.KVM_CAP_GUEST_MEMFD_FLAGS).toEqual([3, 3]);
    expect(t.KVM_CAP_GUEST_MEMFD_FLAGS).toEqual([3, 1]);
    expect(t.KVM_CAP_READONLY_MEM).toEqual([1, 0]);
    expect(t.KVM_CAP_X86_SMM).toEqual([1, 0]);
    expect(p.KVM_CAP_X86_SMM).toEqual([1, 1]);
    expect(t.KVM_CAP_X86_USER_SPACE_MSR).toEqual([1, 1]);
    expect(t.KVM_CAP_X86_MSR_FILTER).toEqual([1, 1]);
  });
});
