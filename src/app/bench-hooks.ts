/**
 * Measurements the browser benchmark (bench/browser.ts) runs inside the page, with ?debug=1. They use
 * the real renderer and compare it with a baseline measured in the same page, same size, same run.
 */
import { createPageMap } from './render/page-map';
import { MAP_COLORS, pagePalette } from './render/page-palette';

export interface RepaintResult {
  pages: number;
  width: number;
  height: number;
  /** Median ms of a full page-map repaint (palette loop + putImageData). */
  repaintMs: number;
  /** Median ms of a bare putImageData of the same size. */
  putImageDataMs: number;
  ratio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Full repaints of a `pages`-page map with changing states, against bare putImageData. */
export async function benchRepaint(pages: number, reps: number): Promise<RepaintResult> {
  const host = document.createElement('div');
  host.style.cssText = 'position:fixed;left:0;top:0;width:1024px;height:1024px;opacity:0;pointer-events:none';
  const canvas = document.createElement('canvas');
  const overlay = document.createElement('canvas');
  for (const c of [canvas, overlay]) {
    c.style.cssText = 'position:absolute;left:0;top:0;width:1024px;height:1024px';
    host.appendChild(c);
  }
  document.body.appendChild(host);
  const map = createPageMap(canvas, overlay);
  const colors = MAP_COLORS.light;
  const palette = pagePalette('light');
  const states = [0, 1, 2].map((k) => {
    const a = new Uint8Array(pages);
    for (let i = 0; i < pages; i++) a[i] = (i * 7 + k * 13 + (i >> 10)) % 8;
    return a;
  });
  const memslots = [[0, pages, 0]] as const;
  // Warm up both paths.
  for (let i = 0; i < 3; i++) map.update(states[i % 3], { palette, colors, memslots });
  const cols = map.columns();
  const w = cols;
  const h = Math.ceil(pages / cols);
  const bare = document.createElement('canvas');
  bare.width = w;
  bare.height = h;
  const bctx = bare.getContext('2d')!;
  const img = bctx.createImageData(w, h);
  const words = new Uint32Array(img.data.buffer);
  const repaint: number[] = [];
  const put: number[] = [];
  for (let r = 0; r < reps; r++) {
    map.update(states[r % 3], { palette, colors, memslots });
    repaint.push(map.stats.paintMs);
    words[r % words.length] ^= 0xffffff;
    const t0 = performance.now();
    bctx.putImageData(img, 0, 0);
    put.push(performance.now() - t0);
    await new Promise((res) => setTimeout(res, 0));
  }
  map.destroy();
  host.remove();
  const repaintMs = median(repaint);
  const putImageDataMs = median(put);
  return { pages, width: w, height: h, repaintMs, putImageDataMs, ratio: repaintMs / putImageDataMs };
}

/** Count animation frames and store updates over `ms` while the lab plays. */
export async function measureFps(ms: number, framesApplied: () => number): Promise<{ fps: number; labFramesPerSecond: number }> {
  let frames = 0;
  let running = true;
  const tick = () => {
    frames++;
    if (running) requestAnimationFrame(tick);
  };
  const f0 = framesApplied();
  const t0 = performance.now();
  requestAnimationFrame(tick);
  await new Promise((res) => setTimeout(res, ms));
  running = false;
  const dt = (performance.now() - t0) / 1000;
  return { fps: frames / dt, labFramesPerSecond: (framesApplied() - f0) / dt };
}
