import { defineConfig } from 'vite';

/**
 * The simulator as a Node package (npm run build:lib, run by `npm pack`): the library
 * (src/lib/index.ts → dist-lib/index.js) and the command (src/cli/bin.ts → dist-lib/cli.js), ES
 * modules for Node 20, with zod and the presets bundled in, so the package has no dependencies to
 * install. Types come from tsc (tsconfig.lib.json → dist-lib/types).
 */
export default defineConfig({
  publicDir: false,
  build: {
    outDir: 'dist-lib',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    sourcemap: false,
    ssr: true,
    rollupOptions: {
      input: { index: 'src/lib/index.ts', cli: 'src/cli/bin.ts' },
      output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
    },
  },
  ssr: {
    // Bundle every dependency (zod): the installed package needs nothing from the registry.
    noExternal: true,
  },
});
