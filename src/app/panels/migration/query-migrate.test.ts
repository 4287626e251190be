import { describe, expect, it } from 'vitest';
import { QUERY_MIGRATE_FIELDS, fieldValue, statusExplain, formatField, remainingEstimate, remainingShare } from './query-migrate';

// query-migrate as QEMU answers it while active (qapi/migration.json's example, with the fields QEMU 7+ adds).
const active = {
  status: 'active', 'total-time': 1234, 'setup-time': 12, 'expected-downtime': 287,
  ram: { transferred: 12_582_912, remaining: 3 * 1024 * 1024, total: 16 * 1024 * 1024, duplicate: 10, normal: 3000, 'normal-bytes': 3000 * 4096, 'dirty-pages-rate': 2560, mbps: 1073.7, 'dirty-sync-count': 4, 'precopy-bytes': 12_582_912, 'downtime-bytes': 0, 'pages-per-second': 32768, 'page-size': 4096 },
};

describe('the query-migrate table', () => {
  it('has a row for every field the issue names, each with its explanation, once', () => {
    const keys = QUERY_MIGRATE_FIELDS.map((f) => f.key);
    expect(new Set(keys).size).toBe(keys.length);
    for (const k of ['status', 'total-time', 'setup-time', 'expected-downtime', 'downtime', 'cpu-throttle-percentage']) expect(keys).toContain(k);
    for (const k of ['transferred', 'remaining', 'total', 'duplicate', 'normal', 'normal-bytes', 'dirty-pages-rate', 'mbps', 'dirty-sync-count', 'precopy-bytes', 'downtime-bytes', 'pages-per-second']) expect(keys).toContain(`ram.${k}`);
    for (const f of QUERY_MIGRATE_FIELDS) expect(f.explain.length).toBeGreaterThan(20);
  });

  it("explains post-copy's fields and statuses on hover, and no status QEMU lacks", () => {
    const keys = QUERY_MIGRATE_FIELDS.map((f) => f.key);
    expect(keys).toContain('ram.postcopy-requests');
    expect(keys).toContain('ram.postcopy-bytes');
    expect(QUERY_MIGRATE_FIELDS.find((f) => f.key === 'ram.postcopy-requests')!.explain).toContain('MIG_RP_MSG_REQ_PAGES');
    for (const s of ['postcopy-active', 'postcopy-paused', 'postcopy-recover-setup', 'postcopy-recover']) {
      expect(statusExplain(s)).toMatch(/^Post-copy/);
      expect(QUERY_MIGRATE_FIELDS[0].explain).toContain(s);
    }
    expect(statusExplain('toString')).toBeUndefined();
    expect(statusExplain(3)).toBeUndefined();
  });

  it('reads top-level and ram fields, and tells a field QEMU left out from a zero', () => {
    expect(fieldValue(active, 'status')).toBe('active');
    expect(fieldValue(active, 'ram.dirty-sync-count')).toBe(4);
    expect(fieldValue(active, 'downtime')).toBeUndefined();
    expect(formatField(fieldValue(active, 'downtime'), 'ms')).toBe('—');
    expect(formatField(fieldValue({ status: 'failed' }, 'ram.transferred'), 'bytes')).toBe('—');
    expect(formatField(0, 'bytes')).toBe('0 bytes');
  });

  it('formats each unit as a lecturer reads it out', () => {
    expect(formatField(1234.4, 'ms')).toBe('1,234 ms');
    expect(formatField(12_582_912, 'bytes')).toBe('12.0 MiB (12,582,912 bytes)');
    expect(formatField(4096, 'bytes')).toBe('4,096 bytes');
    expect(formatField(1073.74, 'Mbit/s')).toBe('1073.7 Mbit/s');
    expect(formatField(30, '%')).toBe('30 %');
    expect(formatField('completed', 'status')).toBe('completed');
  });

  it('gives the share still to send for the progress bar, or null without ram', () => {
    expect(remainingShare(active)).toBeCloseTo(3 / 16);
    expect(remainingShare({ status: 'setup' })).toBeNull();
    expect(remainingShare({ ram: { total: 0, remaining: 0 } })).toBeNull();
  });
});

describe('the estimate beside the progress bar', () => {
  it('is the remaining bytes at the last window\'s rate, only while active', () => {
    // 3 MiB at 1073.7 Mbit/s (128 MiB/s): about 23 ms.
    expect(remainingEstimate(active)).toMatch(/At 128\.0 MiB\/s .* about 23 ms to send/);
    expect(remainingEstimate({ ...active, status: 'completed' })).toBeNull();
    expect(remainingEstimate({ ...active, ram: { ...active.ram, mbps: 0 } })).toMatch(/no estimate/);
  });
});
