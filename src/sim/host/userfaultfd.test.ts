/**
 * userfaultfd (fs/userfaultfd.c, mm/userfaultfd.c): the API handshake, registration, the fault that
 * waits instead of allocating, the messages, and the ioctls that resolve it, each with Linux's errno.
 * After tools/testing/selftests/mm/uffd-unit-tests.c where it applies.
 */
import { describe, expect, it } from 'vitest';
import { Clock } from '../core/clock';
import { SysError } from '../core/errno';
import { Trace } from '../core/trace';
import { MiB, PAGE_SIZE } from '../core/units';
import {
  O_NONBLOCK, UFFDIO_COPY_MODE_DONTWAKE, UFFDIO_REGISTER_MODE_MINOR, UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_WP,
  UFFD_API, UFFD_API_FEATURES, UFFD_EVENT_PAGEFAULT, UFFD_FEATURE_MISSING_SHMEM, UFFD_FEATURE_MOVE, UFFD_FEATURE_SIGBUS,
  UFFD_FEATURE_THREAD_ID, UFFD_PAGEFAULT_FLAG_MINOR, UFFD_PAGEFAULT_FLAG_WRITE, UFFD_USER_MODE_ONLY, _UFFDIO_CONTINUE,
  _UFFDIO_COPY, _UFFDIO_WAKE, _UFFDIO_WRITEPROTECT, _UFFDIO_ZEROPAGE,
} from '../abi/userfaultfd';
import { Host } from './host';
import { UserfaultBlocked } from './userfaultfd';

function setup(pages = 16, opts: { shared?: boolean; flags?: number; features?: number } = {}) {
  const clock = new Clock();
  const trace = new Trace(() => clock.now, 100_000);
  const host = new Host({ name: 'h', memoryBytes: 256 * MiB }, clock, trace);
  const p = host.spawn('qemu');
  const base = opts.shared ? p.mmapShared(pages * PAGE_SIZE, 'ram') : p.mmapAnon(pages * PAGE_SIZE, 'ram');
  const u = p.userfaultfd(opts.flags ?? 0);
  u.api(UFFD_API, opts.features ?? UFFD_FEATURE_THREAD_ID);
  return { host, p, u, base, trace };
}

/** The errno a call fails with (and that it does fail). */
function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SysError) return e.errno;
    throw e;
  }
  throw new Error('expected the call to fail');
}

/** A fault that must block on the userfaultfd: the signal. */
function blocked(fn: () => unknown): UserfaultBlocked {
  try {
    fn();
  } catch (e) {
    if (e instanceof UserfaultBlocked) return e;
    throw e;
  }
  throw new Error('expected the fault to wait on the userfaultfd');
}

describe('constants (include/uapi/linux/userfaultfd.h)', () => {
  it('UFFD_API 0xaa, UFFD_EVENT_PAGEFAULT 0x12, flags WRITE 1 / WP 2 / MINOR 4, THREAD_ID 1<<8, ioctl bits', () => {
    expect(UFFD_API).toBe(0xaa);
    expect(UFFD_EVENT_PAGEFAULT).toBe(0x12);
    expect([UFFD_PAGEFAULT_FLAG_WRITE, UFFD_PAGEFAULT_FLAG_MINOR]).toEqual([1, 4]);
    expect([UFFD_FEATURE_MISSING_SHMEM, UFFD_FEATURE_SIGBUS, UFFD_FEATURE_THREAD_ID, UFFD_FEATURE_MOVE]).toEqual([1 << 5, 1 << 7, 1 << 8, 1 << 16]);
    expect([UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_WP, UFFDIO_REGISTER_MODE_MINOR]).toEqual([1, 2, 4]);
    expect([_UFFDIO_WAKE, _UFFDIO_COPY, _UFFDIO_ZEROPAGE, _UFFDIO_WRITEPROTECT, _UFFDIO_CONTINUE]).toEqual([2, 3, 4, 6, 7]);
  });
});

