import { beforeAll, describe, expect, test } from 'vitest';
import { PRESETS } from '../../scenarios';
import { Lab } from '../lab';
import { ScenarioError } from '../scenario/schema';
import type { AttackSurfaceView } from './surface-view';

/**
 * Scenario-level tests of the platform: the guest boots (firmware, then kernel) against QEMU's
 * devices and ACPI tables, and a device switched off disappears from the tables, the boot log and
 * the attack-surface figure.
 */

const boot = ['_start:', '    call firmware_boot', '    call linux_boot', '    hlt'];

function bootLab(vms: object[]): Lab {
  const lab = new Lab({ version: 1, title: 't', vms, steps: vms.map((v) => ({ do: 'run', vm: (v as { name: string }).name })) });
  while (!lab.done) lab.step();
  return lab;
}

const table = (v: AttackSurfaceView, sig: string) => v.acpi.find((t) => t.signature === sig);
const dsdtHids = (v: AttackSurfaceView): string[] =>
  (table(v, 'DSDT')?.tree.find((n) => n.label === 'Devices')?.children ?? []).map((n) => n.value ?? '').filter(Boolean);

describe('an ordinary VM boots against the q35 platform', () => {
  let lab: Lab;
  let view: AttackSurfaceView;
  beforeAll(() => {
    lab = bootLab([{ name: 'vm', type: 'default', memory: '64M', program: boot }]);
    view = lab.attackSurface(lab.refOf('vm'))!;
  });

  test('the boot log shows the ACPI tables and the devices Linux finds, and no failure', () => {
    const log = view.bootLog;
    for (const line of ['ACPI: RSDP 0x0000000000800000', 'ACPI: HPET', 'ACPI: MCFG', 'ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a 16550A', 'i8042: PNP: PS/2 Controller [PNP0303:KBD',
      'hpet0:', 'pci 0000:00:00.0: [8086:29c0]', 'rtc_cmos 00:01: setting system clock', 'linux_boot: 13 devices found, 0 failed'])
      expect(log).toContain(line);
  });

  test('every ACPI table the guest finds has a valid checksum; the MADT says a dual 8259 is there', () => {
    expect(view.acpi.map((t) => t.signature)).toEqual(['RSDP', 'XSDT', 'FACP', 'FACS', 'DSDT', 'APIC', 'HPET', 'MCFG', 'WAET']);
    expect(view.acpi.every((t) => t.checksumOk)).toBe(true);
    const flags = table(view, 'APIC')!.tree.find((n) => n.label === 'Flags')!;
    expect(flags.children?.[0]).toMatchObject({ label: 'bit 0 PCAT_COMPAT', value: 'yes' });
    expect(dsdtHids(view)).toEqual(expect.arrayContaining(['PNP0103', 'PNP0B00', 'PNP0501', 'PNP0303']));
  });

  test('switching the HPET off needs a reboot; after it the HPET is gone from the tables, the log and the figure', () => {
    const before = view.surface.total;
    lab.command({ do: 'set_device', vm: 'vm', device: 'hpet', enabled: false });
    expect(lab.attackSurface(lab.refOf('vm'))!.needsReboot).toEqual([expect.stringMatching(/^HPET.* off$/)]);
    const r = lab.command({ do: 'reboot', vm: 'vm' });
    expect(r.ret).toBe(0);
    const after = lab.attackSurface(lab.refOf('vm'))!;
    expect(after.boots).toBe(2);
    expect(after.needsReboot).toEqual([]);
    expect(table(after, 'HPET')?.change).toBe('removed');
    expect(table(after, 'DSDT')?.change).toBe('changed');
    expect(dsdtHids(after)).not.toContain('PNP0103');
    expect(after.bootLog).not.toContain('hpet0:');
    expect(after.bootLog).not.toContain('ACPI: HPET');
    expect(after.surface.total).toBeLessThan(before);
    expect(after.mmio.find((m) => m.device === 'hpet')?.state).toBe('absent');
  });

  test('without the i8042 and the RTC the log says so, and the devices are not probed by PNP', () => {
    const l = bootLab([{ name: 'vm', type: 'default', memory: '64M', program: boot, platform: { devices: { i8042: false, rtc: false } } }]);
    const v = l.attackSurface(l.refOf('vm'))!;
    expect(v.bootLog).not.toContain('PNP0303');
    expect(v.bootLog).not.toContain('rtc_cmos 00:');
    expect(dsdtHids(v)).not.toContain('PNP0B00');
    expect(v.devices.find((d) => d.id === 'i8042')?.enabled).toBe(false);
  });
});

