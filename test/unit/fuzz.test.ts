/**
 * The short version of `npm run fuzz` (scripts/fuzz.ts): every target, FUZZ_SHORT_RUNS inputs each, in
 * a worker under the hang watchdog. Every input must end in a typed error of the parser's fault groups
 * or in a valid result that survives its round trip, and the heap must not grow. The seed is random
 * (ENTRECHAT_FUZZ_SEED fixes it); a failure prints the command that replays the input.
 *
 * The harness itself is checked against targets broken on purpose, so these tests can fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReport, runTarget } from '../fuzz/harness.ts';
import { TARGETS } from '../fuzz/targets.ts';

const FUZZ_SHORT_RUNS = 2000;
/** Generous per-input bound here (the long run uses 100 ms): the short run catches stalls, not speed. */
const SHORT_BOUND_MS = 2000;
const seed = process.env.ENTRECHAT_FUZZ_SEED !== undefined ? Number(process.env.ENTRECHAT_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const BROKEN = new URL('../fuzz/broken-targets.ts', import.meta.url).href;

for (const t of TARGETS) {
  test(`fuzz ${t.name}: ${FUZZ_SHORT_RUNS} inputs end in a typed error or a valid result (seed ${seed})`, async () => {
    const report = await runTarget({ target: t.name, runs: FUZZ_SHORT_RUNS, seed, boundMs: SHORT_BOUND_MS });
    assert.equal(report.failure, null, formatReport(report));
    assert.equal(report.runs, FUZZ_SHORT_RUNS);
    // The generators reach both ends: valid inputs past every check, and rejections.
    assert.ok(report.valid > 0, `no valid input reached the end of ${t.name}`);
    assert.ok(Object.keys(report.errors).length > 0, `no input of ${t.name} was rejected`);
  });
}

test('the harness counts typed errors and valid results of a sound target', async () => {
  const report = await runTarget({ target: 'fine', runs: 300, seed: 1, moduleUrl: BROKEN });
  assert.equal(report.failure, null, formatReport(report));
  assert.equal(report.valid + (report.errors.RECORD_BAD_LENGTH ?? 0), 300);
  assert.ok(report.valid > 0 && (report.errors.RECORD_BAD_LENGTH ?? 0) > 0);
});

test('the harness reports an untyped exception with a seed and path that replay it', async () => {
  const report = await runTarget({ target: 'untyped', runs: 500, seed: 2, moduleUrl: BROKEN });
  assert.equal(report.failure?.kind, 'untyped');
  const replay = await runTarget({ target: 'untyped', runs: 500, seed: report.failure.seed, path: report.failure.path, moduleUrl: BROKEN });
  assert.equal(replay.failure?.kind, 'untyped');
});

test('the harness refuses a typed error of the wrong fault group', async () => {
  const report = await runTarget({ target: 'wrong-fault', runs: 500, seed: 3, moduleUrl: BROKEN });
  assert.equal(report.failure?.kind, 'untyped');
});

test('the harness ends a worker stuck in an infinite loop and names the input', async () => {
  const report = await runTarget({ target: 'hang', runs: 500, seed: 4, hangMs: 1000, moduleUrl: BROKEN });
  assert.equal(report.failure?.kind, 'hang');
  assert.match(report.failure.path, /^\d+$/);
});

test('the harness reports an input over the per-input bound', async () => {
  const report = await runTarget({ target: 'slow', runs: 500, seed: 5, boundMs: 20, moduleUrl: BROKEN });
  assert.equal(report.failure?.kind, 'slow');
});

test('the harness reports heap growth', async () => {
  const report = await runTarget({ target: 'leak', runs: 2000, seed: 6, maxHeapGrowth: 4 * 2 ** 20, moduleUrl: BROKEN });
  assert.equal(report.failure?.kind, 'memory');
});
