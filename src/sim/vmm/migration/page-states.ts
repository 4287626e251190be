/**
 * The migration panel's page states (core/migration-page-state.ts), derived from what the machine
 * already keeps per page — nothing is recorded per page for the view:
 *
 * - the migration's bitmap (`bmap`, 1 bit a page: still to send), its scan position and status;
 * - what the dirty log holds since the last sync: KVM's per-memslot bitmap (KVM_GET_DIRTY_LOG's
 *   source), or with a dirty ring the entries still on the vCPUs' rings plus the reaper's bitmap;
 * - both hosts' page tables (is the page present in the VMM's RAM mapping?) and the source page's
 *   content token or bytes (is it a page of zeros, as save_zero_page() decides?).
 *
 * From these, for page p after the setup sync:
 *   bmap set:   dst has it → "dirty since the last sync" (sent before), else "not sent yet";
 *   bmap clear: in the batch on the link → "being sent"; logged since → "sent, dirtied again";
 *               a page of zeros → "sent as zero page"; else "sent, clean".
 * The destination: present → "arrived" (or "stale" when the source is dirty again); absent →
 * "arrived as zero" once sent (a zero page allocates nothing there), else "awaiting".
 *
 * A TD's private pages (a migration with a `td` path) are never zero pages and arrive in the
 * destination's guest_memfd: sent means out of bmap; in bmap after the first round means dirty again.
 * A software-protected VM's private pages are read from guest_memfd on both hosts (private-postcopy.ts).
 *
 * Two limits of deriving rather than recording, both rare: a page sent as zero and written later
 * looks "not sent yet" until it is sent again, and "being sent" is the pages just behind the scan
 * position, as many as the link has in flight (a batch's pages are dirty pages in scan order).
 *
 * A viewer keeps its arrays: `update` recomputes only the chunks (PAGED_CHUNK pages) whose inputs
 * changed, found by a hash of their bitmap and dirty-log words, and reports the range it touched.
 */
import { MigrationPageState as S } from '../../core/migration-page-state';
import { PAGED_CHUNK } from '../../core/paged-array';
import { PAGE_SIZE } from '../../core/units';
import type { VmmVm } from '../vmm';
import type { MigrationThread } from './migration';

/** What a viewer holds of one migration: both maps, per-state counts, and what each chunk was computed from. */
export interface MigrationPageView {
  src: Uint8Array;
  dst: Uint8Array;
  /** Pages per state code (index = code), both sides. */
  counts: Uint32Array;
  /** Per chunk, the hash of its inputs when last computed (NaN: never). */
  sigs: Float64Array;
  /** The thread the arrays were computed for (a restore may make the migration again). */
  thread: MigrationThread | null;
  /** Scratch: the dirty log as one bitmap over the RAM block's pages. */
  logged: Uint32Array;
}

export function newMigrationPageView(npages: number): MigrationPageView {
  const chunks = Math.ceil(npages / PAGED_CHUNK);
  const v: MigrationPageView = {
    src: new Uint8Array(npages), dst: new Uint8Array(npages), counts: new Uint32Array(16),
    sigs: new Float64Array(chunks).fill(NaN), thread: null, logged: new Uint32Array(Math.ceil(npages / 32)),
  };
  v.src.fill(S.SRC_UNSENT);
  v.dst.fill(S.DST_AWAITING);
  v.counts[S.SRC_UNSENT] = npages;
  v.counts[S.DST_AWAITING] = npages;
  return v;
}

/** The dirty log since the last sync, as one bitmap over the migration's pages (cleared first). */
function collectLogged(src: VmmVm, out: Uint32Array): void {
  out.fill(0);
  const set = (p: number) => {
    if (p >>> 5 < out.length) out[p >>> 5] |= 1 << (p & 31);
  };
  const vm = src.vm;
  for (const b of src.ram) {
    const first = b.gmemOffset / PAGE_SIZE;
    const n = b.size / PAGE_SIZE;
    const slot = vm.slots.get(b.slot);
    const words: Uint32Array[] = [];
    if (slot?.dirtyBitmap) words.push(slot.dirtyBitmap);
    const reaped = src.dirtyRing.dirtyBmap.get(b.slot);
    if (reaped) words.push(reaped);
    for (const w of words) {
      if (first % 32 === 0) {
        const base = first >>> 5;
        for (let i = 0; i < w.length && i * 32 < n; i++) out[base + i] |= w[i];
      } else {
        for (let i = 0; i < n; i++) if ((w[i >>> 5] >>> (i & 31)) & 1) set(first + i);
      }
    }
  }
  // With a dirty ring: the entries KVM pushed that QEMU has not collected yet.
  if (!src.dirtyRing.enabled) return;
  for (const v of vm.vcpus) {
    const ring = v.dirtyRing;
    if (!ring.enabled) continue;
    for (let k = ring.resetIndex; k < ring.dirtyIndex; k++) {
      const i = k % ring.size;
      if (!(ring.flagsAt(i) & 1)) continue;
      const slotId = ring.slotAt(i) & 0xffff;
      const b = src.ram.find((r) => r.slot === slotId);
      if (b) set(b.gmemOffset / PAGE_SIZE + ring.offsetAt(i));
    }
  }
}

