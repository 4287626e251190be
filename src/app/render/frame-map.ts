/**
 * The host frame map: one pixel per host physical frame, coloured by owner through a palette.
 *
 * A plain factory, `createFrameMap(canvas, options) → { update, destroy, ... }`, bound to React in one
 * effect. The frames are painted into an offscreen canvas with one palette lookup per owner code, put
 * band by band (palette-image.ts; a 16 GiB host has 4,194,304 frames; no object per frame), then the visible canvas draws that image
 * scaled to the panel with the current pan and zoom, plus the selection and hover marks on top.
 * Hit-testing is arithmetic: pointer → image pixel → frame number.
 */
import { createPaletteImage } from './palette-image';

export interface FrameMapView {
  /** Owner code per host frame (FramePacket.hostOwners). */
  owners: Uint8Array;
  /** First frame shown and how many. */
  first: number;
  count: number;
  /** One colour per owner code, as 0xAABBGGRR (the byte order of ImageData on little-endian machines). */
  palette: Uint32Array;
  /** Frame outlined as selected, or null. */
  selected: number | null;
  /** Colours of the selection mark: an outer and an inner stroke, so it shows on any cell colour. */
  markOuter: string;
  markInner: string;
  /** The highest owner code present: below 16, a full repaint can use the SIMD palette lookup. */
  maxCode: number;
}

export interface FrameMapOptions {
  /** The pointer is over a frame (or over nothing: null). */
  onHover?: (frame: number | null) => void;
  /** A click (without dragging) on a frame. */
  onSelect?: (frame: number) => void;
}

export interface FrameMap {
  /**
   * Change what is drawn. A new range or palette repaints the image; new owners (or, with
   * `ownersChanged`, the same array updated in place) repaint only the frames that changed.
   */
  update(view: Partial<FrameMapView>, ownersChanged?: boolean): void;
  /** Zoom by a factor around the centre (the keyboard's and the buttons' zoom). */
  zoomBy(factor: number): void;
  /** Back to the whole range fitted to the canvas. */
  resetZoom(): void;
  /** Pan so that a frame's cell is visible. */
  reveal(frame: number): void;
  /** Frames per row of the current layout (for keyboard navigation). */
  columns(): number;
  /** The current zoom factor (1 = the whole range fits). */
  zoom(): number;
  destroy(): void;
}

const MAX_CELL_PX = 24;
const MIN_MARK_PX = 9;

