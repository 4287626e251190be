/**
 * TD migration in the TDX module: export on the source, import on the destination (the TDX module
 * "TD Migration" specification; intel/tdx-module src/td_migration/; Intel's downstream KVM and QEMU
 * trees drive it). NOT UPSTREAM: mainline Linux and QEMU have no TD migration; every trace line
 * here says so.
 *
 * What is modelled:
 * - the session: a Migration TD on each host attests the other and they agree a migration key
 *   (abstracted into one step and one event per side, with a key derived from the two VMs' names);
 * - per page, the export state the module keeps beside the Secure-EPT entry, in a typed array on the
 *   TD (`Td.migPages`): BLOCKEDW → EXPORTED_BLOCKEDW → (a guest write) EXPORTED_DIRTY →
 *   (BLOCKW again) EXPORTED_DIRTY_BLOCKEDW → (exported again) EXPORTED_BLOCKEDW, with `DIRTY_COUNT`
 *   counting the exported pages dirtied since and not exported again;
 * - TDH.EXPORT.BLOCKW (at most 512 GPAs a call), TDH.MEM.TRACK before an export may use them,
 *   TDH.EXPORT.MEM (bundles of at most 512 pages: a 48-byte MBMD, then per page a 4 KiB encrypted
 *   buffer, its 16-byte MAC and an 8-byte GPA-list entry; a PENDING page goes as its GPA-list entry
 *   only), TDH.EXPORT.UNBLOCKW when a guest write hits a blocked page (KVM calls it from the EPT
 *   violation), TDH.EXPORT.TRACK (a new epoch; with INORDER_DONE only when paused and DIRTY_COUNT
 *   is 0, else TDX_EXPORTED_DIRTY_PAGES_REMAIN), TDH.EXPORT.PAUSE, TDH.EXPORT.ABORT;
 * - TDH.IMPORT.MEM (checks each MAC, places the page in the destination's Secure EPT),
 *   TDH.IMPORT.TRACK and TDH.IMPORT.COMMIT (the destination TD may run).
 *
 * Simplified (docs/simplifications.md): the ciphertext is a keyed pseudo-random function of the
 * key, the GPA and the page's content token (what the host sees is opaque; the lab does not
 * encrypt), the MAC likewise; the destination copies the page's stored bytes and token from the
 * source frame as the lab's migration does for every page (the bytes are what the ciphertext
 * decrypts to).
 *
 * The out-of-order phase (post-copy): after the start token the source TD is paused for good, so a
 * page not exported yet can go in any order without a write block; TDH.IMPORT.COMMIT may then let
 * the destination TD run while such pages still arrive (TDH.IMPORT.MEM after the commit), and
 * TDH.IMPORT.END closes the import. A page imported twice out of order keeps its first import (the
 * source is paused, so the second is the same version). The module's rules for it are from the TD
 * Migration specification; Intel's QEMU tree has no TD post-copy (docs/abi-sources.md).
 */
import { Cost } from '../core/clock';
import { eventKind } from '../core/trace';
import { PAGE_SIZE, hex } from '../core/units';
import type { HostMemory } from '../host/physmem';
import * as abi from '../abi/tdx';
import type { Td, TdxModule } from './module';
import { Sept, septEntry, septFrame, septState } from './sept';
import { Mig, MIG_STATE_NAMES, isWriteBlocked, noMigration } from './mig-state';

export { Mig, MIG_STATE_NAMES, isWriteBlocked, noMigration, type TdMigPhase, type TdMigState } from './mig-state';

/** GPAs per TDH.EXPORT.BLOCKW list and pages per bundle (a GPA list is one 4 KiB page of 8-byte entries). */
export const MIG_LIST_MAX = 512;
/** The migration bundle metadata (MBMD) of a memory bundle. */
export const MBMD_BYTES = 48;
export const PAGE_MAC_BYTES = 16;
export const GPA_ENTRY_BYTES = 8;

const NOT_UPSTREAM = '(the TDX module\'s TD migration: Intel\'s trees, not upstream)';

