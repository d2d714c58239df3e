// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['build/**', 'node_modules/**', 'docs/**', '.dependency-cruiser.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // Type-aware rules, on all the code we run. A promise nobody awaits or catches loses its rejection:
    // Node ends the process on an unhandled one, and a test that forgets an `await` passes before it has
    // checked anything. Where a promise may float on purpose, `void` marks it, with a comment saying where
    // its rejection goes.
    files: ['src/**/*.ts', 'src/**/*.js', 'test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts', 'scripts/**/*.mjs'],
    languageOptions: {
      parserOptions: {
        // tsconfig.lint.json: tsconfig.json plus the scripts; tsconfig.dashboard.json: the browser script.
        project: ['./tsconfig.lint.json', './tsconfig.dashboard.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return a promise the runner itself tracks (and never rejects:
          // a failure is reported as the test's result), so a test file need not await its tests.
          allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    // The library must never print on its own: it logs through the logger the user gives it.
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**', 'src/control-plane/**'],
    rules: { 'no-console': 'error' },
  },
);
