import { randomBytes } from 'node:crypto';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import type { Plugin } from 'vite';
import { forbiddenSimModules } from './src/layering';

/**
 * Fails the build when a chunk of the page holds simulator code: the machine runs in the worker (built
 * apart, emitted as an asset), and the page takes from src/sim only src/sim/view-model.ts and its leaf
 * modules (VIEW_MODEL_MODULES in src/layering.ts). Catches what the import rule cannot see, such as a
 * value import hidden behind a re-export outside src/sim.
 */
export function noSimulatorInPage(): Plugin {
  let root = process.cwd();
  return {
    name: 'no-simulator-in-page',
    apply: 'build',
    configResolved(config) {
      root = config.root;
    },
    generateBundle(_options, bundle) {
      const found: string[] = [];
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk') continue;
        for (const m of forbiddenSimModules(chunk.moduleIds, root)) found.push(`${chunk.fileName}${chunk.isEntry ? ' (entry)' : ''}: ${m}`);
      }
      if (found.length > 0) {
        this.error(`simulator code in the page's chunks (the app takes values from src/sim only through src/sim/view-model.ts):\n  ${found.join('\n  ')}`);
      }
    },
  };
}

/**
 * The page's Content-Security-Policy: scripts and the worker only from the page's own origin, no
 * eval and no inline script. 'wasm-unsafe-eval' lets the page map's painter compile its WebAssembly
 * SIMD module (src/app/render/simd-palette.ts; nothing else is compiled). Styles may be inline:
 * CodeMirror puts its theme in a <style> element and React and d3 set style attributes. `extra`
 * adds sources for the dev server (its nonce'd inline scripts, its HMR socket).
 */
export function contentSecurityPolicy(extra: { script?: string; connect?: string } = {}): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'wasm-unsafe-eval'${extra.script ? ` ${extra.script}` : ''}`,
    "worker-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src 'self'${extra.connect ? ` ${extra.connect}` : ''}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** What a <meta> cannot carry (frame-ancestors), for the servers' header only. */
const HEADER_ONLY = "frame-ancestors 'none'";

/** The built page carries the policy as a <meta> (served from anywhere, it still holds). */
function cspMeta(): Plugin {
  return {
    name: 'csp-meta',
    apply: 'build',
    transformIndexHtml(html) {
      return html.replace('<meta charset="UTF-8" />', `<meta charset="UTF-8" />\n    <meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy()}" />`);
    },
  };
}

// Cross-origin isolation lets the worker share page-state arrays through a SharedArrayBuffer;
// the transfer path keeps working where these headers are absent.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig(({ command }) => {
  // The dev server injects inline scripts (React refresh) and <style> tags (CSS updates): Vite puts
  // this nonce on them, fresh at each start. The built page has none of either.
  const nonce = command === 'serve' ? randomBytes(16).toString('base64') : undefined;
  // (Not in style-src: a nonce there would switch off 'unsafe-inline', which CodeMirror needs.)
  const dev = nonce ? contentSecurityPolicy({ script: `'nonce-${nonce}'`, connect: 'ws: wss:' }) : contentSecurityPolicy();
  const headers = (policy: string) => ({
    ...isolation,
    'Content-Security-Policy': `${policy}; ${HEADER_ONLY}`,
    'X-Content-Type-Options': 'nosniff',
  });
  return {
    plugins: [react(), noSimulatorInPage(), cspMeta()],
    html: nonce ? { cspNonce: nonce } : undefined,
    server: { headers: headers(dev) },
    preview: { headers: headers(contentSecurityPolicy()) },
    worker: { format: 'es' },
  };
});
