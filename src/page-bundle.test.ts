import { resolve } from 'node:path';
import { build, type Rolldown } from 'vite';
import { describe, expect, it } from 'vitest';
import { noSimulatorInPage } from '../vite.config';
import { VIEW_MODEL_MODULES, forbiddenSimModules } from './layering';

// The page's chunks hold no simulator code (the machine runs in the worker): vite.config.ts's
// no-simulator-in-page plugin fails the build otherwise. These tests run real builds in memory
// (write: false), a few seconds each.
const ROOT = resolve(__dirname, '..');

function chunksOf(out: Awaited<ReturnType<typeof build>>): Rolldown.OutputChunk[] {
  const outputs = (Array.isArray(out) ? out : [out]) as Rolldown.RolldownOutput[];
  return outputs.flatMap((o) => o.output.filter((c): c is Rolldown.OutputChunk => c.type === 'chunk'));
}

describe('the page bundle', () => {
  it('names the simulator modules a chunk may not hold', () => {
    const ids = [
      `${ROOT}/src/app/main.tsx`, `${ROOT}/src/sim/view-model.ts`, `${ROOT}/src/sim/core/units.ts`,
      `${ROOT}/src/sim/kvm/mmu.ts?used`, `\0${ROOT}/src/sim/tdx/module.ts`, '/elsewhere/src/sim/x.ts',
    ];
    expect(forbiddenSimModules(ids, ROOT)).toEqual(['src/sim/kvm/mmu.ts', 'src/sim/tdx/module.ts']);
  });

  it('builds the app with only the view-model modules of src/sim in the page', async () => {
    const out = await build({ configFile: resolve(ROOT, 'vite.config.ts'), root: ROOT, logLevel: 'silent', build: { write: false } });
    const chunks = chunksOf(out);
    const entry = chunks.find((c) => c.isEntry);
    expect(entry, 'an entry chunk').toBeDefined();
    const sim = entry!.moduleIds.map((id) => id.replace(/\\/g, '/')).filter((id) => id.includes('/src/sim/'));
    // The page does use the view-model's tables (so the check sees real module ids; the re-exporting
    // view-model.ts itself is folded away), and nothing else of src/sim.
    expect(sim.some((id) => id.endsWith('/src/sim/core/page-state.ts'))).toBe(true);
    for (const id of sim) expect(VIEW_MODEL_MODULES.some((m) => id.endsWith(`/${m}`)), id).toBe(true);
  }, 240_000);

  it('fails a build whose page imports the machine', async () => {
    const probe = {
      name: 'probe-entry',
      resolveId: (id: string) => (id === 'virtual:probe' ? '\0virtual:probe' : null),
      load: (id: string) => (id === '\0virtual:probe'
        ? `import { PAGE_STATE_INFO } from ${JSON.stringify(resolve(ROOT, 'src/sim/inspect.ts'))};\nconsole.log(PAGE_STATE_INFO);`
        : null),
    };
    await expect(build({
      configFile: false, root: ROOT, logLevel: 'silent',
      plugins: [probe, noSimulatorInPage()],
      build: { write: false, rollupOptions: { input: 'virtual:probe' } },
    })).rejects.toThrow(/simulator code in the page's chunks[\s\S]*src\/sim\/inspect\.ts/);
  }, 240_000);
});
