/**
 * The TDX module's TD migration state machine (tdx/export.ts; Intel's trees, not upstream):
 * BLOCKW / UNBLOCKW / DIRTY_COUNT, the TLB track an export waits for, bundles and their sizes, the
 * final in-order TRACK failing while exported pages are dirty, PAUSE, ABORT, and the import
 * (MAC check, placement, TRACK, COMMIT).
 */
import { describe, expect, it } from 'vitest';
import * as abi from '../abi/tdx';
import { FrameOwner } from '../host/physmem';
import { scenario } from '../test-helpers';
import {
  GPA_ENTRY_BYTES, MBMD_BYTES, MIG_LIST_MAX, Mig, PAGE_MAC_BYTES, exportAbort, exportBlockw, exportMem, exportPause, exportStart,
  exportTrack, exportUnblockw, importCommit, importMem, importStart, importTrack, isWriteBlocked, migrationKey, sealedBytes,
} from './export';
import { Sept } from './sept';

const PAGE = 0x1000;

/** A finalized TD whose first `accept` bytes are accepted (MAPPED), and a fresh TD on the same module to import into. */
function setup(accept = '64K') {
  const sim = scenario([], { vms: [{ name: 'td', type: 'tdx', memory: '8M', tdx: { firmware_accept: accept }, program: ['_start: hlt'] }] });
  const v = sim.vmms.get('td')!;
  const tdx = sim.kvm.tdx;
  const src = v.vm.td!;
  const dst = tdx.mngCreate('td@dst', 2 ** 40);
  tdx.mngInit(dst, src.attributes, 48);
  const key = migrationKey('td', 'td@dst');
  return { sim, v, tdx, src, dst, key, mem: sim.host.memory };
}

/** Mapped GFNs of the TD below `n`. */
const mapped = (td: ReturnType<typeof setup>['src'], n: number) => Array.from({ length: n }, (_, g) => g).filter((g) => td.stateOf(g) === Sept.MAPPED);

