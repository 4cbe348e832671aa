/**
 * Owning tor processes: finding the binary, spawning it (no shell, stdin from /dev/null), stopping it by
 * pid (SIGTERM, a bounded grace, then SIGKILL: tor 0.4.9 sometimes deadlocks on exit and keeps its
 * ports), and waiting for the files tor writes (pid file, control port file, cookie).
 *
 * Every signal goes to a pid we spawned ourselves, or to a recorded pid whose command line still names
 * what we expect (a guard against pid reuse). Nothing here ever signals a process by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { TorError } from '../core/errors.ts';
import { TOR_STOP_GRACE } from '../core/limits.ts';

/** Default grace between SIGTERM and SIGKILL (TORNET.md: about 1 stop in 700 hangs after SIGTERM). */
export const STOP_GRACE_MS = TOR_STOP_GRACE;
/** How long we wait for a process to vanish after SIGKILL before giving up on it (never reached in practice). */
const KILL_WAIT_MS = 10_000;
/** Lines of output kept for error messages. */
const TAIL_LINES = 12;
/** Longest line kept in the tail (a runaway line must not grow memory). */
const TAIL_LINE_MAX = 400;
const POLL_MS = 50;

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether `file` names an existing program: a path to a file, or a name found on PATH. */
function existsAsProgram(file: string): boolean {
  if (file.includes('/')) return isExecutableFile(file);
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && isExecutableFile(join(dir, file)));
}

function notFound(what: string): TorError {
  return new TorError('TOR_NOT_FOUND',
    `${what}: install it with \`sudo apt-get install tor\` (or set ENTRECHAT_TOR to the tor program)`);
}

/**
 * Finds the tor binary: $ENTRECHAT_TOR if set (a path, or a name looked up on PATH), else `tor` on PATH.
 * @returns an absolute path to an executable file
 * @throws TorError TOR_NOT_FOUND
 */
export function torBinary(env: NodeJS.ProcessEnv = process.env): string {
  const wanted = env.ENTRECHAT_TOR !== undefined && env.ENTRECHAT_TOR !== '' ? env.ENTRECHAT_TOR : 'tor';
  if (wanted.includes('/')) {
    const path = isAbsolute(wanted) ? wanted : resolve(wanted);
    if (isExecutableFile(path)) return path;
    throw notFound(`ENTRECHAT_TOR names no executable file (${path})`);
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, wanted);
    if (isExecutableFile(path)) return isAbsolute(path) ? path : resolve(path);
  }
  throw notFound(`the \`${wanted}\` program is not installed (or not on PATH)`);
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A process we spawned. */
export interface TorProcess {
  readonly pid: number;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  readonly hasExited: () => boolean;
  /** How it exited (exit code or signal), once it has; null while it runs. */
  readonly exitStatus: () => ExitStatus | null;
  /** The last few lines of its stdout and stderr, for error messages. */
  readonly stderrTail: () => string;
  /**
   * Stops reading its output and lets this Node process exit while it runs on (the testnet outlives
   * `entrechat testnet up`). It can still be stopped by pid. Idempotent.
   */
  readonly release: () => void;
}

export interface SpawnOptions {
  readonly cwd?: string;
  /**
   * Starts it in its own session and process group: a Ctrl-C or a hang-up on our terminal does not
   * reach it; only we stop it (for processes meant to outlive us, see `release`).
   */
  readonly detached?: boolean;
  /** The environment (default: ours). */
  readonly env?: NodeJS.ProcessEnv;
}

/** Keeps the last TAIL_LINES lines of a byte stream. */
class Tail {
  readonly #lines: string[] = [];
  #partial = '';

