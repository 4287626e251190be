/**
 * QEMU's side of KVM's dirty ring (accel/kvm/kvm-all.c): kvm_dirty_ring_init() enables it at VM
 * creation from `-accel kvm,dirty-ring-size=N`; kvm_dirty_ring_reap() collects every vCPU's dirtied
 * entries into the VMM's own per-memslot dirty bitmap (KVMSlot.dirty_bmap) and then calls
 * KVM_RESET_DIRTY_RINGS; the migration thread's log sync (kvm_dirty_ring_flush() and
 * kvm_slot_sync_dirty_pages()) reads and clears that bitmap. The reaper thread
 * (kvm_dirty_ring_reaper_thread()) reaps once a second; a vCPU thread reaps when its ring is full.
 */
import { fail } from '../core/errno';
import type { Actor } from '../core/actor';
import { KVM_DIRTY_GFN_BYTES, collectDirtyRing } from '../kvm/dirty-ring';
import { KVM_CAP_DIRTY_LOG_RING, KVM_CAP_DIRTY_LOG_RING_ACQ_REL } from '../kvm/uapi';
import type { Vm } from '../kvm/vm';

/** kvm_dirty_ring_reaper_thread() sleeps this long between reaps: sleep(1). */
export const REAPER_PERIOD_NS = 1_000_000_000;

/**
 * QEMU's dirty-ring state for one VM: the ring size (KVMState.kvm_dirty_ring_size), each vCPU's
 * fetch index and collected-entry count (CPUState.kvm_fetch_index, dirty_pages), the per-memslot
 * bitmap the reaped entries go into (KVMSlot.dirty_bmap), and the reaper thread
 * (kvm_dirty_ring_reaper_thread()), an actor of the world's scheduler that reaps once a second.
 * Plain fields, saved with the VMM.
 */
export class DirtyRingReaper implements Actor {
  readonly kind = 'vmm-thread';
  readonly name: string;
  order: readonly number[] = [];
  /** Entries per vCPU ring; 0: the VM uses the dirty bitmap. */
  size = 0;
  /** cpu->kvm_fetch_index: the next ring entry QEMU reads, per vCPU index (free-running). */
  readonly fetch: number[] = [];
  /** cpu->dirty_pages: entries QEMU has collected from each vCPU's ring. */
  readonly dirtyPages: number[] = [];
  /** KVMSlot.dirty_bmap: one bit per page of each memslot, set by a reap, read and cleared by syncSlot(). */
  readonly dirtyBmap = new Map<number, Uint32Array>();
  /** r->reaper_iteration: wake-ups of the reaper thread so far. */
  iterations = 0;
  /** Reaps that found entries (kvm_dirty_ring_reap() calls with a non-zero total). */
  reaps = 0;
  /** When the reaper thread wakes next. */
  nextWake = 0;
  /**
   * dirtylimit_in_service(): while QEMU's dirty limit runs (vmm/dirtylimit.ts) the reaper thread wakes
   * and goes back to sleep without reaping, so that each vCPU meets its own full ring and sleeps there.
   */
  heldByDirtyLimit = false;

  constructor(private readonly vm: Vm) {
    this.name = `${vm.name}/kvm-reaper`;
  }

  get enabled(): boolean {
    return this.size > 0;
  }

  /**
   * kvm_dirty_ring_init(): with a size, ask KVM for the capability (KVM_CAP_DIRTY_LOG_RING, else the
   * ACQ_REL one) and enable it with the size in bytes, before any vCPU exists; the reaper thread
   * starts. Throws (where QEMU exits) when KVM refuses.
   */
  init(entries: number): void {
    this.size = 0;
    if (!entries) return;
    const vm = this.vm;
    let cap = KVM_CAP_DIRTY_LOG_RING;
    let max = vm.checkExtension(cap);
    if (max <= 0) {
      cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
      max = vm.checkExtension(cap);
    }
    if (max <= 0) fail('EINVAL', 'KVM dirty ring not available');
    const bytes = entries * KVM_DIRTY_GFN_BYTES;
    if (bytes > max) fail('EINVAL', `KVM dirty ring size ${entries} too big (maximum is ${max / KVM_DIRTY_GFN_BYTES}).  Please use a smaller value.`);
    vm.enableCap(cap, [bytes]);
    this.size = entries;
    this.nextWake = vm.clock.now + REAPER_PERIOD_NS;
  }

