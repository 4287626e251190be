import { z } from 'zod';
import { SysError } from '../../core/errno';
import { PAGE_SIZE, hex } from '../../core/units';
import { UFFD_API, UFFD_MSG_SIZE } from '../../abi/userfaultfd';
import type { Process } from '../../host/process';
import type { UffdCopySource, UffdFillResult, Userfaultfd } from '../../host/userfaultfd';
import { UserfaultBlocked } from '../../host/userfaultfd';
import { ScenarioError, hostName, numeric, ref, u64Flags } from '../fields';
import { defineStep, type StepContext, type StepOutcome } from './define';
import { decodeData } from './util';

/**
 * userfaultfd and KVM Userfault steps: what a VMM's post-copy code (or a selftest) calls by hand.
 * They act on the process of `vm` (its VMM, or the scenario's process for a VM made with
 * KVM_CREATE_VM), or with no `vm` on the host's selftest process.
 */

const uffdRef = z.string().describe('a userfaultfd named with "as" by a `userfaultfd` step');
const vmOpt = z.string().optional().describe('act in the process that maps this VM\'s memory (default: the host\'s selftest process)');

function processOf(ctx: StepContext, st: { vm?: string; host?: string }, i: number): Process {
  return st.vm ? ctx.hostSide(st.vm, i).process : ctx.hostNode(st.host, i).selftest;
}

function uffdOf(ctx: StepContext, name: string, i: number): Userfaultfd {
  const u = ctx.named.get(name)?.uffd;
  if (!u) throw new ScenarioError([{ path: `$.steps[${i}].uffd`, message: `no userfaultfd named "${name}" (a \`userfaultfd\` step makes one with "as")` }]);
  return u;
}

/** An address field: a number, a name given with "as" to an mmap (plus `offset`), or a GPA of `vm` through its memslot. */
function address(ctx: StepContext, st: { vm?: string }, v: string | number | undefined, gpa: number | undefined, offset: number, i: number, field: string): number {
  if (gpa !== undefined) {
    if (!st.vm) throw new ScenarioError([{ path: `$.steps[${i}].gpa`, message: 'a gpa needs the `vm` whose memslots map it' }]);
    const hva = ctx.hostSide(st.vm, i).gpaToHva(gpa);
    if (hva === undefined) throw new ScenarioError([{ path: `$.steps[${i}].gpa`, message: `GPA ${hex(gpa)} of VM "${st.vm}" is in no memslot: the VMM has no address for it` }]);
    return hva + offset;
  }
  if (v === undefined) throw new ScenarioError([{ path: `$.steps[${i}].${field}`, message: `give \`${field}\` (an address or an mmap's name) or \`gpa\`` }]);
  if (typeof v === 'number') return v + offset;
  const a = ctx.named.get(v)?.addr;
  if (a === undefined) throw new ScenarioError([{ path: `$.steps[${i}].${field}`, message: `no mmap named "${v}"` }]);
  return a + offset;
}

/** A syscall's failure as a step result (the errno and the kernel's reason). */
function sys(fn: () => StepOutcome): StepOutcome {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SysError) return { ret: -1, errno: e.errno, why: e.why };
    throw e;
  }
}

function fillOutcome(r: UffdFillResult): StepOutcome {
  return { ret: r.ret, errno: r.errno, why: r.why, value: { done: r.done, woken: r.woken } };
}

const rangeFields = {
  vm: vmOpt,
  uffd: uffdRef,
  start: ref.optional().describe('the range\'s start: an address, or the name of an mmap'),
  gpa: numeric.optional().describe('instead of `start`: a guest physical address of `vm`, through its memslot'),
  offset: numeric.default(0).describe('added to `start`'),
  len: numeric,
};

