/**
 * The guest page map: one cell per guest page (GFN), coloured by page state (src/sim/inspect.ts).
 *
 * A plain factory, `createPageMap(canvas, overlay, options) → { update, setHighlight, ..., destroy }`,
 * bound to React in one effect (React never owns the d3 behaviour; cf. xyflow's XYPanZoom). Two
 * canvases, as excalidraw does: the static one holds the page image, the memslot brackets and the
 * GPA axis; the overlay holds hover, selection and the pages of the selected trace event. Each is
 * redrawn at most once per animation frame, and only when something it shows changed.
 *
 * The pages are painted into an image canvas of one pixel per page (a palette lookup per state code,
 * put band by band: palette-image.ts; a 4 GiB guest is 1,048,576 pages, so no object and no fillRect
 * per page), laid out `cols` pages per row; the visible canvas draws that image scaled by the d3-zoom
 * transform with smoothing off, so that zoomed in each page is a crisp cell. Hit-testing is arithmetic
 * through the inverse transform.
 */
import { select } from 'd3-selection';
import { zoom, zoomIdentity, type D3ZoomEvent, type ZoomTransform } from 'd3-zoom';
import { createPaletteImage } from './palette-image';

const PAGE_SIZE = 4096;
/** Gutters (CSS px) for the GPA axis on the left and the memslot brackets on the right. */
const AXIS_W = 66;
const SLOT_W = 58;
const PAD = 6;
/** The largest zoom: a page is this many CSS px wide. */
const MAX_CELL_PX = 64;
/** Below this cell size the selection is drawn as a ring so that one page still shows. */
const MIN_MARK_PX = 10;
const FONT = '14px system-ui, -apple-system, "Segoe UI", sans-serif';

export interface PageMapColors {
  /** Canvas background (the panel). */
  bg: string;
  /** Text, memslot brackets, marks. */
  fg: string;
  /** Axis text. */
  muted: string;
  /** The hatching of "no memslot" pages and the cell grid. */
  line: string;
  /** The outline of the selected trace event's pages. */
  accent: string;
}

export interface PageMapUpdate {
  /** One colour word per state code (see page-palette.ts). A new array repaints the image. */
  palette: Uint32Array;
  colors: PageMapColors;
  /** [first GFN, page count, slot id] of each memslot. */
  memslots: readonly (readonly [number, number, number])[];
  /** What the states were computed from: the same version as last time means unchanged (no diff needed). */
  version?: string;
  /** The pages [from, to) that may differ from the previous update's (absent: any of them). */
  dirty?: readonly [number, number];
}

export interface PageMapOptions {
  /** The pointer is over a page (x, y in CSS px from the canvas's top-left), or over none. */
  onHover?: (gfn: number | null, x: number, y: number) => void;
  /** A click without a drag on a page. */
  onSelect?: (gfn: number) => void;
  /** Pages per row for a guest of `count` pages (default: a power of two near √count, 64..1024). */
  columnsFor?: (count: number) => number;
}

export interface PageMapStats {
  /** Cost of the last image repaint (palette loop + putImageData), ms. */
  paintMs: number;
  /** Of which the last full repaint's putImageData, ms. */
  putMs: number;
  /** Cost of the last static-canvas draw (scaled image, grid, axis), ms. */
  drawMs: number;
  paints: number;
}

export interface PageMap {
  /** New page states. Re-lays out only when the page count changes; repaints only when states or palette changed. */
  update(states: Uint8Array, opts: PageMapUpdate): void;
  /** Outline the pages [first, first+count) (the selected trace event's), or none. */
  setHighlight(range: readonly [number, number] | null): void;
  setSelection(gfn: number | null): void;
  setHover(gfn: number | null): void;
  /** Ring these pages (the migration panel's recent post-copy faults), or none: drawn on the overlay, over the states. */
  setMarks(gfns: readonly number[]): void;
  /** Zoom by a factor around the selected page (else the centre). */
  zoomBy(factor: number): void;
  /** Back to the whole guest fitted to the canvas. */
  resetZoom(): void;
  /** Pan (and zoom in to at least `minCellPx`) so that a page is in view. */
  reveal(gfn: number, minCellPx?: number): void;
  /** The page under a point given in CSS px from the canvas's top-left, or null. */
  gfnAt(x: number, y: number): number | null;
  /** Where a page's cell is drawn, in CSS px from the canvas's top-left. */
  cellRect(gfn: number): { x: number; y: number; size: number };
  columns(): number;
  readonly stats: PageMapStats;
  destroy(): void;
}

