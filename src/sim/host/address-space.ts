/** The simulated x86-64 user address space (shared by process.ts and userfaultfd.ts). */

/** The highest user virtual address on x86-64 with 4-level paging (TASK_SIZE_MAX, roughly). */
export const TASK_SIZE = 0x7fff_ffff_f000;
/** Where this simulation places mmap()s, growing up (QEMU's guest RAM usually lands high). */
export const MMAP_BASE = 0x7f00_0000_0000;