  push(chunk: string): void {
    const parts = (this.#partial + chunk).split(/\r?\n/);
    this.#partial = (parts.pop() ?? '').slice(-TAIL_LINE_MAX);
    for (const line of parts) {
      if (line.trim() === '') continue;
      this.#lines.push(line.slice(0, TAIL_LINE_MAX));
      if (this.#lines.length > TAIL_LINES) this.#lines.shift();
    }
  }

  text(): string {
    const all = this.#partial.trim() === '' ? this.#lines : [...this.#lines, this.#partial];
    return all.slice(-TAIL_LINES).join('\n');
  }
}

/**
 * Spawns any program the way tor is spawned: no shell, stdin from /dev/null, stdout and stderr read into
 * a short tail. Used by spawnTor; exported so that the stop logic can be exercised with other programs.
 * @throws TorError TOR_NOT_FOUND when `file` does not exist, TOR_SPAWN_FAILED on any other spawn error
 */
export function spawnProcess(file: string, args: readonly string[], options: SpawnOptions = {}): TorProcess {
  if (options.cwd !== undefined) {
    let isDir = false;
    try { isDir = statSync(options.cwd).isDirectory(); } catch { /* reported below */ }
    // spawn reports a missing cwd as ENOENT, which would read as "tor is not installed".
    if (!isDir) throw new TorError('TOR_SPAWN_FAILED', `cannot start ${file}: its working folder does not exist`);
  }
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: options.detached === true,
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
  } catch (cause) {
    throw new TorError('TOR_SPAWN_FAILED', `cannot start ${file}: ${cause instanceof Error ? cause.message : 'spawn failed'}`, { cause });
  }
  // Spawn failures (ENOENT, EACCES, EAGAIN…) arrive as an 'error' event; this listener keeps them from
  // crashing the process, and the missing pid below reports them.
  let spawnError: Error | undefined;
  child.on('error', (e) => { spawnError = e; });
  const pid = child.pid;
  if (pid === undefined) {
    if (!existsAsProgram(file)) throw notFound(`${file} does not exist`);
    throw new TorError('TOR_SPAWN_FAILED', `cannot start ${file}${spawnError !== undefined ? `: ${spawnError.message}` : ''}`);
  }
  const tail = new Tail();
  const onData = (d: Buffer): void => { tail.push(d.toString('utf8')); };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let status: ExitStatus | null = null;
  child.once('exit', (code, signal) => { status = { code, signal }; });
  // Resolved on 'close', after 'exit' and after its output was read to the end (the tail is complete).
  const exited = new Promise<ExitStatus>((resolveExit) => {
    child.once('close', (code, signal) => {
      status ??= { code, signal };
      resolveExit(status);
    });
  });
  let released = false;
  return {
    pid,
    exited,
    hasExited: () => status !== null,
    exitStatus: () => status,
    stderrTail: () => tail.text(),
    release: () => {
      if (released) return;
      released = true;
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.unref();
    },
  };
}

/**
 * Spawns tor with the arguments given (no shell, stdin from /dev/null).
 * @throws TorError TOR_NOT_FOUND, TOR_SPAWN_FAILED
 */
export function spawnTor(args: readonly string[], options: SpawnOptions = {}): TorProcess {
  return spawnProcess(torBinary(options.env ?? process.env), args, options);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone. EPERM cannot happen for a process we spawned.
  }
}

const stopping = new WeakMap<TorProcess, Promise<void>>();

/**
 * Stops a process we spawned: SIGTERM, up to `graceMs` for it to exit, then SIGKILL and a wait for the
 * exit. Idempotent (concurrent calls share one stop); never rejects.
 */
export function stopTor(proc: TorProcess, graceMs: number = STOP_GRACE_MS): Promise<void> {
  const pending = stopping.get(proc);
  if (pending !== undefined) return pending;
  const stop = (async () => {
    if (proc.hasExited()) return;
    const exited = proc.exited.then(() => true);
    signalPid(proc.pid, 'SIGTERM');
    if (await raceTimeout(exited, graceMs)) return;
    signalPid(proc.pid, 'SIGKILL');
    await raceTimeout(exited, KILL_WAIT_MS);
  })().catch(() => undefined);
  stopping.set(proc, stop);
  return stop;
}