export function createFrameMap(canvas: HTMLCanvasElement, options: FrameMapOptions = {}): FrameMap {
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('the frame map needs a 2D canvas context');
  const image = document.createElement('canvas');
  const imageCtx = image.getContext('2d')!;

  let view: FrameMapView = {
    owners: new Uint8Array(0), first: 0, count: 0, palette: new Uint32Array(256), selected: null,
    markOuter: '#fff', markInner: '#000', maxCode: 255,
  };
  let cols = 1;
  let rows = 1;
  /** The canvas's CSS size (kept by the ResizeObserver below). */
  let cssW = Math.max(1, canvas.clientWidth);
  let cssH = Math.max(1, canvas.clientHeight);
  /** Pan and zoom on top of the fitted layout (d3-zoom's {k, x, y}, in CSS pixels). */
  let t = { k: 1, x: 0, y: 0 };
  let hover: number | null = null;
  let raf = 0;
  let imageDirty = true;
  /** The owners changed but nothing else: patch the image instead of repainting it. */
  let contentDirty = false;
  /** The image: the owner codes it shows (to find what changed) and their lookup. */
  const img = createPaletteImage();

  /**
   * Frames per row for n frames: the multiple of 64 (a row starts at a 256 KiB boundary, so row
   * starts are round HPAs) that gives the largest cells for the canvas's shape; and the rows.
   */
  function fit(n: number): [number, number] {
    let best = Math.min(n, 64);
    let bestScale = 0;
    if (n > 64) {
      const ideal = Math.sqrt((n * cssW) / cssH);
      const lo = Math.max(64, Math.floor(ideal / 2 / 64) * 64);
      const hi = Math.min(Math.ceil(n / 64) * 64, Math.ceil((ideal * 2) / 64) * 64);
      for (let c = lo; c <= hi; c += 64) {
        const scale = Math.min(cssW / c, cssH / Math.ceil(n / c));
        if (scale > bestScale) {
          bestScale = scale;
          best = c;
        }
      }
    }
    return [best, Math.ceil(n / best)];
  }

  /** The canvas's size (from the ResizeObserver, so a draw forces no layout) and the image's layout. */
  function layout(): void {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(cssW * dpr);
    const h = Math.round(cssH * dpr);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const [c, r] = fit(Math.max(1, view.count));
    if (c !== cols || r !== rows) imageDirty = true;
    cols = c;
    rows = r;
  }

  /** The scale at zoom 1 (CSS px per frame) and the top-left corner of the fitted image. */
  function base(): { s: number; ox: number; oy: number } {
    const s = Math.min(cssW / cols, cssH / rows, MAX_CELL_PX);
    return { s, ox: (cssW - cols * s) / 2, oy: 0 };
  }

  /** The full repaint (new layout, range or palette): one palette lookup per frame, put band by band. */
  function paintImage(): void {
    imageDirty = false;
    contentDirty = false;
    // The range grows while guests fault memory in, and each new layout is a full repaint. A
    // repaint into a fresh canvas or fresh memory costs tens of milliseconds (the first put into a
    // new backing store, the first touch of new pages), one into warm memory about a putImageData.
    // So the image canvas and the image's codes are sized once for the largest range (all of host
    // memory) and reused; the image is drawn from its top-left cols × rows.
    const { owners, first, palette } = view;
    const total = Math.max(owners.length, view.count);
    if (image.width < cols || image.height < rows) {
      const [tc, tr] = fit(total);
      image.width = Math.min(16384, Math.max(cols, tc, image.width));
      image.height = Math.min(16384, Math.max(rows, tr, image.height));
    }
    const n = Math.max(0, Math.min(view.count, owners.length - first));
    // Frames past n (a range beyond the owners known) are transparent.
    img.layout(cols, rows, n, total);
    img.paintAll(imageCtx, owners.subarray(first, first + n), palette, view.maxCode < 16);
  }

  /** New owners, same layout: repaint only the frames whose owner changed, put only their rows. */
  function patchImage(): void {
    contentDirty = false;
    const { owners, first, palette } = view;
    const n = Math.max(0, Math.min(view.count, owners.length - first));
    if (img.rows !== rows || img.cols !== cols || img.count !== n) return paintImage();
    img.paintChanges(imageCtx, owners.subarray(first, first + n), 0, n, palette, view.maxCode < 16);
  }

  function cellRect(frame: number): { x: number; y: number; s: number } | null {
    const i = frame - view.first;
    if (i < 0 || i >= view.count) return null;
    const { s, ox, oy } = base();
    const S = s * t.k;
    return { x: t.x + t.k * ox + (i % cols) * S, y: t.y + t.k * oy + Math.floor(i / cols) * S, s: S };
  }

  function mark(frame: number | null, outer: string, inner: string, dashed: boolean): void {
    if (frame === null) return;
    const c = cellRect(frame);
    if (!c) return;
    const size = Math.max(MIN_MARK_PX, c.s + 4);
    const x = c.x + c.s / 2 - size / 2;
    const y = c.y + c.s / 2 - size / 2;
    ctx!.setLineDash(dashed ? [3, 2] : []);
    ctx!.lineWidth = 3;
    ctx!.strokeStyle = outer;
    ctx!.strokeRect(x, y, size, size);
    ctx!.lineWidth = 1.5;
    ctx!.strokeStyle = inner;
    ctx!.strokeRect(x, y, size, size);
    ctx!.setLineDash([]);
  }

  function draw(): void {
    raf = 0;
    layout();
    if (imageDirty) paintImage();
    else if (contentDirty) patchImage();
    const dpr = canvas.width / cssW;
    ctx!.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx!.clearRect(0, 0, cssW, cssH);
    ctx!.imageSmoothingEnabled = false;
    const { s, ox, oy } = base();
    ctx!.drawImage(image, 0, 0, cols, rows, t.x + t.k * ox, t.y + t.k * oy, cols * s * t.k, rows * s * t.k);
    mark(hover !== view.selected ? hover : null, view.markOuter, view.markInner, true);
    mark(view.selected, view.markOuter, view.markInner, false);
  }

  function schedule(): void {
    if (!raf) raf = requestAnimationFrame(draw);
  }

  function frameAt(clientX: number, clientY: number): number | null {
    const r = canvas.getBoundingClientRect();
    const { s, ox, oy } = base();
    const S = s * t.k;
    const cx = Math.floor((clientX - r.left - t.x - t.k * ox) / S);
    const cy = Math.floor((clientY - r.top - t.y - t.k * oy) / S);
    if (cx < 0 || cx >= cols || cy < 0 || cy >= rows) return null;
    const i = cy * cols + cx;
    return i < view.count ? view.first + i : null;
  }

  function maxZoom(): number {
    return Math.max(1, MAX_CELL_PX / base().s);
  }

  function zoomAround(px: number, py: number, factor: number): void {
    const k = Math.min(maxZoom(), Math.max(1, t.k * factor));
    if (k === 1) t = { k: 1, x: 0, y: 0 };
    else t = { k, x: px - ((px - t.x) * k) / t.k, y: py - ((py - t.y) * k) / t.k };
    schedule();
  }

  const onWheel = (e: WheelEvent) => {
    e.preventDefault();
    const r = canvas.getBoundingClientRect();
    zoomAround(e.clientX - r.left, e.clientY - r.top, Math.exp(-e.deltaY * (e.deltaMode ? 0.05 : 0.002)));
  };

  let drag: { x: number; y: number; tx: number; ty: number; moved: boolean; id: number } | null = null;
  const onDown = (e: PointerEvent) => {
    if (e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY, tx: t.x, ty: t.y, moved: false, id: e.pointerId };
  };
  const onMove = (e: PointerEvent) => {
    if (drag && e.pointerId === drag.id) {
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) > 4 && t.k > 1) {
        drag.moved = true;
        canvas.setPointerCapture(e.pointerId);
      }
      if (drag.moved) {
        t = { ...t, x: drag.tx + dx, y: drag.ty + dy };
        schedule();
        return;
      }
    }
    const f = frameAt(e.clientX, e.clientY);
    if (f !== hover) {
      hover = f;
      options.onHover?.(f);
      schedule();
    }
  };
  const onUp = (e: PointerEvent) => {
    if (!drag || e.pointerId !== drag.id) return;
    const wasDrag = drag.moved;
    drag = null;
    if (wasDrag) return;
    const f = frameAt(e.clientX, e.clientY);
    if (f !== null) options.onSelect?.(f);
  };
  const onLeave = () => {
    if (drag?.moved) return;
    if (hover !== null) {
      hover = null;
      options.onHover?.(null);
      schedule();
    }
  };

  canvas.addEventListener('wheel', onWheel, { passive: false });
  canvas.addEventListener('pointerdown', onDown);
  canvas.addEventListener('pointermove', onMove);
  canvas.addEventListener('pointerup', onUp);
  canvas.addEventListener('pointerleave', onLeave);
  const resize = new ResizeObserver(([e]) => {
    cssW = Math.max(1, e.contentRect.width);
    cssH = Math.max(1, e.contentRect.height);
    schedule();
  });
  resize.observe(canvas);

  return {
    update(next, ownersChanged = false) {
      const rangeChanged = (next.first !== undefined && next.first !== view.first) || (next.count !== undefined && next.count !== view.count);
      if (rangeChanged) t = { k: 1, x: 0, y: 0 };
      if (rangeChanged || (next.palette && next.palette !== view.palette)) imageDirty = true;
      else if (ownersChanged || (next.owners && next.owners !== view.owners)) contentDirty = true;
      view = { ...view, ...next };
      schedule();
    },
    zoomBy(factor) {
      zoomAround(cssW / 2, cssH / 2, factor);
    },
    resetZoom() {
      t = { k: 1, x: 0, y: 0 };
      schedule();
    },
    reveal(frame) {
      const c = cellRect(frame);
      if (!c || t.k === 1) return;
      let { x, y } = t;
      if (c.x < 0) x -= c.x - 8;
      else if (c.x + c.s > cssW) x -= c.x + c.s - cssW + 8;
      if (c.y < 0) y -= c.y - 8;
      else if (c.y + c.s > cssH) y -= c.y + c.s - cssH + 8;
      t = { ...t, x, y };
      schedule();
    },
    columns: () => cols,
    zoom: () => t.k,
    destroy() {
      cancelAnimationFrame(raf);
      resize.disconnect();
      canvas.removeEventListener('wheel', onWheel);
      canvas.removeEventListener('pointerdown', onDown);
      canvas.removeEventListener('pointermove', onMove);
      canvas.removeEventListener('pointerup', onUp);
      canvas.removeEventListener('pointerleave', onLeave);
    },
  };
}