describe('a TD boots under upstream QEMU', () => {
  let view: AttackSurfaceView;
  beforeAll(() => {
    const lab = bootLab([{ name: 'td', type: 'tdx', memory: '64M', tdx: { firmware_accept: '64M' }, program: boot }]);
    view = lab.attackSurface(lab.refOf('td'))!;
  });

  test("TDVF adds the MP-wakeup entry; QEMU's MADT still says PCAT_COMPAT, so Linux programs a PIC that is not there", () => {
    const madt = table(view, 'APIC')!;
    expect(madt.checksumOk).toBe(true);
    expect(madt.tree.map((n) => n.label)).toContain('Multiprocessor Wakeup (type 0x10)');
    expect(madt.tree.find((n) => n.label === 'Flags')!.children?.[0].value).toBe('yes');
    expect(view.bootLog).toContain('tdx: Guest detected');
    expect(view.bootLog).not.toContain('Using NULL legacy PIC');
    expect(view.bootLog).toContain('linux_boot: 13 devices found, 0 failed');
    expect(view.bootLog).toMatch(/virtio_net virtio0: queue 0 \(256 entries\) at 0x600000, shared memory, DRIVER_OK/);
    // Every ICW goes out as a TDVMCALL and reaches nothing: QEMU forced the PIC off.
    expect(view.ports.find((r) => r.device === 'pic')).toMatchObject({ state: 'absent' });
    expect(view.ports.find((r) => r.device === 'pic')!.accesses).toBeGreaterThan(0);
  });

  test("with the talk's twisted tables the TD's MADT drops PCAT_COMPAT and Linux uses the NULL legacy PIC", () => {
    const lab = bootLab([{ name: 'td', type: 'tdx', memory: '64M', tdx: { firmware_accept: '64M' }, program: boot, platform: { mode: 'talk' } }]);
    const v = lab.attackSurface(lab.refOf('td'))!;
    expect(table(v, 'APIC')!.tree.find((n) => n.label === 'Flags')!.children?.[0].value).toBe('no');
    expect(v.bootLog).toContain('Using NULL legacy PIC');
  });

  test('the PIC and pflash are forced off, with the reason, and cannot be switched on', () => {
    for (const id of ['pic', 'pflash'] as const) {
      const d = view.devices.find((x) => x.id === id)!;
      expect(d.enabled).toBe(false);
      expect(d.canToggle).toBe(false);
      expect(d.forcedOff).toMatch(/TDX|TD/);
    }
  });

  test("the TD's figure is smaller than an ordinary VM's, but not zero: its port I/O still reaches the VMM", () => {
    expect(view.surface.ports).toBeGreaterThan(0);
    expect(view.surface.msrs).toBeLessThan(57);
  });
});

describe("the talk's allow-list and freeze (preset platform-talk)", () => {
  test('denied ports never reach the VMM; frozen chipset writes are dropped; the figure is smaller', () => {
    const lab = new Lab(PRESETS['platform-talk']);
    while (!lab.done) lab.step();
    const evs = lab.run.trace.events;
    const talkRun = lab.run.results[4];
    const attack = evs.filter((e) => e.seq >= talkRun.events[0] && e.seq < talkRun.events[1]);
    expect(attack.filter((e) => e.name === 'denied').map((e) => e.args.port)).toEqual(['0xb2', '0x378']);
    expect(attack.filter((e) => e.name === 'KVM_EXIT_IO').map((e) => e.args.port)).not.toContain('0xb2');
    expect(attack.filter((e) => e.name === 'frozen write').map((e) => e.args.register)).toEqual(['PCI 00:00.0 PCIEXBAR', 'IMR (OCW1)']);
    expect((lab.run.results[5].value as Record<string, string>).r9).toBe('0xe0000001');
    expect((lab.run.results[6].value as Record<string, string>).r9).toBe('0xb0000001');
    const up = lab.attackSurface(lab.refOf('upstream'))!;
    const talk = lab.attackSurface(lab.refOf('talk'))!;
    expect(talk.allowList && talk.frozen).toBe(true);
    expect(talk.surface.ports).toBeLessThan(up.surface.ports);
    expect(talk.ports.find((r) => r.device === 'apm')?.state).toBe('denied');
    expect(talk.ports.some((r) => r.state === 'frozen')).toBe(true);
  });
});

