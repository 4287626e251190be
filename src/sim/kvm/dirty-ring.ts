import { KVM_DIRTY_GFN_F_DIRTY, KVM_DIRTY_GFN_F_RESET } from './uapi';

/**
 * KVM's dirty ring (virt/kvm/dirty_ring.c, include/linux/kvm_dirty_ring.h): one ring of
 * `struct kvm_dirty_gfn {u32 flags; u32 slot; u64 offset;}` per vCPU, which user space maps from the
 * vCPU fd at page KVM_DIRTY_LOG_PAGE_OFFSET. The entries live in one Uint32Array laid out exactly as
 * the shared pages are (four little-endian u32 words an entry), never an object per entry.
 */

/** sizeof(struct kvm_dirty_gfn). */
export const KVM_DIRTY_GFN_BYTES = 16;
/** include/linux/kvm_host.h: the largest ring, in entries. */
export const KVM_DIRTY_RING_MAX_ENTRIES = 65536;
/** include/linux/kvm_dirty_ring.h: entries always kept free below the ring's size. */
export const KVM_DIRTY_RING_RSVD_ENTRIES = 64;
/**
 * arch/x86/kvm/vmx/vmx.h PML_LOG_NR_ENTRIES: with PML on, kvm_cpu_dirty_log_size() is the PML
 * buffer, which a PML-full exit flushes into the ring in one go, so the ring reserves room for it.
 */
export const PML_LOG_NR_ENTRIES = 512;

/** kvm_dirty_ring_get_rsvd_entries(): KVM_DIRTY_RING_RSVD_ENTRIES + kvm_cpu_dirty_log_size() (576 on VMX with PML). */
export function dirtyRingRsvdEntries(): number {
  return KVM_DIRTY_RING_RSVD_ENTRIES + PML_LOG_NR_ENTRIES;
}

/** The words of entry `i` in the ring's Uint32Array. */
const FLAGS = 0;
const SLOT = 1;
const OFFSET_LO = 2;
const OFFSET_HI = 3;

/** struct kvm_dirty_ring: the kernel's side of one vCPU's ring. */
export class DirtyRing {
  /** ring->size, in entries (a power of two); 0 while the VM has no ring. */
  size = 0;
  /** ring->soft_limit: size - kvm_dirty_ring_get_rsvd_entries(). */
  softLimit = 0;
  /** ring->dirty_index: the next entry KVM fills (free-running; the slot is dirty_index & (size - 1)). */
  dirtyIndex = 0;
  /** ring->reset_index: the next entry KVM_RESET_DIRTY_RINGS looks at. */
  resetIndex = 0;
  /** The ring's memory, shared with user space: entry i is words 4i..4i+3 (flags, slot, offset lo, offset hi). */
  gfns = new Uint32Array(0);
  /** KVM_REQ_DIRTY_RING_SOFT_FULL is pending on the vCPU. */
  softFullRequest = false;
  /** Entries pushed since the ring was last empty (the trace summarises pushes instead of one event each). */
  pushedSinceEmpty = 0;

  /** kvm_dirty_ring_alloc(): `bytes` is kvm->dirty_ring_size. */
  alloc(bytes: number): void {
    this.size = bytes / KVM_DIRTY_GFN_BYTES;
    this.softLimit = this.size - dirtyRingRsvdEntries();
    this.dirtyIndex = 0;
    this.resetIndex = 0;
    this.gfns = new Uint32Array(this.size * 4);
    this.softFullRequest = false;
    this.pushedSinceEmpty = 0;
  }

  get enabled(): boolean {
    return this.size > 0;
  }

  /** kvm_dirty_ring_used(). */
  get used(): number {
    return this.dirtyIndex - this.resetIndex;
  }

  /** kvm_dirty_ring_soft_full(). */
  softFull(): boolean {
    return this.used >= this.softLimit;
  }

  /**
   * kvm_dirty_ring_push(): fill the next entry and publish it as dirtied. Returns true when the ring
   * has reached its soft limit, the point where KVM makes KVM_REQ_DIRTY_RING_SOFT_FULL.
   */
  push(slot: number, offset: number): boolean {
    // "It should never get full": the soft limit stops the vCPU long before.
    if (this.used >= this.size) throw new Error(`dirty ring overrun: ${this.used} of ${this.size} entries used`);
    const e = (this.dirtyIndex % this.size) * 4;
    const g = this.gfns;
    g[e + SLOT] = slot;
    g[e + OFFSET_LO] = offset >>> 0;
    g[e + OFFSET_HI] = Math.floor(offset / 2 ** 32);
    g[e + FLAGS] = KVM_DIRTY_GFN_F_DIRTY;
    this.dirtyIndex++;
    this.pushedSinceEmpty++;
    if (!this.softFull()) return false;
    this.softFullRequest = true;
    return true;
  }

