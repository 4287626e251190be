/**
 * The device catalogue of the q35-like machine (DOMAIN.md §8): where QEMU's q35 board puts each
 * device, which IRQ and ACPI ID it has, who answers it, what an ordinary VM and a TD get by default,
 * and which of its registers the talk's freeze covers. Plain data; the models live beside it.
 */
import { DEVICE_IDS, type DeviceId, type Handler, type IoRange } from './types';

/** KVM_CREATE_IRQCHIP (kernel), KVM_CAP_SPLIT_IRQCHIP (split: only the local APIC in KVM), or none. */
export type Irqchip = 'kernel' | 'split' | 'none';

/** PCIe ECAM (MMCONFIG) as q35 sets it up: MCH_HOST_BRIDGE_PCIEXBAR_DEFAULT, 256 MiB (hw/pci-host/q35.h). */
export const ECAM_DEFAULT_BASE = 0xb0000000;
export const ECAM_DEFAULT_SIZE = 0x10000000;
/** ICH9 PMBASE as firmware programs it on q35 (QEMU's ICH9_PMIO_SIZE is 128 bytes). */
export const ACPI_PM_BASE = 0x600;
/**
 * The virtio functions' modern-interface BAR (QEMU virtio-pci: modern_mem_bar_idx = 4, 16 KiB,
 * 64-bit prefetchable). A simplification: the lab's firmware does not assign BARs; they start where
 * SeaBIOS would put them in q35's 32-bit PCI hole (0xfe000000, 0xfe004000). OVMF usually places
 * 64-bit prefetchable BARs above 4 GiB instead.
 */
export const VIRTIO_BAR_INDEX = 4;
export const VIRTIO_BAR_SIZE = 0x4000;
export const VIRTIO_NET_BAR = 0xfe000000;
export const VIRTIO_BLK_BAR = 0xfe004000;
/**
 * OVMF's 4 MiB build as two pflash devices mapped just below 4 GiB (QEMU pc_system_flash_map():
 * pflash0, the code, at the top; pflash1, the variable store, right below it). OVMF_VARS.fd is 528 KiB.
 */
export const PFLASH_VARS_BASE = 0xffc00000;
export const PFLASH_CODE_BASE = 0xffc84000;

export interface CatalogueEntry {
  id: DeviceId;
  /** Human name, as the attack-surface panel shows it. */
  name: string;
  ports: readonly IoRange[];
  /** MMIO ranges at their default place (PCI BARs and ECAM can be moved by the guest). */
  mmio: readonly IoRange[];
  /** ISA IRQ / GSI, or null (MSI-X, or no interrupt). */
  irq: number | null;
  /** _HID the QEMU DSDT gives it, or null when the DSDT does not list it. */
  pnpId: string | null;
  /** The irqchip modes in which KVM answers the device in the host kernel. */
  inKernel: readonly Irqchip[];
  /** On in an ordinary q35 VM (QEMU defaults, OVMF in pflash) and in a TD under upstream QEMU. */
  defaults: { q35: boolean; td: boolean };
  /** Why QEMU refuses the device for a TD, or null. */
  tdForcedOff: string | null;
  /** Which writes the talk's freeze drops, one sentence. */
  freezes: string;
}

const r = (start: number, end: number, name: string): IoRange => ({ start, end, name });
const both = { q35: true, td: true };