describe('bad platform input gets a clear message and changes nothing', () => {
  const lab = () => bootLab([{ name: 'vm', type: 'default', memory: '64M', program: boot }, { name: 'td', type: 'tdx', memory: '64M', tdx: { firmware_accept: '64M' }, program: boot }]);

  test('an unknown device', () => {
    const l = lab();
    expect(() => l.command({ do: 'set_device', vm: 'vm', device: 'floppy2', enabled: false })).toThrow(/unknown device "floppy2"/);
    expect(() => new Lab({ version: 1, title: 't', vms: [{ name: 'vm', type: 'default', program: boot, platform: { devices: { gpu: true } } }] }))
      .toThrow(ScenarioError);
    expect(l.attackSurface(l.refOf('vm'))!.needsReboot).toEqual([]);
  });

  test('a device a TD cannot have', () => {
    const l = lab();
    const r = l.command({ do: 'set_device', vm: 'td', device: 'pic', enabled: true });
    expect(r).toMatchObject({ ret: -1, errno: 'EINVAL' });
    expect(r.why).toMatch(/PIC/);
    expect(l.attackSurface(l.refOf('td'))!.needsReboot).toEqual([]);
  });

  test('an overlapping allow-list range, named by its place in the scenario', () => {
    const build = () => new Lab({ version: 1, title: 't', vms: [{ name: 'vm', type: 'default', program: boot, platform: { mode: 'talk', allow: [
      { space: 'port', start: '0x500', end: '0x50f', name: 'a' }, { space: 'port', start: '0x508', end: '0x520', name: 'b' }] } }] });
    expect(build).toThrow(ScenarioError);
    expect(build).toThrow(/\$\.vms\[0\]\.platform.*overlap/);
  });

  test('an MSR index out of range', () => {
    const l = lab();
    expect(() => l.command({ do: 'set_msr_policy', vm: 'vm', msr: '0x100000000', read: 'deny' })).toThrow(/MSR index is 32 bits/);
  });

  test('freezing in upstream mode', () => {
    const r = lab().command({ do: 'freeze_devices', vm: 'vm' });
    expect(r).toMatchObject({ ret: -1, errno: 'EINVAL' });
  });
});

describe('the CLI report', () => {
  test("a VM's summary lists its devices, the ACPI tables its guest found and the figure; a device switched off and a reboot remove it", async () => {
    const { ScenarioRun } = await import('../scenario/runner');
    const run = ScenarioRun.fromJson({ version: 1, title: 't', vms: [{ name: 'vm', type: 'default', memory: '64M', program: boot }],
      steps: [{ do: 'run', vm: 'vm' }, { do: 'set_device', vm: 'vm', device: 'hpet', enabled: false }, { do: 'reboot', vm: 'vm' }] });
    const before = (() => {
      run.step();
      return run.report().summary.vms[0].platform!;
    })();
    const r = run.runAll();
    const after = r.summary.vms[0].platform!;
    expect(before.acpi_tables).toContain('HPET');
    expect(before.devices).toContain('hpet');
    expect(after).toMatchObject({ boots: 2, mode: 'upstream' });
    expect(after.acpi_tables).not.toContain('HPET');
    expect(after.devices).not.toContain('hpet');
    expect(after.attack_surface.total).toBe(before.attack_surface.total - 1);
  });
});