/** Resolves true if `p` resolved within `ms`, false otherwise; the timer never outlives the race. */
async function raceTimeout(p: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<boolean>((r) => { timer = setTimeout(() => { r(false); }, ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** A live process as /proc shows it: its start time (clock ticks after boot) tells a reused pid apart. */
interface ProcInfo {
  readonly startTime: string;
  readonly cmdline: string;
}

/**
 * /proc/<pid>, or null when there is no live process there. A zombie (exited, not yet reaped by its
 * parent) does not count: it holds no ports and no files any more.
 */
function procInfo(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The fields after the parenthesised command name (which may itself hold spaces or parentheses):
    // state is field 3, starttime field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (state === undefined || state === 'Z' || state === 'X' || state === 'x') return null;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`).toString('utf8').split('\0').join(' ');
    return { startTime: fields[19] ?? '', cmdline };
  } catch {
    return null;
  }
}

/** Whether `pid` is a live process (a zombie is not). */
export function isLive(pid: number): boolean {
  return procInfo(pid) !== null;
}

/**
 * When the live process at `pid` started (clock ticks after boot, from /proc/<pid>/stat), or null when
 * there is none (or no /proc): with the pid, it names one process, whatever reuses the pid later.
 */
export function processStartTime(pid: number): string | null {
  return procInfo(pid)?.startTime ?? null;
}

/** The process at `pid`, if it is live and its command line contains `mustContain`. */
function ours(pid: number, mustContain: string): ProcInfo | null {
  const info = procInfo(pid);
  return info?.cmdline.includes(mustContain) === true ? info : null;
}

/**
 * Whether that very process (same pid, same start time) still lives. Not its command line: an exiting
 * process loses it (its memory is released) before it closes its sockets.
 */
function stillThere(pid: number, which: ProcInfo): boolean {
  return procInfo(pid)?.startTime === which.startTime;
}

/** Polls until the process is gone, up to `ms`; true if it is. */
async function waitGone(pid: number, which: ProcInfo, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!stillThere(pid, which)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
  }
}

/**
 * Stops a process recorded earlier by pid (e.g. a testnet tor, from `testnet down`): only if
 * /proc/<pid>/cmdline still contains `mustContain`. SIGTERM, up to `graceMs`, then SIGKILL.
 * Never rejects.
 * @returns whether the pid was ours and running
 */
export async function stopPid(pid: number, mustContain: string, graceMs: number = STOP_GRACE_MS): Promise<boolean> {
  if (!Number.isSafeInteger(pid) || pid <= 1 || mustContain === '') return false;
  const which = ours(pid, mustContain);
  if (which === null) return false;
  signalPid(pid, 'SIGTERM');
  if (await waitGone(pid, which, graceMs)) return true;
  // Re-check just before the SIGKILL: the pid is still that process.
  if (stillThere(pid, which)) signalPid(pid, 'SIGKILL');
  await waitGone(pid, which, KILL_WAIT_MS);
  return true;
}

/** Blocks the thread for `ms` (for 'exit' handlers only, where nothing asynchronous runs any more). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * stopPid for several pids at once, synchronously: for a process 'exit' handler (an interrupted test run),
 * where promises no longer settle. SIGTERM to each pid still running as `mustContain`, up to `graceMs`
 * for all of them, then SIGKILL to any left.
 * @returns how many were ours and running
 */
export function stopPidsSync(pids: readonly number[], mustContain: string, graceMs: number = STOP_GRACE_MS): number {
  if (mustContain === '') return 0;
  const found: [number, ProcInfo][] = [];
  for (const pid of pids) {
    const which = Number.isSafeInteger(pid) && pid > 1 ? ours(pid, mustContain) : null;
    if (which !== null) found.push([pid, which]);
  }
  for (const [pid] of found) signalPid(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let left = found;
  while (left.length > 0 && Date.now() < deadline) {
    sleepSync(POLL_MS);
    left = left.filter(([pid, which]) => stillThere(pid, which));
  }
  for (const [pid] of left) signalPid(pid, 'SIGKILL');
  return found.length;
}

export interface WaitForFileOptions {
  /** Upper bound on the wait. */
  readonly timeoutMs: number;
  /** The error to reject with when `timeoutMs` passes. */
  readonly onTimeout: () => Error;
  /** Aborting rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /**
   * Checked on every poll: an error returned here ends the wait at once (e.g. the process that should
   * write the file has exited).
   */
  readonly failIf?: () => Error | undefined;
  /** Poll interval (default 50 ms). */
  readonly intervalMs?: number;
}

/**
 * Waits until `file` exists and is non-empty (tor writes its files whole, through a rename), polling.
 * @returns its contents
 * @throws whatever onTimeout() / failIf() return, or the signal's reason
 */
export async function waitForFile(file: string, options: WaitForFileOptions): Promise<Buffer> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? POLL_MS;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const data = await readFile(file);
      if (data.length > 0) return data;
    } catch {
      // not there yet
    }
    const failure = options.failIf?.();
    if (failure !== undefined) throw failure;
    const left = deadline - Date.now();
    if (left <= 0) throw options.onTimeout();
    await abortableSleep(Math.min(interval, left), options.signal);
  }
}

/** Sleeps `ms`, or rejects with the signal's reason as soon as it aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolveSleep, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolveSleep();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