  readyAt(): number | null {
    return this.enabled ? this.nextWake : null;
  }

  /**
   * The reaper thread: sleep(1), then kvm_dirty_ring_reap(s, NULL) — unless dirty limit is in
   * service: "keep sleeping so that dirtylimit not be interfered by reaper".
   */
  act(now: number): void {
    this.nextWake = now + REAPER_PERIOD_NS;
    if (this.heldByDirtyLimit) return;
    this.iterations++;
    this.reap('the kvm-reaper thread wakes up, once a second');
  }

  /**
   * kvm_dirty_ring_reap(): collect the dirtied entries of one vCPU's ring (`cpu`, an index in the
   * VM's vCPUs) or of every vCPU's into the VMM's dirty bitmap, then KVM_RESET_DIRTY_RINGS if any
   * were found. Returns how many entries were collected. `why` says who reaps (the reaper thread,
   * a full ring, the migration thread's log sync).
   */
  reap(why: string, cpu?: number): number {
    const vm = this.vm;
    if (!this.enabled) fail('EINVAL', `VM "${vm.name}" has no dirty ring (dirty-ring-size is 0): its dirty pages are in KVM's bitmap`);
    const which = cpu === undefined ? vm.vcpus.map((_, k) => k) : [cpu];
    let total = 0;
    const per: string[] = [];
    for (const k of which) {
      const vcpu = vm.vcpus[k];
      if (!vcpu) fail('EINVAL', `VM "${vm.name}" has no vCPU ${k}`);
      const r = collectDirtyRing(vcpu.dirtyRing, this.fetch[k] ?? 0, (slot, offset) => this.markPage(slot, offset));
      this.fetch[k] = r.fetch;
      this.dirtyPages[k] = (this.dirtyPages[k] ?? 0) + r.count;
      total += r.count;
      if (r.count) per.push(`vCPU ${vcpu.id}: ${r.count}`);
    }
    if (!total) return 0;
    const reset = vm.resetDirtyRings();
    // QEMU asserts that KVM reset exactly what it collected.
    if (reset !== total) throw new Error(`kvm_dirty_ring_reap: collected ${total} entries but KVM_RESET_DIRTY_RINGS reset ${reset}`);
    this.reaps++;
    vm.trace('vmm', 'kvm_dirty_ring_reap', { total, per_vcpu: per.join(', '), why },
      `QEMU reaps ${total} dirty-ring entr${total === 1 ? 'y' : 'ies'} (${per.join(', ')}) into its own dirty bitmap, then resets the ring${which.length > 1 ? 's' : ''} (${why}).`);
    return total;
  }

  /** kvm_dirty_ring_mark_page(): set the page's bit in its slot's dirty_bmap (an entry for a slot gone since is dropped). */
  private markPage(slotArg: number, offset: number): void {
    if (slotArg >>> 16 !== 0) return;
    const slot = this.vm.slots.get(slotArg & 0xffff);
    if (!slot || offset >= slot.npages) return;
    const words = Math.ceil(slot.npages / 32);
    let bm = this.dirtyBmap.get(slot.id);
    if (!bm || bm.length !== words) {
      bm = new Uint32Array(words);
      this.dirtyBmap.set(slot.id, bm);
    }
    bm[offset >>> 5] |= 1 << (offset & 31);
  }

  /**
   * kvm_slot_sync_dirty_pages() + kvm_slot_reset_dirty_pages() for a ring VM, after a reap
   * (kvm_dirty_ring_flush()): the pages of memslot `slotId` reaped since the last sync, as a copy of
   * its dirty_bmap, which is then cleared. For the migration thread's bitmap sync.
   */
  syncSlot(slotId: number): Uint32Array {
    const slot = this.vm.slots.get(slotId);
    if (!slot) fail('EINVAL', `VM "${this.vm.name}" has no memslot ${slotId}`);
    const bm = this.dirtyBmap.get(slotId);
    const out = new Uint32Array(Math.ceil(slot.npages / 32));
    if (bm && bm.length === out.length) {
      out.set(bm);
      bm.fill(0);
    }
    return out;
  }
}
