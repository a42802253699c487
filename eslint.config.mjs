import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'assert',
  'buffer',
  'child_process',
  'crypto',
  'dns',
  'events',
  'fs',
  'fs/promises',
  'http',
  'https',
  'net',
  'os',
  'path',
  'process',
  'stream',
  'timers',
  'tls',
  'url',
  'util',
  'worker_threads',
  'zlib',
];

export default tseslint.config(
  { ignores: ['lib/**', 'node_modules/**', '.local/**', 'coverage/**', 'artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code is replayed: it must stay deterministic and free of I/O.
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...[...nodeBuiltins, ...nodeBuiltins.map((m) => `node:${m}`), 'ioredis'].map((name) => ({
              name,
              message: 'Workflow code must not do I/O: put it in an activity.',
            })),
            { name: '../activities', allowTypeImports: true, message: 'Import activity types only.' },
          ],
          patterns: [
            {
              group: [
                '@aws-sdk/*',
                'node:*',
                '../redis/*',
                '../local/*',
                '../host/*',
                '../s3/*',
                '../runtime/*',
                '../cluster/*',
                '../migration/*',
              ],
              message: 'No I/O in workflows: only @temporalio/workflow, the model and activity types.',
            },
            { group: ['../activities/*'], allowTypeImports: true, message: 'Import activity types only.' },
          ],
        },
      ],
    },
  },
  {
    // The model is pure: shared by workflows, activities and the CLI.
    files: ['src/model/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [...nodeBuiltins, ...nodeBuiltins.map((m) => `node:${m}`), 'ioredis'].map((name) => ({
            name,
            message: 'The model is pure: no I/O.',
          })),
          patterns: [
            {
              group: ['@temporalio/*', '@aws-sdk/*', 'node:*', '../*'],
              message: 'The model imports only zod, yaml and itself.',
            },
          ],
        },
      ],
    },
  },
  {
    // Activities bind the engine; they never reach into workflows, the CLI or the demo.
    files: ['src/activities/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/workflows', '**/workflows/*'],
              message: 'Workflows call activities, never the other way round.',
            },
            { group: ['**/local', '**/local/*'], message: 'src/local is the demo only.' },
            { group: ['**/cli/*'], message: 'The CLI is an entry point.' },
          ],
        },
      ],
    },
  },
  {
    // Engines and helpers never reach back into workflows, activity bindings, the CLI or the demo.
    files: [
      'src/cluster/**/*.ts',
      'src/migration/**/*.ts',
      'src/host/**/*.ts',
      'src/redis/**/*.ts',
      'src/s3/**/*.ts',
      'src/runtime/**/*.ts',
    ],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/workflows', '**/workflows/*'],
              message: 'Workflows call activities, never the other way round.',
            },
            { group: ['**/local', '**/local/*'], message: 'src/local is the demo only.' },
            { group: ['**/cli/*'], message: 'The CLI is an entry point.' },
            {
              group: ['**/activities', '**/activities/*'],
              message: 'Activities bind the engine; the engine does not import them.',
            },
          ],
        },
      ],
    },
  },
  {
    // Commands go through the client, or through the one read-only inspect module.
    files: ['src/cli/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/activities', '**/activities/*'], message: 'Go through the client (src/client.ts).' },
            { group: ['**/migration/*'], message: 'Go through the client (src/client.ts).' },
            {
              group: ['**/cluster/*', '!**/cluster/inspect'],
              message: 'Read-only views go through src/cluster/inspect.ts; changes through the client.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', module: 'writable', require: 'readonly' } },
  },
);