const STATUS_CODE: Record<string, number> = {
  setup: 1, active: 2, device: 3, completed: 4, failed: 5, cancelling: 6, cancelled: 7,
  'postcopy-active': 8, 'postcopy-paused': 9, 'postcopy-recover-setup': 10, 'postcopy-recover': 11,
};

/** The destination's post-copy page state (postcopy.ts PC_*) as a map code. */
const PC_CODE = [S.DST_PC_MISSING, S.DST_ARRIVED, S.DST_PC_REQUESTED, S.DST_PC_BACKGROUND, S.DST_PC_FAULT, S.DST_PC_ZERO];

/** A page of zeros as save_zero_page() decides it: nothing behind it, or no stored bytes and token 0, or stored zeros. */
function isZeroPage(v: VmmVm, frame: number): boolean {
  if (frame < 0) return true;
  const m = v.host.memory;
  return m.peek(frame) === undefined ? m.pageToken(frame) === 0 : m.storedBytesZero(frame);
}

/** Frames behind pages [a, b) of a VMM's RAM block (-1: not present), into `out`. */
function framesOf(v: VmmVm, a: number, b: number, out: Int32Array): void {
  // By page index (Process.pageIndex()): no 47-bit address per page, no callback.
  const base = v.process.pageIndex(v.ram[0].hva - v.ram[0].gmemOffset);
  for (let p = a; p < b; p++) out[p - a] = v.process.lookupIndex(base + p);
}

const srcFrames = new Int32Array(PAGED_CHUNK);
const dstFrames = new Int32Array(PAGED_CHUNK);

/**
 * Bring `view` up to date with migration `m`; `inFlightPages` is how many pages of its RAM batches
 * the link carries now. Returns the pages [from, to) that may have changed (from = to: none).
 */
export function updateMigrationPageView(m: MigrationThread, view: MigrationPageView, inFlightPages: number): { from: number; to: number } {
  const n = m.npages;
  if (view.src.length !== n) throw new Error(`migration page view: ${view.src.length} pages, the migration has ${n}`);
  const { src } = m.vmms;
  if (view.thread !== m) {
    view.thread = m;
    view.sigs.fill(NaN);
  }
  // The setup's first sync filled bmap (a migration that failed in its setup, as upstream's TD one does, never did).
  const started = m.stats.dirtySyncCount > 0;
  collectLogged(src, view.logged);
  // The batch on the link: the last `inFlightPages` sent pages behind the scan position.
  let sendFrom = m.scan;
  if (started && inFlightPages > 0) {
    let left = inFlightPages;
    for (let p = m.scan - 1; p >= 0 && left > 0; p--) {
      sendFrom = p;
      if (!((m.bmap[p >>> 5] >>> (p & 31)) & 1)) left--;
    }
  }
  const sendTo = inFlightPages > 0 ? m.scan : sendFrom;
  const status = STATUS_CODE[m.status] ?? 0;
  const postcopy = isPostcopyMap(m);
  let from = n;
  let to = 0;
  const chunks = Math.ceil(n / PAGED_CHUNK);
  for (let ci = 0; ci < chunks; ci++) {
    const a = ci * PAGED_CHUNK;
    const b = Math.min(n, a + PAGED_CHUNK);
    // The chunk's inputs: its bitmap and dirty-log words, the status, and the batch range within it.
    let h = status * 0x9e3779b1;
    if (started) {
      for (let w = a >>> 5; w < (b + 31) >>> 5; w++) {
        h = Math.imul(h ^ m.bmap[w], 0x01000193) >>> 0;
        h = Math.imul(h ^ view.logged[w], 0x01000193) >>> 0;
      }
    }
    // In post-copy the destination's own per-page state: its chunk's change count.
    if (postcopy) h = Math.imul(h ^ (m.incoming.chunkVersion[ci] + 1), 0x01000193) >>> 0;
    const sa = Math.max(a, sendFrom);
    const sb = Math.min(b, sendTo);
    const sig = h + (sa < sb ? (sa - a + 1) * 2 ** 32 + (sb - a) * 2 ** 45 : 0);
    if (sig === view.sigs[ci]) continue;
    view.sigs[ci] = sig;
    computeChunk(m, view, a, b, started, sendFrom, sendTo);
    from = Math.min(from, a);
    to = Math.max(to, b);
  }
  if (to <= from) from = to = 0;
  return { from, to };
}

