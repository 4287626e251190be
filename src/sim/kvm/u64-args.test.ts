/**
 * Every 64-bit (and 32-bit) flags or attributes argument the machine accepts, tried one bit at a
 * time for bits 0..63: exactly the bits the kernel accepts succeed, every other bit fails. JavaScript's
 * `&` on a number drops bits 32..63, so these once passed silently (issue 10, "64-bit arguments").
 * Values go through the scenario format as hex strings ("0x8000000000000000"), since JSON numbers
 * above 2^53 are not exact.
 */
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../scenario/schema';
import { runSteps, scenarioDoc, type StepIn } from '../test-helpers';
import { KVM_X86_DEFAULT_VM, KVM_X86_SW_PROTECTED_VM, KVM_X86_TDX_VM } from './uapi';

const BITS = Array.from({ length: 64 }, (_, b) => b);
const bitHex = (b: number): string => '0x' + (1n << BigInt(b)).toString(16);
const vm = (type: number): StepIn[] => [{ do: 'KVM_CREATE_VM', as: 'vm', type }];

interface Arg {
  what: string;
  /** Steps that set the stage, run once. */
  setup: StepIn[];
  /** The step that passes bit b (as a hex string) in the argument under test. */
  step: (bit: string, b: number) => StepIn;
  /** The bits the kernel accepts (each alone). */
  accepted: number[];
  /** The errno for a refused bit (EINVAL unless said). */
  errno?: string | ((b: number) => string);
}

const gmem = (type: number, accepted: number[], name: string): Arg => ({
  what: `KVM_CREATE_GUEST_MEMFD flags on a ${name} (kvm_gmem_get_supported_flags())`,
  setup: vm(type),
  step: (bit, b) => ({ do: 'KVM_CREATE_GUEST_MEMFD', vm: 'vm', size: '64K', flags: bit, as: `g${b}` }),
  accepted,
});

const enableCap = (cap: string, accepted: number[]): Arg => ({
  what: `KVM_ENABLE_CAP(${cap}) args[0]`,
  setup: vm(KVM_X86_DEFAULT_VM),
  step: (bit) => ({ do: 'KVM_ENABLE_CAP', vm: 'vm', cap, args: [bit] }),
  accepted,
});

const attributes = (type: number, accepted: number[], name: string): Arg => ({
  what: `KVM_SET_MEMORY_ATTRIBUTES attributes on a ${name}`,
  setup: vm(type),
  step: (bit) => ({ do: 'KVM_SET_MEMORY_ATTRIBUTES', vm: 'vm', address: '0x100000', size: '4K', attributes: bit }),
  accepted,
});

