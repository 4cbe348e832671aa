/**
 * `entrechat doctor`: what Entrechat needs, checked one by one, each problem with its fix. It opens no
 * socket: the tor check runs `tor --verify-config` with the options a session uses (in a temp folder
 * it removes), which parses them and exits without starting. With `--tor-config FILE`, also that file
 * as `talk` would take it (the allowlist, the bridge lines), each transport program it names (missing:
 * TOR_TRANSPORT_MISSING, with the install line), and the session's options with its lines.
 */
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEntrechatError, type EntrechatError } from '../core/errors.ts';
import { DOCTOR_CHECK_TIMEOUT } from '../core/limits.ts';
import { spawnTor, stopTor, torBinary } from '../tor/proc.ts';
import { inspectStore } from '../store/store.ts';
import { chooseTempBase } from '../tor/tempbase.ts';
import { prepareStateDir } from '../tor/state-dir.ts';
import { readTorConfig } from '../tor/owner.ts';
import { bridgeConfig } from '../tor/torrc.ts';
import { OBFS4_INSTALL } from '../tor/transport-plugin.ts';
import { coreDumpsOff, readCoreLimit } from './hardening.ts';
import { readSettings, torStateDir } from './settings.ts';

export interface DoctorCheck {
  readonly name: 'tor' | 'tor-config' | 'tor-config-file' | 'transport' | 'core-dumps' | 'temp-folder' | 'tor-state' | 'store';
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

/**
 * The `--tor-config` file as `talk` reads it: its lines, then each ClientTransportPlugin program.
 * Returns the checks and, when the file passed, its path for `tor --verify-config`.
 */
function checkTorConfigFile(file: string): { checks: DoctorCheck[]; usable: boolean } {
  try {
    const text = readTorConfig(file);
    const cfg = bridgeConfig(text);
    const checks: DoctorCheck[] = [{
      name: 'tor-config-file', ok: true,
      detail: `${file}: accepted${cfg.useBridges ? `, ${cfg.bridges.length} bridge${cfg.bridges.length === 1 ? '' : 's'} (UseBridges 1)` : ''}`,
    }];
    for (const p of cfg.plugins) checks.push({ name: 'transport', ok: true, detail: `${p.transports.join(',')}: ${p.program} is installed` });
    return { checks, usable: true };
  } catch (e) {
    const err = isEntrechatError(e) ? e : null;
    if (err?.code === 'TOR_TRANSPORT_MISSING') {
      return { checks: [{ name: 'tor-config-file', ok: true, detail: `${file}: accepted` }, transportMissing(err)], usable: false };
    }
    return {
      checks: [{
        name: 'tor-config-file', ok: false, detail: `${file}: ${err?.message ?? 'unreadable'}`,
        fix: 'correct the file: README § Where Tor is blocked shows one that works', code: err?.code ?? 'TOR_CONFIG_INVALID',
      }],
      usable: false,
    };
  }
}

/** The ClientTransportPlugin check that failed (the first missing program, named in the message). */
function transportMissing(err: EntrechatError): DoctorCheck {
  const lyrebird = /\/lyrebird\b/.test(err.message);
  return {
    name: 'transport', ok: false, detail: err.message,
    fix: lyrebird ? 'sudo apt-get install lyrebird where your Debian has it; else sudo apt-get install obfs4proxy and name /usr/bin/obfs4proxy' : OBFS4_INSTALL,
    code: 'TOR_TRANSPORT_MISSING',
  };
}

async function checkTor(work: string, torConfig: string | null): Promise<DoctorCheck[]> {
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
    '--verify-config', '--ignore-missing-torrc', '-f', '/dev/null', '--defaults-torrc', torConfig ?? '/dev/null',
    '--DataDirectory', join(work, 'data'), '--ControlPort', 'auto', '--CookieAuthentication', '1',
    '--SocksPort', `unix:${join(work, 'socks.sock')} ExtendedErrors`, '--AvoidDiskWrites', '1',
  ], work);
  const withFile = torConfig !== null ? ' with the --tor-config lines' : '';
  checks.push(verify.code === 0
    ? { name: 'tor-config', ok: true, detail: `tor accepts the options of a session${withFile}` }
    : torConfig !== null
      ? { name: 'tor-config', ok: false, detail: `tor refuses the options of a session${withFile}: ${verify.output.split('\n').pop() ?? ''}`, fix: 'correct the --tor-config file (README § Where Tor is blocked), or update tor: sudo apt-get install tor', code: 'TOR_CONFIG_INVALID' }
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

export interface DoctorOptions {
  /** A `--tor-config` file to check as `talk` would take it. */
  readonly torConfig?: string;
}

/** Runs every check; never throws for what it checks. */
export async function doctor(home: string, options: DoctorOptions = {}): Promise<DoctorCheck[]> {
  const work = await mkdtemp(join(tmpdir(), 'entrechat-doctor-'));
  try {
    const file = options.torConfig !== undefined ? checkTorConfigFile(options.torConfig) : null;
    const tor = await checkTor(work, file?.usable === true && options.torConfig !== undefined ? options.torConfig : null);
    return [...tor, ...(file?.checks ?? []), checkCoreDumps(), await checkTempFolder(), await checkTorState(home), await checkStore(home)];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
