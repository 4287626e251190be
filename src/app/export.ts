/**
 * Export from the UI: the trace (JSON in the report's shape, CSV), the whole report as the CLI prints
 * it, and figures (a page map as PNG at its zoom, the migration chart as SVG and PNG). Files reach the
 * user through an `<a download>` on a Blob URL (no inline script, no data: URL; CSP-safe).
 *
 * What can be exported depends on what is on screen (the trace panel's filtered rows, a page map's
 * canvas, the chart's SVG), so the panels register a source per store while they are mounted, and
 * the action registry's export entries (actions.ts) look it up.
 */
import type { SimEvent } from '../sim/core/trace';
import type { TraceReport } from '../sim/scenario/report';
import { REPORT_FORMAT, REPORT_VERSION, reportJson } from '../sim/view-model';
import type { LabState, LabStore } from './store';
import type { VmRef } from './vm-ref';

// ---------------------------------------------------------------------------------------------
// The trace as text

/** The CSV's columns: the report's event fields (docs/scenario-format.md, "events"), flattened. */
export const CSV_COLUMNS = ['seq', 't_ns', 'host', 'vm', 'vcpu', 'layer', 'name', 'text', 'args', 'gfn_first', 'gfn_count'] as const;

/** One CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a quote, CR or LF. */
export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The events as CSV (RFC 4180): a header row, one record per event, CRLF after every record. */
export function traceCsv(events: readonly SimEvent[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const e of events) {
    lines.push([
      e.seq, e.t, e.host, e.vm, e.vcpu, e.layer, e.name, e.text,
      Object.keys(e.args).length ? JSON.stringify(e.args) : '',
      e.gfns?.[0], e.gfns?.[1],
    ].map(csvField).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

/** What a trace export says about the scenario it came from. */
export interface TraceMeta {
  title: string;
  seed: number;
  /** Which events these are (the panel's filter, what it did not keep). */
  notes: string[];
}

/** The events in the report's shape: `format`, `version`, `title`, `seed`, `notes` and `events`, as `npm run sim` prints them. */
export function traceReport(meta: TraceMeta, events: readonly SimEvent[]): TraceReport {
  return { format: REPORT_FORMAT, version: REPORT_VERSION, title: meta.title, seed: meta.seed, notes: meta.notes, events: events.slice() };
}

/** A report's text as a file: the CLI's stdout (`npm run sim -- preset > file`), which ends with a line break. */
export function reportFile(json: string): string {
  return json.endsWith('\n') ? json : `${json}\n`;
}

/** The trace as a JSON file in the report's shape. */
export function traceJson(meta: TraceMeta, events: readonly SimEvent[]): string {
  return reportFile(reportJson(traceReport(meta, events)));
}

/** The scenario's title and seed (what the store keeps of the loaded scenario; defaults if it has none). */
export function scenarioMeta(s: Pick<LabState, 'scenario'>): { title: string; seed: number } {
  const sc = (s.scenario ?? {}) as { title?: unknown; seed?: unknown };
  return { title: typeof sc.title === 'string' ? sc.title : 'untitled', seed: typeof sc.seed === 'number' ? sc.seed : 0 };
}

/**
 * A file name's start: the preset's id, else the scenario's title, in lower case with runs of other
 * characters as one hyphen ("shared-buffer", "imported-my-lab").
 */
export function fileBase(s: Pick<LabState, 'source' | 'scenario'>): string {
  const from = s.source && !s.source.startsWith('imported') ? s.source : scenarioMeta(s).title;
  return slug(from) || 'lab';
}

export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60).replace(/-+$/, '');
}

// ---------------------------------------------------------------------------------------------
// Saving a file

/**
 * Save `blob` as `name`: a click on an `<a download>` with a Blob URL. The URL is revoked a minute
 * later (revoked at once, a browser may not have started reading it).
 */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export const saveText = (text: string, name: string, type: string) => saveBlob(new Blob([text], { type }), name);

// ---------------------------------------------------------------------------------------------
// Figures

function toPng(canvas: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the browser could not encode the PNG'))), 'image/png'));
}

/**
 * Canvases stacked in order (a page map's picture, then its overlay with the selection and the
 * highlighted pages) as one PNG, pixel for pixel as shown: at the map's current zoom and pan.
 */
export function canvasPng(layers: readonly HTMLCanvasElement[], background: string | null = null): Promise<Blob> {
  const base = layers[0];
  const out = document.createElement('canvas');
  out.width = base.width;
  out.height = base.height;
  const g = out.getContext('2d');
  if (!g) return Promise.reject(new Error('no 2D canvas to draw the PNG on'));
  if (background) {
    g.fillStyle = background;
    g.fillRect(0, 0, out.width, out.height);
  }
  for (const c of layers) if (c.width > 0 && c.height > 0) g.drawImage(c, 0, 0, out.width, out.height);
  return toPng(out);
}

const SVG_NS = 'http://www.w3.org/2000/svg';
/** The properties that decide how an SVG element looks, copied from the page's CSS onto the exported copy. */
const SVG_STYLE = ['fill', 'fill-opacity', 'stroke', 'stroke-width', 'stroke-dasharray', 'stroke-opacity', 'stroke-linecap', 'stroke-linejoin',
  'opacity', 'font-family', 'font-size', 'font-weight', 'font-style', 'text-anchor', 'dominant-baseline', 'visibility', 'display'] as const;

const transparent = (c: string) => c === 'transparent' || /^rgba\(.*,\s*0\)$/.test(c);

/** The colour behind an element: its own background, else the nearest ancestor's. */
function backgroundOf(el: Element): string {
  for (let e: Element | null = el; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (!transparent(c)) return c;
  }
  return '#ffffff';
}

function inlineStyles(from: Element, to: Element): void {
  const cs = getComputedStyle(from);
  to.setAttribute('style', SVG_STYLE.map((p) => `${p}:${cs.getPropertyValue(p)}`).join(';'));
  to.removeAttribute('class');
  for (let i = 0; i < from.children.length; i++) inlineStyles(from.children[i], to.children[i]);
}

/** The words of a text node grouped by the line the browser put them on, each with where it starts. */
function textLines(node: Text, origin: DOMRect): { text: string; x: number; y: number }[] {
  const text = node.data;
  const range = document.createRange();
  const lines: { text: string; x: number; y: number; top: number }[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    range.setStart(node, m.index);
    range.setEnd(node, m.index + m[0].length);
    const r = range.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const line = lines.at(-1);
    if (line && Math.abs(line.top - r.top) < r.height / 2) line.text += ` ${m[0]}`;
    else lines.push({ text: m[0], x: r.left - origin.left, y: r.top - origin.top + r.height / 2, top: r.top });
  }
  return lines;
}

/**
 * A figure drawn in HTML and SVG (the migration chart: its caption, its d3-scaled SVG panels and their
 * legends) as one standalone SVG document laid out as the page shows it: every SVG with the page's
 * CSS inlined, every line of text where the browser put it, legend swatches as rectangles.
 */
export function figureSvg(figure: Element): { svg: string; width: number; height: number } {
  const origin = figure.getBoundingClientRect();
  const width = Math.ceil(origin.width), height = Math.ceil(origin.height);
  const out = document.createElementNS(SVG_NS, 'svg');
  out.setAttribute('xmlns', SVG_NS);
  out.setAttribute('width', String(width));
  out.setAttribute('height', String(height));
  out.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const label = figure.querySelector('figcaption')?.textContent?.trim();
  if (label) {
    const title = document.createElementNS(SVG_NS, 'title');
    title.textContent = label;
    out.append(title);
  }
  const bg = document.createElementNS(SVG_NS, 'rect');
  bg.setAttribute('width', '100%');
  bg.setAttribute('height', '100%');
  bg.setAttribute('fill', backgroundOf(figure));
  out.append(bg);

  const walk = (el: Element) => {
    const cs = getComputedStyle(el);
    if (cs.display === 'none' || cs.visibility === 'hidden') return;
    const r = el.getBoundingClientRect();
    if (el instanceof SVGSVGElement) {
      const copy = el.cloneNode(true) as SVGSVGElement;
      inlineStyles(el, copy);
      copy.setAttribute('x', String(r.left - origin.left));
      copy.setAttribute('y', String(r.top - origin.top));
      copy.removeAttribute('role');
      out.append(copy);
      return;
    }
    // A box with a background or a border and no text: a legend's swatch (a line key is its top border).
    if (!el.textContent?.trim() && r.width > 0 && r.height > 0) {
      const fill = cs.backgroundColor, line = parseFloat(cs.borderTopWidth) > 0 && cs.borderTopStyle !== 'none';
      if (!transparent(fill) || line) {
        const box = document.createElementNS(SVG_NS, 'rect');
        box.setAttribute('x', String(r.left - origin.left));
        box.setAttribute('y', String(r.top - origin.top));
        box.setAttribute('width', String(r.width));
        box.setAttribute('height', String(r.height));
        box.setAttribute('fill', transparent(fill) ? 'none' : fill);
        if (line) {
          box.setAttribute('stroke', cs.borderTopColor);
          box.setAttribute('stroke-width', cs.borderTopWidth);
          if (cs.borderTopStyle === 'dashed') box.setAttribute('stroke-dasharray', '4 3');
          if (cs.borderTopStyle === 'dotted') box.setAttribute('stroke-dasharray', '1 2');
        }
        out.append(box);
      }
    }
    for (const child of el.childNodes) {
      if (child instanceof Element) walk(child);
      else if (child instanceof Text && child.data.trim()) {
        for (const line of textLines(child, origin)) {
          const t = document.createElementNS(SVG_NS, 'text');
          t.setAttribute('x', line.x.toFixed(1));
          t.setAttribute('y', line.y.toFixed(1));
          t.setAttribute('dominant-baseline', 'central');
          t.setAttribute('style', `fill:${cs.color};font-family:${cs.fontFamily};font-size:${cs.fontSize};font-weight:${cs.fontWeight};white-space:pre`);
          t.textContent = line.text;
          out.append(t);
        }
      }
    }
  };
  walk(figure);
  return { svg: `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(out)}\n`, width, height };
}

/** An SVG document drawn onto a canvas at `scale` (2: sharp on a projector or in slides) as PNG. */
export async function svgPng(svg: string, width: number, height: number, scale = 2): Promise<Blob> {
  const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = Math.round(width * scale);
    c.height = Math.round(height * scale);
    const g = c.getContext('2d');
    if (!g) throw new Error('no 2D canvas to draw the PNG on');
    g.drawImage(img, 0, 0, c.width, c.height);
    return await toPng(c);
  } finally {
    URL.revokeObjectURL(url);
  }
}