describe("the MSR table says what this VMM does with the exits it gets", () => {
  test('a denied read without a VMM handler ends in #GP; with a handler the VMM answers', () => {
    const lab = bootLab([{ name: 'vm', type: 'default', memory: '64M', program: boot }]);
    lab.command({ do: 'set_msr_policy', vm: 'vm', msr: '0x1a0', read: 'deny' });
    const row = () => lab.attackSurface(lab.refOf('vm'))!.msrs.find((r) => r.index === '0x1a0')!;
    expect(row().readPath).toBe('VM exit → kvm_msr_allowed: denied → KVM_EXIT_X86_RDMSR (KVM_MSR_EXIT_REASON_FILTER) → the VMM has no handler: msr.error = 1, the guest gets #GP');
    lab.command({ do: 'vmm_msr_handler', vm: 'vm', msr: '0x1a0', read: 1 });
    expect(row().readPath).toMatch(/→ the VMM answers 0x1$/);
    expect(lab.attackSurface(lab.refOf('vm'))!.nextMode).toBe('upstream');
    lab.command({ do: 'set_design_mode', vm: 'vm', mode: 'talk' });
    expect(lab.attackSurface(lab.refOf('vm'))).toMatchObject({ mode: 'upstream', nextMode: 'talk' });
  });
});

describe('review mends', () => {
  test('a reboot puts the MSRs back to their reset values and starts the access counters again', () => {
    const lab = bootLab([{ name: 'vm', type: 'default', memory: '64M', program: boot }]);
    const pat = () => lab.run.vmms.get('vm')!.vcpus[0].msrs.get(0x277);
    expect(pat()).not.toBe(0x0007040600070406n); // Linux wrote its PAT
    expect(lab.attackSurface(lab.refOf('vm'))!.msrs.find((r) => r.index === '0x277')!.accesses).toBe(1);
    lab.command({ do: 'reboot', vm: 'vm', max_instructions: 1 });
    expect(pat()).toBe(0x0007040600070406n);
    expect(lab.attackSurface(lab.refOf('vm'))!.msrs.find((r) => r.index === '0x277')!.accesses).toBe(0);
  });

  test("an ordinary VM's FS_BASE needs no VM exit; a filter that denies it makes KVM intercept it", () => {
    const lab = bootLab([{ name: 'vm', type: 'default', memory: '64M', program: boot }]);
    const row = () => lab.attackSurface(lab.refOf('vm'))!.msrs.find((r) => r.index === '0xc0000100')!;
    expect(row()).toMatchObject({ reachesHost: false, readPath: expect.stringMatching(/without a VM exit/) });
    lab.command({ do: 'set_msr_policy', vm: 'vm', msr: '0xc0000100', read: 'deny' });
    expect(row()).toMatchObject({ reachesHost: true, readPath: expect.stringMatching(/kvm_msr_allowed: denied/) });
  });

  test("the in-kernel PIC and PIT answer in KVM, traced as kvm_pio, with no KVM_EXIT_IO", () => {
    const lab = bootLab([{ name: 'vm', type: 'default', memory: '64M', program: boot }]);
    const evs = lab.run.trace.events;
    const pio = evs.filter((e) => e.name === 'kvm_pio');
    expect(pio.map((e) => e.args.device)).toEqual(expect.arrayContaining(['pic', 'pit']));
    const exits = new Set(evs.filter((e) => e.name === 'KVM_EXIT_IO').map((e) => e.args.port));
    for (const p of ['0x20', '0x21', '0x40', '0x43']) expect(exits.has(p)).toBe(false);
  });

  test('the figure counts the table and the rest of the MSR space, not the MSRs a guest tried', () => {
    const lab = new Lab({ version: 1, title: 't', vms: [{ name: 'vm', type: 'default', memory: '16M', program: ['_start:', '    mov ecx, 0x474f4f00', '    rdmsr', '    hlt'] }],
      steps: [{ do: 'run', vm: 'vm' }] });
    const before = lab.attackSurface(lab.refOf('vm'))!.surface.msrs;
    while (!lab.done) lab.step();
    const after = lab.attackSurface(lab.refOf('vm'))!;
    expect(after.msrs.find((r) => r.index === '0x474f4f00')).toMatchObject({ accesses: 1, reachesHost: true });
    expect(after.surface.msrs).toBe(before);
  });
});
