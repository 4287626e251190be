import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

// src/sim must stay pure and deterministic: the same code runs in the worker, the CLI and unit tests.
const simPurity = {
  files: ['src/sim/**/*.ts'],
  languageOptions: { globals: { ...globals.es2022 } },
  rules: {
    'no-restricted-imports': ['error', {
      patterns: [
        { group: ['react', 'react-*', 'react/*', 'zustand', 'zustand/*', 'd3', 'd3-*', 'comlink'],
          message: 'src/sim is framework-free: no React, zustand, d3 or comlink.' },
        { group: ['**/app/**', '**/worker/**', '**/cli/**', 'node:*', 'fs', 'path'],
          message: 'src/sim imports nothing from app/, worker/, cli/ or Node built-ins.' },
      ],
    }],
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

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', 'playwright-report/**'] },
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
);