// ---------------------------------------------------------------------------------------------
// What the panels on screen offer

/** The trace panel's rows (its filter applied) and a sentence per thing a reader should know about them. */
export type TraceSource = () => { events: readonly SimEvent[]; notes: string[] };
/** A page map: its VM and its canvases (picture, then overlay). */
export interface MapSource { ref: VmRef | null; name: string; canvases: () => HTMLCanvasElement[] }
/** The migration chart's figure element. */
export interface ChartSource { name: string; figure: () => Element | null }

interface Sources {
  trace: TraceSource | null;
  maps: Set<MapSource>;
  charts: Set<ChartSource>;
}

const registry = new WeakMap<LabStore, Sources>();

function sources(store: LabStore): Sources {
  let s = registry.get(store);
  if (!s) registry.set(store, (s = { trace: null, maps: new Set(), charts: new Set() }));
  return s;
}

/** The trace panel offers its rows while mounted; returns the call that withdraws them. */
export function offerTrace(store: LabStore, source: TraceSource): () => void {
  sources(store).trace = source;
  return () => {
    if (sources(store).trace === source) sources(store).trace = null;
  };
}

export function offerMap(store: LabStore, source: MapSource): () => void {
  sources(store).maps.add(source);
  return () => void sources(store).maps.delete(source);
}