const EV_UNBLOCKW = eventKind('tdx-module', 'TDH.EXPORT.UNBLOCKW', (gfn, was, count) => ({
  args: { gpa: hex(gfn * PAGE_SIZE), was: MIG_STATE_NAMES[was] ?? String(was), dirty_count: count },
  text: was === Mig.BLOCKEDW
    ? `The guest writes ${hex(gfn * PAGE_SIZE)}, which is write-blocked but not exported yet: the EPT violation exits to KVM, TDH.EXPORT.UNBLOCKW gives the write back ${NOT_UPSTREAM}.`
    : `The guest writes ${hex(gfn * PAGE_SIZE)} after it was exported: KVM's TDH.EXPORT.UNBLOCKW makes it EXPORTED_DIRTY and the module's DIRTY_COUNT is now ${count}: it must be exported again before the TD can finish migrating ${NOT_UPSTREAM}.`,
}));

/** The key the two Migration TDs agree for `src` → `dst` (a deterministic stand-in for the attested key exchange). */
export function migrationKey(src: string, dst: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${src}\u0000${dst}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h || 1;
}

/** A 32-bit mix of the inputs (murmur3's finaliser), for the stand-in ciphertext and MAC. */
function mix(a: number, b: number, c: number, d: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca6b) ^ Math.imul(d, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * What the host sees of a page in a bundle: `len` bytes of the encrypted buffer at `offset` (a
 * keyed function of the GPA and the page's version, never the guest's bytes).
 */
export function sealedBytes(key: number, gfn: number, token: number, offset: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    const at = offset + i;
    out[i] = mix(key, gfn, token, at >>> 2) >>> ((at & 3) * 8) & 0xff;
  }
  return out;
}

/** The page's 16-byte MAC over (GPA, version, epoch) with the migration key, as hex. */
export function pageMac(key: number, gfn: number, token: number): string {
  return [0, 1, 2, 3].map((k) => mix(key ^ 0x5a5a5a5a, gfn, token, k + 0x1000).toString(16).padStart(8, '0')).join('');
}

/** One TDH.EXPORT.MEM bundle: the pages in GPA-list order, with what the import needs to place them. */
export interface MigBundle {
  epoch: number;
  gfns: number[];
  /** The source frame of each page (-1 for a PENDING page, which travels as its GPA-list entry only). */
  frames: number[];
  /** The MAC of each page ('' for a PENDING page). */
  macs: string[];
  /** The content token each page had when exported (0 for a PENDING page). */
  tokens: number[];
  bytes: number;
}

function seam(m: TdxModule, td: Td, name: string, args: Record<string, string | number>, text: string, gfns?: readonly [number, number]): void {
  m.host.clock.advance(Cost.seamcall);
  m.host.trace.emitFor(td.vmName, 'tdx-module', name, args, `${text} ${NOT_UPSTREAM}`, gfns ? { gfns } : undefined);
}

const present = (td: Td, gfn: number): boolean => {
  const s = td.stateOf(gfn);
  return s === Sept.MAPPED || s === Sept.PENDING;
};

/**
 * The source's session: its Migration TD (bound with TDH.SERVTD.BIND) has attested the destination's
 * and both hold the migration key; TDH.EXPORT.STATE.IMMUTABLE starts the export (epoch 1, in order).
 */
export function exportStart(m: TdxModule, td: Td, key: number, peer: string): bigint {
  if (td.lifecycle !== 'runnable') return abi.TDX_OP_STATE_INCORRECT;
  // A TD that came by migration may leave again once its import is committed.
  if (td.mig.phase !== 'none' && td.mig.phase !== 'imported') return abi.TDX_OP_STATE_INCORRECT;
  td.mig = { ...noMigration(), phase: 'export-in-order', epoch: 1, key };
  seam(m, td, 'TDH.SERVTD.BIND', { servtd: 'MigTD', key: hex(key) },
    `The source's Migration TD is bound to the TD; it attests the destination's Migration TD ("${peer}") and they agree a migration key (abstracted: the host never sees it).`);
  seam(m, td, 'TDH.EXPORT.STATE.IMMUTABLE', { epoch: 1 },
    "The module starts the export: the TD's immutable state (attributes, measurements) goes out in a bundle the host cannot read; epoch 1 begins, in order.");
  return abi.TDX_SUCCESS;
}

