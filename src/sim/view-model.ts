/**
 * What the app takes from the simulator as values: tables and small pure helpers of its own, from leaf
 * modules that import nothing else from src/sim. The app imports values from src/sim only through
 * this module (and types with `import type`), so the page's main chunk holds no simulator code: the
 * machine runs in the worker. vite.config.ts checks the bundle and src/layering.test.ts the imports;
 * the modules allowed here are listed in VIEW_MODEL_MODULES (src/layering.ts).
 */
export { LAYERS, type Layer } from './core/trace-layers';
export { PAGE_STATE_INFO, PageState, type PageStateCode } from './core/page-state';
export { parseSize } from './core/units';
export { MIGRATION_PAGE_STATE_INFO, MigrationPageState, type MigrationPageStateCode, PostcopyFault, POSTCOPY_FAULT_INFO } from './core/migration-page-state';
