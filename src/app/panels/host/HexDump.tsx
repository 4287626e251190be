import { hex } from './owners';

/** Bytes as a classic hex dump: address, 16 bytes per row, ASCII column; then the whole read as text. */
export function HexDump({ bytes, base, label }: { bytes: Uint8Array; base: number; label: string }) {
  const rows: { addr: number; cells: string[]; ascii: string }[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const row = bytes.subarray(off, off + 16);
    rows.push({
      addr: base + off,
      cells: Array.from(row, (b) => b.toString(16).padStart(2, '0')),
      ascii: Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join(''),
    });
  }
  const allZero = bytes.every((b) => b === 0);
  const text = Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
  const width = hex(base + bytes.length).length;
  return (
    <div className="hexdump" data-testid="hex-view">
      <pre aria-label={`${label}: ${bytes.length} bytes${allZero ? ', all zero' : ''}`} tabIndex={0}>
        {rows.map((r) => (
          <span key={r.addr} className="hex-row">
            <span className="hex-addr">{hex(r.addr).padStart(width, ' ')}</span>
            {'  '}
            {r.cells.map((c, i) => (
              <span key={i} className={c === '00' ? 'hex-zero' : undefined}>{c}{i === 7 ? '  ' : ' '}</span>
            ))}
            {'   '.repeat(16 - r.cells.length)}{r.cells.length <= 8 ? ' ' : ''}
            {' '}
            <span className="hex-ascii">{r.ascii}</span>
            {'\n'}
          </span>
        ))}
      </pre>
      <p className="hex-text">
        As text: <code data-testid="hex-text">{allZero ? `${bytes.length} zero bytes` : text}</code>
      </p>
    </div>
  );
}