describe('userfaultfd(2) and UFFDIO_API', () => {
  it('unknown flags are EINVAL; O_NONBLOCK, O_CLOEXEC and UFFD_USER_MODE_ONLY are accepted', () => {
    const { p } = setup();
    expect(errnoOf(() => p.userfaultfd(0x4))).toBe('EINVAL');
    expect(p.userfaultfd(O_NONBLOCK | UFFD_USER_MODE_ONLY).flags).toBe(O_NONBLOCK | UFFD_USER_MODE_ONLY);
  });

  it('every ioctl but UFFDIO_API, and read(), is EINVAL before the handshake', () => {
    const { p, base } = setup();
    const u = p.userfaultfd(0);
    expect(errnoOf(() => u.register(base, PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING))).toBe('EINVAL');
    expect(errnoOf(() => u.read())).toBe('EINVAL');
    expect(errnoOf(() => u.wake(base, PAGE_SIZE))).toBe('EINVAL');
  });

  it('reports every feature and the three API ioctls; a wrong api or an unknown feature is EINVAL; twice is EINVAL', () => {
    const { p } = setup();
    const u = p.userfaultfd(0);
    expect(errnoOf(() => u.api(0xab, 0))).toBe('EINVAL');
    expect(errnoOf(() => u.api(UFFD_API, 1 << 20))).toBe('EINVAL');
    const r = u.api(UFFD_API, UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_MISSING_SHMEM);
    expect(r).toEqual({ api: 0xaa, features: UFFD_API_FEATURES, ioctls: 0x8000000000000003n });
    expect(u.features).toBe(UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_MISSING_SHMEM);
    expect(errnoOf(() => u.api(UFFD_API, 0))).toBe('EINVAL');
  });
});

describe('UFFDIO_REGISTER / UFFDIO_UNREGISTER', () => {
  it('MISSING on anonymous memory: the ioctls of the range leave out WRITEPROTECT and CONTINUE', () => {
    const { p, u, base } = setup();
    const ioctls = u.register(base, 4 * PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING);
    expect(ioctls & (1 << _UFFDIO_COPY)).not.toBe(0);
    expect(ioctls & (1 << _UFFDIO_ZEROPAGE)).not.toBe(0);
    expect(ioctls & (1 << _UFFDIO_WRITEPROTECT)).toBe(0);
    expect(ioctls & (1 << _UFFDIO_CONTINUE)).toBe(0);
    expect(p.uffdRanges).toEqual([{ start: p.pageIndex(base), end: p.pageIndex(base) + 4, mode: 1, fd: u.fd }]);
  });

  it('unaligned or empty ranges, mode 0 or unknown mode bits are EINVAL', () => {
    const { u, base } = setup();
    expect(errnoOf(() => u.register(base + 1, PAGE_SIZE, 1))).toBe('EINVAL');
    expect(errnoOf(() => u.register(base, 100, 1))).toBe('EINVAL');
    expect(errnoOf(() => u.register(base, 0, 1))).toBe('EINVAL');
    expect(errnoOf(() => u.register(base, PAGE_SIZE, 0))).toBe('EINVAL');
    expect(errnoOf(() => u.register(base, PAGE_SIZE, 8))).toBe('EINVAL');
  });

  it('a range with no VMA is ENOMEM; MINOR on anonymous memory is EINVAL; another userfaultfd\'s range is EBUSY', () => {
    const { p, u, base } = setup();
    expect(errnoOf(() => u.register(0x1000, PAGE_SIZE, 1))).toBe('ENOMEM');
    expect(errnoOf(() => u.register(base + 64 * PAGE_SIZE, PAGE_SIZE, 1))).toBe('ENOMEM');
    expect(errnoOf(() => u.register(base, PAGE_SIZE, UFFDIO_REGISTER_MODE_MINOR))).toBe('EINVAL');
    u.register(base, PAGE_SIZE, 1);
    const other = p.userfaultfd(0);
    other.api(UFFD_API, 0);
    expect(errnoOf(() => other.register(base, 2 * PAGE_SIZE, 1))).toBe('EBUSY');
  });

  it('registering again replaces the mode; unregistering a part splits the range', () => {
    const { p, u, base } = setup();
    const i = p.pageIndex(base);
    u.register(base, 4 * PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING);
    u.register(base + PAGE_SIZE, PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP);
    expect(p.uffdRanges.map((r) => [r.start - i, r.end - i, r.mode])).toEqual([[0, 1, 1], [1, 2, 3], [2, 4, 1]]);
    u.unregister(base + PAGE_SIZE, 2 * PAGE_SIZE);
    expect(p.uffdRanges.map((r) => [r.start - i, r.end - i, r.mode])).toEqual([[0, 1, 1], [3, 4, 1]]);
    // A fault in the unregistered part is an ordinary fault.
    expect(p.fault(base + PAGE_SIZE, 'process')).toBeGreaterThanOrEqual(0);
  });
});

