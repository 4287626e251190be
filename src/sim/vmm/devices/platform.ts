/**
 * The platform behind KVM_EXIT_IO and KVM_EXIT_MMIO: the enabled devices on a port bus and an
 * MMIO bus, in either design mode (DOMAIN.md §1).
 *
 * Upstream: every access exits to user space (or is answered in KVM for the in-kernel irqchip); a
 * present device answers, an absent one reads as all ones and drops writes.
 *
 * The talk's proposal: an allow-list of port and MMIO ranges is fixed when the Platform is created
 * (the enabled devices' ranges plus the config's extras). KVM refuses anything outside it before
 * user space runs (traced as `denied`). After freeze() — the end of the guest's init phase — writes
 * to device configuration registers are dropped and traced (`frozen write`); which registers those
 * are is said per device in the catalogue's `freezes`.
 */
import { fail } from '../../core/errno';
import { hex } from '../../core/units';
import type { DeviceRow, MapRange } from '../surface-view';
import { AcpiPm } from './acpi-pm';
import { IOAPIC_VERSION_KVM, IOAPIC_VERSION_QEMU, IoApic, Lapic } from './apic';
import {
  ACPI_PM_BASE, CATALOGUE, PFLASH_CODE_BASE, PFLASH_VARS_BASE, VIRTIO_BLK_BAR, VIRTIO_NET_BAR,
  forcedOffReason, handlerFor, hasFrozenRegisters, type Irqchip,
} from './catalogue';
import { allOnes, deviceEnv, type DeviceModel, type PlatformHost } from './device';
import { FwCfg } from './fw-cfg';
import { Hpet } from './hpet';
import { Apm, Floppy, I8042, IsaDma, Lpt, ResetControl } from './isa';
import { Ecam, Mch, PciBus, PciHost, ich9Lpc } from './pci';
import { Pflash, PflashBank } from './pflash';
import { Pic } from './pic';
import { Pit } from './pit';
import { Rtc } from './rtc';
import { Serial } from './serial';
import { Tpm } from './tpm';
import { DEVICE_IDS, isDeviceId, type DesignMode, type DeviceId, type Handler, type IoRange } from './types';
import { VirtioPci, type VirtqueueRings } from './virtio';

export type { PlatformHost } from './device';

export interface PlatformConfig {
  devices: Record<DeviceId, boolean>;
  irqchip: Irqchip;
  mode: DesignMode;
  /** A TD: QEMU refuses the PIC, pflash and SMM, requires the split irqchip; the APIC is in x2APIC mode. */
  td: boolean;
  /** System management mode; defaults to on for an ordinary VM and must be off for a TD. */
  smm?: boolean;
  /** RAM below and above 4 GiB, for the CMOS memory-size bytes. */
  memory: { below4g: number; above4g: number };
  /** Talk mode: ranges allowed on top of the enabled devices' own. */
  allowList?: { ports?: IoRange[]; mmio?: IoRange[] };
  /** fw_cfg files by name (e.g. "etc/acpi/tables"). */
  fwCfgFiles: Map<string, Uint8Array>;
  /** Wall-clock seconds since 1970 at virtual time 0 (the RTC's time). */
  rtcEpoch?: number;
}

export type Verdict = 'ok' | 'absent' | 'denied' | 'frozen';

export interface AccessResult {
  /** The value read (all ones when nothing answered); for writes, 0. */
  value: number;
  handler: Handler;
  /** The device that owns the address (even when it is switched off or denied), or null. */
  device: DeviceId | null;
  verdict: Verdict;
}

type Space = 'port' | 'mmio';

interface Row {
  device: DeviceId | null;
  range: IoRange;
  /** Where the device decodes it now (false: switched off, or not decoded, e.g. xAPIC in x2APIC mode). */
  live: boolean;
  key: string;
}

const MAX_PORT = 0xffff;
const MAX_GPA = 2 ** 52 - 1;
const PIO_SIZES = [1, 2, 4];
const MMIO_SIZES = [1, 2, 4, 8];

const hexRange = (r: IoRange) => ({ start: hex(r.start), end: hex(r.end), name: r.name });
const within = (a: number, r: IoRange) => a >= r.start && a <= r.end;

