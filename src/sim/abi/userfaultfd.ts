/**
 * userfaultfd's user-space ABI (include/uapi/linux/userfaultfd.h), copied by value; checked against
 * the kernel header and QEMU's synced copy linux-headers/linux/userfaultfd.h (docs/abi-sources.md).
 */

export const UFFD_API = 0xaa;

// ioctl numbers within UFFDIO (0xAA): the bit each sets in uffdio_api.ioctls / uffdio_register.ioctls.
export const _UFFDIO_REGISTER = 0x00;
export const _UFFDIO_UNREGISTER = 0x01;
export const _UFFDIO_WAKE = 0x02;
export const _UFFDIO_COPY = 0x03;
export const _UFFDIO_ZEROPAGE = 0x04;
export const _UFFDIO_MOVE = 0x05;
export const _UFFDIO_WRITEPROTECT = 0x06;
export const _UFFDIO_CONTINUE = 0x07;
export const _UFFDIO_POISON = 0x08;
export const _UFFDIO_API = 0x3f;

/** uffd_msg.event */
export const UFFD_EVENT_PAGEFAULT = 0x12;
export const UFFD_EVENT_FORK = 0x13;
export const UFFD_EVENT_REMAP = 0x14;
export const UFFD_EVENT_REMOVE = 0x15;
export const UFFD_EVENT_UNMAP = 0x16;

/** uffd_msg.arg.pagefault.flags */
export const UFFD_PAGEFAULT_FLAG_WRITE = 1 << 0;
export const UFFD_PAGEFAULT_FLAG_WP = 1 << 1;
export const UFFD_PAGEFAULT_FLAG_MINOR = 1 << 2;

/** uffdio_api.features */
export const UFFD_FEATURE_PAGEFAULT_FLAG_WP = 1 << 0;
export const UFFD_FEATURE_EVENT_FORK = 1 << 1;
export const UFFD_FEATURE_EVENT_REMAP = 1 << 2;
export const UFFD_FEATURE_EVENT_REMOVE = 1 << 3;
export const UFFD_FEATURE_MISSING_HUGETLBFS = 1 << 4;
export const UFFD_FEATURE_MISSING_SHMEM = 1 << 5;
export const UFFD_FEATURE_EVENT_UNMAP = 1 << 6;
export const UFFD_FEATURE_SIGBUS = 1 << 7;
export const UFFD_FEATURE_THREAD_ID = 1 << 8;
export const UFFD_FEATURE_MINOR_HUGETLBFS = 1 << 9;
export const UFFD_FEATURE_MINOR_SHMEM = 1 << 10;
export const UFFD_FEATURE_EXACT_ADDRESS = 1 << 11;
export const UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1 << 12;
export const UFFD_FEATURE_WP_UNPOPULATED = 1 << 13;
export const UFFD_FEATURE_POISON = 1 << 14;
export const UFFD_FEATURE_WP_ASYNC = 1 << 15;
export const UFFD_FEATURE_MOVE = 1 << 16;

/** UFFD_API_FEATURES: every feature an x86-64 kernel of 6.8 or later reports (bits 0..16). */
export const UFFD_API_FEATURES = (1 << 17) - 1;
/** UFFD_API_IOCTLS: what UFFDIO_API reports in uffdio_api.ioctls (a __u64: bit 63 is _UFFDIO_API). */
export const UFFD_API_IOCTLS = (1n << BigInt(_UFFDIO_REGISTER)) | (1n << BigInt(_UFFDIO_UNREGISTER)) | (1n << BigInt(_UFFDIO_API));
/** UFFD_API_RANGE_IOCTLS: what UFFDIO_REGISTER reports for a range (before the WP and MINOR masks). */
export const UFFD_API_RANGE_IOCTLS = (1 << _UFFDIO_WAKE) | (1 << _UFFDIO_COPY) | (1 << _UFFDIO_ZEROPAGE) | (1 << _UFFDIO_MOVE)
  | (1 << _UFFDIO_WRITEPROTECT) | (1 << _UFFDIO_CONTINUE) | (1 << _UFFDIO_POISON);

/** uffdio_register.mode */
export const UFFDIO_REGISTER_MODE_MISSING = 1 << 0;
export const UFFDIO_REGISTER_MODE_WP = 1 << 1;
export const UFFDIO_REGISTER_MODE_MINOR = 1 << 2;
export const UFFD_API_REGISTER_MODES = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MINOR;

/** uffdio_copy.mode, uffdio_zeropage.mode, uffdio_continue.mode */
export const UFFDIO_COPY_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_COPY_MODE_WP = 1 << 1;
export const UFFDIO_ZEROPAGE_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_CONTINUE_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_CONTINUE_MODE_WP = 1 << 1;

/** userfaultfd(2) flags: UFFD_USER_MODE_ONLY, and the fcntl flags it shares (O_CLOEXEC, O_NONBLOCK on x86). */
export const UFFD_USER_MODE_ONLY = 1;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

/** sizeof(struct uffd_msg): read() wants at least this many bytes. */
export const UFFD_MSG_SIZE = 32;

/** Names for flags fields of scenario steps. */
export const UFFD_FLAG_NAMES: Readonly<Record<string, number>> = {
  UFFD_USER_MODE_ONLY, O_NONBLOCK, O_CLOEXEC,
  UFFD_FEATURE_PAGEFAULT_FLAG_WP, UFFD_FEATURE_EVENT_FORK, UFFD_FEATURE_EVENT_REMAP, UFFD_FEATURE_EVENT_REMOVE,
  UFFD_FEATURE_MISSING_HUGETLBFS, UFFD_FEATURE_MISSING_SHMEM, UFFD_FEATURE_EVENT_UNMAP, UFFD_FEATURE_SIGBUS,
  UFFD_FEATURE_THREAD_ID, UFFD_FEATURE_MINOR_HUGETLBFS, UFFD_FEATURE_MINOR_SHMEM, UFFD_FEATURE_EXACT_ADDRESS,
  UFFD_FEATURE_WP_HUGETLBFS_SHMEM, UFFD_FEATURE_WP_UNPOPULATED, UFFD_FEATURE_POISON, UFFD_FEATURE_WP_ASYNC, UFFD_FEATURE_MOVE,
  UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_WP, UFFDIO_REGISTER_MODE_MINOR,
  UFFDIO_COPY_MODE_DONTWAKE, UFFDIO_COPY_MODE_WP, UFFDIO_CONTINUE_MODE_WP,
};