describe('the export state machine', () => {
  it('a session must start first; the TD must be runnable to export and not yet to import', () => {
    const { tdx, src, dst, key } = setup();
    expect(exportBlockw(tdx, src, [1])).toBe(abi.TDX_OP_STATE_INCORRECT);
    expect(importStart(tdx, src, key, 'x')).toBe(abi.TDX_OP_STATE_INCORRECT);
    expect(exportStart(tdx, dst, key, 'x')).toBe(abi.TDX_OP_STATE_INCORRECT);
    expect(exportStart(tdx, src, key, 'td@dst')).toBe(abi.TDX_SUCCESS);
    expect(src.mig).toMatchObject({ phase: 'export-in-order', epoch: 1, dirtyCount: 0 });
    expect(exportStart(tdx, src, key, 'td@dst')).toBe(abi.TDX_OP_STATE_INCORRECT);
  });

  it('BLOCKW takes at most 512 GPAs, only present pages, and an export waits for TDH.MEM.TRACK', () => {
    const { tdx, src, key } = setup();
    exportStart(tdx, src, key, 'td@dst');
    const g = mapped(src, 16);
    expect(g.length).toBeGreaterThan(4);
    expect(exportBlockw(tdx, src, Array.from({ length: MIG_LIST_MAX + 1 }, () => g[0]))).toBe(abi.TDX_OPERAND_INVALID);
    expect(exportBlockw(tdx, src, [1000])).toBe(abi.TDX_EPT_ENTRY_STATE_INCORRECT);
    expect(exportMem(tdx, src, [g[0]]).status).toBe(abi.TDX_NOT_WRITE_BLOCKED);
    expect(exportBlockw(tdx, src, g.slice(0, 3))).toBe(abi.TDX_SUCCESS);
    expect(g.slice(0, 3).map((x) => src.migPages.get(x))).toEqual([Mig.BLOCKEDW, Mig.BLOCKEDW, Mig.BLOCKEDW]);
    expect(exportMem(tdx, src, g.slice(0, 3)).status).toBe(abi.TDX_TLB_TRACKING_NOT_DONE);
    tdx.memTrack(src);
    const r = exportMem(tdx, src, g.slice(0, 3));
    expect(r.status).toBe(abi.TDX_SUCCESS);
    // An MBMD, then per page 4 KiB of ciphertext, a 16-byte MAC and an 8-byte GPA entry.
    expect(r.bundle!.bytes).toBe(MBMD_BYTES + 3 * (PAGE + PAGE_MAC_BYTES + GPA_ENTRY_BYTES));
    expect(g.slice(0, 3).map((x) => src.migPages.get(x))).toEqual([Mig.EXPORTED_BLOCKEDW, Mig.EXPORTED_BLOCKEDW, Mig.EXPORTED_BLOCKEDW]);
    expect(exportMem(tdx, src, Array.from({ length: MIG_LIST_MAX + 1 }, () => g[0])).status).toBe(abi.TDX_OPERAND_INVALID);
  });

  it('UNBLOCKW: a blocked page not yet exported is simply writable again; an exported one becomes EXPORTED_DIRTY and counts once', () => {
    const { tdx, src, key } = setup();
    exportStart(tdx, src, key, 'td@dst');
    const [a, b] = mapped(src, 16);
    exportBlockw(tdx, src, [a, b]);
    tdx.memTrack(src);
    exportMem(tdx, src, [a]);
    expect(exportUnblockw(tdx, src, b, 0)).toBe(abi.TDX_SUCCESS);
    expect(src.migPages.get(b)).toBe(Mig.NONE);
    expect(src.mig.dirtyCount).toBe(0);
    expect(exportUnblockw(tdx, src, a, 0)).toBe(abi.TDX_SUCCESS);
    expect(src.migPages.get(a)).toBe(Mig.EXPORTED_DIRTY);
    expect(src.mig.dirtyCount).toBe(1);
    expect(isWriteBlocked(src, a)).toBe(false);
    expect(exportUnblockw(tdx, src, a, 0)).toBe(abi.TDX_NOT_WRITE_BLOCKED);
    // Blocked again: EXPORTED_DIRTY_BLOCKEDW, still counted; a write again does not count twice.
    exportBlockw(tdx, src, [a]);
    expect(src.migPages.get(a)).toBe(Mig.EXPORTED_DIRTY_BLOCKEDW);
    exportUnblockw(tdx, src, a, 0);
    expect(src.mig.dirtyCount).toBe(1);
    // Exported again: the count goes back to 0.
    exportBlockw(tdx, src, [a]);
    tdx.memTrack(src);
    exportMem(tdx, src, [a]);
    expect(src.migPages.get(a)).toBe(Mig.EXPORTED_BLOCKEDW);
    expect(src.mig.dirtyCount).toBe(0);
  });

  it('TRACK opens epochs; the in-order TRACK needs PAUSE and fails with TDX_EXPORTED_DIRTY_PAGES_REMAIN while DIRTY_COUNT > 0', () => {
    const { tdx, src, key } = setup();
    exportStart(tdx, src, key, 'td@dst');
    const [a] = mapped(src, 16);
    expect(exportTrack(tdx, src, false)).toEqual({ status: abi.TDX_SUCCESS, epoch: 2 });
    expect(exportTrack(tdx, src, true).status).toBe(abi.TDX_OP_STATE_INCORRECT);
    exportBlockw(tdx, src, [a]);
    tdx.memTrack(src);
    expect(exportMem(tdx, src, [a]).bundle!.epoch).toBe(2);
    exportUnblockw(tdx, src, a, 0);
    expect(exportPause(tdx, src)).toBe(abi.TDX_SUCCESS);
    expect(exportPause(tdx, src)).toBe(abi.TDX_OP_STATE_INCORRECT);
    const refused = exportTrack(tdx, src, true);
    expect(refused.status).toBe(abi.TDX_EXPORTED_DIRTY_PAGES_REMAIN);
    expect(src.mig.phase).toBe('export-paused');
    exportBlockw(tdx, src, [a]);
    tdx.memTrack(src);
    exportMem(tdx, src, [a]);
    expect(exportTrack(tdx, src, true)).toEqual({ status: abi.TDX_SUCCESS, epoch: 3 });
    expect(src.mig.phase).toBe('export-out-of-order');
  });

  it('ABORT drops every write block and the session', () => {
    const { tdx, src, key } = setup();
    exportStart(tdx, src, key, 'td@dst');
    const g = mapped(src, 16);
    exportBlockw(tdx, src, g);
    expect(exportAbort(tdx, src)).toBe(abi.TDX_SUCCESS);
    expect(g.some((x) => isWriteBlocked(src, x))).toBe(false);
    expect(src.mig.phase).toBe('none');
  });

  it('a PENDING page travels as its GPA entry only', () => {
    const { tdx, src, key, v } = setup('0');
    // AUG a page the guest never accepts: PENDING.
    const gfn = 0x300;
    v.vm.mmu.faultForAccept(gfn, 0);
    expect(src.stateOf(gfn)).toBe(Sept.PENDING);
    exportStart(tdx, src, key, 'td@dst');
    exportBlockw(tdx, src, [gfn]);
    tdx.memTrack(src);
    const r = exportMem(tdx, src, [gfn]);
    expect(r.bundle).toMatchObject({ frames: [-1], macs: [''], bytes: MBMD_BYTES + GPA_ENTRY_BYTES });
  });
});