export class Platform {
  readonly mode: DesignMode;
  readonly irqchip: Irqchip;
  readonly td: boolean;
  readonly smm: boolean;
  frozen = false;
  private readonly enabled: Record<DeviceId, boolean>;
  private readonly models = new Map<DeviceId, DeviceModel>();
  readonly pciBus = new PciBus();
  readonly mch: Mch;
  private readonly allow: Record<Space, { range: IoRange; device: DeviceId | null }[]> = { port: [], mmio: [] };
  private readonly extras: Record<Space, IoRange[]>;
  private readonly counters = new Map<string, number>();
  /** The port and MMIO maps last built, with the MMIO windows they were built for. */
  private readonly kept: Record<Space, { key: number[]; rows: Row[] } | null> = { port: null, mmio: null };

  constructor(config: PlatformConfig, private readonly host: PlatformHost) {
    validate(config);
    this.mode = config.mode;
    this.irqchip = config.irqchip;
    this.td = config.td;
    this.smm = config.smm ?? !config.td;
    this.enabled = { ...config.devices };
    this.extras = { port: config.allowList?.ports ?? [], mmio: config.allowList?.mmio ?? [] };
    const env = (id: DeviceId) => deviceEnv(host, handlerFor(id, config.irqchip));
    const on = (id: DeviceId) => this.enabled[id];

    this.mch = new Mch(env('pci-host'));
    this.pciBus.add(this.mch.fn);
    this.pciBus.add(ich9Lpc());
    const pm = on('acpi-pm') ? new AcpiPm(env('acpi-pm'), ACPI_PM_BASE) : null;
    const build: Record<DeviceId, () => DeviceModel> = {
      pic: () => new Pic(env('pic')),
      pit: () => new Pit(env('pit')),
      i8042: () => new I8042(env('i8042')),
      rtc: () => new Rtc(env('rtc'), config.memory, config.rtcEpoch),
      com1: () => new Serial(env('com1'), 0x3f8),
      lpt1: () => new Lpt(0x378),
      floppy: () => new Floppy(env('floppy')),
      'isa-dma': () => new IsaDma(),
      apm: () => new Apm(env('apm'), pm, this.smm),
      'pci-host': () => new PciHost(this.pciBus),
      reset: () => new ResetControl(env('reset')),
      fw_cfg: () => new FwCfg(env('fw_cfg'), config.fwCfgFiles),
      'acpi-pm': () => pm!,
      hpet: () => new Hpet(env('hpet')),
      ioapic: () => new IoApic(env('ioapic'), config.irqchip === 'kernel' ? IOAPIC_VERSION_KVM : IOAPIC_VERSION_QEMU),
      lapic: () => new Lapic(env('lapic')),
      tpm: () => new Tpm(env('tpm')),
      ecam: () => new Ecam(this.pciBus, this.mch),
      pflash: () => new Pflash(env('pflash'), [
        new PflashBank('pflash1 (OVMF_VARS)', PFLASH_VARS_BASE, PFLASH_CODE_BASE - PFLASH_VARS_BASE, false, 0x1000),
        new PflashBank('pflash0 (OVMF_CODE)', PFLASH_CODE_BASE, 2 ** 32 - PFLASH_CODE_BASE, true, 0x1000),
      ]),
      // With confidential-guest-support QEMU turns iommu_platform on for every virtio device
      // (hw/core/machine.c), so a TD's devices offer VIRTIO_F_ACCESS_PLATFORM, which Linux requires.
      'virtio-net': () => this.pciBus.addFrom(new VirtioPci(env('virtio-net'), 'virtio-net', { bus: 0, dev: 2, fn: 0 }, VIRTIO_NET_BAR, { accessPlatform: config.td })),
      'virtio-blk': () => this.pciBus.addFrom(new VirtioPci(env('virtio-blk'), 'virtio-blk', { bus: 0, dev: 3, fn: 0 }, VIRTIO_BLK_BAR, { accessPlatform: config.td })),
    };
    for (const id of DEVICE_IDS) if (on(id)) this.models.set(id, build[id]());

    if (this.mode === 'talk') {
      for (const space of ['port', 'mmio'] as const) {
        this.allow[space] = [
          ...this.rows(space).filter((r) => r.live).map((r) => ({ range: { ...r.range }, device: r.device })),
          ...this.extras[space].map((range) => ({ range, device: null })),
        ];
        checkOverlaps(space, this.allow[space]);
      }
    }
  }

