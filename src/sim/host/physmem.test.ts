/**
 * Content tokens (DESIGN.md principle 4): every write gives a frame a new token from one counter, a
 * copy carries it, and two frames compare equal only with the same history and the same bytes.
 */
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../core/units';
import { scenario } from '../test-helpers';
import { FrameOwner, HostMemory } from './physmem';

const MiB = 1024 * 1024;

function memWithFrames(n: number): [HostMemory, number[]] {
  const m = new HostMemory(64 * MiB, 4 * MiB);
  return [m, Array.from({ length: n }, () => m.alloc(FrameOwner.ProcessAnon, 1))];
}

describe('content tokens', () => {
  it('a fresh frame has token 0 and every write gives it a new one', () => {
    const [m, [f]] = memWithFrames(1);
    expect(m.pageToken(f)).toBe(0);
    m.bytes(f)[0] = 1;
    const t1 = m.pageToken(f);
    expect(t1).not.toBe(0);
    m.bytes(f)[1] = 2;
    expect(m.pageToken(f)).not.toBe(t1);
    m.copyInto(f, new Uint8Array(PAGE_SIZE).fill(7));
    const t3 = m.pageToken(f);
    m.writeToken(f);
    expect(m.pageToken(f)).not.toBe(t3);
    // Zeroing and freeing: back to the zero page's token.
    m.zero(f);
    expect(m.pageToken(f)).toBe(0);
  });

  it('a copy keeps the token and compares equal; a write to either then differs', () => {
    const [m, [a, b]] = memWithFrames(2);
    m.bytes(a).set([1, 2, 3], 100);
    m.copyPage(a, b);
    expect(m.pageToken(b)).toBe(m.pageToken(a));
    expect(m.samePage(a, b)).toBe(true);
    expect(Array.from(m.bytesForRead(b).subarray(100, 103))).toEqual([1, 2, 3]);
    m.bytes(b)[100] = 1; // the same byte again: still a write, so a new token
    expect(m.samePage(a, b)).toBe(false);
    // Copying a never-written frame over a written one makes it a zero page again.
    const [m2, [c, d]] = memWithFrames(2);
    m2.bytes(d)[0] = 9;
    m2.copyPage(c, d);
    expect(m2.pageToken(d)).toBe(0);
    expect(m2.samePage(c, d)).toBe(true);
  });

  it('two frames with equal histories compare equal by token and bytes; different bytes with a forged token do not', () => {
    const [m1, [x]] = memWithFrames(1);
    const [m2, [y]] = memWithFrames(1);
    for (const m of [m1, m2]) {
      const f = m === m1 ? x : y;
      m.bytes(f).set([5, 6], 0);
      m.bytes(f).set([7], 4095);
    }
    expect(m1.pageToken(x)).toBe(m2.pageToken(y));
    // Within one memory: a copy is the way two frames share a history.
    const [m, [a, b]] = memWithFrames(2);
    m.bytes(a)[0] = 5;
    m.copyPage(a, b);
    m.bytes(b)[0] = 6;
    m.token[b] = m.token[a]; // a token alone does not make the page the same
    expect(m.samePage(a, b)).toBe(false);
  });

  it("the guest CPU's stores give the frame a new token per store, through the TLB as well", () => {
    const run = scenario([{ do: 'run', vm: 'vm', until: 'halt', max_instructions: 10_000 }], {
      vms: [{
        name: 'vm', type: 'default', memory: '16M', program: [
          '_start:', '    mov rdi, 0x200000', '    mov rax, 0x1122334455667788', '    xor ecx, ecx',
          '.loop:', '    mov [rdi+rcx*8], rax', '    inc rcx', '    cmp rcx, 100', '    jne .loop', '    hlt',
        ],
      }],
    });
    const v = run.vmms.get('vm')!;
    const mem = run.host.memory;
    run.step();
    const f = v.hostFrameOf(0x200000)!.frame;
    const t = mem.pageToken(f);
    expect(t).not.toBe(0);
    // Run the loop again: 100 more stores to the same page, each one a new token from the counter.
    const seq0 = mem.tokenSeq[0];
    v.vcpus[0].cpu!.rip = v.desc.program.entry;
    v.run(0, 'halt', 10_000);
    expect(mem.pageToken(f)).not.toBe(t);
    expect(mem.tokenSeq[0] - seq0).toBeGreaterThanOrEqual(100);
    expect(mem.pageToken(f)).toBe(mem.tokenSeq[0]);
  });
});

