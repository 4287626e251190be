/**
 * virtio-pci, modern interface only (virtio 1.2 §4.1; QEMU hw/virtio/virtio-pci.c): a PCI function
 * whose vendor capabilities point into BAR4 at the common configuration (0x0000), the ISR (0x1000),
 * the device configuration (0x2000) and the notify area (0x3000), QEMU's layout. The model takes the
 * driver through feature negotiation and queue setup and records the ring addresses it programs.
 * When the guest enables a queue, the model tries to read its rings through the VMM's mapping of
 * guest memory, as QEMU's virtio_queue_set_rings() maps them (hw/virtio/virtio.c
 * virtio_init_region_cache()): a TD's ring in private memory cannot be reached, which is why a TD
 * must put its rings in shared memory. No request is ever processed.
 */
import { hex } from '../../core/units';
import { VIRTIO_BAR_INDEX, VIRTIO_BAR_SIZE } from './catalogue';
import { allOnes, readBytes, writeBytes, type DeviceEnv, type DeviceModel } from './device';
import { PCI_CAPABILITY_LIST, PciFunction, type Bdf } from './pci';
import type { DeviceId } from './types';

const COMMON = 0x0000;
const ISR = 0x1000;
const DEVICE = 0x2000;
const NOTIFY = 0x3000;
const NOTIFY_OFF_MULTIPLIER = 4;

/** struct virtio_pci_common_cfg offsets. */
const C = {
  device_feature_select: 0x00, device_feature: 0x04, driver_feature_select: 0x08, driver_feature: 0x0c,
  config_msix_vector: 0x10, num_queues: 0x12, device_status: 0x14, config_generation: 0x15,
  queue_select: 0x16, queue_size: 0x18, queue_msix_vector: 0x1a, queue_enable: 0x1c, queue_notify_off: 0x1e,
  queue_desc: 0x20, queue_driver: 0x28, queue_device: 0x30,
} as const;

/** Device status bits (virtio 1.2 §2.1). */
const STATUS_NAMES: [number, string][] = [[1, 'ACKNOWLEDGE'], [2, 'DRIVER'], [8, 'FEATURES_OK'], [4, 'DRIVER_OK'], [0x40, 'DEVICE_NEEDS_RESET'], [0x80, 'FAILED']];
const VIRTIO_F_VERSION_1 = 2 ** 32;
/**
 * VIRTIO_F_ACCESS_PLATFORM (bit 33, QEMU's property iommu_platform): the device accesses memory
 * through the platform's DMA translation, so the driver must use the DMA API. QEMU turns it on for
 * every virtio device of a confidential guest (hw/core/machine.c: confidential-guest-support
 * registers the sugar property iommu_platform=on, with disable-legacy=on).
 */
export const VIRTIO_F_ACCESS_PLATFORM = 2 ** 33;
const VIRTIO_MSI_NO_VECTOR = 0xffff;

interface Queue {
  size: number;
  maxSize: number;
  msix: number;
  enable: number;
  desc: number;
  driver: number;
  device: number;
  /** What QEMU could read of the rings when the queue was enabled (null before). */
  reach: RingReach | null;
}

interface RingReach {
  reachable: boolean;
  unreachable: RingArea[];
}

type RingArea = 'descriptor table' | 'driver area' | 'device area';

/** A virtqueue the guest enabled: where its three rings are (queue_desc, queue_driver, queue_device). */
export interface VirtqueueRings {
  device: DeviceId;
  queue: number;
  size: number;
  desc: number;
  driverArea: number;
  deviceArea: number;
}

/** An enabled virtqueue and whether the VMM could reach its rings when the guest enabled it. */
export interface VirtqueueReach extends VirtqueueRings {
  /** QEMU could read all three areas through its mapping of guest memory. */
  reachable: boolean;
  /** The areas it could not read (a TD's private memory, or no RAM there). */
  unreachable: RingArea[];
}

/** Split-virtqueue area sizes for a queue of n entries (virtio 1.2 §2.7): 16n, 6 + 2n, 6 + 8n bytes. */
const ringBytes = (n: number): [RingArea, 'desc' | 'driver' | 'device', number][] =>
  [['descriptor table', 'desc', 16 * n], ['driver area', 'driver', 6 + 2 * n], ['device area', 'device', 6 + 8 * n]];

interface Kind {
  id: DeviceId;
  pciDevice: number;
  classCode: number;
  /** Queue sizes QEMU gives the device (virtio-net: rx, tx, ctrl; virtio-blk: one queue per vCPU). */
  queues: number[];
  features: number;
  /** The device-specific configuration (struct virtio_net_config / virtio_blk_config). */
  config: Uint8Array;
}

