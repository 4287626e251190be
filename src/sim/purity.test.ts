/**
 * src/sim must stay pure and deterministic (DESIGN.md, principles 1 and 2): no React, react-dom,
 * zustand, d3 or comlink, no Node built-ins, no wall clock, no unseeded randomness, no DOM. ESLint
 * has a rule for this; this test is the belt to its braces. It reads every non-test source file under
 * src/sim through Vite's import.meta.glob (so the test itself needs no node: import).
 */
import { describe, expect, it } from 'vitest';

const sources = import.meta.glob(['./**/*.ts', '!./**/*.test.ts'], { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

const FORBIDDEN_MODULE = /^(?:react|react-dom|zustand|d3|comlink)(?:\/|$)|^d3-|^react-|^node:/;
const FORBIDDEN_CODE: [RegExp, string][] = [
  [/\bDate\s*\.\s*now\b/, 'Date.now'],
  [/\bnew\s+Date\b/, 'new Date'],
  [/\bMath\s*\.\s*random\b/, 'Math.random'],
  [/(?<![\w$.])window\s*\./, 'window.'],
  [/(?<![\w$.])document\s*\./, 'document.'],
];

/** Remove comments and the contents of string and template literals, keeping import specifiers. */
function codeOnly(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    const n = src[i + 1];
    if (c === '/' && n === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && n === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      out += c + c;
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Every module specifier a file imports or re-exports (static, dynamic or require). */
function importsOf(src: string): string[] {
  const re = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g;
  const out: string[] = [];
  for (const m of src.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function violations(src: string): string[] {
  const out: string[] = [];
  for (const spec of importsOf(src)) if (FORBIDDEN_MODULE.test(spec)) out.push(`imports "${spec}"`);
  const code = codeOnly(src);
  for (const [re, what] of FORBIDDEN_CODE) if (re.test(code)) out.push(`uses ${what}`);
  return out;
}

describe('src/sim purity', () => {
  it('finds the simulator sources', () => {
    const files = Object.keys(sources);
    expect(files.length).toBeGreaterThan(30);
    for (const f of ['./kvm/vm.ts', './kvm/mmu.ts', './tdx/module.ts', './vmm/vmm.ts', './scenario/runner.ts', './core/rng.ts'])
      expect(files).toContain(f);
    expect(files.some((f) => f.endsWith('.test.ts'))).toBe(false);
  });

  it('the checker catches each forbidden thing (and ignores comments and strings)', () => {
    expect(violations("import { useState } from 'react';")).toEqual(['imports "react"']);
    expect(violations("import { createRoot } from 'react-dom/client';")).toEqual(['imports "react-dom/client"']);
    expect(violations("import { create } from 'zustand';")).toEqual(['imports "zustand"']);
    expect(violations("import * as d3 from 'd3';\nimport { zoom } from 'd3-zoom';")).toEqual(['imports "d3"', 'imports "d3-zoom"']);
    expect(violations("export { wrap } from 'comlink';")).toEqual(['imports "comlink"']);
    expect(violations("import { readFileSync } from 'node:fs';")).toEqual(['imports "node:fs"']);
    expect(violations("const m = await import('node:crypto');")).toEqual(['imports "node:crypto"']);
    expect(violations('const t = Date.now();')).toEqual(['uses Date.now']);
    expect(violations('const d = new Date();')).toEqual(['uses new Date']);
    expect(violations('const x = Math.random();')).toEqual(['uses Math.random']);
    expect(violations('window.postMessage(1);')).toEqual(['uses window.']);
    expect(violations('const el = document.body;')).toEqual(['uses document.']);
    expect(violations("// Date.now() is banned\n/* Math.random() */ const s = 'new Date(), window.x';\nconst ok = doc.window;")).toEqual([]);
    expect(violations("import { Clock } from '../core/clock';\nimport type { Vm } from './vm';")).toEqual([]);
  });

  it.each(Object.keys(sources))('%s', (file) => {
    expect(violations(sources[file])).toEqual([]);
  });
});
