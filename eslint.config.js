// @ts-check
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node modules that perform I/O or reach outside the process: never in the pure core. */
const IO_MODULES = [
  'fs', 'fs/promises', 'net', 'tls', 'dgram', 'dns', 'http', 'https', 'http2', 'child_process',
  'cluster', 'worker_threads', 'os', 'process', 'readline', 'timers', 'timers/promises', 'perf_hooks',
  'inspector', 'v8', 'vm', 'stream', 'zlib',
].flatMap((m) => [m, `node:${m}`]);

/** Layers, bottom to top: a layer may import only from layers below it (ARCHITECTURE.md). */
const ABOVE = {
  core: ['store', 'tor', 'net', 'app', 'cli', 'web'],
  store: ['tor', 'net', 'app', 'cli', 'web'],
  tor: ['store', 'net', 'app', 'cli', 'web'],
  net: ['store', 'app', 'cli', 'web'],
  app: ['cli', 'web'],
  // UIs are leaves: they use app/'s API (src/app/index.ts) and nothing below it.
  cli: ['core', 'store', 'tor', 'net', 'web'],
  web: ['core', 'store', 'tor', 'net', 'cli'],
};

export default defineConfig(
  { ignores: ['node_modules/', 'dist/', 'bin/', '.cache/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  ...Object.entries(ABOVE).map(([layer, above]) => ({
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: above.map((a) => `**/${a}/**`), message: `${layer}/ may not import from ${above.join(', ')}` }],
        ...(layer === 'core' ? {
          paths: [
            ...IO_MODULES.map((name) => ({ name, message: 'core/ is pure: no I/O modules (ARCHITECTURE.md)' })),
            { name: 'node:crypto', importNames: ['randomBytes', 'randomFillSync', 'randomInt', 'randomUUID', 'getRandomValues', 'generateKeyPairSync', 'generateKeyPair', 'webcrypto'], message: 'core/ takes randomness injected' },
          ],
        } : {}),
      }],
      ...(layer === 'core' ? {
        'no-restricted-globals': ['error',
          ...['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'queueMicrotask', 'Date', 'performance', 'process', 'fetch', 'crypto']
            .map((name) => ({ name, message: 'core/ is pure: time, timers and randomness come from the caller' })),
        ],
      } : {}),
    },
  })),
  // The command's entry point is the composition root: it alone hands src/web's server to the command line.
  {
    files: ['src/cli/entrechat.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['**/core/**', '**/store/**', '**/tor/**', '**/net/**', '**/web/**', '!**/web/index.ts'], message: 'the entry point imports app/index.ts and web/index.ts only' }],
      }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
