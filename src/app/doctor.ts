/**
 * `entrechat doctor`: what Entrechat needs, checked one by one, each problem with its fix. It opens no
 * socket: the tor check runs `tor --verify-config` with the options a session uses (in a temp folder
 * it removes), which parses them and exits without starting.
 */
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEntrechatError } from '../core/errors.ts';
import { DOCTOR_CHECK_TIMEOUT } from '../core/limits.ts';
import { spawnTor, stopTor, torBinary } from '../tor/proc.ts';
import { inspectStore } from '../store/store.ts';
import { chooseTempBase } from '../tor/tempbase.ts';
import { prepareStateDir } from '../tor/state-dir.ts';
import { coreDumpsOff, readCoreLimit } from './hardening.ts';
import { readSettings, torStateDir } from './settings.ts';

export interface DoctorCheck {
  readonly name: 'tor' | 'tor-config' | 'core-dumps' | 'temp-folder' | 'tor-state' | 'store';
  readonly ok: boolean;
  /** Works, with a weakness worth knowing (shown with `!`; the exit code stays 0). */
  readonly warn?: true;
  /** What was found, in plain words (no secret: paths and versions only). */
  readonly detail: string;
  /** For a problem: what to do about it. */
  readonly fix?: string;
  /** For a problem: the error code, as in docs/errors.md. */
  readonly code?: string;
}


async function runTor(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const proc = spawnTor(args, { cwd });
  const timer = setTimeout(() => { void stopTor(proc); }, DOCTOR_CHECK_TIMEOUT);
  try {
    const status = await proc.exited;
    return { code: status.code, output: proc.stderrTail() };
  } finally {
    clearTimeout(timer);
  }
}

async function checkTor(work: string): Promise<DoctorCheck[]> {
  let path: string;
  try {
    path = torBinary();
  } catch (e) {
    return [{ name: 'tor', ok: false, detail: 'tor is not installed', fix: 'sudo apt-get install tor', code: isEntrechatError(e) ? e.code : 'TOR_NOT_FOUND' }];
  }
  const version = await runTor(['--version'], work);
  const v = /Tor version (\S+?)\.?(\s|$)/.exec(version.output)?.[1];
  if (version.code !== 0 || v === undefined) {
    return [{ name: 'tor', ok: false, detail: `${path} does not run`, fix: 'reinstall it: sudo apt-get install --reinstall tor', code: 'TOR_SPAWN_FAILED' }];
  }
  const checks: DoctorCheck[] = [{ name: 'tor', ok: true, detail: `tor ${v} (${path})` }];
  const verify = await runTor([
    '--verify-config', '--ignore-missing-torrc', '-f', '/dev/null', '--defaults-torrc', '/dev/null',
    '--DataDirectory', join(work, 'data'), '--ControlPort', 'auto', '--CookieAuthentication', '1',
    '--SocksPort', `unix:${join(work, 'socks.sock')} ExtendedErrors`, '--AvoidDiskWrites', '1',
  ], work);
  checks.push(verify.code === 0
    ? { name: 'tor-config', ok: true, detail: 'tor accepts the options of a session' }
    : { name: 'tor-config', ok: false, detail: `tor refuses the options of a session: ${verify.output.split('\n').pop() ?? ''}`, fix: 'update tor (0.4.8 or later): sudo apt-get install tor', code: 'TOR_SPAWN_FAILED' });
  return checks;
}

const STORE_FIXES: Readonly<Record<string, string>> = {
  STORE_NOT_FOUND: 'run `entrechat init` to make an identity',
  STORE_BAD_PERMISSIONS: 'chmod 700 "$ENTRECHAT_HOME" && chmod 600 "$ENTRECHAT_HOME/store" (and make sure both are yours)',
  STORE_IO: 'check the folder exists and is readable',
};