/** A power of two near √count, so that a row is a round GPA range; 64..1024 pages per row. */
export function defaultColumns(count: number): number {
  const c = 2 ** Math.round(Math.log2(Math.sqrt(Math.max(1, count))));
  return Math.min(1024, Math.max(64, c));
}

export function createPageMap(canvas: HTMLCanvasElement, overlay: HTMLCanvasElement, options: PageMapOptions = {}): PageMap {
  const ctx = canvas.getContext('2d', { alpha: false });
  const octx = overlay.getContext('2d');
  if (!ctx || !octx) throw new Error('the page map needs a 2D canvas context');
  const image = document.createElement('canvas');
  const ictx = image.getContext('2d')!;
  // The axis and slot labels scale with the root font size as the rest of the UI does (presenter
  // mode: ui-scale.ts), read when the map is made (presenter mode makes its panels anew).
  const rootPx = typeof getComputedStyle === 'function' ? parseFloat(getComputedStyle(document.documentElement).fontSize) : NaN;
  const scale = Number.isFinite(rootPx) && rootPx > 16 ? rootPx / 16 : 1;
  const axisW = Math.round(AXIS_W * scale), slotW = Math.round(SLOT_W * scale);
  const font = FONT.replace('14px', `${Math.round(14 * scale * 10) / 10}px`);
  const columnsFor = options.columnsFor ?? defaultColumns;

  // Layout and image.
  let count = -1;
  let cols = 64;
  let rows = 1;
  /** The image's pixels come from the states it last painted (kept to repaint only on change: shared arrays are updated in place). */
  const img = createPaletteImage();
  let states: Uint8Array = new Uint8Array(0);
  let palette: Uint32Array | null = null;
  let colors: PageMapColors = { bg: '#fff', fg: '#000', muted: '#444', line: '#ccc', accent: '#1747b5' };
  let memslots: PageMapUpdate['memslots'] = [];
  let hatch: CanvasPattern | null = null;

  // View.
  let width = 0;
  let height = 0;
  let dpr = 1;
  let t: ZoomTransform = zoomIdentity;
  let fitted = true;
  let selected: number | null = null;
  let hover: number | null = null;
  let highlight: readonly [number, number] | null = null;
  let marks: readonly number[] = [];

  // Frame scheduling: each canvas at most once per animation frame.
  let imageDirty = false;
  /** New states arrived: compare them with the painted ones at the next frame, in pages [scanFrom, scanTo). */
  let diffPending = false;
  let scanFrom = 0;
  let scanTo = 0;
  let version: string | undefined;
  let staticDirty = false;
  /** Only these image rows changed (first, last): the static canvas is redrawn in their band. */
  let staticRows: [number, number] | null = null;
  let overlayDirty = false;
  let raf = 0;
  const stats: PageMapStats = { paintMs: 0, putMs: 0, drawMs: 0, paints: 0 };

  const sel = select(overlay);
  const behaviour = zoom<HTMLCanvasElement, unknown>()
    .clickDistance(4)
    .on('zoom', (e: D3ZoomEvent<HTMLCanvasElement, unknown>) => {
      t = e.transform;
      if (e.sourceEvent) fitted = false;
      overlay.dataset.k = String(t.k);
      overlay.dataset.x = String(t.x);
      overlay.dataset.y = String(t.y);
      staticDirty = overlayDirty = true;
      schedule();
    });
  sel.call(behaviour);

  const viewport = (): [[number, number], [number, number]] => [[axisW, PAD], [Math.max(axisW + 1, width - slotW), Math.max(PAD + 1, height - PAD)]];
  const fitScale = () => {
    const [[x0, y0], [x1, y1]] = viewport();
    return Math.min((x1 - x0) / cols, (y1 - y0) / rows);
  };
  const fitTransform = () => {
    const [[x0, y0], [x1, y1]] = viewport();
    const k = fitScale();
    return zoomIdentity.translate(x0 + (x1 - x0 - cols * k) / 2, y0 + (y1 - y0 - rows * k) / 2).scale(k);
  };
  const configureZoom = () => {
    const k = fitScale();
    behaviour.extent(viewport()).translateExtent([[0, 0], [cols, rows]]).scaleExtent([k, Math.max(k, MAX_CELL_PX)]);
    if (fitted || t.k < k) behaviour.transform(sel, fitTransform());
  };

  function schedule(): void {
    if (!raf) raf = requestAnimationFrame(frame);
  }

  function frame(): void {
    raf = 0;
    if (imageDirty) paint();
    else if (diffPending) paintChanges();
    if (staticDirty) drawStatic();
    else if (staticRows) drawStatic(staticRows);
    staticRows = null;
    if (overlayDirty) drawOverlay();
  }

  function relayout(n: number): void {
    count = n;
    cols = columnsFor(n);
    rows = Math.max(1, Math.ceil(n / cols));
    image.width = cols;
    image.height = rows;
    // Cells past the last page stay transparent: the "no memslot" hatching shows there.
    img.layout(cols, rows, n);
    overlay.dataset.cols = String(cols);
    overlay.dataset.count = String(n);
    configureZoom();
  }

  /** The full repaint (new layout or palette): every page looked up and put, band by band. */
  function paint(): void {
    imageDirty = false;
    diffPending = false;
    scanFrom = scanTo = 0;
    if (count < 0 || !palette) return;
    const t0 = performance.now();
    // Page-state codes are below 16 (page-palette.ts), what the SIMD lookup needs.
    img.paintAll(ictx, states, palette, true);
    stats.putMs = img.putMs;
    finishPaint(t0, null);
  }

  /**
   * A new frame's states: compare with what is painted, a word (four pages) at a time, in the range
   * the worker said may have changed; repaint only the pages that changed, put only the rows they are
   * in, and redraw the visible canvas only in their band. A running guest changes a few rows a frame:
   * a full repaint (even the SIMD one) and a full redraw of a million-page image at every display
   * frame cost the page several times more.
   */
  function paintChanges(): void {
    diffPending = false;
    if (count < 0 || !palette) return;
    // A change over much of the map (a new scenario, a bulk conversion) is cheaper as the SIMD full
    // repaint than as a compare in JavaScript.
    if (img.simd && scanTo - scanFrom > count / 4) return paint();
    const t0 = performance.now();
    const rowsChanged = img.paintChanges(ictx, states, scanFrom, scanTo, palette, true);
    scanFrom = scanTo = 0;
    if (!rowsChanged) return;
    finishPaint(t0, rowsChanged);
  }

  function finishPaint(t0: number, rows: [number, number] | null): void {
    stats.paintMs = performance.now() - t0;
    stats.paints++;
    if (!rows) staticDirty = true;
    else staticRows = staticRows ? [Math.min(staticRows[0], rows[0]), Math.max(staticRows[1], rows[1])] : rows;
  }

  function resize(): void {
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    const d = window.devicePixelRatio || 1;
    if (w === width && h === height && d === dpr) return;
    width = w;
    height = h;
    dpr = d;
    for (const c of [canvas, overlay]) {
      c.width = Math.max(1, Math.round(w * d));
      c.height = Math.max(1, Math.round(h * d));
    }
    if (count >= 0) configureZoom();
    staticDirty = overlayDirty = true;
    schedule();
  }
  const observer = new ResizeObserver(resize);
  observer.observe(canvas);

  function makeHatch(): CanvasPattern | null {
    const p = document.createElement('canvas');
    p.width = p.height = 8;
    const c = p.getContext('2d')!;
    c.fillStyle = colors.bg;
    c.fillRect(0, 0, 8, 8);
    c.strokeStyle = colors.line;
    c.lineWidth = 1.25;
    c.beginPath();
    c.moveTo(-2, 10);
    c.lineTo(10, -2);
    c.moveTo(6, 10);
    c.lineTo(10, 6);
    c.moveTo(-2, 2);
    c.lineTo(2, -2);
    c.stroke();
    return ctx!.createPattern(p, 'repeat');
  }

  /** Visible rows and columns (world units) of the viewport. */
  function visible(): { c0: number; c1: number; r0: number; r1: number } {
    const [[x0, y0], [x1, y1]] = viewport();
    const [a, b] = t.invert([x0, y0]);
    const [c, d] = t.invert([x1, y1]);
    return {
      c0: Math.max(0, Math.floor(a)), c1: Math.min(cols, Math.ceil(c)),
      r0: Math.max(0, Math.floor(b)), r1: Math.min(rows, Math.ceil(d)),
    };
  }

  /**
   * Draw the static canvas: whole, or (rows given) only the band of those image rows inside the
   * viewport: the same drawing under a clip, so the band matches a full redraw pixel for pixel.
   */
  function drawStatic(rows?: [number, number]): void {
    staticDirty = false;
    if (width === 0 || !ctx) return;
    const t0 = performance.now();
    const c = ctx;
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (rows) {
      const [[vx0, vy0], [vx1, vy1]] = viewport();
      const y0 = Math.max(vy0 - PAD, Math.floor(t.y + rows[0] * t.k) - 2);
      const y1 = Math.min(vy1 + PAD, Math.ceil(t.y + (rows[1] + 1) * t.k) + 2);
      if (y1 <= y0 || count <= 0) return;
      c.save();
      c.beginPath();
      c.rect(Math.floor(vx0), y0, Math.ceil(vx1) - Math.floor(vx0), y1 - y0);
      c.clip();
      drawStaticClipped(c);
      c.restore();
    } else drawStaticClipped(c);
    stats.drawMs = performance.now() - t0;
  }

  function drawStaticClipped(c: CanvasRenderingContext2D): void {
    c.fillStyle = colors.bg;
    c.fillRect(0, 0, width, height);
    if (count <= 0) return;
    const [[vx0, vy0], [vx1, vy1]] = viewport();
    c.save();
    c.beginPath();
    c.rect(vx0, 0, vx1 - vx0, height);
    c.clip();
    // The hatching behind the image: "no memslot" pages are transparent in it.
    const ix = t.x, iy = t.y, iw = cols * t.k, ih = rows * t.k;
    if (hatch) {
      c.fillStyle = hatch;
      c.fillRect(ix, iy, iw, ih);
    }
    c.setTransform(dpr * t.k, 0, 0, dpr * t.k, dpr * t.x, dpr * t.y);
    c.imageSmoothingEnabled = false;
    c.drawImage(image, 0, 0);
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    const v = visible();
    // A grid between cells once a page is big enough to be a cell.
    if (t.k >= 6) {
      c.strokeStyle = colors.bg;
      c.lineWidth = t.k >= 16 ? 1.5 : 1;
      c.beginPath();
      for (let col = v.c0; col <= v.c1; col++) {
        const x = Math.round(t.x + col * t.k) + 0.5;
        c.moveTo(x, t.y + v.r0 * t.k);
        c.lineTo(x, t.y + v.r1 * t.k);
      }
      for (let row = v.r0; row <= v.r1; row++) {
        const y = Math.round(t.y + row * t.k) + 0.5;
        c.moveTo(t.x + v.c0 * t.k, y);
        c.lineTo(t.x + v.c1 * t.k, y);
      }
      c.stroke();
    }
    // Memslot boundaries: a staircase where a slot starts or ends in the middle of a row.
    c.beginPath();
    for (const [first, n] of memslots) {
      for (const g of [first, first + n]) if (g > 0 && g < count) boundary(c, g);
    }
    c.lineJoin = 'round';
    c.strokeStyle = colors.bg;
    c.lineWidth = 5;
    c.stroke();
    c.strokeStyle = colors.fg;
    c.lineWidth = 2;
    c.stroke();
    c.restore();

    c.font = font;
    c.textBaseline = 'middle';
    // The GPA axis: row starts at a power-of-two step of rows, at least 22 px (scaled) apart.
    let step = 1;
    while (step * t.k < 22 * scale) step *= 2;
    c.fillStyle = colors.muted;
    c.strokeStyle = colors.muted;
    c.lineWidth = 1;
    c.textAlign = 'right';
    const axisX = Math.max(vx0, ix) - 4;
    c.beginPath();
    for (let row = Math.ceil(v.r0 / step) * step; row <= v.r1; row += step) {
      const y = iy + row * t.k;
      // Every row labelled: the label sits in the row it names; else on the line where the row starts.
      const ty = step === 1 ? (row < rows ? y + t.k / 2 : -1) : y;
      if (ty < vy0 - 1 || ty > vy1 + 1) continue;
      if (y >= vy0 - 1 && y <= vy1 + 1) {
        c.moveTo(axisX, Math.round(y) + 0.5);
        c.lineTo(axisX + 4, Math.round(y) + 0.5);
      }
      c.fillText(formatGpa(row * cols * PAGE_SIZE), axisX - 3, Math.min(vy1 - 7, Math.max(vy0 + 7, ty)));
    }
    c.stroke();
    // Memslot brackets on the right, with the slot number.
    c.textAlign = 'left';
    const bx = Math.min(vx1, ix + iw) + 6;
    for (const [first, n, id] of memslots) {
      const ya = Math.max(vy0, iy + Math.floor(first / cols) * t.k);
      const yb = Math.min(vy1, iy + Math.ceil((first + n) / cols) * t.k);
      if (yb <= ya) continue;
      c.strokeStyle = colors.fg;
      c.lineWidth = 2;
      c.beginPath();
      c.moveTo(bx, ya + 1);
      c.lineTo(bx + 5, ya + 1);
      c.moveTo(bx, ya + 1);
      c.lineTo(bx, yb - 1);
      c.lineTo(bx + 5, yb - 1);
      c.stroke();
      if (yb - ya >= 16) {
        c.fillStyle = colors.fg;
        c.fillText(`slot ${id}`, bx + 8, (ya + yb) / 2);
      }
    }
  }

  /** Add the path of the boundary before page g: up the left edge of its cell, along the row lines. */
  function boundary(c: CanvasRenderingContext2D, g: number): void {
    const r = Math.floor(g / cols);
    const col = g % cols;
    const X = (x: number) => t.x + x * t.k;
    const Y = (y: number) => t.y + y * t.k;
    if (col === 0) {
      c.moveTo(X(0), Y(r));
      c.lineTo(X(cols), Y(r));
      return;
    }
    c.moveTo(X(0), Y(r + 1));
    c.lineTo(X(col), Y(r + 1));
    c.lineTo(X(col), Y(r));
    c.lineTo(X(cols), Y(r));
  }

  function drawOverlay(): void {
    overlayDirty = false;
    if (width === 0 || !octx) return;
    const c = octx;
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, width, height);
    if (count <= 0) return;
    const [[vx0], [vx1]] = viewport();
    c.save();
    c.beginPath();
    c.rect(vx0 - 12, 0, vx1 - vx0 + 24, height);
    c.clip();
    if (highlight && highlight[1] > 0) {
      const [first, n] = highlight;
      const last = Math.min(count, first + n) - 1;
      if (last >= first) {
        c.beginPath();
        for (const [x, y, w, h] of rangeRects(first, last)) {
          // At the overview a one-page event is still a visible box.
          const sx = t.x + x * t.k, sy = t.y + y * t.k;
          let sw = w * t.k, sh = h * t.k;
          const grow = (m: number, s: number) => (s < m ? (m - s) / 2 : 0);
          const gx = grow(8, sw), gy = grow(8, sh);
          sw += 2 * gx;
          sh += 2 * gy;
          c.rect(sx - gx, sy - gy, sw, sh);
        }
        c.fillStyle = withAlpha(colors.accent, 0.22);
        c.fill();
        c.lineWidth = 5;
        c.strokeStyle = colors.bg;
        c.setLineDash([]);
        c.stroke();
        c.lineWidth = 2.5;
        c.strokeStyle = colors.accent;
        c.setLineDash([6, 4]);
        c.stroke();
        c.setLineDash([]);
      }
    }
    for (const g of marks) ring(c, g);
    if (hover !== null && hover !== selected) mark(c, hover, false);
    if (selected !== null) mark(c, selected, true);
    c.restore();
  }

  /** A marked page: a ring around its cell, big enough to be seen at the overview, haloed to read on any colour. */
  function ring(c: CanvasRenderingContext2D, gfn: number): void {
    if (gfn < 0 || gfn >= count) return;
    const { x, y, size } = cellRect(gfn);
    c.setLineDash([]);
    c.beginPath();
    c.arc(x + size / 2, y + size / 2, Math.max(6, size * 0.75), 0, 2 * Math.PI);
    c.lineWidth = 5;
    c.strokeStyle = colors.bg;
    c.stroke();
    c.lineWidth = 2.5;
    c.strokeStyle = colors.fg;
    c.stroke();
  }

  /** A page's mark: its cell outlined, or a ring around it when cells are tiny. */
  function mark(c: CanvasRenderingContext2D, gfn: number, strong: boolean): void {
    if (gfn < 0 || gfn >= count) return;
    const { x, y, size } = cellRect(gfn);
    c.setLineDash([]);
    if (size >= MIN_MARK_PX) {
      c.lineWidth = strong ? 6 : 4;
      c.strokeStyle = colors.bg;
      c.strokeRect(x, y, size, size);
      c.lineWidth = strong ? 3 : 2;
      c.strokeStyle = colors.fg;
      c.strokeRect(x, y, size, size);
      return;
    }
    const cx = x + size / 2, cy = y + size / 2;
    const r = strong ? 9 : 7;
    c.beginPath();
    c.arc(cx, cy, r, 0, 2 * Math.PI);
    if (strong) {
      // Crosshair ticks so that the selected page is found at a glance at the overview.
      c.moveTo(cx - r - 8, cy);
      c.lineTo(cx - r - 2, cy);
      c.moveTo(cx + r + 2, cy);
      c.lineTo(cx + r + 8, cy);
      c.moveTo(cx, cy - r - 8);
      c.lineTo(cx, cy - r - 2);
      c.moveTo(cx, cy + r + 2);
      c.lineTo(cx, cy + r + 8);
    }
    c.lineWidth = strong ? 5 : 4;
    c.strokeStyle = colors.bg;
    c.stroke();
    c.lineWidth = strong ? 2.5 : 1.5;
    c.strokeStyle = colors.fg;
    c.stroke();
  }

  /** The range [first, last] as at most three rectangles (world units): a partial row, full rows, a partial row. */
  function rangeRects(first: number, last: number): [number, number, number, number][] {
    const r0 = Math.floor(first / cols), c0 = first % cols;
    const r1 = Math.floor(last / cols), c1 = last % cols;
    if (r0 === r1) return [[c0, r0, c1 - c0 + 1, 1]];
    const out: [number, number, number, number][] = [[c0, r0, cols - c0, 1]];
    if (r1 > r0 + 1) out.push([0, r0 + 1, cols, r1 - r0 - 1]);
    out.push([0, r1, c1 + 1, 1]);
    return out;
  }

  function cellRect(gfn: number): { x: number; y: number; size: number } {
    return { x: t.x + (gfn % cols) * t.k, y: t.y + Math.floor(gfn / cols) * t.k, size: t.k };
  }

  function gfnAt(x: number, y: number): number | null {
    const [[x0, y0], [x1, y1]] = viewport();
    if (x < x0 || x > x1 || y < y0 - PAD || y > y1 + PAD) return null;
    const [wx, wy] = t.invert([x, y]);
    const col = Math.floor(wx), row = Math.floor(wy);
    if (col < 0 || col >= cols || row < 0 || row >= rows) return null;
    const g = row * cols + col;
    return g < count ? g : null;
  }

  const local = (e: MouseEvent): [number, number] => {
    const r = overlay.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  };
  const onMove = (e: PointerEvent) => {
    const [x, y] = local(e);
    const g = gfnAt(x, y);
    options.onHover?.(g, x, y);
  };
  const onLeave = () => options.onHover?.(null, 0, 0);
  const onClick = (e: MouseEvent) => {
    const g = gfnAt(...local(e));
    if (g !== null) options.onSelect?.(g);
  };
  overlay.addEventListener('pointermove', onMove);
  overlay.addEventListener('pointerleave', onLeave);
  overlay.addEventListener('click', onClick);

  return {
    stats,
    update(next, opts) {
      if (opts.colors !== colors && !sameColors(opts.colors, colors)) {
        colors = opts.colors;
        hatch = makeHatch();
        staticDirty = overlayDirty = true;
      }
      if (opts.memslots !== memslots) {
        memslots = opts.memslots;
        staticDirty = true;
      }
      if (next.length !== count) {
        relayout(next.length);
        imageDirty = true;
      }
      if (opts.palette !== palette) {
        palette = opts.palette;
        imageDirty = true;
      }
      const unchanged = opts.version !== undefined && opts.version === version && next === states && !imageDirty;
      version = opts.version;
      states = next;
      if (!unchanged) {
        // Widen the range to compare: what this update says changed, or everything.
        const [a, b] = opts.dirty ?? [0, next.length];
        if (a < b) {
          scanFrom = scanFrom < scanTo ? Math.min(scanFrom, a) : a;
          scanTo = Math.max(scanTo, b);
          diffPending = true;
        }
      }
      schedule();
    },
    setHighlight(range) {
      const same = range === highlight || (range && highlight && range[0] === highlight[0] && range[1] === highlight[1]);
      if (same) return;
      highlight = range;
      overlayDirty = true;
      schedule();
    },
    setMarks(gfns) {
      if (gfns.length === marks.length && gfns.every((g, i) => g === marks[i])) return;
      marks = gfns.slice();
      overlayDirty = true;
      schedule();
    },
    setSelection(gfn) {
      if (gfn === selected) return;
      selected = gfn;
      overlayDirty = true;
      schedule();
    },
    setHover(gfn) {
      if (gfn === hover) return;
      hover = gfn;
      overlayDirty = true;
      schedule();
    },
    zoomBy(factor) {
      fitted = false;
      const p = selected !== null ? cellRect(selected) : null;
      behaviour.scaleBy(sel, factor, p ? [p.x + p.size / 2, p.y + p.size / 2] : undefined);
    },
    resetZoom() {
      fitted = true;
      behaviour.transform(sel, fitTransform());
    },
    reveal(gfn, minCellPx = 0) {
      if (gfn < 0 || gfn >= count) return;
      const cx = (gfn % cols) + 0.5, cy = Math.floor(gfn / cols) + 0.5;
      if (t.k < minCellPx) {
        fitted = false;
        behaviour.scaleTo(sel, Math.min(MAX_CELL_PX, minCellPx));
        behaviour.translateTo(sel, cx, cy);
        return;
      }
      const { x, y, size } = cellRect(gfn);
      const [[x0, y0], [x1, y1]] = viewport();
      if (x < x0 || y < y0 || x + size > x1 || y + size > y1) {
        fitted = false;
        behaviour.translateTo(sel, cx, cy);
      }
    },
    gfnAt,
    cellRect,
    columns: () => cols,
    destroy() {
      cancelAnimationFrame(raf);
      observer.disconnect();
      behaviour.on('zoom', null);
      sel.on('.zoom', null);
      overlay.removeEventListener('pointermove', onMove);
      overlay.removeEventListener('pointerleave', onLeave);
      overlay.removeEventListener('click', onClick);
    },
  };
}

function sameColors(a: PageMapColors, b: PageMapColors): boolean {
  return a.bg === b.bg && a.fg === b.fg && a.muted === b.muted && a.line === b.line && a.accent === b.accent;
}

/** "#rrggbb" with an alpha; other colour syntaxes are returned as they are. */
function withAlpha(css: string, a: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(css.trim());
  if (!m) return css;
  const v = parseInt(m[1], 16);
  return `rgba(${(v >> 16) & 255}, ${(v >> 8) & 255}, ${v & 255}, ${a})`;
}

/** Axis labels: "0", "512 KiB", "1.5 MiB", "4 GiB". */
export function formatGpa(bytes: number): string {
  if (bytes === 0) return '0';
  const units: [number, string][] = [[2 ** 40, 'TiB'], [2 ** 30, 'GiB'], [2 ** 20, 'MiB'], [2 ** 10, 'KiB']];
  for (const [u, name] of units) {
    if (bytes >= u) return `${Number((bytes / u).toFixed(2))} ${name}`;
  }
  return `${bytes} B`;
}
