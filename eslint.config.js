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
  layer(['src/resources/**'], ['sources', 'snapshot', 'routing', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'mock-engine', 'observability', 'pipeline', 'filters']),
  layer(['src/sources/**'], ['snapshot', 'routing', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'mock-engine']),
  layer(['src/snapshot/**'], ['sources', 'routing', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'mock-engine', 'pipeline', 'filters']),
  layer(['src/routing/**'], ['sources', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'mock-engine', 'observability', 'pipeline', 'filters']),
  // Engines scrape pods into live state that scheduling reads; they know nothing of requests. Their tests scrape mocks.
  { ...layer(['src/engines/**'], ['routing', 'proxy', 'server', 'cli', 'mock-engine', 'pipeline', 'filters']), ignores: ['src/engines/**/*.test.ts'] },
  // Tokenization talks to engines' /tokenize and reads request bodies; it knows nothing of the router's state.
  layer(['src/tokenization/**'], ['resources', 'sources', 'snapshot', 'routing', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'mock-engine', 'observability', 'pipeline', 'filters']),
  layer(['src/scheduling/**'], ['sources', 'routing', 'proxy', 'server', 'cli', 'mock-engine', 'pipeline', 'filters']),
  layer(['src/proxy/**'], ['sources', 'server', 'cli', 'mock-engine', 'pipeline', 'filters']),
  // Filters (rate limits, auth, fairness) judge requests for the pipeline; they know nothing of proxying or serving.
  layer(['src/filters/**'], ['sources', 'proxy', 'server', 'cli', 'mock-engine', 'pipeline']),
  // The request pipeline: stages in order, calling filters through its interfaces and the proxy layer in one stage.
  layer(['src/pipeline/**'], ['sources', 'server', 'cli', 'mock-engine']),
  layer(['src/server/**'], ['sources', 'cli', 'mock-engine']),
  // Observability reads what the pipeline reports (records, snapshot, live state); the server and the CLI wire it in.
  layer(['src/observability/**'], ['sources', 'server', 'cli', 'mock-engine', 'pipeline', 'filters']),
  // The admission webhook runs the resources' validation and nothing of the router.
  layer(['src/webhook/**'], ['sources', 'snapshot', 'routing', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'mock-engine', 'pipeline', 'filters']),
  layer(['src/mock-engine/**'], ['resources', 'sources', 'snapshot', 'routing', 'scheduling', 'engines', 'proxy', 'server', 'cli', 'errors', 'observability', 'pipeline', 'filters']),
);