  /** The model of an enabled device (for the VMM's views and for tests). */
  model<T extends DeviceModel>(id: DeviceId): T | undefined {
    return this.models.get(id) as T | undefined;
  }

  get console(): string {
    return this.model<Serial>('com1')?.console ?? '';
  }

  /** The rings of every virtqueue the guest enabled. */
  virtqueues(): VirtqueueRings[] {
    return (['virtio-net', 'virtio-blk'] as const).flatMap((id) => this.model<VirtioPci>(id)?.rings() ?? []);
  }

  /**
   * Every range of the port or MMIO map: the devices' (where they decode now, or their default place)
   * and the extras. Looked up at every port and MMIO access, so kept: the port map is fixed for the
   * platform's life; the MMIO map moves only with the ECAM window (PCIEXBAR) and the virtio BARs.
   */
  private rows(space: Space): Row[] {
    const key = space === 'port' ? [] : this.movableWindows();
    const kept = this.kept[space];
    if (kept && kept.key.length === key.length && kept.key.every((v, i) => v === key[i])) return kept.rows;
    const rows = this.buildRows(space);
    this.kept[space] = { key, rows };
    return rows;
  }

  /** Where the movable MMIO windows are now (-1: not decoding): the MMIO map changes only with these. */
  private movableWindows(): number[] {
    const ecam = this.mch.ecamWindow();
    const bar = (id: DeviceId) => this.model<VirtioPci>(id)?.window()?.start ?? -1;
    return [ecam?.base ?? -1, ecam?.size ?? -1, bar('virtio-net'), bar('virtio-blk')];
  }

  private buildRows(space: Space): Row[] {
    const out: Row[] = [];
    for (const id of DEVICE_IDS) {
      const e = CATALOGUE[id];
      const on = this.enabled[id];
      if (space === 'port') {
        for (const range of e.ports) out.push({ device: id, range, live: on, key: `port:${id}:${range.name}` });
        continue;
      }
      const current = on ? this.currentMmio(id) : null;
      e.mmio.forEach((range, i) => {
        const at = current ? current[i] : range;
        // In x2APIC mode (a TD's only mode) the xAPIC page is not decoded (SDM vol. 3 §11.12).
        const live = on && at !== null && !(id === 'lapic' && this.td);
        out.push({ device: id, range: at ?? range, live, key: `mmio:${id}:${range.name}` });
      });
    }
    if (this.mode === 'talk') this.extras[space].forEach((range, i) => out.push({ device: null, range, live: false, key: `${space}:extra:${i}` }));
    return out;
  }

  /** Where a device with a movable window decodes now (null entries: not decoding). */
  private currentMmio(id: DeviceId): (IoRange | null)[] | null {
    const name = CATALOGUE[id].mmio[0]?.name ?? '';
    if (id === 'ecam') {
      const w = this.mch.ecamWindow();
      return [w ? { start: w.base, end: w.base + w.size - 1, name } : null];
    }
    if (id === 'virtio-net' || id === 'virtio-blk') {
      const w = this.model<VirtioPci>(id)!.window();
      return [w ? { ...w, name } : null];
    }
    return null;
  }

  private owner(space: Space, addr: number): Row | undefined {
    const rows = this.rows(space);
    return rows.find((r) => r.live && within(addr, r.range)) ?? rows.find((r) => within(addr, r.range));
  }

  private allowed(space: Space, addr: number): boolean {
    return this.allow[space].some((a) => within(addr, a.range));
  }


  /**
   * An access KVM answers without exiting to user space — a device of the in-kernel irqchip
   * (kvm_io_bus) or, in the talk's design, an address that is not on the allow-list — or null when
   * it must exit to user space.
   */
  inKernel(space: Space, addr: number, size: number, isWrite: boolean, value: number): AccessResult | null {
    const row = this.kernelRow(space, addr);
    return row === null ? null : this.access(space, addr, size, isWrite, value, row);
  }

  /** The owning row of an access KVM answers (undefined: denied, nobody owns it), or null. */
  private kernelRow(space: Space, addr: number): Row | undefined | null {
    const row = this.owner(space, addr);
    if (this.mode === 'talk' && !this.allowed(space, addr)) return row;
    return row?.live && row.device && handlerFor(row.device, this.irqchip) === 'kvm' ? row : null;
  }

