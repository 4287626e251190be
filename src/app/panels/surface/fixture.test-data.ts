/**
 * Hand-made attack-surface views for the view's unit tests only (the shipped app always asks the
 * worker). Addresses follow DOMAIN.md §8 (QEMU q35); the boot-log lines imitate Linux's own.
 */
import type { DeviceId } from '../../../sim/vmm/devices/types';
import type { AttackSurfaceView, DeviceRow, MapRange } from '../../../sim/vmm/surface-view';

type Dev = [DeviceId, string, [string, string, string][], [string, string, string][], number | null, 'kvm' | 'vmm', string | null];

const DEVICES: Dev[] = [
  ['pic', '8259 PIC (master and slave)', [['0x20', '0x21', 'PIC master'], ['0xa0', '0xa1', 'PIC slave'], ['0x4d0', '0x4d1', 'ELCR']], [], null, 'kvm', null],
  ['pit', '8254 PIT', [['0x40', '0x43', 'PIT counters and mode'], ['0x61', '0x61', 'speaker / NMI status']], [], 0, 'kvm', null],
  ['i8042', 'i8042 keyboard controller', [['0x60', '0x60', 'data'], ['0x64', '0x64', 'command/status']], [], 1, 'vmm', 'PNP0303'],
  ['rtc', 'MC146818 RTC / CMOS', [['0x70', '0x71', 'CMOS index/data']], [], 8, 'vmm', 'PNP0B00'],
  ['com1', '16550 UART (COM1)', [['0x3f8', '0x3ff', 'COM1']], [], 4, 'vmm', 'PNP0501'],
  ['hpet', 'HPET', [], [['0xfed00000', '0xfed003ff', 'HPET registers']], 2, 'vmm', 'PNP0103'],
  ['ioapic', 'IOAPIC', [], [['0xfec00000', '0xfec00fff', 'IOAPIC']], null, 'kvm', null],
  ['fw_cfg', 'fw_cfg', [['0x510', '0x511', 'fw_cfg selector/data'], ['0x514', '0x51b', 'fw_cfg DMA']], [], null, 'vmm', 'QEMU0002'],
];

function devices(td: boolean, hpet: boolean): DeviceRow[] {
  return DEVICES.map(([id, name, ports, mmio, irq, handler, pnpId]) => {
    const forcedOff = td && id === 'pic' ? "QEMU's TDX setup forces the 8259 PIC off (target/i386/kvm/tdx.c)" : null;
    return {
      id, name, irq, handler, pnpId, forcedOff, canToggle: forcedOff === null, frozen: false,
      enabled: forcedOff === null && (id !== 'hpet' || hpet),
      ports: ports.map(([start, end, n]) => ({ start, end, name: n })),
      mmio: mmio.map(([start, end, n]) => ({ start, end, name: n })),
    };
  });
}

function map(devs: DeviceRow[], kind: 'ports' | 'mmio', denyIfTalk: boolean): MapRange[] {
  const out: MapRange[] = [];
  for (const d of devs) {
    for (const r of d[kind]) {
      out.push({ ...r, device: d.id, state: !d.enabled ? 'absent' : denyIfTalk && d.id === 'i8042' ? 'denied' : 'present', accesses: d.id === 'com1' ? 412 : 3 });
    }
  }
  return out;
}

const BOOT_ORDINARY = [
  'Linux version 6.12.0 (lab) #1 SMP PREEMPT_DYNAMIC',
  'ACPI: RSDP 0x00000000000F52A0 000014 (v00 BOCHS )',
  'ACPI: HPET 0x000000007FFE2A44 000038 (v01 BOCHS  BXPC     00000001 BXPC 00000001)',
  'hpet0: at MMIO 0xfed00000, IRQs 2, 8, 0',
  'clocksource: Switched to clocksource tsc-early',
  '00:04: ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a 16550A',
  'i8042: PNP: PS/2 Controller [PNP0303:KBD,PNP0f13:MOU] at 0x60,0x64 irq 1,12',
].join('\n');

const BOOT_TD = [
  'Linux version 6.12.0 (lab) #1 SMP PREEMPT_DYNAMIC',
  'tdx: Guest detected',
  'ACPI: HPET 0x000000007FFE2A44 000038 (v01 BOCHS  BXPC     00000001 BXPC 00000001)',
  'i8042: PNP: No PS/2 controller found.',
  'x86/tdx: #VE on port 0x61 handled by TDVMCALL',
  'hpet: HPET not present, falling back to the TSC',
].join('\n');

