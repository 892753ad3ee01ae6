// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Layering: a module imports only from what feeds it (the Layout section of README.md). */
const layer = (files, forbidden) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      { patterns: forbidden.map((dir) => ({ group: [`**/${dir}/**`, `../${dir}/*`, `./${dir}/*`], message: `this layer must not import from ${dir}/` })) },
    ],
  },
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'bench/results/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  layer(['src/resources/**'], ['sources', 'snapshot', 'routing', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'mock-engine', 'observability']),
  layer(['src/sources/**'], ['snapshot', 'routing', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'mock-engine']),
  layer(['src/snapshot/**'], ['sources', 'routing', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'mock-engine']),
  layer(['src/routing/**'], ['sources', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'mock-engine', 'observability']),
  // Engines scrape pods into live state that scheduling reads; they know nothing of requests. Their tests scrape mocks.
  { ...layer(['src/engines/**'], ['routing', 'proxy', 'server', 'cli', 'mock-engine']), ignores: ['src/engines/**/*.test.ts'] },
  layer(['src/scheduling/**'], ['sources', 'routing', 'proxy', 'server', 'cli', 'mock-engine']),
  layer(['src/proxy/**'], ['sources', 'server', 'cli', 'mock-engine']),
  layer(['src/server/**'], ['sources', 'cli', 'mock-engine']),
  // Observability reads what the pipeline reports (records, snapshot, live state); the server and the CLI wire it in.
  layer(['src/observability/**'], ['sources', 'server', 'cli', 'mock-engine']),
  // Filters (authentication, fairness) are self-contained: errors, resources and observability types only.
  layer(['src/filters/**'], ['sources', 'snapshot', 'routing', 'scheduling', 'engines', 'pods', 'proxy', 'server', 'cli', 'mock-engine', 'util']),
  layer(['src/mock-engine/**'], ['resources', 'sources', 'snapshot', 'routing', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'errors', 'observability', 'filters']),
);
