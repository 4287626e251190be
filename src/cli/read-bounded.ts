import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** A file's text, refused when it is longer than `limit` bytes before any of it is parsed (a FIFO or /dev/zero included). */
export function readBounded(path: string, limit: number): { text: string } | { error: string } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return { error: (e as NodeJS.ErrnoException).code ?? 'open failed' };
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return { error: 'EISDIR' };
    if (st.isFile() && st.size > limit) return { error: `too big: ${st.size.toLocaleString('en')} bytes` };
    const buf = Buffer.alloc(limit + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > limit) return { error: `too big: more than ${limit.toLocaleString('en')} bytes` };
    }
    return { text: buf.toString('utf8', 0, n) };
  } catch (e) {
    return { error: (e as NodeJS.ErrnoException).code ?? 'read failed' };
  } finally {
    closeSync(fd);
  }
}
