import type { U64 } from '../core/u64';
import type { GuestMemfd } from './guest-memfd';
import { KVM_MEM_LOG_DIRTY_PAGES } from './uapi';

/** struct kvm_userspace_memory_region2, as user space passes it. */
export interface UserspaceMemoryRegion2 {
  slot: number;
  /** __u32 */
  flags: U64;
  guest_phys_addr: number;
  memory_size: number;
  userspace_addr: number;
  guest_memfd_offset?: number;
  guest_memfd?: number;
  /**
   * NOT UPSTREAM — KVM Userfault (posted series, v3 June 2025): the user address of a bitmap with one
   * bit per page from guest_phys_addr (an array of unsigned long); read with KVM_MEM_USERFAULT.
   */
  userfault_bitmap?: number;
}

/** struct kvm_memory_slot, as KVM keeps it. */
export interface Memslot {
  id: number;
  baseGfn: number;
  npages: number;
  flags: number;
  userspaceAddr: number;
  gmem?: GuestMemfd;
  /** guest_memfd page offset of baseGfn (slot->gmem.pgoff). */
  gmemPgoff: number;
  /** Dirty bitmap, one bit per page, while KVM_MEM_LOG_DIRTY_PAGES is set and the VM has no dirty ring. */
  dirtyBitmap?: Uint32Array;
  /** KVM Userfault (not upstream): slot->userfault_bitmap, a user address in the VMM, while KVM_MEM_USERFAULT is set. */
  userfaultBitmap?: number;
}

/** kvm_slot_dirty_track_enabled(): writes to the slot are logged (in its bitmap or on a dirty ring). */
export const dirtyTrackEnabled = (s: Memslot): boolean => (s.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0;

export const slotContains = (s: Memslot, gfn: number): boolean => gfn >= s.baseGfn && gfn < s.baseGfn + s.npages;

/** __gfn_to_hva_memslot() */
export const gfnToHva = (s: Memslot, gfn: number): number => s.userspaceAddr + (gfn - s.baseGfn) * 4096;

/** kvm_gmem_get_index(): the guest_memfd page index of a gfn. */
export const gfnToGmemIndex = (s: Memslot, gfn: number): number => gfn - s.baseGfn + s.gmemPgoff;