const ARGS: Arg[] = [
  // Default VM: MMAP and INIT_SHARED; a VM with private memory: MMAP only.
  gmem(KVM_X86_DEFAULT_VM, [0, 1], 'KVM_X86_DEFAULT_VM'),
  gmem(KVM_X86_SW_PROTECTED_VM, [0], 'KVM_X86_SW_PROTECTED_VM'),
  gmem(KVM_X86_TDX_VM, [0], 'KVM_X86_TDX_VM'),
  enableCap('KVM_CAP_EXIT_HYPERCALL', [12 /* KVM_HC_MAP_GPA_RANGE */]),
  enableCap('KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2', [0, 1]),
  enableCap('KVM_CAP_X86_USER_SPACE_MSR', [0, 1, 2]),
  attributes(KVM_X86_SW_PROTECTED_VM, [3], 'KVM_X86_SW_PROTECTED_VM'),
  attributes(KVM_X86_DEFAULT_VM, [], 'KVM_X86_DEFAULT_VM'),
  {
    what: 'KVM_SET_MEMORY_ATTRIBUTES flags (must be 0)',
    setup: vm(KVM_X86_SW_PROTECTED_VM),
    step: (bit) => ({ do: 'KVM_SET_MEMORY_ATTRIBUTES', vm: 'vm', address: '0x100000', size: '4K', attributes: 0, flags: bit }),
    accepted: [],
  },
  {
    // A fresh slot per bit; a default VM takes LOG_DIRTY_PAGES and READONLY. flags is a __u32.
    what: 'KVM_SET_USER_MEMORY_REGION2 flags on a KVM_X86_DEFAULT_VM',
    setup: [...vm(KVM_X86_DEFAULT_VM), { do: 'mmap', length: '4M', as: 'mem' }],
    step: (bit, b) => ({ do: 'KVM_SET_USER_MEMORY_REGION2', vm: 'vm', slot: b, flags: bit, guest_phys_addr: b * 0x10000, memory_size: '64K', userspace_addr: 'mem' }),
    accepted: [0, 1],
  },
  {
    // fallocate(fd, FALLOC_FL_KEEP_SIZE | bit): KEEP_SIZE (bit 0) and PUNCH_HOLE (bit 1) only. The
    // mode is an int: unknown bits 2..31 are EOPNOTSUPP, and bits 32..63 cannot be passed (EINVAL).
    what: 'fallocate mode (with FALLOC_FL_KEEP_SIZE)',
    setup: [...vm(KVM_X86_SW_PROTECTED_VM), { do: 'KVM_CREATE_GUEST_MEMFD', vm: 'vm', size: '64K', as: 'g' }],
    step: (bit) => ({ do: 'fallocate', fd: 'g', mode: '0x' + (1n /* FALLOC_FL_KEEP_SIZE */ | BigInt(bit)).toString(16), offset: 0, len: '4K' }),
    accepted: [0, 1],
    errno: (b) => (b < 32 ? 'EOPNOTSUPP' : 'EINVAL'),
  },
  {
    what: 'KVM_X86_SET_MSR_FILTER range flags (__u32)',
    setup: vm(KVM_X86_DEFAULT_VM),
    step: (bit) => ({ do: 'KVM_X86_SET_MSR_FILTER', vm: 'vm', ranges: [{ flags: bit, base: '0x10', nmsrs: 8, bitmap: [0xff] }] }),
    accepted: [0, 1],
  },
];

describe('every flags and attributes argument, bit by bit 0..63', () => {
  it.each(ARGS.map((a) => [a.what, a] as const))('%s: exactly the kernel\'s bits succeed', (_what, a) => {
    const steps = [...a.setup, ...BITS.map((b) => a.step(bitHex(b), b))];
    const { r } = runSteps(steps);
    for (let i = 0; i < a.setup.length; i++) expect(r[i].errno, `setup step ${i}`).toBeUndefined();
    const got = BITS.map((b) => r[a.setup.length + b]);
    const succeeded = BITS.filter((b) => got[b].errno === undefined);
    expect(succeeded).toEqual(a.accepted);
    for (const b of BITS) {
      if (a.accepted.includes(b)) continue;
      const want = typeof a.errno === 'function' ? a.errno(b) : (a.errno ?? 'EINVAL');
      expect(got[b], `bit ${b}`).toMatchObject({ ret: -1, errno: want });
    }
  });
});

describe('scenario u64 fields', () => {
  const doc = (flags: unknown) => scenarioDoc([...vm(KVM_X86_DEFAULT_VM), { do: 'KVM_CREATE_GUEST_MEMFD', vm: 'vm', size: '64K', flags, as: 'g' }]);

  it('takes hex strings up to 0xffffffffffffffff, decimal strings and flag-name lists', () => {
    for (const flags of ['0xffffffffffffffff', '0x1', '18446744073709551615', ['GUEST_MEMFD_FLAG_MMAP'], 3]) expect(() => parseScenario(doc(flags))).not.toThrow();
  });

  it('refuses a JSON number above 2^53 with a hint to write hex, and names the field', () => {
    expect(() => parseScenario(doc(2 ** 63))).toThrow(/steps\[1\]\.flags[\s\S]*above 2\^53[\s\S]*hex string/);
  });

  it('refuses what is not a u64, naming the field', () => {
    for (const flags of ['0x10000000000000000', '-1', 'lots', -1, 1.5]) expect(() => parseScenario(doc(flags)), String(flags)).toThrow(/steps\[1\]\.flags/);
  });
});