/** q35 device placement: hw/i386/pc_q35.c, hw/isa/lpc_ich9.c, hw/i386/pc.c and the device files they name. */
export const CATALOGUE: Readonly<Record<DeviceId, CatalogueEntry>> = {
  pic: {
    id: 'pic', name: '8259 PIC (master and slave)',
    ports: [r(0x20, 0x21, 'PIC master command/data'), r(0xa0, 0xa1, 'PIC slave command/data'), r(0x4d0, 0x4d1, 'ELCR (edge/level control)')],
    mmio: [], irq: null, pnpId: null, inKernel: ['kernel'], defaults: { q35: true, td: false },
    tdForcedOff: 'QEMU\'s TDX setup forces the 8259 PIC off ("TDX VM doesn\'t support PIC"): the TDX module does not let KVM inject its interrupts.',
    freezes: 'ICW1-ICW4, the interrupt mask (OCW1) and ELCR; EOIs (OCW2) and register selects (OCW3) keep working.',
  },
  pit: {
    id: 'pit', name: '8254 PIT and PC speaker gate',
    ports: [r(0x40, 0x43, 'PIT counters 0-2 and mode/command'), r(0x61, 0x61, 'NMI status/control (speaker gate)')],
    mmio: [], irq: 0, pnpId: null, inKernel: ['kernel'], defaults: both, tdForcedOff: null,
    freezes: 'mode/command words that set a counter\'s mode; latch commands, counter loads and port 0x61 keep working.',
  },
  i8042: {
    id: 'i8042', name: 'i8042 keyboard controller',
    ports: [r(0x60, 0x60, 'i8042 data'), r(0x64, 0x64, 'i8042 status/command')],
    mmio: [], irq: 1, pnpId: 'PNP0303', inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'writing the controller command byte and enabling or disabling its ports; self-tests and data reads keep working.',
  },
  rtc: {
    id: 'rtc', name: 'MC146818 RTC and CMOS',
    ports: [r(0x70, 0x71, 'RTC/CMOS index and data')],
    mmio: [], irq: 8, pnpId: 'PNP0B00', inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'registers A and B (rate and mode); index writes, time reads and CMOS memory keep working.',
  },
  com1: {
    id: 'com1', name: '16550A UART (COM1)',
    ports: [r(0x3f8, 0x3ff, 'COM1 registers')],
    mmio: [], irq: 4, pnpId: 'PNP0501', inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'LCR, the divisor latch, FCR and MCR; THR, IER and the scratch register keep working.',
  },
  lpt1: {
    id: 'lpt1', name: 'Parallel port (LPT1)',
    ports: [r(0x378, 0x37a, 'LPT1 data/status/control')],
    mmio: [], irq: 7, pnpId: 'PNP0400', inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'the control register; data writes keep working.',
  },
  floppy: {
    id: 'floppy', name: 'Floppy disk controller',
    ports: [r(0x3f0, 0x3f7, 'FDC registers')],
    // q35 sets no_floppy: the controller exists only with -device isa-fdc.
    mmio: [], irq: 6, pnpId: 'PNP0700', inKernel: [], defaults: { q35: false, td: false }, tdForcedOff: null,
    freezes: 'the digital output register and the data-rate registers; commands keep working.',
  },
  'isa-dma': {
    id: 'isa-dma', name: '8237 ISA DMA controllers and page registers',
    ports: [r(0x00, 0x0f, 'DMA controller 1 (channels 0-3)'), r(0x80, 0x8f, 'DMA page registers'), r(0xc0, 0xdf, 'DMA controller 2 (channels 4-7)')],
    mmio: [], irq: null, pnpId: null, inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'nothing: every transfer programs the controller anew.',
  },
  apm: {
    id: 'apm', name: 'APM control and status (SMI trigger)',
    ports: [r(0xb2, 0xb3, 'APM_CNT / APM_STS')],
    mmio: [], irq: null, pnpId: null, inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'nothing: APM_CNT is a command port (ACPI enable/disable, SMI requests).',
  },
  'pci-host': {
    id: 'pci-host', name: 'Q35 host bridge (PCI configuration mechanism #1)',
    ports: [r(0xcf8, 0xcf8, 'CONFIG_ADDRESS (32-bit accesses at 0xcf8)'), r(0xcfc, 0xcff, 'CONFIG_DATA')],
    mmio: [], irq: null, pnpId: 'PNP0A08', inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'every configuration-space write (BARs, command register, PCIEXBAR); CONFIG_ADDRESS and reads keep working.',
  },
  reset: {
    id: 'reset', name: 'ICH9 reset control register',
    ports: [r(0xcf9, 0xcf9, 'RST_CNT')],
    mmio: [], irq: null, pnpId: null, inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'nothing: a reset request is honoured.',
  },
  fw_cfg: {
    id: 'fw_cfg', name: 'QEMU firmware configuration (fw_cfg)',
    ports: [r(0x510, 0x511, 'fw_cfg selector/data'), r(0x514, 0x51b, 'fw_cfg DMA address')],
    mmio: [], irq: null, pnpId: 'QEMU0002', inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'nothing: the items are read-only to the guest, and selecting and reading them is its data path.',
  },
  'acpi-pm': {
    id: 'acpi-pm', name: 'ICH9 ACPI PM block (PM1, PM timer, GPE0, SMI)',
    ports: [r(ACPI_PM_BASE, ACPI_PM_BASE + 0x7f, 'PMBASE: PM1_EVT, PM1_CNT, PM_TMR, GPE0, SMI_EN')],
    mmio: [], irq: 9, pnpId: null, inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'PM1_EN, GPE0_EN and SMI_EN; status clears, PM1_CNT (sleep/power off) and the PM timer keep working.',
  },
  hpet: {
    id: 'hpet', name: 'HPET',
    ports: [], mmio: [r(0xfed00000, 0xfed003ff, 'HPET registers')],
    irq: null, pnpId: 'PNP0103', inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'the general configuration, the main counter and each timer\'s configuration; comparator writes keep working.',
  },
  ioapic: {
    id: 'ioapic', name: 'I/O APIC',
    ports: [], mmio: [r(0xfec00000, 0xfec00fff, 'IOREGSEL / IOWIN')],
    irq: null, pnpId: null, inKernel: ['kernel'], defaults: both, tdForcedOff: null,
    freezes: 'writes through IOWIN (the ID and every redirection entry, mask bits included); IOREGSEL keeps working.',
  },
  lapic: {
    id: 'lapic', name: 'Local APIC (xAPIC MMIO page)',
    ports: [], mmio: [r(0xfee00000, 0xfee00fff, 'local APIC registers')],
    irq: null, pnpId: null, inKernel: ['kernel', 'split'], defaults: both, tdForcedOff: null,
    freezes: 'nothing: EOIs, the timer and IPIs are its data path.',
  },
  tpm: {
    id: 'tpm', name: 'TPM 2.0 (TIS interface)',
    ports: [], mmio: [r(0xfed40000, 0xfed44fff, 'TPM TIS localities 0-4')],
    irq: null, pnpId: 'MSFT0101', inKernel: [], defaults: { q35: false, td: false }, tdForcedOff: null,
    freezes: 'nothing: commands are its data path.',
  },
  ecam: {
    id: 'ecam', name: 'PCIe ECAM (MMCONFIG)',
    ports: [], mmio: [r(ECAM_DEFAULT_BASE, ECAM_DEFAULT_BASE + ECAM_DEFAULT_SIZE - 1, 'PCIe configuration space (256 buses)')],
    irq: null, pnpId: null, inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'every configuration-space write, so PCIEXBAR (the window\'s own base) cannot move.',
  },
  pflash: {
    id: 'pflash', name: 'CFI parallel flash (OVMF code and variables)',
    ports: [],
    mmio: [r(PFLASH_VARS_BASE, PFLASH_CODE_BASE - 1, 'pflash1: OVMF_VARS'), r(PFLASH_CODE_BASE, 0xffffffff, 'pflash0: OVMF_CODE')],
    irq: null, pnpId: null, inKernel: [], defaults: { q35: true, td: false },
    tdForcedOff: 'A TD cannot have read-only memslots, so QEMU loads TDVF with -bios and creates no pflash.',
    freezes: 'program and erase commands; query, status and read-array commands keep working.',
  },
  'virtio-net': {
    id: 'virtio-net', name: 'virtio-net-pci (00:02.0)',
    ports: [], mmio: [r(VIRTIO_NET_BAR, VIRTIO_NET_BAR + VIRTIO_BAR_SIZE - 1, 'BAR4: virtio common/ISR/device/notify')],
    irq: null, pnpId: null, inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'the common configuration (features, status, queue size, ring addresses, enable); selectors and queue notifications keep working.',
  },
  'virtio-blk': {
    id: 'virtio-blk', name: 'virtio-blk-pci (00:03.0)',
    ports: [], mmio: [r(VIRTIO_BLK_BAR, VIRTIO_BLK_BAR + VIRTIO_BAR_SIZE - 1, 'BAR4: virtio common/ISR/device/notify')],
    irq: null, pnpId: null, inKernel: [], defaults: both, tdForcedOff: null,
    freezes: 'the common configuration (features, status, queue size, ring addresses, enable); selectors and queue notifications keep working.',
  },
};

/** Devices the freeze leaves alone: nothing they have is configuration (see each entry's `freezes`). */
const NOTHING_FREEZES: ReadonlySet<DeviceId> = new Set<DeviceId>(['isa-dma', 'apm', 'reset', 'fw_cfg', 'lapic', 'tpm']);

export const hasFrozenRegisters = (id: DeviceId): boolean => !NOTHING_FREEZES.has(id);

/** Who answers a device: KVM when the VM's irqchip puts it in the kernel, else the VMM. */
export function handlerFor(id: DeviceId, irqchip: Irqchip): Handler {
  return CATALOGUE[id].inKernel.includes(irqchip) ? 'kvm' : 'vmm';
}

/** The device set QEMU gives an ordinary q35 VM or a TD when nothing is switched on or off. */
export function defaultDevices(kind: 'q35' | 'td'): Record<DeviceId, boolean> {
  return Object.fromEntries(DEVICE_IDS.map((id) => [id, CATALOGUE[id].defaults[kind]])) as Record<DeviceId, boolean>;
}

/** Why a device cannot be on for this VM, or null. */
export function forcedOffReason(id: DeviceId, td: boolean): string | null {
  return td ? CATALOGUE[id].tdForcedOff : null;
}