export function ordinaryView(opts: { hpet?: boolean; pending?: string[] } = {}): AttackSurfaceView {
  const hpet = opts.hpet ?? true;
  const devs = devices(false, hpet);
  const ports = map(devs, 'ports', false);
  const mmio = map(devs, 'mmio', false);
  return counted({
    vm: 'ordinary', host: 'host0', type: 'KVM_X86_DEFAULT_VM', isTd: false, mode: 'upstream', nextMode: opts.pending?.some((c) => c.startsWith('design mode')) ? 'talk' : 'upstream', needsReboot: opts.pending ?? [],
    allowList: false, frozen: false, devices: devs, ports, mmio,
    acpi: [
      { signature: 'RSDP', address: '0xf52a0', length: 20, checksumOk: true, change: 'same', tree: [{ label: 'OEMID', value: 'BOCHS' }] },
      {
        signature: 'APIC', address: '0x7ffe2974', length: 120, checksumOk: true, change: hpet ? 'same' : 'changed',
        tree: [{ label: 'Flags', value: '0x1 (PCAT_COMPAT)', changed: !hpet, children: [{ label: 'PCAT_COMPAT', value: '1' }] }],
      },
      {
        signature: 'HPET', address: '0x7ffe2a44', length: 56, checksumOk: true, change: hpet ? 'same' : 'removed',
        tree: [{ label: 'Base address', value: '0xfed00000' }, { label: 'HPET number', value: '0' }],
      },
      { signature: 'MCFG', address: '0x7ffe2a7c', length: 60, checksumOk: false, change: 'new', tree: [{ label: 'ECAM base', value: '0xb0000000' }] },
    ],
    reset: [
      { name: 'RIP', value: '0xfff0', setBy: 'architectural reset' },
      { name: 'CS', value: '0xf000 (base 0xffff0000)', setBy: 'architectural reset' },
      { name: 'CR0', value: '0x60000010', setBy: 'architectural reset' },
    ],
    msrs: [
      {
        index: '0x1b', name: 'IA32_APIC_BASE', purpose: 'Local APIC base and mode',
        readPath: 'KVM emulates it', writePath: 'KVM emulates it', tdClass: null,
        filter: { read: 'allow', write: 'allow' }, constraint: null, reachesHost: true, accesses: 2,
      },
      {
        index: '0x10', name: 'IA32_TIME_STAMP_COUNTER', purpose: 'TSC',
        readPath: 'RDTSC runs natively; RDMSR exits to KVM', writePath: 'KVM adjusts the TSC offset', tdClass: null,
        filter: { read: 'allow', write: 'deny' }, constraint: { kind: 'fixed', value: '0x0' }, reachesHost: true, accesses: 0,
      },
    ],
    msrFilter: { defaultAllow: true, ranges: [{ flags: 'KVM_MSR_FILTER_WRITE', base: '0x10', nmsrs: 1 }], userSpaceMsr: ['KVM_MSR_EXIT_REASON_FILTER'] },
    cpuid: [
      { leaf: '0x1', subleaf: '0x0', name: 'Version and features', eax: '0x000806f8', ebx: '0x00000800', ecx: '0xfffa3223', edx: '0x0f8bfbff', policy: 'KVM_SET_CPUID2', ve: false },
    ],
    caps: [
      { name: 'KVM_CAP_X86_MSR_FILTER', number: 189, system: 1, vm: 1, note: '' },
      { name: 'KVM_CAP_MEMORY_ATTRIBUTES', number: 233, system: 8, vm: 0, note: 'a default VM has no private memory' },
    ],
    bootLog: hpet ? BOOT_ORDINARY : BOOT_ORDINARY.replace(/.*HPET.*\n.*hpet0.*\n/, 'hpet: HPET not present\n'),
    surface: { ports: 0, mmio: 0, msrs: 0, total: 0 },
    boots: hpet ? 1 : 2,
  });
}

export function tdView(): AttackSurfaceView {
  const devs = devices(true, true);
  const ports = map(devs, 'ports', true);
  const mmio = map(devs, 'mmio', true);
  return counted({
    ...ordinaryView(),
    vm: 'td', host: 'host0', type: 'KVM_X86_TDX_VM', isTd: true, mode: 'talk', nextMode: 'talk', allowList: true, frozen: false, needsReboot: [],
    devices: devs, ports, mmio,
    reset: [
      { name: 'RIP', value: '0xfffffff0', setBy: 'the TDX module' },
      { name: 'CR0', value: '0x00000021', setBy: 'the TDX module' },
      { name: 'X2APIC', value: 'enabled', setBy: 'KVM_TDX_INIT_VCPU' },
    ],
    msrs: [{
      index: '0x1b', name: 'IA32_APIC_BASE', purpose: 'Local APIC base and mode (x2APIC forced)',
      readPath: 'TDX module: #VE → TDVMCALL → KVM emulates', writePath: 'TDX module: #VE → TDVMCALL → KVM refuses (read-only)', tdClass: 've',
      filter: { read: 'allow', write: 'allow' }, constraint: { kind: 'read-only' }, reachesHost: true, accesses: 1,
    }],
    msrFilter: null,
    cpuid: [
      { leaf: '0x1', subleaf: '0x0', name: 'Version and features', eax: '0x000806f8', ebx: '0x00000800', ecx: '0xf7fa3203', edx: '0x0f8bfbff', policy: 'configurable bits masked at KVM_TDX_INIT_VM', ve: false },
      { leaf: '0x2', subleaf: '0x0', name: 'Cache descriptors', eax: '0x00feff01', ebx: '0x000000f0', ecx: '0x00000000', edx: '0x00000000', policy: 'exits to the VMM', ve: true },
    ],
    bootLog: BOOT_TD,
    boots: 1,
  });
}

/** The figure as the worker would count it: ranges a device answers (present, allowed, frozen) and MSRs that reach host code. */
function counted(v: AttackSurfaceView): AttackSurfaceView {
  const reach = (r: MapRange) => r.state !== 'absent' && r.state !== 'denied';
  const ports = v.ports.filter(reach).length;
  const mmio = v.mmio.filter(reach).length;
  const msrs = v.msrs.filter((m) => m.reachesHost).length;
  return { ...v, surface: { ports, mmio, msrs, total: ports + mmio + msrs } };
}