describe('a fault in a MISSING range', () => {
  it('allocates nothing, queues one message with the thread id and the write flag, and waits', () => {
    const { host, p, u, base } = setup();
    u.register(base, 4 * PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING);
    const used = host.memory.framesUsed;
    const b = blocked(() => p.fault(base + 2 * PAGE_SIZE + 8, 'process', 0, 4242, true));
    expect(b).toMatchObject({ fd: u.fd, tid: 4242, address: base + 2 * PAGE_SIZE, queued: true });
    expect(host.memory.framesUsed).toBe(used);
    expect(p.lookup(base + 2 * PAGE_SIZE)).toBe(-1);
    expect(u.read(10 * 32)).toEqual([{ event: 0x12, pagefault: { flags: UFFD_PAGEFAULT_FLAG_WRITE, address: base + 2 * PAGE_SIZE, feat: { ptid: 4242 } } }]);
  });

  it('the same thread faulting again on its page queues nothing more; another thread gets its own message', () => {
    const { p, u, base } = setup();
    u.register(base, 4 * PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING);
    blocked(() => p.fault(base, 'process', 0, 7));
    expect(blocked(() => p.fault(base, 'get_user_pages', 0, 7)).queued).toBe(false);
    expect(blocked(() => p.fault(base, 'get_user_pages', 0, 8)).queued).toBe(true);
    expect(u.read(10 * 32).map((m) => m.pagefault.feat.ptid)).toEqual([7, 8]);
    expect(u.read(10 * 32)).toEqual([]);
  });

  it('without UFFD_FEATURE_THREAD_ID, ptid is 0; read() of less than a uffd_msg is EINVAL; O_NONBLOCK with nothing pending is EAGAIN', () => {
    const { p, u, base } = setup(4, { flags: O_NONBLOCK, features: 0 });
    u.register(base, PAGE_SIZE, 1);
    expect(errnoOf(() => u.read())).toBe('EAGAIN');
    blocked(() => p.fault(base, 'process', 0, 9));
    expect(errnoOf(() => u.read(16))).toBe('EINVAL');
    expect(u.read()[0].pagefault.feat.ptid).toBe(0);
  });

  it('UFFD_USER_MODE_ONLY: a fault from the kernel (get_user_pages) fails with EFAULT instead of waiting', () => {
    const { p, u, base } = setup(4, { flags: UFFD_USER_MODE_ONLY });
    u.register(base, PAGE_SIZE, 1);
    expect(errnoOf(() => p.fault(base, 'get_user_pages', 0, 3))).toBe('EFAULT');
    expect(blocked(() => p.fault(base, 'process', 0, 3)).queued).toBe(true);
  });

  it('UFFD_FEATURE_SIGBUS: the fault fails instead of queueing a message', () => {
    const { p, u, base } = setup(4, { features: UFFD_FEATURE_SIGBUS });
    u.register(base, PAGE_SIZE, 1);
    expect(errnoOf(() => p.fault(base, 'process'))).toBe('EFAULT');
    expect(u.pending).toBe(0);
  });
});

