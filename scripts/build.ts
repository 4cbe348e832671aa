/**
 * `npm run build`: the command line as one ES module, `dist/entrechat.mjs`, bundled by esbuild from
 * src/cli/entrechat.ts; and the page of `entrechat ui` in `dist/web/` (see {@link buildPage}). One file loads faster and costs the process about 5 MiB less than ~60 small
 * modules (npm run bench, session-rss), and holds every dependency. The benchmarks build the same
 * bundle into a temp folder with {@link bundleArgs}.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const ESBUILD = join(ROOT, 'node_modules/esbuild/bin/esbuild');

/**
 * Node options the command line runs with (the launcher passes them; the benchmarks too). A 1 MiB
 * young generation instead of up to 16 MiB keeps a session's peak memory about flat while text flows,
 * for sub-millisecond scavenges more often (npm run bench, session-rss).
 */
export const CLI_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** esbuild's arguments for a bundle written to `outfile`. */
export function bundleArgs(outfile: string): string[] {
  return [
    join(ROOT, 'src/cli/entrechat.ts'),
    '--bundle', '--platform=node', '--format=esm', '--target=node18',
    '--log-level=warning', `--outfile=${outfile}`,
    // ws (the page's connection) is CommonJS and requires node's modules: an ES module bundle needs a require.
    "--banner:js=import { createRequire as __entrechatRequire } from 'node:module'; const require = __entrechatRequire(import.meta.url);",
  ];
}

/** The page's files, as the `ui` process serves them: nothing else is loaded. */
export const PAGE_FILES: readonly string[] = ['index.html', 'app.js', 'app.css'];

/**
 * The page (src/web/page) into `outDir`: app.js bundled and minified for browsers (jsQR and uqr
 * included: one file, no lazy loading), app.css minified, index.html copied as it is.
 */
export function buildPage(outDir: string): void {
  const page = join(ROOT, 'src/web/page');
  mkdirSync(outDir, { recursive: true });
  const common = ['--minify', '--log-level=warning', '--legal-comments=none'];
  execFileSync(ESBUILD, [join(page, 'main.ts'), '--bundle', '--platform=browser', '--format=iife', '--target=es2020,chrome90,firefox90,safari15',
    `--tsconfig=${join(page, 'tsconfig.json')}`, ...common, `--outfile=${join(outDir, 'app.js')}`], { stdio: 'inherit' });
  execFileSync(ESBUILD, [join(page, 'app.css'), ...common, '--target=chrome90,firefox90,safari15', `--outfile=${join(outDir, 'app.css')}`], { stdio: 'inherit' });
  copyFileSync(join(page, 'index.html'), join(outDir, 'index.html'));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  execFileSync(ESBUILD, bundleArgs(join(ROOT, 'dist/entrechat.mjs')), { stdio: 'inherit' });
  buildPage(join(ROOT, 'dist/web'));
}