describe('the import', () => {
  it('checks each MAC, maps the pages with the same content, takes the epoch and commits; the TD may then run', () => {
    const { tdx, src, dst, key, mem } = setup();
    exportStart(tdx, src, key, 'td@dst');
    importStart(tdx, dst, key, 'td');
    const g = mapped(src, 32);
    exportBlockw(tdx, src, g);
    tdx.memTrack(src);
    const b = exportMem(tdx, src, g).bundle!;
    const frameFor = () => {
      const f = mem.alloc(FrameOwner.GuestMemfd, 999);
      expect(f).toBeGreaterThanOrEqual(0);
      return f;
    };
    // A bundle whose MAC does not match (a host that changed the page's version) is refused.
    const forged = { ...b, macs: b.macs.map((m, i) => (i === 0 ? m.replace(/^./, (c) => (c === '0' ? '1' : '0')) : m)) };
    expect(importMem(tdx, dst, forged, mem, frameFor)).toBe(abi.TDX_INVALID_PAGE_MAC);
    expect(importMem(tdx, dst, b, mem, frameFor)).toBe(abi.TDX_SUCCESS);
    for (const x of g) {
      expect(dst.stateOf(x)).toBe(Sept.MAPPED);
      expect(mem.samePage(src.frameOf(x), dst.frameOf(x))).toBe(true);
      expect(mem.hkid[dst.frameOf(x)]).toBe(dst.hkid);
    }
    exportPause(tdx, src);
    const t = exportTrack(tdx, src, true);
    expect(importTrack(tdx, dst, t.epoch)).toBe(abi.TDX_SUCCESS);
    expect(dst.lifecycle).toBe('initialized');
    expect(importCommit(tdx, dst)).toBe(abi.TDX_SUCCESS);
    expect(dst.lifecycle).toBe('runnable');
    expect(importCommit(tdx, dst)).toBe(abi.TDX_OP_STATE_INCORRECT);
  });

  it('the host sees ciphertext: a keyed function of the GPA and the version, not the guest\'s bytes', () => {
    const key = migrationKey('td', 'td@dst');
    const a = sealedBytes(key, 5, 77, 0, 16);
    expect(a).toEqual(sealedBytes(key, 5, 77, 0, 16));
    expect(a).not.toEqual(sealedBytes(key, 5, 78, 0, 16));
    expect(a).not.toEqual(sealedBytes(migrationKey('td', 'other'), 5, 77, 0, 16));
    expect(a.every((x) => x === 0)).toBe(false);
  });
});