function netConfig(): Uint8Array {
  const c = new Uint8Array(12);
  c.set([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]); // QEMU's default MAC
  c[6] = 1; // status: VIRTIO_NET_S_LINK_UP
  c[8] = 1; // max_virtqueue_pairs
  return c;
}

/** A 2 GiB disk: capacity in 512-byte sectors, seg_max, blk_size 512. */
function blkConfig(): Uint8Array {
  const c = new Uint8Array(24);
  writeBytes(0, 4, 0x400000, (a, b) => { c[a] = b; });
  c[12] = 254;
  writeBytes(20, 4, 512, (a, b) => { c[a] = b; });
  return c;
}

export const VIRTIO_KINDS: Record<'virtio-net' | 'virtio-blk', () => Kind> = {
  // VIRTIO_NET_F_MAC (5), VIRTIO_NET_F_STATUS (16), VIRTIO_NET_F_CTRL_VQ (17).
  'virtio-net': () => ({ id: 'virtio-net', pciDevice: 0x1041, classCode: 0x020000, queues: [256, 256, 64], features: 0x30020 + VIRTIO_F_VERSION_1, config: netConfig() }),
  // VIRTIO_BLK_F_SEG_MAX (2), VIRTIO_BLK_F_BLK_SIZE (6), VIRTIO_BLK_F_FLUSH (9).
  'virtio-blk': () => ({ id: 'virtio-blk', pciDevice: 0x1042, classCode: 0x010000, queues: [256], features: 0x244 + VIRTIO_F_VERSION_1, config: blkConfig() }),
};

export class VirtioPci implements DeviceModel {
  readonly fn: PciFunction;
  private readonly kind: Kind;
  private queues: Queue[] = [];
  status = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  driverFeatures = [0, 0];
  private configMsix = VIRTIO_MSI_NO_VECTOR;
  private queueSelect = 0;
  private lastBar: number | null;
  readonly notifications: number[] = [];

  /**
   * QEMU's iommu_platform property: offer VIRTIO_F_ACCESS_PLATFORM. QEMU sets it by itself for a
   * confidential guest; it can change only before the guest reads the features.
   */
  accessPlatform: boolean;

  constructor(private readonly env: DeviceEnv, id: 'virtio-net' | 'virtio-blk', bdf: Bdf, barAddress: number, opts: { accessPlatform?: boolean } = {}) {
    this.kind = VIRTIO_KINDS[id]();
    this.accessPlatform = opts.accessPlatform ?? false;
    this.fn = new PciFunction(bdf, id, { vendor: 0x1af4, device: this.kind.pciDevice, classCode: this.kind.classCode, revision: 1, headerType: 0 });
    this.fn.defineBar64(VIRTIO_BAR_INDEX, VIRTIO_BAR_SIZE, barAddress, true);
    this.fn.set(0x3d, 1, 1); // INTA#
    this.fn.set(0x04, 2, 0x0006); // memory decoding and bus mastering on, as firmware leaves them
    this.fn.set(0x06, 2, 0x0010); // status: capabilities list
    this.fn.set(PCI_CAPABILITY_LIST, 1, 0x40);
    // struct virtio_pci_cap: cap_vndr 0x09, cap_next, cap_len, cfg_type, bar, id, padding, offset, length.
    const caps: [number, number, number, number][] = [[0x40, 1, COMMON, 0x1000], [0x50, 3, ISR, 0x1000], [0x60, 4, DEVICE, 0x1000], [0x70, 2, NOTIFY, 0x1000]];
    caps.forEach(([at, type, offset, length], i) => {
      const next = caps[i + 1]?.[0] ?? 0;
      this.fn.config.set([0x09, next, type === 2 ? 20 : 16, type, VIRTIO_BAR_INDEX], at);
      this.fn.set(at + 8, 4, offset);
      this.fn.set(at + 12, 4, length);
      if (type === 2) this.fn.set(at + 16, 4, NOTIFY_OFF_MULTIPLIER);
    });
    this.lastBar = this.fn.bar64(VIRTIO_BAR_INDEX);
    this.fn.onWrite = () => this.barMoved();
    this.reset();
  }

  get id(): DeviceId {
    return this.kind.id;
  }

  /** Where BAR4 decodes now, or null (memory decoding off or BAR unassigned). */
  window(): { start: number; end: number } | null {
    const base = this.fn.bar64(VIRTIO_BAR_INDEX);
    return base === null ? null : { start: base, end: base + VIRTIO_BAR_SIZE - 1 };
  }