async function checkStore(home: string): Promise<DoctorCheck> {
  try {
    const { needsPassphrase } = await inspectStore(home);
    return { name: 'store', ok: true, detail: `${home}: private, ${needsPassphrase ? 'protected by a passphrase' : 'WITHOUT a passphrase (tests and demos only)'}` };
  } catch (e) {
    const code = isEntrechatError(e) ? e.code : 'STORE_IO';
    return { name: 'store', ok: false, detail: `${home}: ${isEntrechatError(e) ? e.message : 'unreadable'}`, fix: STORE_FIXES[code] ?? 'restore the store from a backup', code };
  }
}

/** Whether this process may write a core file (the CLI entry set the limit to 0: app/hardening.ts). */
function checkCoreDumps(): DoctorCheck {
  const limit = readCoreLimit();
  if (coreDumpsOff(limit)) return { name: 'core-dumps', ok: true, detail: 'no core file: the core limit is 0 for Entrechat and its tor' };
  return {
    name: 'core-dumps', ok: true, warn: true,
    detail: limit === null ? 'the core limit cannot be read here (no /proc): a crash may write memory to disk' : 'the core limit could not be set to 0 (prlimit is missing): a crash may write memory, secrets included, to disk',
    fix: 'install util-linux (sudo apt-get install util-linux; on Termux: pkg install util-linux), or run `ulimit -c 0` in the shell before entrechat',
  };
}

/** Where a spawned tor's temp folder goes, and whether that is memory (tor/tempbase.ts). */
async function checkTempFolder(): Promise<DoctorCheck> {
  const base = await chooseTempBase();
  if (base.memory) return { name: 'temp-folder', ok: true, detail: `tor's temp folder goes to ${base.path} (${base.source}, in memory)` };
  return {
    name: 'temp-folder', ok: true, warn: true,
    detail: `tor's temp folder goes to ${base.path} (${base.source}), which is on a disk: what tor keeps there during a session may stay on it after deletion`,
    fix: base.source === 'TMPDIR' ? 'point TMPDIR to a tmpfs folder of yours (or unset it)' : 'mount a tmpfs on /dev/shm, or log in through systemd so that XDG_RUNTIME_DIR is set',
  };
}

/**
 * The folder where a spawned tor keeps its guards between sessions ($ENTRECHAT_HOME/tor): private, or
 * absent. Whether the identity is amnesic is said only when the store needs no passphrase (doctor
 * never asks for one).
 */
async function checkTorState(home: string): Promise<DoctorCheck> {
  const dir = torStateDir(home);
  let amnesic: boolean | null = null;
  try {
    if (!(await inspectStore(home)).needsPassphrase) amnesic = (await readSettings(home, { noPassphrase: true })).amnesic;
  } catch {
    // the store check says what is wrong with it
  }
  const st = await lstat(dir).catch(() => null);
  if (st === null) {
    return { name: 'tor-state', ok: true, detail: amnesic === true ? 'amnesic: every session starts a fresh tor; no tor folder is kept' : `${dir} does not exist yet (made at the first session, unless amnesic)` };
  }
  try {
    // Checks only: the folder exists, so nothing is made.
    await prepareStateDir(dir);
  } catch (e) {
    return {
      name: 'tor-state', ok: false, detail: isEntrechatError(e) ? e.message : `${dir} is not usable`,
      fix: `chmod 700 "${dir}" if it is yours and a folder; else remove it (it is made again at the next session), or use --amnesic`, code: 'TOR_STATE_UNSAFE',
    };
  }
  if (amnesic === true) {
    return { name: 'tor-state', ok: true, warn: true, detail: `amnesic, yet ${dir} (guards and directory cache of earlier sessions) is still there`, fix: `rm -r "${dir}" (or entrechat settings amnesic on, which removes it)` };
  }
  return { name: 'tor-state', ok: true, detail: `${dir}: private; tor keeps its guards and directory cache there between sessions` };
}

/** Runs every check; never throws for what it checks. */
export async function doctor(home: string): Promise<DoctorCheck[]> {
  const work = await mkdtemp(join(tmpdir(), 'entrechat-doctor-'));
  try {
    return [...(await checkTor(work)), checkCoreDumps(), await checkTempFolder(), await checkTorState(home), await checkStore(home)];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
