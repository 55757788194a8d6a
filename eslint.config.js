// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // The vitest configs are outside the TypeScript project (tsconfig.json covers src, test, bench);
  // .stryker-tmp and reports are mutation testing's sandboxes and output.
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'vitest.config.ts', 'vitest.mutation.config.ts', '.stryker-tmp/', 'reports/'] },
  js.configs.recommended,
  // Type-aware: no-floating-promises, no-misused-promises, await-thenable and the other rules that
  // catch a forgotten await in a server that must never let a rejection escape.
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    rules: {
      // An async method that implements a Promise-returning interface turns a throw into a rejection.
      '@typescript-eslint/require-await': 'off',
      // `const { omitted: _, ...rest } = value` is how a property is left out.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // A variable read by a closure before it is assigned cannot be const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Plain JavaScript (bench scripts, test fixtures run by node) is outside the TypeScript project.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
  {
    // Tests walk parsed YAML and JSON documents, which are `any` by nature; src never gets this leave.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  prettier,
);