  private barMoved(): void {
    const now = this.fn.bar64(VIRTIO_BAR_INDEX);
    if (now === this.lastBar) return;
    const before = this.lastBar;
    this.lastBar = now;
    // Firmware and Linux size a BAR by writing all ones with decoding off: only trace real placements.
    if (now === null) return;
    this.env.emit('PCI BAR', { device: this.kind.id, bar: VIRTIO_BAR_INDEX, address: hex(now), before: before === null ? null : hex(before) },
      `The guest places ${this.kind.id}'s BAR${VIRTIO_BAR_INDEX} at ${hex(now)}.`);
  }

  private reset(): void {
    this.queues = this.kind.queues.map((n) => ({ size: n, maxSize: n, msix: VIRTIO_MSI_NO_VECTOR, enable: 0, desc: 0, driver: 0, device: 0, reach: null }));
    this.status = 0;
    this.driverFeatures = [0, 0];
    this.queueSelect = 0;
  }

  /** The rings of every enabled queue. */
  rings(): VirtqueueRings[] {
    return this.queues.flatMap((q, i) => q.enable
      ? [{ device: this.kind.id, queue: i, size: q.size, desc: q.desc, driverArea: q.driver, deviceArea: q.device }] : []);
  }

  /** The feature bits the device offers. */
  get features(): number {
    return this.kind.features + (this.accessPlatform ? VIRTIO_F_ACCESS_PLATFORM : 0);
  }

  /** The rings of every enabled queue, with what QEMU could reach of them when the guest enabled it. */
  ringReach(): VirtqueueReach[] {
    return this.rings().map((r) => ({ ...r, reachable: this.queues[r.queue].reach?.reachable ?? false, unreachable: this.queues[r.queue].reach?.unreachable ?? [] }));
  }

  /**
   * virtio_queue_set_rings(): QEMU maps the three areas of the queue the guest just enabled. The
   * VMM's readGuest() answers only where QEMU may DMA: RAM it maps and, for a TD, shared pages.
   */
  private checkRings(index: number, q: Queue): void {
    const id = this.kind.id;
    const unreachable = ringBytes(q.size).filter(([, field, len]) => this.env.host.readGuest(q[field], len) === null).map(([area]) => area);
    q.reach = { reachable: unreachable.length === 0, unreachable };
    const args = { device: id, queue: index, desc: hex(q.desc), driver: hex(q.driver), device_area: hex(q.device), reachable: unreachable.length === 0 };
    if (!unreachable.length) {
      this.env.emit('virtio_queue_set_rings', args,
        `QEMU can reach ${id} queue ${index}'s rings through its own mapping of guest memory: it will read the descriptors at ${hex(q.desc)} and write used entries at ${hex(q.device)}.`);
      return;
    }
    this.env.emit('virtio_queue_set_rings', { ...args, unreachable: unreachable.join(', ') },
      `QEMU cannot reach ${id} queue ${index}'s ${unreachable.join(', ')} (descriptors at ${hex(q.desc)}): in a TD these pages are private, so QEMU's mapping holds only the shared alias, which the guest never wrote — a TD must place its rings in shared memory, which is why Linux makes virtio use the DMA API there (VIRTIO_F_ACCESS_PLATFORM, decrypted buffers).`);
  }

  private get q(): Queue | undefined {
    return this.queues[this.queueSelect];
  }

  private commonRead(off: number, size: number): number {
    const q = this.q;
    const half = (v: number, at: number) => readBytes(off - at, size, (a) => Math.floor(v / 2 ** (8 * a)) & 0xff);
    if (off >= C.queue_desc && off < C.queue_device + 8) {
      if (!q) return 0;
      const at = off < C.queue_driver ? C.queue_desc : off < C.queue_device ? C.queue_driver : C.queue_device;
      return half(at === C.queue_desc ? q.desc : at === C.queue_driver ? q.driver : q.device, at);
    }
    switch (off) {
      case C.device_feature_select: return this.deviceFeatureSelect;
      case C.device_feature: return this.deviceFeatureSelect > 1 ? 0 : Math.floor(this.features / 2 ** (32 * this.deviceFeatureSelect)) >>> 0;
      case C.driver_feature_select: return this.driverFeatureSelect;
      case C.driver_feature: return this.driverFeatures[this.driverFeatureSelect] ?? 0;
      case C.config_msix_vector: return this.configMsix;
      case C.num_queues: return this.queues.length;
      case C.device_status: return this.status;
      case C.config_generation: return 0;
      case C.queue_select: return this.queueSelect;
      case C.queue_size: return q?.size ?? 0;
      case C.queue_msix_vector: return q?.msix ?? VIRTIO_MSI_NO_VECTOR;
      case C.queue_enable: return q?.enable ?? 0;
      case C.queue_notify_off: return this.queueSelect;
      default: return 0;
    }
  }