describe('UFFDIO_COPY / UFFDIO_ZEROPAGE / UFFDIO_WAKE', () => {
  function waiting(): ReturnType<typeof setup> & { src: number } {
    const s = setup(8);
    s.u.register(s.base, 4 * PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING);
    blocked(() => s.p.fault(s.base + PAGE_SIZE, 'process', 0, 11));
    blocked(() => s.p.fault(s.base + PAGE_SIZE, 'get_user_pages', 0, 12));
    blocked(() => s.p.fault(s.base + 3 * PAGE_SIZE, 'process', 0, 13));
    // A source page elsewhere in the process (outside the registered range).
    const src = s.base + 6 * PAGE_SIZE;
    s.p.write(src, new TextEncoder().encode('the page from the source'));
    return { ...s, src };
  }

  it('copies the bytes and the content token, maps the page and wakes every thread waiting for it', () => {
    const { host, p, u, base, src } = waiting();
    const r = u.copy(base + PAGE_SIZE, { kind: 'hva', hva: src }, PAGE_SIZE);
    expect(r).toEqual({ ret: 0, done: PAGE_SIZE, woken: [11, 12] });
    const f = p.lookup(base + PAGE_SIZE);
    expect(f).toBeGreaterThanOrEqual(0);
    expect(new TextDecoder().decode(p.read(base + PAGE_SIZE, 24))).toBe('the page from the source');
    expect(u.waiting).toBe(1);
    // From another host's frame: the token comes along (samePageAcross).
    const other = new Host({ name: 'src', memoryBytes: 128 * MiB }, new Clock(), new Trace(() => 0, 10));
    const sf = other.spawn('src').fault(other.processes[0].mmapAnon(PAGE_SIZE, 'x'), 'process');
    other.memory.bytes(sf)[0] = 0x5a;
    expect(u.copy(base + 3 * PAGE_SIZE, { kind: 'frames', memory: other.memory, frames: [sf] }, PAGE_SIZE).woken).toEqual([13]);
    expect(host.memory.samePageAcross(p.lookup(base + 3 * PAGE_SIZE), other.memory, sf)).toBe(true);
  });

  it('a page already present is EEXIST (copy = -17), and nothing is woken', () => {
    const { p, u, base, src } = waiting();
    u.copy(base + PAGE_SIZE, { kind: 'hva', hva: src }, PAGE_SIZE);
    const f = p.lookup(base + PAGE_SIZE);
    expect(u.copy(base + PAGE_SIZE, { kind: 'hva', hva: src }, PAGE_SIZE)).toMatchObject({ ret: -1, errno: 'EEXIST', done: -17, woken: [] });
    expect(p.lookup(base + PAGE_SIZE)).toBe(f);
  });

  it('a range that stops at a present page installs what comes before and returns EAGAIN with the bytes done', () => {
    const { u, base } = waiting();
    u.zeropage(base + 2 * PAGE_SIZE, PAGE_SIZE);
    const r = u.copy(base, { kind: 'bytes', bytes: new Uint8Array(3 * PAGE_SIZE).fill(1) }, 3 * PAGE_SIZE);
    expect(r).toMatchObject({ ret: -1, errno: 'EAGAIN', done: 2 * PAGE_SIZE, woken: [11, 12] });
  });

  it('outside a registered range it is ENOENT; unknown mode bits EINVAL', () => {
    const { u, base, src } = waiting();
    expect(errnoOf(() => u.copy(base + 5 * PAGE_SIZE, { kind: 'hva', hva: src }, PAGE_SIZE))).toBe('ENOENT');
    expect(errnoOf(() => u.copy(base + 3 * PAGE_SIZE, { kind: 'hva', hva: src }, 2 * PAGE_SIZE))).toBe('ENOENT');
    expect(errnoOf(() => u.copy(base, { kind: 'hva', hva: src }, PAGE_SIZE, 4))).toBe('EINVAL');
    expect(errnoOf(() => u.zeropage(base, PAGE_SIZE, 2))).toBe('EINVAL');
  });

  it('MODE_DONTWAKE installs without waking; UFFDIO_WAKE wakes them afterwards and the page is there', () => {
    const { p, u, base, src } = waiting();
    expect(u.copy(base + PAGE_SIZE, { kind: 'hva', hva: src }, PAGE_SIZE, UFFDIO_COPY_MODE_DONTWAKE).woken).toEqual([]);
    expect(u.isWaiting(11)).toBe(true);
    expect(u.wake(base, 2 * PAGE_SIZE)).toEqual([11, 12]);
    expect(p.lookup(base + PAGE_SIZE)).toBeGreaterThanOrEqual(0);
  });

  it('UFFDIO_ZEROPAGE maps a page of zeros (token 0) and wakes its thread', () => {
    const { host, p, u, base } = waiting();
    expect(u.zeropage(base + 3 * PAGE_SIZE, PAGE_SIZE).woken).toEqual([13]);
    const f = p.lookup(base + 3 * PAGE_SIZE);
    expect(host.memory.pageToken(f)).toBe(0);
    expect(p.read(base + 3 * PAGE_SIZE, 8)).toEqual(new Uint8Array(8));
  });

  it('UFFDIO_UNREGISTER wakes the threads still waiting in the range; they then fault normally', () => {
    const { p, u, base } = waiting();
    expect(u.unregister(base, 4 * PAGE_SIZE).sort()).toEqual([11, 12, 13]);
    expect(p.fault(base + PAGE_SIZE, 'process')).toBeGreaterThanOrEqual(0);
  });
});

