import { describe, expect, test } from 'vitest';
import { PAGED_CHUNK, PagedU32 } from './paged-array';

describe('PagedU32', () => {
  test('reads 0 where nothing was written, and what was written elsewhere', () => {
    const a = new PagedU32(2 ** 40);
    a.set(5, 7);
    a.fill(3, PAGED_CHUNK * 2 - 2, 4);
    expect([a.get(5), a.get(6), a.get(PAGED_CHUNK * 2 - 1), a.get(PAGED_CHUNK * 2 + 1), a.get(2 ** 39)]).toEqual([7, 0, 3, 3, 0]);
    const seen: number[] = [];
    a.forEachSet(0, PAGED_CHUNK * 3, (i) => seen.push(i));
    expect(seen).toEqual([5, PAGED_CHUNK * 2 - 2, PAGED_CHUNK * 2 - 1, PAGED_CHUNK * 2, PAGED_CHUNK * 2 + 1]);
  });

  test('says which chunks were written after a version', () => {
    const a = new PagedU32(2 ** 20);
    a.set(1, 1);
    const v = a.version;
    expect(a.changedChunksSince(v, 0, 2 ** 20)).toEqual([]);
    a.set(PAGED_CHUNK * 3 + 9, 2);
    a.fill(4, PAGED_CHUNK * 5 - 1, 2);
    expect(a.changedChunksSince(v, 0, 2 ** 20)).toEqual([3, 4, 5]);
    expect(a.changedChunksSince(v, PAGED_CHUNK * 4, PAGED_CHUNK)).toEqual([4]);
    // Writing 0 where nothing was ever stored changes nothing.
    const w = a.version;
    a.set(PAGED_CHUNK * 9, 0);
    expect(a.changedChunksSince(w, 0, 2 ** 20)).toEqual([]);
  });
});
