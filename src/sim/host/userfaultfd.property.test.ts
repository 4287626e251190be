/**
 * A property of userfaultfd, against a model of Linux's rules: random sequences of register,
 * unregister, faults by several threads, read, COPY, ZEROPAGE and WAKE. After every operation:
 * each waiting thread has exactly one message, read once; a page is installed at most once (EEXIST
 * after); a thread woken by COPY/ZEROPAGE finds its page present; no frame is taken for a
 * registered missing page until it is installed. FUZZ_RUNS=n runs it n times (at least 100).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Clock } from '../core/clock';
import { SysError } from '../core/errno';
import { Trace } from '../core/trace';
import { MiB, PAGE_SIZE } from '../core/units';
import { UFFDIO_COPY_MODE_DONTWAKE, UFFDIO_REGISTER_MODE_MISSING, UFFDIO_ZEROPAGE_MODE_DONTWAKE, UFFD_API, UFFD_FEATURE_THREAD_ID } from '../abi/userfaultfd';
import { Host } from './host';
import { UserfaultBlocked } from './userfaultfd';

const RUNS = Math.max(100, Number(process.env.FUZZ_RUNS ?? 0));
const PAGES = 6;
const THREADS = [101, 102, 103];

type Op =
  | { op: 'register' | 'unregister'; page: number; n: number }
  | { op: 'fault'; page: number; tid: number; write: boolean }
  | { op: 'read' }
  | { op: 'copy' | 'zeropage'; page: number; n: number; dontwake: boolean }
  | { op: 'wake'; page: number; n: number };

const page = fc.integer({ min: 0, max: PAGES - 1 });
const count = fc.integer({ min: 1, max: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constantFrom('register' as const, 'unregister' as const), page, n: count }),
  { arbitrary: fc.record({ op: fc.constant('fault' as const), page, tid: fc.constantFrom(...THREADS), write: fc.boolean() }), weight: 4 },
  fc.record({ op: fc.constant('read' as const) }),
  { arbitrary: fc.record({ op: fc.constantFrom('copy' as const, 'zeropage' as const), page, n: count, dontwake: fc.boolean() }), weight: 3 },
  fc.record({ op: fc.constant('wake' as const), page, n: count }),
);

function check(ops: Op[]): void {
  const clock = new Clock();
  const host = new Host({ name: 'h', memoryBytes: 256 * MiB }, clock, new Trace(() => clock.now, 1000));
  const p = host.spawn('qemu');
  const base = p.mmapAnon(PAGES * PAGE_SIZE, 'ram');
  const i0 = p.pageIndex(base);
  const u = p.userfaultfd(0);
  u.api(UFFD_API, UFFD_FEATURE_THREAD_ID);
  const framesAtStart = host.memory.framesUsed;
  const src = new Uint8Array(4 * PAGE_SIZE).fill(0xab);

  // The model.
  const registered = new Set<number>();
  const present = new Set<number>();
  const waiting = new Map<number, { page: number; read: boolean }>();
  const inRange = (pg: number, s: number, n: number) => pg >= s && pg < s + n;
  const wakeModel = (s: number, n: number): number[] => {
    const woken: number[] = [];
    for (const [tid, w] of waiting) if (inRange(w.page, s, n)) woken.push(tid);
    for (const tid of woken) waiting.delete(tid);
    return woken;
  };
  const sorted = (a: number[]) => [...a].sort((x, y) => x - y);

  for (const o of ops) {
    const n = 'n' in o ? Math.min(o.n, PAGES - o.page) : 0;
    switch (o.op) {
      case 'register':
        u.register(base + o.page * PAGE_SIZE, n * PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING);
        for (let k = o.page; k < o.page + n; k++) registered.add(k);
        break;
      case 'unregister': {
        const woken = u.unregister(base + o.page * PAGE_SIZE, n * PAGE_SIZE);
        for (let k = o.page; k < o.page + n; k++) registered.delete(k);
        expect(sorted(woken)).toEqual(sorted(wakeModel(o.page, n)));
        break;
      }
      case 'fault': {
        const w = waiting.get(o.tid);
        // A sleeping thread cannot touch another page.
        if (w && w.page !== o.page) break;
        const used = host.memory.framesUsed;
        let blocked: UserfaultBlocked | null = null;
        try {
          p.fault(base + o.page * PAGE_SIZE, 'process', 0, o.tid, o.write);
        } catch (e) {
          if (!(e instanceof UserfaultBlocked)) throw e;
          blocked = e;
        }
        if (present.has(o.page) || !registered.has(o.page)) {
          expect(blocked).toBeNull();
          present.add(o.page);
        } else {
          expect(blocked).not.toBeNull();
          // One message per waiting thread: a second touch by the same sleeper queues nothing.
          expect(blocked!.queued).toBe(!w);
          expect(host.memory.framesUsed).toBe(used);
          expect(p.lookupIndex(i0 + o.page)).toBe(-1);
          if (!w) waiting.set(o.tid, { page: o.page, read: false });
        }
        break;
      }
      case 'read': {
        const msgs = u.read(64 * 32);
        const unread = [...waiting].filter(([, x]) => !x.read);
        expect(msgs.map((m) => [m.pagefault.feat.ptid, (m.pagefault.address - base) / PAGE_SIZE]).sort((a, b) => a[0] - b[0]))
          .toEqual(unread.map(([tid, x]) => [tid, x.page]).sort((a, b) => a[0] - b[0]));
        for (const [, x] of unread) x.read = true;
        break;
      }
      case 'copy':
      case 'zeropage': {
        const start = base + o.page * PAGE_SIZE;
        let allRegistered = true;
        for (let k = o.page; k < o.page + n; k++) if (!registered.has(k)) allRegistered = false;
        let r;
        try {
          r = o.op === 'copy'
            ? u.copy(start, { kind: 'bytes', bytes: src }, n * PAGE_SIZE, o.dontwake ? UFFDIO_COPY_MODE_DONTWAKE : 0)
            : u.zeropage(start, n * PAGE_SIZE, o.dontwake ? UFFDIO_ZEROPAGE_MODE_DONTWAKE : 0);
        } catch (e) {
          if (!(e instanceof SysError)) throw e;
          expect(e.errno).toBe('ENOENT');
          expect(allRegistered).toBe(false);
          break;
        }
        expect(allRegistered).toBe(true);
        let k = 0;
        while (k < n && !present.has(o.page + k)) k++;
        if (k === 0) expect(r).toMatchObject({ ret: -1, errno: 'EEXIST', done: -17, woken: [] });
        else expect(r).toMatchObject({ ret: k === n ? 0 : -1, done: k * PAGE_SIZE, ...(k < n ? { errno: 'EAGAIN' } : {}) });
        for (let j = 0; j < k; j++) present.add(o.page + j);
        const pageOf = new Map([...waiting].map(([tid, x]) => [tid, x.page]));
        const expectWoken = k > 0 && !o.dontwake ? wakeModel(o.page, k) : [];
        expect(sorted(r.woken)).toEqual(sorted(expectWoken));
        // A thread woken by an install finds its page present.
        for (const tid of r.woken) expect(p.lookupIndex(i0 + pageOf.get(tid)!)).toBeGreaterThanOrEqual(0);
        break;
      }
      case 'wake':
        expect(sorted(u.wake(base + o.page * PAGE_SIZE, n * PAGE_SIZE))).toEqual(sorted(wakeModel(o.page, n)));
        break;
    }
    // After every operation: the kernel's wait queue is the model's, and frames are exactly the present pages.
    expect(u.waiting).toBe(waiting.size);
    for (const [tid] of waiting) expect(u.isWaiting(tid)).toBe(true);
    expect(u.pending).toBe([...waiting.values()].filter((x) => !x.read).length);
    for (let k = 0; k < PAGES; k++) expect(p.lookupIndex(i0 + k) >= 0).toBe(present.has(k));
    expect(host.memory.framesUsed - framesAtStart).toBe(present.size);
  }
}

describe('userfaultfd against a model of Linux', () => {

  it('random register/fault/read/copy/zeropage/wake sequences keep one message per waiting thread, one install per page, and no frame before the install', () => {
    // Most sequences start with the whole area registered, as a post-copy destination's RAM is.
    const start = fc.oneof({ arbitrary: fc.constant<Op[]>([{ op: 'register', page: 0, n: PAGES }]), weight: 3 }, fc.constant<Op[]>([]));
    fc.assert(fc.property(start, fc.array(opArb, { minLength: 1, maxLength: 60 }), (pre, ops) => check([...pre, ...ops])), { numRuns: RUNS, seed: 0x0ffd });
  });
});