describe('MINOR faults and UFFDIO_CONTINUE (shared memory)', () => {
  it('a page in the file but not mapped is a MINOR fault; CONTINUE maps the same frame with its contents', () => {
    const { p, u, base } = setup(4, { shared: true });
    p.write(base, new TextEncoder().encode('in the page cache'));
    const frame = p.lookup(base);
    expect(p.discard(base, PAGE_SIZE, 'madvise(MADV_DONTNEED)')).toBe(0);
    expect(p.lookup(base)).toBe(-1);
    expect(u.register(base, 4 * PAGE_SIZE, UFFDIO_REGISTER_MODE_MINOR) & (1 << _UFFDIO_CONTINUE)).not.toBe(0);
    const b = blocked(() => p.fault(base, 'process', 0, 21));
    expect(b.flags).toBe(UFFD_PAGEFAULT_FLAG_MINOR);
    // A page that is in no page cache is not a minor fault: MINOR mode alone lets it be allocated.
    expect(p.fault(base + PAGE_SIZE, 'process')).toBeGreaterThanOrEqual(0);
    expect(u.continue(base, PAGE_SIZE)).toEqual({ ret: 0, done: PAGE_SIZE, woken: [21] });
    expect(p.lookup(base)).toBe(frame);
    expect(new TextDecoder().decode(p.read(base, 17))).toBe('in the page cache');
  });

  it('CONTINUE: a mapped page is EEXIST, a page not in the cache EFAULT, anonymous memory EINVAL, a MISSING-only range EINVAL', () => {
    const { p, u, base } = setup(4, { shared: true });
    u.register(base, 2 * PAGE_SIZE, UFFDIO_REGISTER_MODE_MINOR);
    p.fault(base + PAGE_SIZE, 'process');
    expect(u.continue(base + PAGE_SIZE, PAGE_SIZE)).toMatchObject({ ret: -1, errno: 'EEXIST' });
    expect(u.continue(base, PAGE_SIZE)).toMatchObject({ ret: -1, errno: 'EFAULT', done: -14 });
    u.register(base + 2 * PAGE_SIZE, PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING);
    expect(errnoOf(() => u.continue(base + 2 * PAGE_SIZE, PAGE_SIZE))).toBe('EINVAL');
    const a = setup(4);
    a.u.register(a.base, PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING);
    expect(errnoOf(() => a.u.continue(a.base, PAGE_SIZE))).toBe('EINVAL');
  });

  it('MISSING on shared memory: a page not in the file waits; COPY puts it in the file and maps it', () => {
    const { p, u, base } = setup(4, { shared: true });
    u.register(base, PAGE_SIZE, UFFDIO_REGISTER_MODE_MISSING);
    blocked(() => p.fault(base, 'process', 0, 5));
    expect(u.copy(base, { kind: 'bytes', bytes: new Uint8Array(PAGE_SIZE).fill(9) }, PAGE_SIZE).woken).toEqual([5]);
    expect(p.shmemFrame(p.pageIndex(base))).toBe(p.lookup(base));
  });
});

