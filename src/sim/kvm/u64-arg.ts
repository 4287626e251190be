import { fail } from '../core/errno';
import { toU64, type U64 } from '../core/u64';

/** A __u64 ioctl field as a bigint; a value that is not one fails EINVAL naming the field. */
export function u64Arg(v: U64, field: string): bigint {
  const b = toU64(v);
  if (b === null) fail('EINVAL', `${field} ${String(v)} is not an unsigned 64-bit value`);
  return b;
}

/** A __u32 (or int) ioctl field: the C struct cannot carry more than 32 bits. */
export function u32Arg(v: U64, field: string): number {
  const b = toU64(v);
  if (b === null || b > 0xffffffffn) fail('EINVAL', `${field} ${String(v)} does not fit its 32-bit field`);
  return Number(b);
}