  private commonWrite(off: number, size: number, v: number): void {
    const q = this.q;
    if (off >= C.queue_desc && off < C.queue_device + 8) {
      if (!q) return;
      const field = off < C.queue_driver ? 'desc' : off < C.queue_device ? 'driver' : 'device';
      const at = field === 'desc' ? C.queue_desc : field === 'driver' ? C.queue_driver : C.queue_device;
      // Drivers write the low and high halves separately (vp_iowrite64_twopart()).
      const b = new Uint8Array(8);
      writeBytes(0, 8, q[field], (a, x) => { b[a] = x; });
      writeBytes(off - at, size, v, (a, x) => { b[a] = x; });
      q[field] = readBytes(0, 8, (a) => b[a]);
      return;
    }
    switch (off) {
      case C.device_feature_select: this.deviceFeatureSelect = v >>> 0; return;
      case C.driver_feature_select: this.driverFeatureSelect = v >>> 0; return;
      case C.driver_feature: if (this.driverFeatureSelect < 2) this.driverFeatures[this.driverFeatureSelect] = v >>> 0; return;
      case C.config_msix_vector: this.configMsix = v & 0xffff; return;
      case C.device_status: this.setStatus(v & 0xff); return;
      case C.queue_select: this.queueSelect = v & 0xffff; return;
      case C.queue_size: if (q && v && v <= q.maxSize) q.size = v & 0xffff; return;
      case C.queue_msix_vector: if (q) q.msix = v & 0xffff; return;
      case C.queue_enable:
        if (q && v & 1) {
          q.enable = 1;
          this.env.emit('virtqueue enable', { device: this.kind.id, queue: this.queueSelect, desc: hex(q.desc), driver: hex(q.driver), device_area: hex(q.device) },
            `The guest enables ${this.kind.id} queue ${this.queueSelect}: descriptors at ${hex(q.desc)}, driver area at ${hex(q.driver)}, device area at ${hex(q.device)}.`);
          this.checkRings(this.queueSelect, q);
        }
        return;
      default: return; // read-only fields
    }
  }

  private setStatus(v: number): void {
    if (v === 0) {
      this.reset();
      this.env.emit('virtio reset', { device: this.kind.id }, `The guest resets ${this.kind.id} (device_status 0).`);
      return;
    }
    const added = STATUS_NAMES.filter(([bit]) => v & bit && !(this.status & bit)).map(([, n]) => n);
    this.status = v;
    if (added.length) {
      this.env.emit('virtio status', { device: this.kind.id, status: hex(v), set: added },
        `The guest sets ${added.join(', ')} in ${this.kind.id}'s device status.`);
    }
  }

  read(gpa: number, size: number): number {
    const w = this.window();
    if (!w) return allOnes(size);
    const off = gpa - w.start;
    if (off < ISR) return this.commonRead(off - COMMON, size);
    if (off < DEVICE) return 0; // ISR: nothing pending (read-to-clear)
    if (off < NOTIFY) return readBytes(off - DEVICE, size, (a) => this.kind.config[a] ?? 0);
    return 0;
  }

  write(gpa: number, size: number, value: number): void {
    const w = this.window();
    if (!w) return;
    const off = gpa - w.start;
    if (off < ISR) this.commonWrite(off - COMMON, size, value);
    else if (off >= NOTIFY) {
      // queue_notify_off is the queue index, times notify_off_multiplier.
      const queue = Math.floor((off - NOTIFY) / NOTIFY_OFF_MULTIPLIER);
      this.notifications.push(queue);
      this.env.emit('virtqueue notify', { device: this.kind.id, queue }, `The guest kicks ${this.kind.id} queue ${queue}.`);
    }
  }

  frozenRegister(gpa: number, size: number): string | null {
    const w = this.window();
    if (!w) return null;
    const off = gpa - w.start;
    if (off >= DEVICE && off < NOTIFY) return `${this.kind.id} device configuration`;
    if (off >= ISR) return null;
    const frozen: [number, number, string][] = [
      [C.driver_feature, 4, 'driver_feature'], [C.config_msix_vector, 2, 'config_msix_vector'], [C.device_status, 1, 'device_status'],
      [C.queue_size, 2, 'queue_size'], [C.queue_msix_vector, 2, 'queue_msix_vector'], [C.queue_enable, 2, 'queue_enable'],
      [C.queue_desc, 8, 'queue_desc'], [C.queue_driver, 8, 'queue_driver'], [C.queue_device, 8, 'queue_device'],
    ];
    const hit = frozen.find(([at, len]) => off < at + len && off + size > at);
    return hit ? `${this.kind.id} ${hit[2]}` : null;
  }
}