  /** A port access as KVM_EXIT_IO delivers it. */
  pio(port: number, size: number, isWrite: boolean, value: number): AccessResult {
    if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) fail('EINVAL', `port ${port} is outside 0..0xffff`);
    if (!PIO_SIZES.includes(size)) fail('EINVAL', `port I/O size ${size} at ${hex(port)}: only 1, 2 or 4 bytes`);
    return this.access('port', port, size, isWrite, value);
  }

  /** An MMIO access as KVM_EXIT_MMIO delivers it. */
  mmio(gpa: number, size: number, isWrite: boolean, value: number): AccessResult {
    if (!Number.isInteger(gpa) || gpa < 0 || gpa > MAX_GPA) fail('EINVAL', `MMIO address ${gpa} is not a guest-physical address`);
    if (!MMIO_SIZES.includes(size)) fail('EINVAL', `MMIO size ${size} at ${hex(gpa)}: only 1, 2, 4 or 8 bytes`);
    return this.access('mmio', gpa, size, isWrite, value);
  }

  /** Whether an enabled device decodes this GPA (so the VMM treats it as MMIO, not a missing page). */
  claimsMmio(gpa: number): boolean {
    return this.rows('mmio').some((r) => r.live && within(gpa, r.range));
  }

  private access(space: Space, addr: number, size: number, isWrite: boolean, value: number, owner?: Row): AccessResult {
    const row = owner ?? this.owner(space, addr);
    if (row) this.counters.set(row.key, (this.counters.get(row.key) ?? 0) + 1);
    const device = row?.device ?? null;
    const what = space === 'port' ? `port ${hex(addr)}` : `MMIO address ${hex(addr)}`;
    const miss = isWrite ? 0 : allOnes(size);
    const args = { [space === 'port' ? 'port' : 'gpa']: hex(addr), size, is_write: isWrite, device };

    if (this.mode === 'talk' && !this.allowed(space, addr)) {
      this.host.trace('kvm', 'denied', args,
        `KVM refuses the guest's ${isWrite ? 'write to' : 'read of'} ${what}: it is not on the VM's allow-list${isWrite ? ', so the write is dropped' : ', so the read returns all ones'}.`);
      return { value: miss, handler: 'kvm', device, verdict: 'denied' };
    }
    if (!row?.live || !row.device) {
      this.host.trace('vmm', space === 'port' ? 'unassigned port' : 'unassigned MMIO', args,
        `Nothing answers at ${what}: ${isWrite ? 'the write is dropped' : 'the read returns all ones'}.`);
      return { value: miss, handler: 'vmm', device, verdict: 'absent' };
    }
    const id = row.device;
    const handler = handlerFor(id, this.irqchip);
    const model = this.models.get(id)!;
    if (isWrite && this.frozen) {
      const reg = model.frozenRegister(addr, size, value);
      if (reg) {
        this.host.trace(handler, 'frozen write', { ...args, register: reg, value: hex(value) },
          `The guest writes ${reg} after its init phase; the device's state is frozen, so the write is dropped.`);
        return { value: 0, handler, device: id, verdict: 'frozen' };
      }
    }
    if (isWrite) {
      model.write(addr, size, value);
      return { value: 0, handler, device: id, verdict: 'ok' };
    }
    return { value: model.read(addr, size), handler, device: id, verdict: 'ok' };
  }

  /** The talk's freeze: from now on configuration writes are dropped. */
  freeze(): void {
    if (this.mode !== 'talk') fail('EINVAL', 'freezing device state is the talk\'s proposal; in upstream mode nothing freezes');
    if (this.frozen) return;
    this.frozen = true;
    const ids = DEVICE_IDS.filter((id) => this.enabled[id] && hasFrozenRegisters(id));
    this.host.trace('vmm', 'freeze', { devices: ids },
      `The guest's init phase is over: the VMM freezes the state of ${ids.length} devices; configuration writes are dropped from now on.`);
  }

  private rowState(space: Space, r: Row): MapRange['state'] {
    if (this.mode === 'upstream') return r.live ? 'present' : 'absent';
    const listed = this.allow[space].some((a) => a.range.start <= r.range.start && a.range.end >= r.range.end);
    if (!listed) return 'denied';
    return this.frozen && r.live && r.device && hasFrozenRegisters(r.device) ? 'frozen' : 'allowed';
  }

  /** The port map and the MMIO map as the attack-surface panel shows them. */
  maps(): { ports: MapRange[]; mmio: MapRange[] } {
    const view = (space: Space): MapRange[] => this.rows(space).map((r) => ({
      start: hex(r.range.start), end: hex(r.range.end), device: r.device, name: r.range.name,
      state: this.rowState(space, r), accesses: this.counters.get(r.key) ?? 0,
    }));
    return { ports: view('port'), mmio: view('mmio') };
  }

  /**
   * Port and MMIO ranges through which a guest access reaches host code (KVM or the VMM).
   * Upstream: every present range, plus one for the rest of each space — an access there still
   * exits to the VMM, which runs its unassigned-address handler to answer all ones. Talk mode: the
   * allow-list entries only; KVM refuses everything else without leaving its check.
   */
  surfaceCount(): { ports: number; mmio: number } {
    if (this.mode === 'talk') return { ports: this.allow.port.length, mmio: this.allow.mmio.length };
    const present = (space: Space) => this.rows(space).filter((r) => r.live).length + 1;
    return { ports: present('port'), mmio: present('mmio') };
  }

  /** One row per catalogue device for the attack-surface panel. */
  devicesView(): DeviceRow[] {
    return DEVICE_IDS.map((id) => {
      const e = CATALOGUE[id];
      const forcedOff = forcedOffReason(id, this.td);
      const current = this.enabled[id] ? this.currentMmio(id) : null;
      return {
        id, name: e.name, enabled: this.enabled[id], forcedOff, canToggle: forcedOff === null,
        ports: e.ports.map(hexRange), mmio: e.mmio.map((r, i) => hexRange(current?.[i] ?? r)),
        irq: e.irq, handler: handlerFor(id, this.irqchip),
        frozen: this.frozen && this.enabled[id] && hasFrozenRegisters(id), pnpId: e.pnpId,
      };
    });
  }
}