export function offerChart(store: LabStore, source: ChartSource): () => void {
  sources(store).charts.add(source);
  return () => void sources(store).charts.delete(source);
}

export const traceSource = (store: LabStore) => sources(store).trace;
/** The page map of `prefer` (the focused VM) if one is shown, else the first one shown (a guest's before a host's frame map). */
export function mapSource(store: LabStore, prefer: VmRef | null): MapSource | null {
  const maps = [...sources(store).maps];
  return maps.find((m) => prefer && m.ref && m.ref.host === prefer.host && m.ref.vm === prefer.vm) ?? maps.find((m) => m.ref) ?? maps[0] ?? null;
}
/** The newest migration's chart (the first one mounted: the panel shows the newest first). */
export const chartSource = (store: LabStore) => sources(store).charts.values().next().value ?? null;

// ---------------------------------------------------------------------------------------------
// The exports, as the action registry and the panels' buttons call them

export function exportTraceCsv(store: LabStore): boolean {
  const src = traceSource(store);
  if (!src) return false;
  saveText(traceCsv(src().events), `${fileBase(store.getState())}-trace.csv`, 'text/csv');
  return true;
}

export function exportTraceJson(store: LabStore): boolean {
  const src = traceSource(store);
  if (!src) return false;
  const { events, notes } = src();
  saveText(traceJson({ ...scenarioMeta(store.getState()), notes }, events), `${fileBase(store.getState())}-trace.json`, 'application/json');
  return true;
}

/** The whole report of the run so far, as `npm run sim` prints it (the worker builds it from its Lab). */
export async function exportReport(store: LabStore, report: () => Promise<string | null | undefined>): Promise<boolean> {
  const text = await report();
  if (!text) return false;
  saveText(reportFile(text), `${fileBase(store.getState())}-report.json`, 'application/json');
  return true;
}

export async function exportMapPng(store: LabStore, map: MapSource | null = mapSource(store, store.getState().focusVm)): Promise<boolean> {
  if (!map) return false;
  const canvases = map.canvases();
  if (!canvases.length || canvases[0].width === 0) return false;
  // On the page's background (the canvas leaves the space around the map transparent).
  saveBlob(await canvasPng(canvases, backgroundOf(canvases[0])), `${fileBase(store.getState())}-${slug(map.name)}.png`);
  return true;
}

export function exportChartSvg(store: LabStore, chart: ChartSource | null = chartSource(store)): boolean {
  const el = chart?.figure();
  if (!chart || !el) return false;
  saveText(figureSvg(el).svg, `${fileBase(store.getState())}-${slug(chart.name)}.svg`, 'image/svg+xml');
  return true;
}

export async function exportChartPng(store: LabStore, chart: ChartSource | null = chartSource(store)): Promise<boolean> {
  const el = chart?.figure();
  if (!chart || !el) return false;
  const { svg, width, height } = figureSvg(el);
  saveBlob(await svgPng(svg, width, height), `${fileBase(store.getState())}-${slug(chart.name)}.png`);
  return true;
}
