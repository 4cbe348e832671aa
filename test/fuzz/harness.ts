/**
 * Runs one fuzz target in a worker thread under a watchdog: the worker writes the index and start time
 * of the input in hand into a shared heartbeat; an input still running after `hangMs` is a hang (a true
 * infinite loop included), the worker is ended and the input reported by its seed and path, which
 * `npm run fuzz -- --target NAME --seed S --path P` replays.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

/** Per-input bound: an input slower than this twice in a row is a failure (a parser must never stall). */
export const DEFAULT_BOUND_MS = 100;
/** An input that has not returned after this is a hang: the worker is ended. */
export const DEFAULT_HANG_MS = 10_000;
/** Growth of the heap and its external memory (after GC, from after warm-up to the end) beyond this is a leak: the parsers keep nothing. */
export const DEFAULT_MAX_HEAP_GROWTH = 16 * 2 ** 20;
/** Linux's memory-backed folder: a file written there costs microseconds, not a disk write. */
const SHM = '/dev/shm';
/** How often the watchdog looks at the heartbeat. */
const WATCHDOG_EVERY_MS = 200;

export interface WorkerData {
  readonly moduleUrl: string;
  readonly target: string;
  readonly runs: number;
  readonly seed: number;
  readonly path?: string;
  readonly shrink: boolean;
  readonly boundMs: number;
  readonly maxHeapGrowth: number;
  readonly scratch: string;
  readonly heartbeat: SharedArrayBuffer;
}

export interface TargetReport {
  readonly target: string;
  readonly calls: readonly string[];
  /** Inputs that passed every check. */
  readonly runs: number;
  readonly ms: number;
  readonly valid: number;
  readonly labels: Readonly<Record<string, number>>;
  /** Typed errors, by code. */
  readonly errors: Readonly<Record<string, number>>;
  readonly slowestMs: number;
  readonly heapStart: number;
  readonly heapEnd: number;
  readonly seed: number;
  readonly failure: null | {
    readonly kind: string;
    readonly message: string;
    readonly stack: string;
    readonly seed: number;
    readonly path: string;
    readonly input: string;
  };
}

export type WorkerMessage = { readonly type: 'progress'; readonly done: number; readonly ms: number } | { readonly type: 'done'; readonly report: TargetReport };

export interface RunOptions {
  readonly target: string;
  readonly runs: number;
  readonly seed: number;
  /** Replays one input (a failure's path) instead of a run. */
  readonly path?: string;
  /** Shrinks a failing input (slower); off by default, the seed and path identify it anyway. */
  readonly shrink?: boolean;
  readonly boundMs?: number;
  readonly hangMs?: number;
  readonly maxHeapGrowth?: number;
  /** Module exporting TARGETS (the harness's own self-test passes broken targets). */
  readonly moduleUrl?: string;
  readonly onProgress?: (done: number, ms: number) => void;
}

const WORKER_URL = new URL('./worker.ts', import.meta.url).href;
const TARGETS_URL = new URL('./targets.ts', import.meta.url).href;
const TSX_API = import.meta.resolve('tsx/esm/api');

/** Runs one target to completion, failure or hang. Never rejects for a failure of the target: it is in the report. */
export function runTarget(options: RunOptions): Promise<TargetReport> {
  // In memory where there is such a folder: the torrc target writes a file per input.
  const scratch = mkdtempSync(join(existsSync(SHM) ? SHM : tmpdir(), 'entrechat-fuzz-'));
  const heartbeat = new SharedArrayBuffer(16);
  const beat = new Float64Array(heartbeat);
  const data: WorkerData = {
    moduleUrl: options.moduleUrl ?? TARGETS_URL,
    target: options.target,
    runs: options.runs,
    seed: options.seed,
    ...(options.path !== undefined ? { path: options.path } : {}),
    shrink: options.shrink ?? false,
    boundMs: options.boundMs ?? DEFAULT_BOUND_MS,
    maxHeapGrowth: options.maxHeapGrowth ?? DEFAULT_MAX_HEAP_GROWTH,
    scratch,
    heartbeat,
  };
  const hangMs = options.hangMs ?? DEFAULT_HANG_MS;
  // The worker loads TypeScript through tsx, registered in the worker itself.
  const boot = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); })`;
  const started = Date.now();
  return new Promise<TargetReport>((resolve) => {
    const worker = new Worker(boot, { eval: true, workerData: data });
    let settled = false;
    const finish = (report: TargetReport): void => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      void worker.terminate().finally(() => {
        rmSync(scratch, { recursive: true, force: true });
        resolve(report);
      });
    };
    const broken = (kind: string, message: string, stack: string, path: string): TargetReport => ({
      target: options.target, calls: [], runs: 0, ms: Date.now() - started, valid: 0, labels: {}, errors: {}, slowestMs: 0,
      heapStart: 0, heapEnd: 0, seed: options.seed, failure: { kind, message, stack, seed: options.seed, path, input: '' },
    });
    const watchdog = setInterval(() => {
      const since = beat[1]!;
      if (since > 0 && Date.now() - since > hangMs) {
        finish(broken('hang', `input ${beat[0]} did not return within ${hangMs} ms`, '', String(beat[0])));
      }
    }, WATCHDOG_EVERY_MS);
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') options.onProgress?.(m.done, m.ms);
      else finish(m.report);
    });
    worker.on('error', (e) => { finish(broken('crash', e.message, e.stack ?? '', '')); });
    worker.on('exit', (code) => { finish(broken('crash', `the worker exited with code ${code} before reporting`, '', '')); });
  });
}

/** One line per target: count, time, valid results, typed errors by code. */
export function formatReport(r: TargetReport): string {
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const byCount = (o: Readonly<Record<string, number>>): string =>
    Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
  const lines = [
    `${r.target.padEnd(14)} ${String(r.runs).padStart(9)} inputs  ${(r.ms / 1000).toFixed(1).padStart(7)} s  ` +
      `valid ${r.valid}${Object.keys(r.labels).length > 0 ? ` (${byCount(r.labels)})` : ''}  slowest ${r.slowestMs.toFixed(1)} ms  ` +
      `heap ${mib(r.heapStart)} -> ${mib(r.heapEnd)}`,
    `${''.padEnd(14)} typed errors: ${byCount(r.errors) || 'none'}`,
  ];
  if (r.calls.length > 0) lines.push(`${''.padEnd(14)} calls: ${r.calls.join(', ')}`);
  if (r.failure !== null) {
    const f = r.failure;
    lines.push(`${''.padEnd(14)} FAILED (${f.kind}): ${f.message}`);
    if (f.input !== '') lines.push(`${''.padEnd(14)} input: ${f.input}`);
    if (f.stack !== '') lines.push(f.stack.split('\n').slice(0, 8).map((l) => `${''.padEnd(14)} ${l}`).join('\n'));
    if (f.path !== '') lines.push(`${''.padEnd(14)} replay: npm run fuzz -- --target ${r.target} --seed ${f.seed} --path ${f.path}`);
  }
  return lines.join('\n');
}
