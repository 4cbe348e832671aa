/**
 * One fuzz target in a worker thread (started by harness.ts): runs fast-check over the target's
 * arbitrary, times every input, counts outcomes, and measures the heap after GC once warmed up and at
 * the end. The main thread watches the heartbeat to catch an input that never returns.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { FuzzFailure, type FuzzTarget, type Outcome } from './target.ts';
import type { TargetReport, WorkerData, WorkerMessage } from './harness.ts';

/** Progress lines at most this often. */
const PROGRESS_EVERY_MS = 15_000;

function post(message: WorkerMessage): void {
  parentPort?.postMessage(message);
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

async function main(data: WorkerData): Promise<void> {
  const mod = (await import(data.moduleUrl)) as { TARGETS: readonly FuzzTarget<never>[] };
  const target = mod.TARGETS.find((t) => t.name === data.target);
  if (target === undefined) throw new Error(`no fuzz target named ${data.target}`);
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // The heap and what it holds outside itself (ArrayBuffer backing stores: every Buffer and Uint8Array).
  const heapUsed = (): number => {
    gc();
    const stats = getHeapStatistics();
    return stats.used_heap_size + stats.external_memory;
  };
  const heartbeat = new Float64Array(data.heartbeat);
  const { arbitrary, check, show } = await target.setup(data.scratch);

  const errors: Record<string, number> = {};
  const labels: Record<string, number> = {};
  let valid = 0;
  let done = 0;
  let slowestMs = 0;
  let index = 0;
  // Warm-up before the first heap measure: JIT code and fast-check's caches grow at first.
  const warmup = Math.min(1000, Math.ceil(data.runs / 10));
  let heapStart = heapUsed();
  const started = performance.now();
  let lastProgress = started;

  const timed = (input: unknown, i: number): { outcome: Outcome; ms: number } => {
    heartbeat[0] = i;
    heartbeat[1] = now();
    const t0 = performance.now();
    try {
      return { outcome: check(input as never), ms: performance.now() - t0 };
    } finally {
      heartbeat[1] = 0;
    }
  };

  const property = fc.property(arbitrary, (input) => {
    const i = index++;
    if (i === warmup) heapStart = heapUsed();
    let { outcome, ms } = timed(input, i);
    if (ms > data.boundMs) {
      // Measured again, in CPU time too: a pause of a busy machine is not the input's fault, a slow
      // parser is slow twice and busy all along.
      const cpu = process.cpuUsage();
      const second = timed(input, i);
      const { user, system } = process.cpuUsage(cpu);
      const cpuMs = (user + system) / 1000;
      if (second.ms > data.boundMs && cpuMs > data.boundMs) {
        throw new FuzzFailure('slow', `one input took ${ms.toFixed(1)} ms, then ${second.ms.toFixed(1)} ms (${cpuMs.toFixed(1)} ms of CPU; bound ${data.boundMs} ms)`);
      }
      ({ outcome, ms } = second);
    }
    slowestMs = Math.max(slowestMs, ms);
    done++;
    if (outcome.valid) {
      valid++;
      if (outcome.label !== undefined) labels[outcome.label] = (labels[outcome.label] ?? 0) + 1;
    } else {
      errors[outcome.code] = (errors[outcome.code] ?? 0) + 1;
    }
    const t = performance.now();
    if (t - lastProgress > PROGRESS_EVERY_MS) {
      lastProgress = t;
      post({ type: 'progress', done, ms: t - started });
    }
  });

  const details = fc.check(property, {
    numRuns: data.runs,
    seed: data.seed,
    endOnFailure: !data.shrink,
    ...(data.path !== undefined ? { path: data.path } : {}),
  });
  const ms = performance.now() - started;
  const heapEnd = heapUsed();
  let failure: TargetReport['failure'] = null;
  if (details.failed) {
    const error = details.errorInstance;
    const cause = error instanceof Error ? error.cause : undefined;
    failure = {
      kind: error instanceof FuzzFailure ? error.kind : 'property',
      message: error instanceof Error ? error.message : String(error),
      stack: cause instanceof Error ? (cause.stack ?? '') : '',
      seed: details.seed,
      path: details.counterexamplePath ?? '',
      input: details.counterexample === null ? '' : show !== undefined ? show(details.counterexample[0]) : fc.stringify(details.counterexample[0]),
    };
  } else if (heapEnd - heapStart > data.maxHeapGrowth) {
    failure = {
      kind: 'memory',
      message: `heap after GC grew by ${((heapEnd - heapStart) / 2 ** 20).toFixed(1)} MiB (bound ${(data.maxHeapGrowth / 2 ** 20).toFixed(0)} MiB)`,
      stack: '',
      seed: details.seed,
      path: '',
      input: '',
    };
  }
  post({
    type: 'done',
    report: { target: target.name, calls: target.calls, runs: done, ms, valid, labels, errors, slowestMs, heapStart, heapEnd, seed: data.seed, failure },
  });
}

await main(workerData as WorkerData);
