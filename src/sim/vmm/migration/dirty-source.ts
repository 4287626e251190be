/**
 * Where a migration learns which pages the guest wrote: QEMU's dirty-log listeners
 * (accel/kvm/kvm-all.c). The migration thread sees only this interface, so the dirty ring
 * (kvm/dirty-ring.ts, harvested by a reaper) plugs in beside the bitmap without touching it.
 *
 * Page numbers here are the migration's: page p is at offset p × 4 KiB in the guest's RAM block
 * (QEMU's single "pc.ram" RAMBlock, which the memslots split below and above 4 GiB).
 */
import { PAGE_SIZE } from '../../core/units';
import type { Vm } from '../../kvm/vm';
import { KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_DIRTY_LOG_INITIALLY_SET, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, KVM_MEM_LOG_DIRTY_PAGES } from '../../kvm/uapi';
import type { RamBlock } from '../vmm';
import type { DirtyRingReaper } from '../dirty-ring-reaper';

export interface DirtyPageSource {
  /** What it is, for the trace: "bitmap" (KVM_GET_DIRTY_LOG) or "ring" (KVM_CAP_DIRTY_LOG_RING). */
  readonly kind: string;
  /** memory_global_dirty_log_start(): from now on every guest write is recorded. */
  start(): void;
  /** Harvest what was written since the last sync: `mark(p)` for each page (a page may come more than once). */
  sync(mark: (page: number) => void): void;
  /** Just before page p is sent: re-arm tracking for it, so that a write after the send is seen. */
  beforeSend(page: number): void;
  /** memory_global_dirty_log_stop(). */
  stop(): void;
}

/** QEMU's clear-bitmap-shift default: KVM_CLEAR_DIRTY_LOG in chunks of 2^18 pages (1 GiB). */
export const CLEAR_BITMAP_SHIFT = 18;

/**
 * The KVM dirty bitmap with manual protect, as QEMU uses it: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with
 * KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET (kvm_init), KVM_MEM_LOG_DIRTY_PAGES
 * on each RAM memslot (kvm_log_start), KVM_GET_DIRTY_LOG at each sync (kvm_physical_sync_dirty_bitmap),
 * and KVM_CLEAR_DIRTY_LOG of a whole 2^18-page chunk the first time a page of that chunk is sent after
 * a sync (migration_clear_memory_region_dirty_bitmap → kvm_log_clear_one_slot), with the bits the last
 * KVM_GET_DIRTY_LOG returned: those pages are write-protected again just before they are sent.
 */
/** KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_LOG_DIRTY_PAGES set or cleared on a RAM block's memslot (as memory_global_dirty_log_start/stop do). */
function setDirtyLogging(vm: Vm, b: RamBlock, on: boolean): void {
  const slot = vm.slots.get(b.slot);
  if (!slot) return;
  const flags = on ? slot.flags | KVM_MEM_LOG_DIRTY_PAGES : slot.flags & ~KVM_MEM_LOG_DIRTY_PAGES;
  vm.setUserMemoryRegion2({ slot: b.slot, flags, guest_phys_addr: b.gpa, memory_size: b.size, userspace_addr: b.hva });
}

export class KvmDirtyBitmap implements DirtyPageSource {
  /** Wiring: the VM and its RAM blocks (its VMM's). */
  static readonly stateSkip: readonly string[] = ['vm', 'blocks'];
  readonly kind = 'bitmap';
  /** Per memslot (in `blocks` order): the bitmap the last KVM_GET_DIRTY_LOG returned (QEMU's mem->dirty_bmap). */
  lastLog: Uint32Array[] = [];
  /** One bit per 2^18-page chunk of the RAM block: KVM's log of that chunk still has to be cleared (rb->clear_bmap). */
  clearBmap: Uint8Array;
  /** The manual-protect flags were enabled by this source (QEMU enables them when KVM starts). */
  enabledCap = false;

  constructor(private readonly vm: Vm, private readonly blocks: readonly RamBlock[]) {
    const pages = blocks.reduce((n, b) => Math.max(n, (b.gmemOffset + b.size) / PAGE_SIZE), 0);
    this.clearBmap = new Uint8Array(Math.ceil(pages / 2 ** CLEAR_BITMAP_SHIFT));
  }