describe('page storage', () => {
  it('storage freed by zero() or free() is reused zeroed, never shared between two frames', () => {
    const [m, frames] = memWithFrames(200);
    // More pages than one slab, each with its own bytes.
    frames.forEach((f, i) => m.bytes(f).fill(i + 1));
    const kept = frames.filter((_, i) => i % 3 !== 0);
    frames.forEach((f, i) => {
      if (i % 3 !== 0) return;
      if (i % 2) m.zero(f);
      else m.free(f);
    });
    // New writers get the cleared storage back: it starts as zeros, and the kept pages are untouched.
    const fresh = Array.from({ length: 100 }, () => m.alloc(FrameOwner.ProcessAnon, 2));
    fresh.forEach((f) => expect(m.bytes(f).every((b) => b === 0)).toBe(true));
    fresh.forEach((f) => m.bytes(f).fill(0xee));
    kept.forEach((f) => expect(m.bytesForRead(f)[PAGE_SIZE - 1]).toBe(frames.indexOf(f) + 1));
    const views = new Set([...kept, ...fresh].map((f) => m.peek(f)));
    expect(views.size).toBe(kept.length + fresh.length);
    expect(frames.filter((_, i) => i % 3 === 0 && i % 2 === 1).every((f) => !m.hasData(f))).toBe(true);
  });

  it('a save shares the previous save\'s copy of a page not written since, and copies a written one', () => {
    const [m, [a, b, c]] = memWithFrames(3);
    m.bytes(a).fill(1);
    m.bytes(b).fill(2);
    const s1 = m.saveState();
    m.bytes(b).fill(3);
    m.copyPage(a, c);
    const s2 = m.saveState();
    // a was not written: the same saved array; b was: a new copy with its new bytes.
    expect(s2.data.get(a)).toBe(s1.data.get(a));
    expect(s2.data.get(b)).not.toBe(s1.data.get(b));
    expect(s2.data.get(b)![0]).toBe(3);
    expect(s1.data.get(b)![0]).toBe(2);
    // c is a copy of a (same token) but is a frame s1 saved no bytes of: it gets its own copy.
    expect(s2.data.get(c)![0]).toBe(1);
    // Either state loads back exactly, whichever order.
    m.loadState(s1);
    expect(m.bytesForRead(b)[0]).toBe(2);
    expect(m.hasData(c)).toBe(false);
    m.loadState(s2);
    expect(m.bytesForRead(b)[0]).toBe(3);
    expect(m.bytesForRead(c)[0]).toBe(1);
    // After a load, an unwritten page is shared with the loaded state; a write makes a new copy.
    m.bytes(a)[5] = 7;
    const s3 = m.saveState();
    expect(s3.data.get(b)).toBe(s2.data.get(b));
    expect(s3.data.get(a)).not.toBe(s2.data.get(a));
    expect(s3.data.get(a)![5]).toBe(7);
    expect(s2.data.get(a)![5]).toBe(1);
  });

  it('a loaded state gets its own copies: writing after the load does not change the saved state', () => {
    const [m, [a, b]] = memWithFrames(2);
    m.bytes(a).fill(1);
    const s = m.saveState();
    m.bytes(b).fill(2);
    m.zero(a);
    m.loadState(s);
    expect(m.bytesForRead(a)[0]).toBe(1);
    expect(m.hasData(b)).toBe(false);
    m.bytes(a).fill(9);
    m.loadState(s);
    expect(m.bytesForRead(a)[0]).toBe(1);
  });
});
