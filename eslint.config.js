// ESLint flat config: typescript-eslint's type-checked rules over src, test and bench.
// Rules turned off below are ones whose findings in this code base were judged noise (reason beside each).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.venv/**', 'grafana/**', 'coverage/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      // tsconfig.test.json covers src, test, bench and tools (tsconfig.json only src).
      parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers and booleans in template strings are what messages are made of.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
      // `x!` after a check the compiler cannot follow (Map.get after has) is deliberate and reviewed.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Defensive checks on values from the network and from files are intended, whatever the static type says.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // Empty hooks and callbacks are how "never break the host" is written.
      '@typescript-eslint/no-empty-function': 'off',
      // `() => void promise` and one-line arrow callbacks returning void are idiomatic here.
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // The escaping and redaction code matches control characters on purpose.
      'no-control-regex': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // Tests poke at parsed JSON and mocks.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
