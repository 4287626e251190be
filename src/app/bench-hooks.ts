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
  /** Median ms of the putImageData inside those repaints (the rest is the palette lookup). */
  repaintPutMs: number;
  /** Median ms of a bare putImageData of the same size. */
  putImageDataMs: number;
  ratio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Full repaints of a `pages`-page map with changing states, against bare putImageData. The states
 * are scattered (every page differs from its neighbours: the worst case), or, given `sample`, a real
 * guest's map and two copies of it with a page in every 4,096 changed.
 */
export async function benchRepaint(pages: number, reps: number, sample?: Uint8Array): Promise<RepaintResult> {
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
    if (sample) {
      a.set(sample.subarray(0, pages));
      for (let i = k * 977; i < pages; i += 4096) a[i] = (a[i] + k) % 8;
    } else for (let i = 0; i < pages; i++) a[i] = (i * 7 + k * 13 + (i >> 10)) % 8;
    return a;
  });
  const memslots = [[0, pages, 0]] as const;
  const frame = () => new Promise((res) => requestAnimationFrame(res));
  /** Update the map and wait for the repaint it makes at an animation frame. */
  const repaintOnce = async (a: Uint8Array) => {
    const paints = map.stats.paints;
    map.update(a, { palette, colors, memslots });
    while (map.stats.paints === paints) await frame();
  };
  // Warm up both paths (the first repaints run before V8 optimised the code).
  for (let i = 0; i < 6; i++) await repaintOnce(states[i % 3]);
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
  const repaintPut: number[] = [];
  const put: number[] = [];
  for (let i = 0; i < 6; i++) bctx.putImageData(img, 0, 0);
  for (let r = 0; r < reps; r++) {
    // Each repetition is one real repaint (the map paints at an animation frame).
    await repaintOnce(states[r % 3]);
    repaint.push(map.stats.paintMs);
    repaintPut.push(map.stats.putMs);
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
  return { pages, width: w, height: h, repaintMs, repaintPutMs: median(repaintPut), putImageDataMs, ratio: repaintMs / putImageDataMs };
}

export interface Progress {
  playing: boolean;
  instructions: number;
  events: number;
}

export interface FpsResult {
  fps: number;
  labFramesPerSecond: number;
  /** How long was measured (ms): up to the limit, or until the guests stopped. */
  windowMs: number;
  instructionsPerSecond: number;
  eventsPerSecond: number;
}

/**
 * Count animation frames and store updates for up to `ms`, while the lab plays: the window ends
 * early when the guests stop (a finished run repaints nothing), and says how long it was.
 */
export async function measureFps(ms: number, framesApplied: () => number, progress?: () => Progress): Promise<FpsResult> {
  let frames = 0;
  let running = true;
  let end = 0;
  const f0 = framesApplied();
  const p0 = progress?.();
  const t0 = performance.now();
  let p1 = p0;
  let f1 = f0;
  await new Promise<void>((done) => {
    const tick = (now: number) => {
      if (!running) return;
      frames++;
      const p = progress?.();
      if (now - t0 >= ms || (p && !p.playing)) {
        running = false;
        end = now;
        p1 = p;
        f1 = framesApplied();
        done();
        return;
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const dt = (end - t0) / 1000;
  return {
    fps: frames / dt,
    labFramesPerSecond: (f1 - f0) / dt,
    windowMs: end - t0,
    instructionsPerSecond: p0 && p1 ? (p1.instructions - p0.instructions) / dt : 0,
    eventsPerSecond: p0 && p1 ? (p1.events - p0.events) / dt : 0,
  };
}
