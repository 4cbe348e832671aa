/**
 * No core file: a crash must not write the process's memory (identity secret, passphrase, message text)
 * to disk. Node has no setrlimit, so the CLI entry, before any secret exists, asks util-linux's
 * `prlimit` to set this process's RLIMIT_CORE to 0 (soft and hard: nothing in the process can raise it
 * again). Children inherit the limit: the tor we spawn gets it too (and tor's default
 * DisableDebuggerAttachment 1 makes it non-dumpable on top, per tor(1)).
 *
 * A limit of 0 also stops the usual crash collectors that the kernel pipes cores to: systemd-coredump
 * and apport honour the crashing process's RLIMIT_CORE. Where `prlimit` is missing (Termux without
 * util-linux, macOS) nothing is changed and `entrechat doctor` says so, with the fix.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A limit from /proc/PID/limits: a number of bytes, or 'unlimited'. */
export type Limit = number | 'unlimited';

export interface CoreLimit {
  readonly soft: Limit;
  readonly hard: Limit;
}

/** How {@link disableCoreDumps} went. */
export interface CoreDumpState {
  /** True when the core limit is 0 (soft and hard) now. */
  readonly disabled: boolean;
  /** 'already' (it was 0), 'prlimit' (we set it), 'unavailable' (no /proc or no prlimit), 'failed'. */
  readonly how: 'already' | 'prlimit' | 'unavailable' | 'failed';
}

/** Bound on the prlimit run: it returns in milliseconds; a hung one must not hold up the command. */
const PRLIMIT_TIMEOUT = 5000;

function parseLimit(text: string): Limit | null {
  if (text === 'unlimited') return 'unlimited';
  return /^\d+$/.test(text) ? Number(text) : null;
}

/**
 * The "Max core file size" line of /proc/`pid`/limits, or null where there is no such file (not Linux,
 * or the process is gone).
 */
export function readCoreLimit(pid: number | 'self' = 'self'): CoreLimit | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${String(pid)}/limits`, 'utf8');
  } catch {
    return null; // no /proc here (macOS, Windows) or no such process: nothing to read, said so by the caller
  }
  const m = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(text);
  if (m?.[1] === undefined || m[2] === undefined) return null;
  const soft = parseLimit(m[1]);
  const hard = parseLimit(m[2]);
  return soft === null || hard === null ? null : { soft, hard };
}

/** Whether a core limit forbids any core file. */
export function coreDumpsOff(limit: CoreLimit | null): boolean {
  return limit !== null && limit.soft === 0 && limit.hard === 0;
}

/**
 * Sets this process's core-file limit to 0 (soft and hard) with `prlimit --pid <own pid> --core=0:0`,
 * then reads it back. Call it first thing, before any secret is read. Never throws.
 */
export function disableCoreDumps(): CoreDumpState {
  const before = readCoreLimit();
  if (before === null) return { disabled: false, how: 'unavailable' };
  if (coreDumpsOff(before)) return { disabled: true, how: 'already' };
  const run = spawnSync('prlimit', ['--pid', String(process.pid), '--core=0:0'], { stdio: 'ignore', timeout: PRLIMIT_TIMEOUT });
  if (run.error !== undefined && (run.error as NodeJS.ErrnoException).code === 'ENOENT') return { disabled: false, how: 'unavailable' };
  return coreDumpsOff(readCoreLimit()) ? { disabled: true, how: 'prlimit' } : { disabled: false, how: 'failed' };
}
