/**
 * What the "Attack surface" panel shows of one VM: plain JSON, built in the worker by the Lab
 * (lab.attackSurface(vm)) and sent to the UI on request. The panel never computes any of this.
 */
import type { DesignMode, DeviceId, Handler } from './devices/types';

export interface DeviceRow {
  id: DeviceId;
  /** Human name, e.g. "8259 PIC (master and slave)". */
  name: string;
  enabled: boolean;
  /** Why the device cannot be switched on for this VM (e.g. "QEMU's TDX setup forces the PIC off"), or null. */
  forcedOff: string | null;
  /** Whether the user may flip it (false when forced). */
  canToggle: boolean;
  ports: { start: string; end: string; name: string }[];
  mmio: { start: string; end: string; name: string }[];
  irq: number | null;
  /** Who answers its accesses. */
  handler: Handler;
  frozen: boolean;
  /** ACPI _HID / PNP ID when the DSDT lists it (e.g. "PNP0501"), else null. */
  pnpId: string | null;
}

/**
 * One range of the port or MMIO map. present: a device answers; allowed/denied: the talk's allow-list
 * decides; frozen: present but its state is frozen (writes dropped); absent: nothing answers
 * (reads all ones).
 */
export interface MapRange {
  start: string;
  end: string;
  device: DeviceId | null;
  name: string;
  state: 'present' | 'allowed' | 'denied' | 'frozen' | 'absent';
  /** Accesses the guest made to this range since boot (allowed and denied). */
  accesses: number;
}

/** A decoded ACPI table: header fields and a tree of its contents. */
export interface AcpiNode {
  label: string;
  value?: string;
  /** Differs from the previous boot (new, removed or changed value). */
  changed?: boolean;
  children?: AcpiNode[];
}

export interface AcpiTableView {
  signature: string;
  address: string;
  length: number;
  checksumOk: boolean;
  /** new: not present at the previous boot; removed: present then, gone now (kept so the change shows). */
  change: 'same' | 'changed' | 'new' | 'removed';
  tree: AcpiNode[];
}

export interface RegRow {
  name: string;
  value: string;
  /** Who sets it (e.g. "KVM_TDX_INIT_VCPU", "the TDX module", "the VMM: KVM_SET_REGS", "architectural reset"). */
  setBy: string;
}

export type { MsrRow, CpuidRow, CapRow } from '../kvm/surface-rows';
import type { MsrRow, CpuidRow, CapRow } from '../kvm/surface-rows';

/** The single figure: ranges and MSRs through which the guest can reach host code. */
export interface SurfaceCount {
  ports: number;
  mmio: number;
  msrs: number;
  total: number;
}

export interface AttackSurfaceView {
  vm: string;
  /** The host the VM runs on. */
  host: string;
  type: string;
  isTd: boolean;
  /** The design mode the VM runs with. */
  mode: DesignMode;
  /** The design mode the next boot will use (differs from `mode` until a reboot applies it). */
  nextMode: DesignMode;
  /** The configuration changed since the guest booted: a reboot applies it. */
  needsReboot: string[];
  /** Whether the allow-list is in force (talk mode) and whether device state is frozen. */
  allowList: boolean;
  frozen: boolean;
  devices: DeviceRow[];
  ports: MapRange[];
  mmio: MapRange[];
  acpi: AcpiTableView[];
  reset: RegRow[];
  msrs: MsrRow[];
  msrFilter: { defaultAllow: boolean; ranges: { flags: string; base: string; nmsrs: number }[]; userSpaceMsr: string[] } | null;
  cpuid: CpuidRow[];
  caps: CapRow[];
  bootLog: string;
  surface: SurfaceCount;
  /** Boots so far (1 after the first). */
  boots: number;
}