/** The destination's session: TDH.IMPORT.STATE.IMMUTABLE with the same key; pages may be imported. */
export function importStart(m: TdxModule, td: Td, key: number, peer: string): bigint {
  if (td.lifecycle === 'runnable' || td.mig.phase !== 'none') return abi.TDX_OP_STATE_INCORRECT;
  td.mig = { ...noMigration(), phase: 'import-in-order', epoch: 1, key };
  seam(m, td, 'TDH.SERVTD.BIND', { servtd: 'MigTD', key: hex(key) },
    `The destination's Migration TD is bound to the new TD; it has attested the source's ("${peer}") and holds the same migration key.`);
  seam(m, td, 'TDH.IMPORT.STATE.IMMUTABLE', { epoch: 1 },
    "The module checks and loads the TD's immutable state: the new TD will accept pages only from this session.");
  return abi.TDX_SUCCESS;
}

/** TDH.EXPORT.BLOCKW: write-block up to 512 present pages (an already blocked one is skipped, TDX_ALREADY_WRITE_BLOCKED). */
export function exportBlockw(m: TdxModule, td: Td, gfns: readonly number[]): bigint {
  if (gfns.length > MIG_LIST_MAX) return abi.TDX_OPERAND_INVALID;
  if (td.mig.phase !== 'export-in-order' && td.mig.phase !== 'export-paused') return abi.TDX_OP_STATE_INCORRECT;
  let n = 0;
  for (const g of gfns) {
    if (!present(td, g)) return abi.TDX_EPT_ENTRY_STATE_INCORRECT;
    const s = td.migPages.get(g);
    if (s === Mig.NONE) td.migPages.set(g, Mig.BLOCKEDW);
    else if (s === Mig.EXPORTED_DIRTY) td.migPages.set(g, Mig.EXPORTED_DIRTY_BLOCKEDW);
    else continue;
    n++;
  }
  if (n) td.mig.needTrack = true;
  if (gfns.length)
    seam(m, td, 'TDH.EXPORT.BLOCKW', { gpas: gfns.length, blocked: n, first: hex(gfns[0] * PAGE_SIZE) },
      `The module write-blocks ${n} private page(s) from a list of ${gfns.length} GPA(s) (at most ${MIG_LIST_MAX} a call): from now on a guest write to one of them exits, so no write can slip past the export.`,
      [Math.min(...gfns), Math.max(...gfns) - Math.min(...gfns) + 1]);
  return abi.TDX_SUCCESS;
}

/** TDH.EXPORT.UNBLOCKW, from KVM's EPT-violation handler: the write may go on; an exported page becomes EXPORTED_DIRTY. */
export function exportUnblockw(m: TdxModule, td: Td, gfn: number, vcpu: number): bigint {
  const s = td.migPages.get(gfn);
  if (s === Mig.BLOCKEDW) td.migPages.set(gfn, Mig.NONE);
  else if (s === Mig.EXPORTED_BLOCKEDW) {
    td.migPages.set(gfn, Mig.EXPORTED_DIRTY);
    td.mig.dirtyCount++;
  } else if (s === Mig.EXPORTED_DIRTY_BLOCKEDW) td.migPages.set(gfn, Mig.EXPORTED_DIRTY);
  else return abi.TDX_NOT_WRITE_BLOCKED;
  m.host.clock.advance(Cost.seamcall);
  m.host.trace.record(EV_UNBLOCKW, td.vmName, vcpu, gfn, 1, gfn, s, td.mig.dirtyCount);
  return abi.TDX_SUCCESS;
}

/**
 * TDH.EXPORT.MEM: up to 512 write-blocked pages into one bundle, after the TLB track. A page
 * exported again after a write (EXPORTED_DIRTY_BLOCKEDW) takes one off DIRTY_COUNT. (The lab also
 * lets a clean exported page go again; the module's own rule for that case is not modelled.)
 */