function validate(c: PlatformConfig): void {
  for (const k of Object.keys(c.devices)) {
    if (!isDeviceId(k)) fail('EINVAL', `devices: unknown device "${k}" (known: ${DEVICE_IDS.join(', ')})`);
  }
  for (const id of DEVICE_IDS) {
    if (typeof c.devices[id] !== 'boolean') fail('EINVAL', `devices.${id} is missing: every device must be switched on or off`);
  }
  if (c.td) {
    for (const id of DEVICE_IDS) {
      const why = forcedOffReason(id, true);
      if (c.devices[id] && why) fail('EINVAL', `devices.${id}: ${why}`);
    }
    if (c.smm) fail('EINVAL', 'smm: QEMU\'s TDX setup forces SMM off (a TD cannot enter SMM)');
    if (c.irqchip !== 'split') fail('EINVAL', `irqchip "${c.irqchip}": QEMU's TDX setup requires the split irqchip (kernel-irqchip=split)`);
  }
  const spaces: [Space, IoRange[] | undefined, number][] = [['port', c.allowList?.ports, MAX_PORT], ['mmio', c.allowList?.mmio, MAX_GPA]];
  for (const [space, list, max] of spaces) {
    (list ?? []).forEach((r, i) => {
      const where = `allowList.${space === 'port' ? 'ports' : 'mmio'}[${i}] "${r.name}"`;
      if (!Number.isInteger(r.start) || !Number.isInteger(r.end)) fail('EINVAL', `${where}: start and end must be integers`);
      if (r.start > r.end) fail('EINVAL', `${where}: start ${hex(r.start)} is above end ${hex(r.end)}`);
      if (r.start < 0 || r.end > max) fail('EINVAL', `${where}: ${hex(r.start)}-${hex(r.end)} is outside ${space === 'port' ? '0..0xffff' : 'the guest-physical address space'}`);
    });
  }
}

function checkOverlaps(space: Space, list: { range: IoRange; device: DeviceId | null }[]): void {
  const label = (e: { range: IoRange; device: DeviceId | null }) =>
    `${e.device ?? 'allowList'} "${e.range.name}" (${hex(e.range.start)}-${hex(e.range.end)})`;
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i].range;
      const b = list[j].range;
      if (a.start <= b.end && b.start <= a.end) fail('EINVAL', `allow-list ${space} ranges overlap: ${label(list[i])} and ${label(list[j])}`);
    }
  }
}