  /**
   * kvm_dirty_ring_reset(): from reset_index, every entry user space marked harvested
   * (KVM_DIRTY_GFN_F_RESET) goes back to invalid (flags 0) and its page is handed to `protect`
   * (kvm_reset_dirty_gfn(): write-protected again). Stops at the first entry not harvested.
   * Returns how many entries were reset.
   */
  reset(protect: (slot: number, offset: number) => void): number {
    if (!this.enabled) return 0;
    const g = this.gfns;
    let count = 0;
    while (true) {
      const e = (this.resetIndex % this.size) * 4;
      if (!(g[e + FLAGS] & KVM_DIRTY_GFN_F_RESET)) break;
      const slot = g[e + SLOT];
      const offset = g[e + OFFSET_LO] + g[e + OFFSET_HI] * 2 ** 32;
      g[e + FLAGS] = 0;
      this.resetIndex++;
      count++;
      protect(slot, offset);
    }
    if (this.used === 0) this.pushedSinceEmpty = 0;
    return count;
  }

  // ---- The ring as user space reads and writes it through its mapping ----

  /** The flags word of entry `i` (ring position, 0..size-1). */
  flagsAt(i: number): number {
    return this.gfns[i * 4 + FLAGS];
  }

  slotAt(i: number): number {
    return this.gfns[i * 4 + SLOT];
  }

  offsetAt(i: number): number {
    return this.gfns[i * 4 + OFFSET_LO] + this.gfns[i * 4 + OFFSET_HI] * 2 ** 32;
  }

  /** User space's store to entry i's flags (dirty_gfn_set_collected() writes KVM_DIRTY_GFN_F_RESET). */
  setFlagsAt(i: number, flags: number): void {
    this.gfns[i * 4 + FLAGS] = flags >>> 0;
  }
}

/**
 * dirty_gfn_is_dirtied() as QEMU and dirty_log_test.c read it: the entry is published and not yet
 * collected (flags exactly KVM_DIRTY_GFN_F_DIRTY).
 */
export const dirtyGfnIsDirtied = (ring: DirtyRing, i: number): boolean => ring.flagsAt(i) === KVM_DIRTY_GFN_F_DIRTY;

/** One harvested entry: the memslot (as_id << 16 | id) and the page's offset in it. */
export interface HarvestedGfn {
  slot: number;
  offset: number;
}

/**
 * User space's collection loop (QEMU's kvm_dirty_ring_reap_one(), dirty_log_test.c's
 * dirty_ring_collect_one()): from `fetch`, every dirtied entry is handed to `mark` and set to
 * KVM_DIRTY_GFN_F_RESET, until the first one that is not dirtied. Returns the new fetch index and the
 * count; user space then calls KVM_RESET_DIRTY_RINGS.
 */
export function collectDirtyRing(ring: DirtyRing, fetch: number, mark: (slot: number, offset: number) => void): { fetch: number; count: number } {
  let count = 0;
  if (!ring.enabled) return { fetch, count };
  while (true) {
    const i = fetch % ring.size;
    if (!dirtyGfnIsDirtied(ring, i)) break;
    mark(ring.slotAt(i), ring.offsetAt(i));
    ring.setFlagsAt(i, KVM_DIRTY_GFN_F_RESET);
    fetch++;
    count++;
  }
  return { fetch, count };
}

/**
 * Where the dirtied entries start, found from the mapping alone: the dirtied entries are one
 * contiguous run in ring order, so it is the dirtied entry whose predecessor is not dirtied (0 when
 * none is dirtied, or when every entry is). For a collector that keeps no fetch index of its own.
 */
export function firstDirtied(ring: DirtyRing): number {
  for (let i = 0; i < ring.size; i++) {
    if (dirtyGfnIsDirtied(ring, i) && !dirtyGfnIsDirtied(ring, (i + ring.size - 1) & (ring.size - 1))) return i;
  }
  return 0;
}