export function exportMem(m: TdxModule, td: Td, gfns: readonly number[]): { status: bigint; bundle?: MigBundle } {
  if (gfns.length > MIG_LIST_MAX) return { status: abi.TDX_OPERAND_INVALID };
  const ooo = td.mig.phase === 'export-out-of-order';
  if (td.mig.phase !== 'export-in-order' && td.mig.phase !== 'export-paused' && !ooo) return { status: abi.TDX_OP_STATE_INCORRECT };
  // Out of order the TD is paused for good: no write can slip past the export, so no write block is needed.
  if (!ooo && td.mig.needTrack) return { status: abi.TDX_TLB_TRACKING_NOT_DONE };
  for (const g of gfns) if (ooo ? !present(td, g) : !isWriteBlocked(td, g)) return { status: ooo ? abi.TDX_EPT_ENTRY_STATE_INCORRECT : abi.TDX_NOT_WRITE_BLOCKED };
  const b: MigBundle = { epoch: td.mig.epoch, gfns: [...gfns], frames: [], macs: [], tokens: [], bytes: MBMD_BYTES };
  let full = 0;
  for (const g of gfns) {
    const e = td.sept.get(g);
    const pending = septState(e) === Sept.PENDING;
    if (td.migPages.get(g) === Mig.EXPORTED_DIRTY_BLOCKEDW) td.mig.dirtyCount--;
    td.migPages.set(g, Mig.EXPORTED_BLOCKEDW);
    if (pending) {
      b.frames.push(-1);
      b.macs.push('');
      b.tokens.push(0);
      b.bytes += GPA_ENTRY_BYTES;
    } else {
      const f = septFrame(e);
      const token = m.host.memory.pageToken(f);
      b.frames.push(f);
      b.macs.push(pageMac(td.mig.key, g, token));
      b.tokens.push(token);
      b.bytes += PAGE_SIZE + PAGE_MAC_BYTES + GPA_ENTRY_BYTES;
      full++;
    }
  }
  td.mig.pages += gfns.length;
  if (gfns.length) {
    const g0 = gfns[0];
    const c0 = b.frames[0] >= 0 ? [...sealedBytes(td.mig.key, g0, b.tokens[0], 0, 8)].map((x) => x.toString(16).padStart(2, '0')).join(' ') : '';
    seam(m, td, 'TDH.EXPORT.MEM', { pages: gfns.length, encrypted: full, state_only: gfns.length - full, epoch: ooo ? 'out-of-order' : b.epoch, bytes: b.bytes, first: hex(g0 * PAGE_SIZE), mac0: b.macs[0] },
      `The module exports ${gfns.length} page(s) as one bundle ${ooo ? 'of the out-of-order phase (the TD is paused, so no write block is needed and the destination may import it in any order)' : `of epoch ${b.epoch}`}: a ${MBMD_BYTES}-byte MBMD, then ${full} encrypted 4 KiB page(s) each with a ${PAGE_MAC_BYTES}-byte MAC and an ${GPA_ENTRY_BYTES}-byte GPA entry${gfns.length - full ? `, and ${gfns.length - full} never-accepted (PENDING) page(s) as their GPA entry only` : ''}. The host sees only ciphertext${c0 ? ` (${hex(g0 * PAGE_SIZE)} begins ${c0} …)` : ''}: it cannot tell a page of zeros from any other, so nothing is skipped or compressed.`,
      [Math.min(...gfns), Math.max(...gfns) - Math.min(...gfns) + 1]);
  }
  return { status: abi.TDX_SUCCESS, bundle: b };
}

/** TDH.EXPORT.PAUSE: the TD stops for good on this host (its vCPUs no longer enter). */
export function exportPause(m: TdxModule, td: Td): bigint {
  if (td.mig.phase !== 'export-in-order') return abi.TDX_OP_STATE_INCORRECT;
  td.mig.phase = 'export-paused';
  seam(m, td, 'TDH.EXPORT.PAUSE', { epoch: td.mig.epoch, dirty_count: td.mig.dirtyCount },
    `The module pauses the TD for the blackout: no vCPU of it enters again here. DIRTY_COUNT is ${td.mig.dirtyCount}.`);
  return abi.TDX_SUCCESS;
}

/**
 * TDH.EXPORT.TRACK: close the epoch and start the next (its epoch token goes in the stream). With
 * INORDER_DONE it ends the in-order phase, which needs the TD paused and DIRTY_COUNT 0.
 */
