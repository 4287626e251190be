import { describe, expect, it } from 'vitest';
import { checkForm, explain, parseNumber, type FormInput } from './read-form';
import { ownerStats, usedRange } from './owners';

const base: FormInput = { mode: 'gpa', vm: 'td', address: '0x102000', length: '32', via: 'physical', write: false, data: '' };
const lim = { hostFrames: 4_194_304, vmBytes: 64 * 2 ** 20, sharedBit: 2 ** 47 };

describe('the read-as-the-host form', () => {
  it('parses hex with 0x, decimal and underscores; rejects the rest', () => {
    expect(parseNumber('0x102000')).toBe(0x102000);
    expect(parseNumber(' 0x10_2000 ')).toBe(0x102000);
    expect(parseNumber('4096')).toBe(4096);
    expect(parseNumber('12g')).toBeNull();
    expect(parseNumber('0x')).toBeNull();
    expect(parseNumber('')).toBeNull();
  });

  it('turns a GPA read into a host_read step', () => {
    expect(checkForm(base, lim)).toEqual({ ok: true, address: 0x102000, length: 32, step: { do: 'host_read', vm: 'td', gpa: '0x102000', length: 32, via: 'physical' } });
  });

  it('turns an HPA read into host_read_phys and an HPA write into host_write_phys', () => {
    expect(checkForm({ ...base, mode: 'hpa', address: '0x5000' }, { ...lim, host: 'host-b' })).toMatchObject({ ok: true, step: { do: 'host_read_phys', host: 'host-b', hpa: '0x5000' } });
    expect(checkForm(base, { ...lim, namesakesOn: ['host-b'] })).toMatchObject({ ok: false, field: 'vm', message: expect.stringContaining('a VM named "td" also runs on host-b') });
    expect(checkForm({ ...base, mode: 'hpa', address: '0x5000' }, lim)).toMatchObject({ ok: true, step: { do: 'host_read_phys', hpa: '0x5000', length: 32 } });
    expect(checkForm({ ...base, mode: 'hpa', address: '0x5000', write: true, data: 'hex:ff' }, lim)).toMatchObject({ ok: true, step: { do: 'host_write_phys', hpa: '0x5000', data: 'hex:ff' } });
  });

  it('refuses what is not a number or lies beyond memory, naming the field', () => {
    expect(checkForm({ ...base, address: 'secret' }, lim)).toMatchObject({ ok: false, field: 'address' });
    expect(checkForm({ ...base, length: '0' }, lim)).toMatchObject({ ok: false, field: 'length' });
    expect(checkForm({ ...base, address: '0x4000000' }, lim)).toMatchObject({ ok: false, field: 'address', message: expect.stringContaining('beyond the end of td') });
    expect(checkForm({ ...base, mode: 'hpa', address: '0x400000000' }, lim)).toMatchObject({ ok: false, field: 'address', message: expect.stringContaining('beyond the end of host memory') });
    expect(checkForm({ ...base, write: true, data: 'hex:f' }, lim)).toMatchObject({ ok: false, field: 'data' });
  });

  it("accepts a TD's shared alias (the GPA with the shared bit set)", () => {
    expect(checkForm({ ...base, address: '0x800000102000' }, lim)).toMatchObject({ ok: true });
  });

  it('explains each outcome in one sentence', () => {
    const r = { step: -1, do: 'host_read', events: [0, 1] as [number, number] };
    expect(explain({ ...r, ret: -1, errno: 'EINVAL' }, { via: 'guest_memfd', isTd: true, write: false })).toMatch(/guest_memfd has no read\(\)/);
    expect(explain({ ...r, ret: 17, value: { hex: '00', td_owned_lines: 1 } }, { via: 'physical', isTd: true, write: false })).toMatch(/belongs to the TD/);
    expect(explain({ ...r, ret: 17, value: { hex: '00', view: 'shared view of a private page' } }, { via: 'vmm_mapping', isTd: true, write: false })).toMatch(/only holds the shared view/);
    expect(explain({ ...r, ret: -1, errno: 'ENOENT' }, { via: 'physical', isTd: false, write: false })).toMatch(/Nothing backs this GPA/);
    expect(explain({ ...r, ret: 1, value: { poisoned_lines: 1 } }, { via: 'hpa', isTd: false, write: true })).toMatch(/machine check/);
  });
});

describe('host frame owners', () => {
  it('counts owners, finds the first of each and the last used frame in one pass', () => {
    const o = new Uint8Array(100);
    o.fill(1, 0, 10);
    o.fill(3, 20, 30);
    o[42] = 4;
    const s = ownerStats(o);
    expect([s.counts[0], s.counts[1], s.counts[3], s.counts[4]]).toEqual([79, 10, 10, 1]);
    expect([s.firstOf[0], s.firstOf[3], s.firstOf[4], s.lastUsed]).toEqual([10, 20, 42, 42]);
  });

  it('shows the used range with some free space after it, rounded up in steps that grow with it', () => {
    expect(usedRange(4_194_304, 100_000)).toBe(131_072);
    expect(usedRange(4_194_304, 1000)).toBe(4096);
    expect(usedRange(5000, 4999)).toBe(5000);
    // A guest filling memory page by page changes the range twice per doubling, and the used part
    // fills at least two thirds of it.
    const ranges = new Set<number>();
    for (let last = 300_000; last < 600_000; last += 1000) {
      const r = usedRange(4_194_304, last);
      ranges.add(r);
      expect(last / r).toBeGreaterThan(0.6);
    }
    expect(ranges.size).toBeLessThanOrEqual(3);
  });

  it('counts owners the same whatever the alignment and the runs of free frames', () => {
    const o = new Uint8Array(4099);
    for (let i = 0; i < o.length; i += 7) o[i] = (i % 5) + 1;
    const plain = { counts: new Uint32Array(256), last: -1 };
    o.forEach((c, i) => {
      if (c) plain.last = i;
      plain.counts[c]++;
    });
    for (const view of [o, new Uint8Array(new Uint8Array([0, ...o]).buffer, 1)]) {
      const s = ownerStats(view);
      expect(Array.from(s.counts.subarray(0, 6))).toEqual(Array.from(plain.counts.subarray(0, 6)));
      expect(s.lastUsed).toBe(plain.last);
    }
  });
});
