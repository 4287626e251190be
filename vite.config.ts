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

// Cross-origin isolation lets the worker share page-state arrays through a SharedArrayBuffer;
// the transfer path keeps working where these headers are absent.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  plugins: [react(), noSimulatorInPage()],
  server: { headers: isolation },
  preview: { headers: isolation },
  worker: { format: 'es' },
});