  start(): void {
    const want = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET;
    if ((this.vm.manualDirtyLogProtect & want) !== want) {
      this.vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, [want]);
      this.enabledCap = true;
    }
    for (const b of this.blocks) this.setLogging(b, true);
    this.lastLog = this.blocks.map((b) => new Uint32Array(Math.ceil(b.size / PAGE_SIZE / 32)));
  }

  private setLogging(b: RamBlock, on: boolean): void {
    setDirtyLogging(this.vm, b, on);
  }

  sync(mark: (page: number) => void): void {
    this.blocks.forEach((b, k) => {
      const log = this.vm.getDirtyLog(b.slot);
      this.lastLog[k].set(log);
      const first = b.gmemOffset / PAGE_SIZE;
      let any = false;
      for (let w = 0; w < log.length; w++) {
        let bits = log[w];
        if (bits === 0) continue;
        any = true;
        while (bits) {
          const low = bits & -bits;
          mark(first + w * 32 + (31 - Math.clz32(low)));
          bits ^= low;
        }
      }
      if (any) this.markClear(first, b.size / PAGE_SIZE);
    });
  }

  /** clear_bmap_set(): the chunks of [first, first + n) must be cleared in KVM before their pages go out. */
  private markClear(first: number, n: number): void {
    for (let c = first >>> CLEAR_BITMAP_SHIFT; c <= (first + n - 1) >>> CLEAR_BITMAP_SHIFT; c++) this.clearBmap[c] = 1;
  }

  beforeSend(page: number): void {
    // The slow path is a method of its own: its closure would otherwise make V8 allocate a context on
    // every call of this one, which runs once per page sent.
    const c = page >>> CLEAR_BITMAP_SHIFT;
    if (this.clearBmap[c]) this.clearChunk(c);
  }

  /** migration_clear_memory_region_dirty_bitmap(): KVM_CLEAR_DIRTY_LOG of chunk c, with the bits the last sync returned. */
  private clearChunk(c: number): void {
    this.clearBmap[c] = 0;
    const lo = c << CLEAR_BITMAP_SHIFT;
    const hi = lo + 2 ** CLEAR_BITMAP_SHIFT;
    this.blocks.forEach((b, k) => {
      const first = b.gmemOffset / PAGE_SIZE;
      const from = Math.max(lo, first);
      const to = Math.min(hi, first + b.size / PAGE_SIZE);
      if (from >= to) return;
      // Slot-relative, and a multiple of 64 (chunks and the 2 GiB split are): as KVM requires.
      const rel = from - first;
      const n = to - from;
      const log = this.lastLog[k];
      const bits = log.slice(rel >>> 5, (rel >>> 5) + Math.ceil(n / 32));
      const tail = n % 32;
      if (tail) bits[bits.length - 1] &= 2 ** tail - 1;
      if (bits.some((w) => w !== 0)) this.vm.clearDirtyLog(b.slot, rel, n, bits);
    });
  }

  stop(): void {
    for (const b of this.blocks) this.setLogging(b, false);
    this.clearBmap.fill(0);
  }
}

/**
 * The KVM dirty ring (-accel kvm,dirty-ring-size=N), as QEMU uses it for a migration: dirty logging is
 * turned on per memslot (KVM write-protects the pages), each bitmap sync reaps every vCPU's ring into
 * QEMU's per-slot bitmap (kvm_dirty_ring_flush → kvm_dirty_ring_reap, KVM_RESET_DIRTY_RINGS, which
 * write-protects the reaped pages again) and takes and clears that bitmap (kvm_slot_sync_dirty_pages).
 * Nothing is cleared before a page is sent: the reset already re-armed it.
 */
export class KvmDirtyRing implements DirtyPageSource {
  /** Wiring: the VM, its RAM blocks and its VMM's reaper. */
  static readonly stateSkip: readonly string[] = ['vm', 'blocks', 'reaper'];
  readonly kind = 'ring';

  constructor(private readonly vm: Vm, private readonly blocks: readonly RamBlock[], private readonly reaper: DirtyRingReaper) {}

  start(): void {
    for (const b of this.blocks) this.setLogging(b, true);
  }

  private setLogging(b: RamBlock, on: boolean): void {
    setDirtyLogging(this.vm, b, on);
  }

  sync(mark: (page: number) => void): void {
    this.reaper.reap("the migration thread's bitmap sync");
    for (const b of this.blocks) {
      const log = this.reaper.syncSlot(b.slot);
      const first = b.gmemOffset / PAGE_SIZE;
      for (let w = 0; w < log.length; w++) {
        let bits = log[w];
        while (bits) {
          const low = bits & -bits;
          mark(first + w * 32 + (31 - Math.clz32(low)));
          bits ^= low;
        }
      }
    }
  }

  beforeSend(): void {
    // KVM_RESET_DIRTY_RINGS write-protected the reaped pages again at the sync.
  }

  stop(): void {
    for (const b of this.blocks) this.setLogging(b, false);
  }
}
