import { randomBytes } from 'node:crypto';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import type { Plugin } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
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
 * The page's Content-Security-Policy: scripts, the worker, the service worker and the web manifest
 * only from the page's own origin, no eval and no inline script. 'wasm-unsafe-eval' lets the page map's painter compile its WebAssembly
 * SIMD module (src/app/render/simd-palette.ts; nothing else is compiled). Styles may be inline:
 * CodeMirror puts its theme in a <style> element and React and d3 set style attributes. `extra`
 * adds sources for the dev server (its nonce'd inline scripts, its HMR socket).
 */
export function contentSecurityPolicy(extra: { script?: string; connect?: string } = {}): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'wasm-unsafe-eval'${extra.script ? ` ${extra.script}` : ''}`,
    "worker-src 'self'",
    "manifest-src 'self'",
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

/**
 * Offline and installable (vite-plugin-pwa): a service worker precaches the whole built lab — the app
 * shell, every chunk (the lazily loaded panels and the editor too), the simulator's worker, styles
 * and icons — so that after the first load the lab runs with no network. An update waits until the
 * reader accepts it (registerType 'prompt', src/app/offline.ts and the banner in Banners.tsx): a new
 * version is never swapped in under a lesson. The first install claims the open page (clientsClaim),
 * which replaces nothing. Registered from the app's code (no inline script; the CSP only gains an
 * explicit manifest-src 'self', which default-src already implied); off in the dev server.
 */
function offline(): Plugin[] {
  return VitePWA({
    registerType: 'prompt',
    injectRegister: false,
    devOptions: { enabled: false },
    manifest: {
      name: 'Guest Memory Lab',
      short_name: 'Memory Lab',
      description: 'An interactive lab for confidential-VM memory protection on KVM: TDX, guest_memfd, the KVM private-memory API.',
      // Relative to the manifest, so to wherever the lab is served from.
      start_url: './',
      scope: './',
      display: 'standalone',
      background_color: '#14161a',
      theme_color: '#1f2a44',
      icons: [
        { src: 'icon.svg', sizes: 'any', type: 'image/svg+xml' },
        { src: 'icon-192.png', sizes: '192x192', type: 'image/png' },
        { src: 'icon-512.png', sizes: '512x512', type: 'image/png' },
        { src: 'icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
      ],
    },
    workbox: {
      // Every built file under assets/ (chunks, styles, the simulator's worker of about 620 kB, and any
      // font or image a module imports); the manifest and its icons are added by the plugin.
      globPatterns: ['**/*.{js,css,html}', 'assets/**/*'],
      navigateFallback: 'index.html',
      clientsClaim: true,
      skipWaiting: false,
      cleanupOutdatedCaches: true,
    },
  });
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
    // Relative URLs throughout: the built lab works from any path of any static host (/, /labs/gml/ ...).
    base: './',
    plugins: [react(), noSimulatorInPage(), cspMeta(), offline()],
    html: nonce ? { cspNonce: nonce } : undefined,
    server: { headers: headers(dev) },
    preview: { headers: headers(contentSecurityPolicy()) },
    worker: { format: 'es' },
  };
});
