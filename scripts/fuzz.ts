/**
 * `npm run fuzz`: every parser a peer, a tor, a file or a user can feed, fed generated inputs (valid
 * encodings damaged by structured mutators, test/fuzz/mutate.ts), one target after the other, each in a
 * worker thread under a hang watchdog. Every input must end in a typed error or a valid result that
 * survives its round trip, within the per-input bound, without the heap growing.
 *
 *   npm run fuzz [-- --runs N] [--target NAME[,NAME…]] [--seed S] [--path P] [--shrink]
 *                [--bound-ms MS] [--hang-ms MS] [--list]
 *
 * --runs defaults to 1,000,000 per target. A failure prints the seed and path that replay it:
 * `npm run fuzz -- --target NAME --seed S --path P` (add --shrink for a smaller input). Exit code 1 on
 * any failure.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_BOUND_MS, DEFAULT_HANG_MS, formatReport, runTarget } from '../test/fuzz/harness.ts';
import { TARGETS } from '../test/fuzz/targets.ts';

const DEFAULT_RUNS = 1_000_000;

function fail(message: string): never {
  process.stderr.write(`fuzz: ${message}\n`);
  process.exit(2);
}

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${name} must be a positive integer`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      target: { type: 'string', multiple: true },
      seed: { type: 'string' },
      path: { type: 'string' },
      shrink: { type: 'boolean', default: false },
      'bound-ms': { type: 'string' },
      'hang-ms': { type: 'string' },
      list: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(14)} ${t.calls.join(', ')}`);
    return 0;
  }
  const names = (values.target ?? []).flatMap((t) => t.split(',')).filter((t) => t !== '');
  for (const n of names) if (!TARGETS.some((t) => t.name === n)) fail(`no target ${n} (see --list)`);
  const chosen = names.length > 0 ? TARGETS.filter((t) => names.includes(t.name)) : TARGETS;
  if (values.path !== undefined && chosen.length !== 1) fail('--path replays one input of one --target');
  const runs = positiveInt(values.runs, 'runs', DEFAULT_RUNS);
  const seed = values.seed !== undefined ? Number(values.seed) : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;
  if (!Number.isSafeInteger(seed)) fail('--seed must be an integer');
  const boundMs = positiveInt(values['bound-ms'], 'bound-ms', DEFAULT_BOUND_MS);
  const hangMs = positiveInt(values['hang-ms'], 'hang-ms', DEFAULT_HANG_MS);

  console.log(`fuzz: ${chosen.length} target(s), ${values.path !== undefined ? `replaying path ${values.path}` : `${runs} inputs each`}, seed ${seed}, bound ${boundMs} ms per input, hang after ${hangMs} ms`);
  const started = Date.now();
  let failed = 0;
  let total = 0;
  for (const t of chosen) {
    const report = await runTarget({
      target: t.name,
      runs,
      seed,
      ...(values.path !== undefined ? { path: values.path } : {}),
      shrink: values.shrink,
      boundMs,
      hangMs,
      onProgress: (done, ms) => { console.log(`  ${t.name}: ${done} inputs in ${(ms / 1000).toFixed(0)} s`); },
    });
    console.log(formatReport(report));
    total += report.runs;
    if (report.failure !== null) failed++;
  }
  console.log(`fuzz: ${total} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s, ${failed === 0 ? 'no failure' : `${failed} target(s) FAILED`}`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