export function exportTrack(m: TdxModule, td: Td, inorderDone: boolean): { status: bigint; epoch: number } {
  const st = td.mig;
  if (st.phase !== 'export-in-order' && st.phase !== 'export-paused') return { status: abi.TDX_OP_STATE_INCORRECT, epoch: st.epoch };
  if (inorderDone && st.phase !== 'export-paused') return { status: abi.TDX_OP_STATE_INCORRECT, epoch: st.epoch };
  if (inorderDone && st.dirtyCount > 0) {
    seam(m, td, 'TDH.EXPORT.TRACK', { inorder_done: 1, status: 'TDX_EXPORTED_DIRTY_PAGES_REMAIN', dirty_count: st.dirtyCount },
      `The in-order phase cannot end: ${st.dirtyCount} exported page(s) were written since and not exported again (DIRTY_COUNT), so the module answers TDX_EXPORTED_DIRTY_PAGES_REMAIN. The host cannot skip a dirty page: the module counts them itself.`);
    return { status: abi.TDX_EXPORTED_DIRTY_PAGES_REMAIN, epoch: st.epoch };
  }
  st.epoch++;
  if (inorderDone) st.phase = 'export-out-of-order';
  seam(m, td, 'TDH.EXPORT.TRACK', { inorder_done: inorderDone ? 1 : 0, epoch: st.epoch, dirty_count: st.dirtyCount },
    inorderDone
      ? `The in-order phase ends (INORDER_DONE): the TD is paused and DIRTY_COUNT is 0, so every exported page is current. The start token goes to the destination.`
      : `Epoch ${st.epoch - 1} is closed and epoch ${st.epoch} begins: its token goes in the stream, so the destination knows which version of a page is the newer.`);
  return { status: abi.TDX_SUCCESS, epoch: st.epoch };
}

/** TDH.EXPORT.ABORT: the migration is abandoned; every page is writable again and the TD may run here. */
export function exportAbort(m: TdxModule, td: Td): bigint {
  if (td.mig.phase === 'none') return abi.TDX_OP_STATE_INCORRECT;
  td.migPages.forEachSet(0, td.maxGfn, (g) => td.migPages.set(g, 0));
  td.mig = noMigration();
  seam(m, td, 'TDH.EXPORT.ABORT', {}, 'The export is aborted: the module drops the write blocks and the TD goes on running on the source.');
  return abi.TDX_SUCCESS;
}

/** TDH.IMPORT.ABORT: the destination drops what it imported; the new TD never runs. */
export function importAbort(m: TdxModule, td: Td): bigint {
  if (td.mig.phase !== 'import-in-order') return abi.TDX_OP_STATE_INCORRECT;
  td.mig = noMigration();
  seam(m, td, 'TDH.IMPORT.ABORT', {}, "The import is aborted: the destination's TD will never run, and the abort token lets the source go on.");
  return abi.TDX_SUCCESS;
}

/**
 * TDH.IMPORT.MEM: check each page's MAC and place it in the destination TD's Secure EPT: a page
 * imported again (a newer version, a later epoch) replaces the older one. `frameFor(gfn)` is the
 * guest_memfd page KVM gives for the GFN.
 */
