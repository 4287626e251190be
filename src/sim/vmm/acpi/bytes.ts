/**
 * Little-endian byte helpers shared by the ACPI builder, the table-loader executor and the decoder.
 * ACPI and the fw_cfg linker/loader are little-endian throughout (ACPI 6.5 §5.2 "all numeric values
 * in ACPI-defined tables ... are stored in little-endian format").
 */

/** A growable byte buffer, like QEMU's GArray with build_append_int_noprefix(). */
export class ByteWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  get length(): number {
    return this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  /** Append `size` bytes of `v`, least significant first (build_append_int_noprefix). */
  int(v: number | bigint, size: number): this {
    let x = BigInt.asUintN(size * 8, BigInt(v));
    for (let i = 0; i < size; i++) {
      this.u8(Number(x & 0xffn));
      x >>= 8n;
    }
    return this;
  }

  bytes(b: ArrayLike<number>): this {
    this.reserve(b.length);
    for (let i = 0; i < b.length; i++) this.buf[this.len++] = b[i] & 0xff;
    return this;
  }

  /** ASCII text padded with `pad` (or cut) to exactly `size` bytes (build_append_padded_str). */
  ascii(s: string, size: number, pad = 0): this {
    for (let i = 0; i < size; i++) this.u8(i < s.length ? s.charCodeAt(i) : pad);
    return this;
  }

  zeros(n: number): this {
    this.reserve(n);
    this.len += n;
    return this;
  }

  /** Overwrite `size` bytes at `offset` (patching a length or a pointer already appended). */
  patch(offset: number, v: number | bigint, size: number): void {
    writeLe(this.buf, offset, v, size);
  }

  toBytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export function readLe(b: Uint8Array, offset: number, size: number): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + b[offset + i];
  return v;
}

export function readLe64(b: Uint8Array, offset: number): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[offset + i]);
  return v;
}

export function writeLe(b: Uint8Array, offset: number, v: number | bigint, size: number): void {
  let x = BigInt.asUintN(size * 8, BigInt(v));
  for (let i = 0; i < size; i++) {
    b[offset + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

export function readAscii(b: Uint8Array, offset: number, size: number): string {
  let s = '';
  for (let i = 0; i < size; i++) s += String.fromCharCode(b[offset + i]);
  return s;
}

/** Sum of bytes mod 256: an ACPI table (or the RSDP's first 20 bytes) is valid when this is 0. */
export function byteSum(b: Uint8Array, start = 0, length = b.length - start): number {
  let s = 0;
  for (let i = start; i < start + length; i++) s = (s + b[i]) & 0xff;
  return s;
}
