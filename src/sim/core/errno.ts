/** Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h) that the KVM API returns. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  ERANGE: 34,
  ENOSYS: 38,
  EOPNOTSUPP: 95,
  ENETDOWN: 100,
  ECONNRESET: 104,
  EHWPOISON: 133,
} as const;
export type ErrnoName = keyof typeof Errno;

/**
 * A failed system call: what the kernel returns as -1 with errno set. `why` is one sentence
 * naming the rule that refused the call (it goes into the trace and the report).
 */
export class SysError extends Error {
  constructor(readonly errno: ErrnoName, readonly why: string) {
    super(`${errno}: ${why}`);
    this.name = 'SysError';
  }
}

export function fail(errno: ErrnoName, why: string): never {
  throw new SysError(errno, why);
}
