/**
 * cli-help: how long `entrechat --help` takes, start to exit, as an installed command runs it (the
 * launcher bin/entrechat.js, its first line's node options, the bundle `npm run build` makes),
 * against `node -e 0` in the same run. Goal: under 150 ms. Alternating runs, medians.
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { bundleArgs, ESBUILD, ROOT } from '../scripts/build.ts';
import type { TorResult } from './tor.ts';
import { median } from './stats.ts';

const RUNS = 15;
const LAUNCHER = fileURLToPath(new URL('../bin/entrechat.js', import.meta.url));


function timed(file: string, args: readonly string[]): number {
  const start = performance.now();
  execFileSync(file, args, { stdio: 'ignore' });
  return performance.now() - start;
}

export function cliHelp(): TorResult {
  // The bundle the launcher runs, fresh (as `npm ci` leaves it).
  execFileSync(ESBUILD, bundleArgs(`${ROOT}dist/entrechat.mjs`), { stdio: 'ignore' });
  const ours: number[] = [];
  const base: number[] = [];
  timed(LAUNCHER, ['--help']);
  for (let i = 0; i < RUNS; i++) {
    ours.push(timed(LAUNCHER, ['--help']));
    base.push(timed(process.execPath, ['-e', '0']));
  }
  const o = median(ours);
  const b = median(base);
  return { name: 'cli-help', ours: Math.round(o), baseline: Math.round(b), unit: 'ms', ratio: Math.round((o / b) * 1000) / 1000, goal: '< 150 ms' };
}
