/**
 * The platform the guest sees (DOMAIN.md §8): the device catalogue's identifiers and the small
 * contract between the devices, the VMM that owns them and the ACPI builder that describes them.
 */

/** DOMAIN.md §1: the two design modes worth a switch. */
export type DesignMode = 'upstream' | 'talk';

/** Every device the q35-like machine can have, by a stable identifier (used in scenarios and the UI). */
export const DEVICE_IDS = [
  'pic', 'pit', 'i8042', 'rtc', 'com1', 'lpt1', 'floppy', 'isa-dma', 'apm', 'pci-host', 'reset', 'fw_cfg',
  'acpi-pm', 'hpet', 'ioapic', 'lapic', 'tpm', 'ecam', 'pflash', 'virtio-net', 'virtio-blk',
] as const;
export type DeviceId = (typeof DEVICE_IDS)[number];

export const isDeviceId = (s: string): s is DeviceId => (DEVICE_IDS as readonly string[]).includes(s);

/** An inclusive range of ports or guest-physical MMIO addresses. */
export interface IoRange {
  start: number;
  /** Inclusive. */
  end: number;
  /** What the range is (e.g. "PIC master command/data", "HPET registers"). */
  name: string;
}

/** Who runs the code that answers an access: KVM in the host kernel (in-kernel irqchip, PIT) or the VMM. */
export type Handler = 'kvm' | 'vmm';