/** The destination has applied the discard bitmap: its map shows post-copy's own states from then on. */
function isPostcopyMap(m: MigrationThread): boolean {
  const ph = m.incoming.phase;
  return m.incoming.page.length === m.npages && ph !== 'none' && ph !== 'advise';
}

function computeChunk(m: MigrationThread, view: MigrationPageView, a: number, b: number, started: boolean, sendFrom: number, sendTo: number): void {
  const { src, dst } = m.vmms;
  const c = view.counts;
  const so = view.src;
  const dO = view.dst;
  for (let p = a; p < b; p++) {
    c[so[p]]--;
    c[dO[p]]--;
  }
  if (!started) {
    so.fill(S.SRC_UNSENT, a, b);
    dO.fill(S.DST_AWAITING, a, b);
  } else {
    framesOf(src, a, b, srcFrames);
    framesOf(dst, a, b, dstFrames);
    const bm = m.bmap;
    const log = view.logged;
    const td = m.td;
    // After the switch to post-copy the source is stopped: a page in bmap is only here (never sent,
    // or its copy on the destination was discarded), and its dirty log no longer changes.
    const pcSource = m.pc.switched;
    for (let p = a; p < b; p++) {
      const inBmap = (bm[p >>> 5] >>> (p & 31)) & 1;
      const logged = pcSource ? 0 : (log[p >>> 5] >>> (p & 31)) & 1;
      if (pcSource && inBmap) {
        so[p] = S.SRC_UNSENT;
        continue;
      }
      if (td?.owns(p)) {
        // A TD's private page goes through the TDX module as ciphertext (td-export.ts): never a zero
        // page, and the destination's copy is in its guest_memfd, not in the VMM's page tables. Before
        // the first sync closed a round, a page still in bmap has not been sent; after, it is dirty again.
        if (inBmap) {
          const again = m.rounds.length > 0;
          so[p] = again ? S.SRC_DIRTY : S.SRC_UNSENT;
          dO[p] = again ? S.DST_STALE : S.DST_AWAITING;
        } else {
          so[p] = p >= sendFrom && p < sendTo ? S.SRC_SENDING : logged ? S.SRC_REDIRTIED : S.SRC_CLEAN;
          dO[p] = logged ? S.DST_STALE : S.DST_ARRIVED;
        }
        continue;
      }
      // A software-protected VM's private page lives in guest_memfd on both hosts, not in the VMM's page tables.
      const priv = m.priv !== null && m.priv.owns(p);
      if (priv) {
        srcFrames[p - a] = m.priv!.srcFrame(p);
        dstFrames[p - a] = m.priv!.dstFrame(p);
      }
      const there = dstFrames[p - a] >= 0;
      if (inBmap) {
        so[p] = there ? S.SRC_DIRTY : S.SRC_UNSENT;
        dO[p] = there ? S.DST_STALE : S.DST_AWAITING;
        continue;
      }
      const zero = !logged && isZeroPage(src, srcFrames[p - a]);
      so[p] = p >= sendFrom && p < sendTo ? S.SRC_SENDING : logged ? S.SRC_REDIRTIED : zero ? S.SRC_ZERO : S.SRC_CLEAN;
      dO[p] = logged ? S.DST_STALE : there ? S.DST_ARRIVED : S.DST_ZERO;
    }
  }
  if (started && isPostcopyMap(m)) {
    // The destination's own post-copy states (a page skipped above gets its code here).
    const pc = m.incoming.page;
    for (let p = a; p < b; p++) dO[p] = PC_CODE[pc[p]];
  }
  for (let p = a; p < b; p++) {
    c[so[p]]++;
    c[dO[p]]++;
  }
}