export const UFFD_STEPS = [
  defineStep('userfaultfd', 'host', { host: hostName.optional(), vm: vmOpt, flags: u64Flags.default(0), as: z.string() },
    { summary: 'userfaultfd(flags) in a process (O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY): a new userfaultfd, named with "as"' },
    (ctx, st, i) => sys(() => {
      const p = processOf(ctx, st, i);
      const u = p.userfaultfd(Number(ctx.flags(st.flags, i, 'flags')));
      ctx.named.set(st.as, { node: st.vm ? ctx.hostOfVm(st.vm, i) : ctx.hostNode(st.host, i), uffd: u });
      return { ret: u.fd };
    })),

  defineStep('UFFDIO_API', 'host', { uffd: uffdRef, api: numeric.default(UFFD_API), features: u64Flags.default(0) },
    { summary: 'ioctl(uffd, UFFDIO_API, {api, features}): the handshake; returns the features and ioctls the kernel has' },
    (ctx, st, i) => sys(() => {
      const r = uffdOf(ctx, st.uffd, i).api(st.api, Number(ctx.flags(st.features, i, 'features')));
      return { ret: 0, value: { api: hex(r.api), features: hex(r.features), ioctls: `0x${r.ioctls.toString(16)}` } };
    })),

  defineStep('UFFDIO_REGISTER', 'host', { ...rangeFields, len: numeric.optional(), mode: u64Flags.default(['UFFDIO_REGISTER_MODE_MISSING']), guest_memfd: ref.optional().describe('try to register a guest_memfd\'s memory instead of an address range') },
    { summary: 'ioctl(uffd, UFFDIO_REGISTER, {range, mode}); with `guest_memfd`, shows why private memory cannot be registered' },
    (ctx, st, i) => sys(() => {
      const u = uffdOf(ctx, st.uffd, i);
      if (st.guest_memfd !== undefined) {
        // UFFDIO_REGISTER takes a virtual address range: the VMM would first have to mmap() the guest_memfd.
        const g = ctx.gmem(st.guest_memfd, i, 'guest_memfd');
        g.mmap();
        return { ret: -1, errno: 'EINVAL', why: 'unreachable: the lab does not map guest_memfd' };
      }
      if (st.len === undefined) throw new ScenarioError([{ path: `$.steps[${i}].len`, message: 'UFFDIO_REGISTER needs `len`' }]);
      const start = address(ctx, st, st.start, st.gpa, st.offset, i, 'start');
      const ioctls = u.register(start, st.len, Number(ctx.flags(st.mode, i, 'mode')));
      return { ret: 0, value: { start: hex(start), ioctls: hex(ioctls) } };
    })),

  defineStep('UFFDIO_UNREGISTER', 'host', rangeFields,
    { summary: 'ioctl(uffd, UFFDIO_UNREGISTER, {start, len}); wakes the threads still waiting in the range' },
    (ctx, st, i) => sys(() => ({ ret: 0, value: { woken: uffdOf(ctx, st.uffd, i).unregister(address(ctx, st, st.start, st.gpa, st.offset, i, 'start'), st.len) } }))),

  defineStep('uffd_read', 'host', { uffd: uffdRef, count: numeric.default(UFFD_MSG_SIZE).describe('bytes: a uffd_msg is 32') },
    { summary: 'read(uffd, buf, count): the pending uffd_msg records (UFFD_EVENT_PAGEFAULT, flags, address, ptid)' },
    (ctx, st, i) => sys(() => {
      const msgs = uffdOf(ctx, st.uffd, i).read(st.count);
      return { ret: msgs.length * UFFD_MSG_SIZE, value: msgs.map((m) => ({ event: hex(m.event), flags: m.pagefault.flags, address: hex(m.pagefault.address), ptid: m.pagefault.feat.ptid })) };
    })),

  defineStep('UFFDIO_COPY', 'host', {
    ...rangeFields,
    src: ref.optional().describe('the source address, or the name of an mmap'),
    src_offset: numeric.default(0),
    data: z.string().optional().describe('instead of `src`: the bytes to put at the start of the page (text, or "hex:..."), the rest zeros'),
    mode: u64Flags.default(0),
  }, { summary: 'ioctl(uffd, UFFDIO_COPY, {dst, src, len, mode}): install pages atomically and wake their waiters (UFFDIO_COPY_MODE_DONTWAKE)' },
  (ctx, st, i) => sys(() => {
    const u = uffdOf(ctx, st.uffd, i);
    const dst = address(ctx, st, st.start, st.gpa, st.offset, i, 'start');
    let src: UffdCopySource;
    if (st.data !== undefined) {
      const bytes = new Uint8Array(Math.ceil(st.len / PAGE_SIZE) * PAGE_SIZE);
      bytes.set(decodeData(st.data).subarray(0, bytes.length));
      src = { kind: 'bytes', bytes };
    } else src = { kind: 'hva', hva: address(ctx, {}, st.src, undefined, st.src_offset, i, 'src') };
    return fillOutcome(u.copy(dst, src, st.len, Number(ctx.flags(st.mode, i, 'mode'))));
  })),

  defineStep('UFFDIO_ZEROPAGE', 'host', { ...rangeFields, mode: u64Flags.default(0) },
    { summary: 'ioctl(uffd, UFFDIO_ZEROPAGE, {range, mode}): install zero pages and wake their waiters' },
    (ctx, st, i) => sys(() => fillOutcome(uffdOf(ctx, st.uffd, i).zeropage(address(ctx, st, st.start, st.gpa, st.offset, i, 'start'), st.len, Number(ctx.flags(st.mode, i, 'mode')))))),

  defineStep('UFFDIO_CONTINUE', 'host', { ...rangeFields, mode: u64Flags.default(0) },
    { summary: 'ioctl(uffd, UFFDIO_CONTINUE, {range, mode}): map pages already in a shared file\'s page cache (MINOR faults)' },
    (ctx, st, i) => sys(() => fillOutcome(uffdOf(ctx, st.uffd, i).continue(address(ctx, st, st.start, st.gpa, st.offset, i, 'start'), st.len, Number(ctx.flags(st.mode, i, 'mode')))))),

  defineStep('UFFDIO_WAKE', 'host', rangeFields,
    { summary: 'ioctl(uffd, UFFDIO_WAKE, {start, len}): wake the threads waiting in the range' },
    (ctx, st, i) => sys(() => ({ ret: 0, value: { woken: uffdOf(ctx, st.uffd, i).wake(address(ctx, st, st.start, st.gpa, st.offset, i, 'start'), st.len) } }))),

  defineStep('user_touch', 'host', {
    host: hostName.optional(), vm: vmOpt,
    addr: ref.optional().describe('an address, or the name of an mmap'), gpa: numeric.optional(), offset: numeric.default(0),
    write: z.boolean().default(false), tid: z.number().int().positive().optional().describe('the touching thread (default: the process\'s main thread)'),
  }, { summary: 'a thread of the process touches an address (a page fault in user space): it is backed, or waits on a userfaultfd' },
  (ctx, st, i) => {
    const p = processOf(ctx, st, i);
    const a = address(ctx, st, st.addr, st.gpa, st.offset, i, 'addr');
    const tid = st.tid ?? p.pid;
    try {
      const f = p.fault(a, 'process', undefined, tid, st.write);
      return { ret: 0, value: { hpa: hex(f * PAGE_SIZE) } };
    } catch (e) {
      if (e instanceof UserfaultBlocked) return { ret: 0, why: e.message, value: { blocked: true, uffd: e.fd, tid: e.tid, address: hex(e.address) } };
      if (e instanceof SysError) return { ret: -1, errno: e.errno, why: e.why };
      throw e;
    }
  }),

  defineStep('userfault_bitmap', 'host', {
    host: hostName.optional(), vm: vmOpt,
    bitmap: ref.describe('the bitmap\'s address, or the name of an mmap holding it'),
    first_page: numeric.default(0), num_pages: numeric.default(1), value: z.enum(['set', 'clear']),
  }, { summary: 'KVM Userfault (posted series, not merged): set or clear bits of a memslot\'s userfault_bitmap in the VMM\'s memory (one bit per page, unsigned longs)' },
  (ctx, st, i) => sys(() => {
    const p = processOf(ctx, st, i);
    const base = address(ctx, {}, st.bitmap, undefined, 0, i, 'bitmap');
    const firstByte = Math.floor(st.first_page / 8);
    const lastByte = Math.floor((st.first_page + st.num_pages - 1) / 8);
    const bytes = p.read(base + firstByte, lastByte - firstByte + 1);
    for (let pg = st.first_page; pg < st.first_page + st.num_pages; pg++) {
      const b = Math.floor(pg / 8) - firstByte;
      if (st.value === 'set') bytes[b] |= 1 << (pg % 8);
      else bytes[b] &= ~(1 << (pg % 8));
    }
    p.write(base + firstByte, bytes);
    p.host.trace.emit('vmm', 'userfault_bitmap', { bitmap: hex(base), first_page: st.first_page, num_pages: st.num_pages, value: st.value },
      `${p.name} ${st.value === 'set' ? 'sets' : 'clears'} ${st.num_pages} bit(s) from page ${st.first_page} of its userfault bitmap at ${hex(base)}: ` +
        (st.value === 'set' ? 'a vCPU touching one of those pages, if not mapped, will exit with KVM_MEMORY_EXIT_FLAG_USERFAULT (KVM Userfault, a posted series, not merged).' : 'KVM maps those pages again on their next fault.'));
    return { ret: 0 };
  })),
] as const;
