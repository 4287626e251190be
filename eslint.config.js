import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

// src/sim must stay pure and deterministic: the same code runs in the worker, the CLI and unit tests.
const purityPatterns = [
  { group: ['react', 'react-*', 'react/*', 'zustand', 'zustand/*', 'd3', 'd3-*', 'comlink'],
    message: 'src/sim is framework-free: no React, zustand, d3 or comlink.' },
  { group: ['**/app/**', '**/worker/**', '**/cli/**', 'node:*', 'fs', 'path'],
    message: 'src/sim imports nothing from app/, worker/, cli/ or Node built-ins.' },
];

const simPurity = {
  files: ['src/sim/**/*.ts'],
  languageOptions: { globals: { ...globals.es2022 } },
  rules: {
    'no-restricted-imports': ['error', { patterns: purityPatterns }],
    'no-restricted-globals': ['error',
      { name: 'window', message: 'No DOM in src/sim.' },
      { name: 'document', message: 'No DOM in src/sim.' },
      { name: 'navigator', message: 'No DOM in src/sim.' },
      { name: 'performance', message: 'Use the virtual clock (core/clock.ts).' },
      { name: 'setTimeout', message: 'The simulation is driven, never timed.' },
      { name: 'setInterval', message: 'The simulation is driven, never timed.' },
    ],
    'no-restricted-properties': ['error',
      { object: 'Date', property: 'now', message: 'Use the virtual clock (core/clock.ts).' },
      { object: 'Math', property: 'random', message: 'Use the seeded generator (core/rng.ts).' },
    ],
    'no-restricted-syntax': ['error',
      { selector: "NewExpression[callee.name='Date']", message: 'Use the virtual clock (core/clock.ts).' },
    ],
  },
};

// The layers of src/sim call downward only (src/layering.ts is the rule, src/layering.test.ts checks
// every import and import circles; this mirrors it so the editor flags a wrong-way import as it is
// typed — layering.test.ts lints a sample import of each kind to keep the two in step).
const SIM_LAYERS = ['core', 'host', 'cpu', 'tdx', 'kvm', 'vmm', 'world', 'scenario', 'lab'];
const LAB_FILES = ['**/lab', '**/inspect', '**/snapshot', '**/test-helpers'];
const layerMessage = `src/sim calls downward only: ${SIM_LAYERS.join(' → ')}; abi/ is below all, guest/ sees only cpu/bus.ts (src/layering.ts).`;
const folder = (l) => `**/${l}/**`;
const simTests = ['src/sim/**/*.test.ts', 'src/sim/**/test-*.ts'];

function layerRule(files, group) {
  return {
    files,
    ignores: simTests,
    rules: {
      'no-restricted-imports': ['error', { patterns: [...purityPatterns, { group, message: layerMessage }] }],
    },
  };
}

const simLayering = [
  ...SIM_LAYERS.filter((l) => l !== 'lab').map((l, i) => layerRule([`src/sim/${l}/**/*.ts`], [
    ...SIM_LAYERS.slice(i + 1).filter((u) => u !== 'lab').map(folder),
    ...LAB_FILES, '**/view-model',
    // The guest's software is loaded by the VMM and above.
    ...(i < SIM_LAYERS.indexOf('vmm') ? [folder('guest')] : []),
  ])),
  layerRule(['src/sim/abi/**/*.ts'], ['../**', '!../abi/**']),
  layerRule(['src/sim/guest/**/*.ts'], [
    ...['host', 'tdx', 'kvm', 'vmm', 'world', 'scenario'].map(folder), '**/cpu/*', '!**/cpu/bus',
    ...LAB_FILES, '**/view-model',
  ]),
  layerRule(['src/sim/*.ts'], ['**/view-model']),
  // view-model.ts and its leaf modules (VIEW_MODEL_MODULES in src/layering.ts) are all the page bundles.
  layerRule(['src/sim/view-model.ts'], ['./**', '!./core', '!./core/trace-layers', '!./core/page-state', '!./core/migration-page-state', '!./core/units', '!./scenario', '!./scenario/report-json']),
];

// The app runs no simulator code: values come only from src/sim/view-model.ts, the rest is types.
const appBoundary = {
  files: ['src/app/**/*.ts', 'src/app/**/*.tsx'],
  rules: {
    '@typescript-eslint/no-restricted-imports': ['error', {
      patterns: [
        { group: ['**/sim/**', '!**/sim/view-model'], allowTypeImports: true,
          message: 'The app takes values from src/sim only through src/sim/view-model.ts (use `import type` for types).' },
        { group: ['**/worker/**'], allowTypeImports: true,
          message: 'The app imports the worker protocol type-only (the worker is started by URL).' },
        { group: ['**/cli/**'], message: 'The app does not import the CLI.' },
      ],
    }],
  },
};

export default tseslint.config(
  { ignores: ['dist/**', 'dist-lib/**', 'node_modules/**', 'test-results/**', 'playwright-report/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  simPurity,
  ...simLayering,
  appBoundary,
);