export function importMem(m: TdxModule, td: Td, b: MigBundle, src: HostMemory, frameFor: (gfn: number) => number): bigint {
  const ooo = td.mig.phase === 'import-out-of-order';
  if (td.mig.phase !== 'import-in-order' && !ooo) return abi.TDX_OP_STATE_INCORRECT;
  const mem = m.host.memory;
  let dropped = 0;
  for (let i = 0; i < b.gfns.length; i++) {
    const g = b.gfns[i];
    const f = b.frames[i];
    if (f >= 0 && pageMac(td.mig.key, g, src.pageToken(f)) !== b.macs[i]) return abi.TDX_INVALID_PAGE_MAC;
    const old = td.sept.get(g);
    const was = septState(old);
    // Out of order, a page already imported stays: the TD may have written it since.
    if (ooo && was !== Sept.FREE) {
      dropped++;
      continue;
    }
    const frame = was === Sept.FREE ? frameFor(g) : septFrame(old);
    if (was === Sept.FREE) m.ensureSeptPages(td, g);
    mem.hkid[frame] = td.hkid;
    if (f >= 0) mem.copyPageFrom(src, f, frame);
    else mem.zero(frame);
    const now = f >= 0 ? Sept.MAPPED : Sept.PENDING;
    td.sept.set(g, septEntry(now, frame));
    if (was === Sept.MAPPED) td.mappedPages--;
    else if (was === Sept.PENDING) td.pendingPages--;
    if (now === Sept.MAPPED) td.mappedPages++;
    else td.pendingPages++;
  }
  td.mig.pages += b.gfns.length - dropped;
  if (dropped) td.mig.duplicates = (td.mig.duplicates ?? 0) + dropped;
  if (b.gfns.length)
    seam(m, td, 'TDH.IMPORT.MEM', { pages: b.gfns.length, epoch: ooo ? 'out-of-order' : b.epoch, first: hex(b.gfns[0] * PAGE_SIZE), ...(dropped ? { dropped } : {}) },
      `The destination's module checks the MAC of each of the ${b.gfns.length} page(s) of the bundle, decrypts them with the migration key, re-encrypts them with this TD's key and maps them in its Secure EPT${ooo ? ` while the TD runs (out of order, after the commit)${dropped ? `; ${dropped} page(s) already here are dropped, the first import stands` : ''}` : ''}.`,
      [Math.min(...b.gfns), Math.max(...b.gfns) - Math.min(...b.gfns) + 1]);
  return abi.TDX_SUCCESS;
}

/** TDH.IMPORT.TRACK: the source's epoch token arrived; pages of older epochs can no longer replace newer ones. */
export function importTrack(m: TdxModule, td: Td, epoch: number): bigint {
  if (td.mig.phase !== 'import-in-order') return abi.TDX_OP_STATE_INCORRECT;
  td.mig.epoch = epoch;
  seam(m, td, 'TDH.IMPORT.TRACK', { epoch }, `The destination's module takes the epoch token: epoch ${epoch} begins here too.`);
  return abi.TDX_SUCCESS;
}

/**
 * TDH.IMPORT.COMMIT: the start token has arrived; the TD may run on the destination. With
 * `outOfOrder` pages are still to come (post-copy): the import stays open (TDH.IMPORT.MEM goes on
 * while the TD runs) until TDH.IMPORT.END.
 */
export function importCommit(m: TdxModule, td: Td, outOfOrder = false): bigint {
  if (td.mig.phase !== 'import-in-order') return abi.TDX_OP_STATE_INCORRECT;
  td.mig.phase = outOfOrder ? 'import-out-of-order' : 'imported';
  td.lifecycle = 'runnable';
  seam(m, td, 'TDH.IMPORT.COMMIT', { pages: td.mig.pages, mapped: td.mappedPages, pending: td.pendingPages, out_of_order: outOfOrder ? 1 : 0 },
    `The destination's module commits the import (${td.mig.pages} page version(s) received, ${td.mappedPages} mapped, ${td.pendingPages} still PENDING): the TD may run here, and the source can no longer go back.${outOfOrder ? ' The rest of its private pages will come out of order while it runs (post-copy): until TDH.IMPORT.END the module still imports them.' : ''}`);
  return abi.TDX_SUCCESS;
}

/** TDH.IMPORT.END: the out-of-order import is over; no page can be imported any more and no abort is possible. */
export function importEnd(m: TdxModule, td: Td): bigint {
  if (td.mig.phase !== 'import-out-of-order') return abi.TDX_OP_STATE_INCORRECT;
  td.mig.phase = 'imported';
  seam(m, td, 'TDH.IMPORT.END', { pages: td.mig.pages, mapped: td.mappedPages, dropped: td.mig.duplicates ?? 0 },
    `The destination's module ends the import: every private page has come (${td.mig.pages} page version(s) in all, ${td.mig.duplicates ?? 0} duplicate(s) dropped). From now on the TD's memory is only here.`);
  return abi.TDX_SUCCESS;
}

