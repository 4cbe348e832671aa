/**
 * The tor a session runs on: either one we spawn for the session alone (the default) or one already
 * running that we attach to through its control port (`--tor-control`: Tails, Whonix, a system tor).
 *
 * A spawned tor gets a fresh 0700 temp folder, a control port on loopback (`ControlPort auto`, written
 * to a file) with cookie authentication, a SOCKS unix socket inside the folder with extended errors,
 * `__OwningControllerProcess` and `TAKEOWNERSHIP` (it exits with us, or when our control connection
 * closes), `AvoidDiskWrites`, and its log on stdout, kept in memory. Its DataDirectory is the identity's
 * kept folder when the caller names one (guards and directory cache between sessions, locked for the
 * session: state-dir.ts), else a folder inside the temp folder (amnesic). At the end it is stopped by
 * pid (SIGTERM, then SIGKILL after 5 s), the kept folder unlocked and the temp folder deleted, on every
 * path.
 *
 * An attached tor is only borrowed: nothing is spawned or configured, and what the session adds (its
 * onions and client-authorization entries) is removed by the transport before the connection closes.
 */
import { closeSync, fstatSync, openSync, readSync, rmSync } from 'node:fs';
import { access, constants, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isEntrechatError, TorError } from '../core/errors.ts';
import { TOR_CONFIG_MAX_BYTES, TOR_CONTROL_FILE_TIMEOUT } from '../core/limits.ts';
import { authenticate, authenticateAuto, type AutoAuthOptions } from './commands/authenticate.ts';
import { getConf } from './commands/getconf.ts';
import { getInfo } from './commands/getinfo.ts';
import { setEvents } from './commands/setevents.ts';
import { ControlConnection, parseControlAddress, sanitizeTorText, TorCommandError, type Reply } from './control/connection.ts';
import { parseBootstrapPhase, parseStatusClientBootstrap } from './commands/events.ts';
import { isLive, spawnTor, stopTor, waitForFile, type TorProcess } from './proc.ts';
import { makeSessionDir, sessionDirCandidates } from './session-dir.ts';
import { builtFirstHops, isTorLockMessage, keptPrimaryGuard, lockStateDir, prepareStateDir, type StateLock } from './state-dir.ts';
import type { SocksEndpoint } from './socks.ts';
import { bridgeConfig, checkTorConfig } from './torrc.ts';
import { BridgeWatch } from './bridge-watch.ts';
import { checkTransportProgram } from './transport-plugin.ts';
import { chooseTempBase } from './tempbase.ts';

export interface BootstrapProgress {
  readonly percent: number;
  readonly summary: string;
}

export interface TorSession {
  readonly control: ControlConnection;
  readonly socks: SocksEndpoint;
  /** True for a tor we spawned (and will stop). */
  readonly spawned: boolean;
  /**
   * Our private folder, where our listeners' unix sockets live: for a spawned tor, and for a borrowed
   * one that can reach it (see reachesOurSockets); null when listeners are TCP on 127.0.0.1.
   */
  readonly dir: string | null;
  /** Synchronously: why this tor is no longer usable (it exited, its control connection closed), or null. */
  failure(): TorError | null;
  /** Called once if the tor becomes unusable before `close`. */
  onFailure(listener: (error: TorError) => void): void;
  /** Closes the control connection; a spawned tor is stopped and its folder removed. Idempotent, never rejects. */
  close(): Promise<void>;
}

/**
 * A control command failed because the connection closed under us: for a session's tor that means Tor
 * went away (a spawned tor exits with its owning connection, and a borrowed one that drops us is gone
 * for this session), so it is reported as such, TOR_EXITED, whichever command happened to be pending.
 */
export function torGone(e: unknown): unknown {
  return isEntrechatError(e) && e.code === 'TOR_CONTROL_CLOSED' ? new TorError('TOR_EXITED', 'Tor stopped', { cause: e }) : e;
}

/**
 * Reads and checks a `--tor-config` file: torrc lines to add to a spawned tor (how a session joins the
 * private test network, or a censored network through bridges or a proxy). Only the options of
 * {@link TORRC_ALLOWED} are accepted, however they are spelled (see torrc.ts), and every
 * pluggable-transport program it names must be installed (transport-plugin.ts).
 * @throws TorError TOR_CONFIG_INVALID, TOR_TRANSPORT_MISSING
 */
export function readTorConfig(file: string): string {
  let text: string;
  let fd: number | null = null;
  try {
    // Non-blocking, a regular file, and never more than the bound read: a FIFO cannot hang us, nor a
    // device (whose size says 0) fill our memory.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) throw new TorError('TOR_CONFIG_INVALID', 'the --tor-config file is not a regular file');
    const buf = Buffer.alloc(TOR_CONFIG_MAX_BYTES + 1);
    let at = 0;
    for (let n = 1; n > 0 && at < buf.length; at += n) n = readSync(fd, buf, at, buf.length - at, at);
    if (at > TOR_CONFIG_MAX_BYTES) throw new TorError('TOR_CONFIG_INVALID', `the --tor-config file is over ${TOR_CONFIG_MAX_BYTES} bytes`);
    text = buf.subarray(0, at).toString('utf8');
  } catch (cause) {
    if (isEntrechatError(cause)) throw cause;
    throw new TorError('TOR_CONFIG_INVALID', 'cannot read the --tor-config file', { cause });
  } finally {
    if (fd !== null) closeSync(fd);
  }
  checkTorConfig(text);
  for (const plugin of bridgeConfig(text).plugins) checkTransportProgram(plugin.program);
  return text;
}

/**
 * Options that must stay unset on a spawned tor: each would make it write outside its data folder
 * (which we delete, or keep for guards only), or write a session's keys into the kept one
 * (ClientOnionAuthDir, HiddenServiceDir), or open a way in. Checked with GETCONF once it runs, with
 * the ones we set.
 */
const MUST_BE_UNSET = ['CacheDirectory', 'KeyDirectory', 'PidFile', 'ControlSocket', 'HiddenServiceDir', 'ClientOnionAuthDir', 'HashedControlPassword'];

/**
 * Checks with GETCONF that tor holds exactly the options we set, and none of {@link MUST_BE_UNSET}:
 * whatever reached it besides our command line (its defaults file, a tor that reads more than we
 * think) has not taken them over.
 * @throws TorError TOR_CONFIG_INVALID naming the first option that differs; TOR_CONTROL_*
 */
export async function checkOwnedOptions(control: ControlConnection, owned: readonly (readonly [string, string])[]): Promise<void> {
  const held = await getConf(control, [...owned.map(([name]) => name), ...MUST_BE_UNSET]);
  for (const [name, value] of owned) {
    const values = held.get(name.toLowerCase()) ?? [];
    if (values.length !== 1 || values[0] !== value) throw new TorError('TOR_CONFIG_INVALID', `Tor does not hold the ${name} Entrechat set`);
  }
  for (const name of MUST_BE_UNSET) {
    if ((held.get(name.toLowerCase()) ?? []).length !== 0) throw new TorError('TOR_CONFIG_INVALID', `Tor has ${name} set, which Entrechat leaves unset`);
  }
}

class Session implements TorSession {
  readonly control: ControlConnection;
  readonly socks: SocksEndpoint;
  readonly spawned: boolean;
  readonly dir: string | null;
  readonly #proc: TorProcess | null;
  readonly #afterStop: () => void;
  #closing = false;
  #closed: Promise<void> | null = null;
  #failure: TorError | null = null;
  readonly #listeners: ((error: TorError) => void)[] = [];

  constructor(control: ControlConnection, socks: SocksEndpoint, proc: TorProcess | null, dir: string | null, afterStop: () => void = () => undefined) {
    this.control = control;
    this.#afterStop = afterStop;
    this.socks = socks;
    this.spawned = proc !== null;
    this.#proc = proc;
    this.dir = dir;
    void control.closed.then(() => { this.#fail(new TorError('TOR_EXITED', proc !== null ? 'Tor stopped' : 'the connection to Tor closed')); });
    if (proc !== null) void proc.exited.then(() => { this.#fail(new TorError('TOR_EXITED', 'Tor stopped')); });
  }

  #fail(error: TorError): void {
    if (this.#closing || this.#failure !== null) return;
    this.#failure = error;
    for (const l of this.#listeners) {
      try {
        l(error);
      } catch {
        // A listener must not stop the others.
      }
    }
  }

  failure(): TorError | null {
    if (this.#closing) return null;
    if (this.#failure === null && this.#proc !== null && (this.#proc.hasExited() || !isLive(this.#proc.pid))) {
      this.#fail(new TorError('TOR_EXITED', 'Tor stopped'));
    }
    return this.#failure;
  }

  onFailure(listener: (error: TorError) => void): void {
    this.#listeners.push(listener);
  }

  close(): Promise<void> {
    this.#closing = true;
    this.#closed ??= (async () => {
      this.control.close();
      if (this.#proc !== null) await stopTor(this.#proc);
      // Tor has exited: its kept folder (if any) is free again.
      this.#afterStop();
      if (this.dir !== null) {
        await removeDir(this.dir);
        exitCleanups.get(this.dir)?.();
        exitCleanups.delete(this.dir);
      }
    })().catch(() => undefined);
    return this.#closed;
  }
}

async function removeDir(dir: string): Promise<void> {
  // tor may still be unlinking its sockets when it exits; a second pass catches a race.
  for (let i = 0; i < 3; i += 1) {
    try {
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      return;
    } catch {
      // try again
    }
  }
}

/**
 * Waits for bootstrap to reach 100 %, reporting progress from `STATUS_CLIENT` events (and the current
 * phase first, from `GETINFO status/bootstrap-phase`). Settles promptly once `signal` aborts or the
 * control connection closes. With `bridges` (a tor with `UseBridges 1`), also watches its `ORCONN`
 * events and fails with TOR_BRIDGE_UNREACHABLE when it can reach none of them (bridge-watch.ts).
 */
async function waitBootstrapped(control: ControlConnection, onProgress: (p: BootstrapProgress) => void, signal: AbortSignal, bridges?: BridgeWatch): Promise<void> {
  let unsubscribe = (): void => undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const settle = (error: Error | null): void => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        if (error === null) resolve();
        else reject(error);
      };
      const report = (percent: number, summary: string): void => {
        onProgress({ percent, summary });
        if (percent >= 100) settle(null);
      };
      const onAbort = (): void => { settle(new TorError('TOR_EXITED', 'the attempt ended while Tor was starting')); };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      void control.closed.then(() => { settle(new TorError('TOR_EXITED', 'Tor stopped while starting')); });
      unsubscribe = control.onEvent((event: Reply) => {
        const p = parseStatusClientBootstrap(event);
        if (p !== null) report(p.progress, p.summary);
        const unreachable = bridges?.onEvent(event) ?? null;
        if (unreachable !== null) settle(unreachable);
      });
      setEvents(control, bridges !== undefined ? ['STATUS_CLIENT', 'HS_DESC', 'ORCONN'] : ['STATUS_CLIENT', 'HS_DESC'])
        .then(() => getInfo(control, ['status/bootstrap-phase']))
        .then((info) => {
          const phase = parseBootstrapPhase(info.get('status/bootstrap-phase') ?? '');
          if (phase !== null) report(phase.progress, phase.summary);
        })
        .catch((e: unknown) => {
          const gone = torGone(e);
          settle(gone instanceof Error ? gone : new TorError('TOR_CONTROL_PROTOCOL', 'bootstrap status unreadable'));
        });
    });
  } finally {
    unsubscribe();
  }
}

export interface SpawnSessionOptions {
  /** torrc lines to add (the text of a --tor-config file, already checked by {@link readTorConfig}). */
  readonly extraConfig?: string;
  readonly onProgress: (p: BootstrapProgress) => void;
  readonly signal: AbortSignal;
  /** Where to make the temp folder (default: {@link chooseTempBase}, in memory when possible). */
  readonly tmp?: string;
  /**
   * Called as soon as there is something to clean up, before bootstrap: so that an abort during the
   * start still leaves the caller a session to close.
   */
  readonly onSpawned?: (session: TorSession) => void;
  /**
   * The folder where tor keeps its network state between sessions (guards, directory cache; see
   * state-dir.ts): checked, made if missing, locked for this session, and given to tor as its
   * DataDirectory. Without it (amnesic), tor's DataDirectory is inside the temp folder, deleted at the end.
   */
  readonly stateDir?: string;
  /**
   * Called once bootstrapped when the kept folder named a primary guard and none of tor's built
   * circuits starts at it: tor has moved to another guard since the last session.
   */
  readonly onGuardChanged?: () => void;
}

/**
 * Spawns a tor for one session and waits for it to bootstrap.
 * @throws TorError TOR_NOT_FOUND, TOR_SPAWN_FAILED, TOR_CONFIG_INVALID, TOR_EXITED,
 *   TOR_BRIDGE_UNREACHABLE, TOR_CONTROL_*
 */
export async function spawnSessionTor(options: SpawnSessionOptions): Promise<TorSession> {
  const stateDir = options.stateDir;
  let lock: StateLock | null = null;
  let keptGuard: string | null = null;
  if (stateDir !== undefined) {
    await prepareStateDir(stateDir);
    lock = lockStateDir(stateDir);
    keptGuard = keptPrimaryGuard(stateDir);
  }
  const releaseLock = (): void => { lock?.release(); };
  let dir: string;
  try {
    // In memory when possible (tempbase.ts), where unix socket paths fit (session-dir.ts); 0700, a random name.
    dir = await makeSessionDir(sessionDirCandidates(options.tmp ?? (await chooseTempBase()).path));
  } catch (e) {
    releaseLock();
    throw e;
  }
  let proc: TorProcess | null = null;
  let control: ControlConnection | null = null;
  let session: Session | null = null;
  let startOver = (): void => undefined;
  try {
    const torrc = join(dir, 'extra.torrc');
    const portFile = join(dir, 'control.port');
    const socksPath = join(dir, 'socks.sock');
    // What we set, on the command line: it takes precedence over the extra lines, which come in as
    // defaults. Checked with GETCONF once tor runs (checkOwnedOptions).
    const owned: (readonly [string, string])[] = [
      // The kept folder (guards and directory cache only: nothing below writes a session's secret to
      // the DataDirectory), or one inside the temp folder. CacheDirectory stays unset: the same folder.
      ['DataDirectory', stateDir ?? join(dir, 'data')],
      ['ControlPort', 'auto'],
      ['ControlPortWriteToFile', portFile],
      ['CookieAuthentication', '1'],
      ['CookieAuthFile', join(dir, 'control.cookie')],
      // A unix socket in our 0700 folder: no other user can reach it (makeSessionDir made its path fit).
      ['SocksPort', `unix:${socksPath} ExtendedErrors`],
      ['__OwningControllerProcess', String(process.pid)],
      ['AvoidDiskWrites', '1'],
      ['Log', 'notice stdout'],
      ['SafeLogging', '1'],
    ];
    const args = [
      '--ignore-missing-torrc',
      '-f', '/dev/null',
      '--defaults-torrc', options.extraConfig !== undefined ? torrc : '/dev/null',
      ...owned.flatMap(([name, value]) => [`--${name}`, value]),
    ];
    if (options.extraConfig !== undefined) {
      await writeFile(torrc, options.extraConfig, { mode: 0o600 });
    }
    // Its own process group: a Ctrl-C on our terminal reaches us (who end the session cleanly), not
    // tor directly. It still dies with us: TAKEOWNERSHIP and __OwningControllerProcess.
    proc = spawnTor(args, { cwd: dir, detached: true });
    exitCleanups.set(dir, cleanupAtExit(proc.pid, dir, releaseLock));
    const p = proc;
    const extra = options.extraConfig !== undefined;
    const startFailure = (): TorError => {
      // Killed by a signal, or ended by one it handles (SIGTERM, SIGINT: exit code 0): it did not fail
      // to start, it was stopped, as it may be in any phase (TOR_EXITED, the same code as later on).
      const status = p.exitStatus();
      if (status !== null && (status.signal !== null || status.code === 0)) return new TorError('TOR_EXITED', 'Tor was stopped while starting');
      const tail = p.stderrTail();
      // Two tors cannot share a DataDirectory: tor holds a lock on it (ours was taken over as stale
      // by another process at the same instant, or another program runs a tor on this folder).
      if (stateDir !== undefined && isTorLockMessage(tail)) return new TorError('TOR_STATE_LOCKED', 'another Tor is using the Tor folder of this identity: wait until it ends, or use --amnesic');
      const lastErr = tail.split('\n').filter((l) => /\[(err|warn)\]/.test(l)).pop() ?? tail.split('\n').pop() ?? '';
      const configProblem = extra && /config|torrc|option/i.test(lastErr);
      return new TorError(configProblem ? 'TOR_CONFIG_INVALID' : 'TOR_SPAWN_FAILED', `Tor stopped while starting: ${sanitizeTorText(lastErr.replace(/^.*?\[(err|warn)\]\s*/, ''))}`);
    };
    const portText = (await waitForFile(portFile, {
      timeoutMs: TOR_CONTROL_FILE_TIMEOUT,
      onTimeout: () => new TorError('TOR_SPAWN_FAILED', 'Tor did not open its control port'),
      signal: options.signal,
      failIf: () => (p.hasExited() ? startFailure() : undefined),
    })).toString('utf8');
    // tor may write the port file before the cookie: wait for both.
    await waitForFile(join(dir, 'control.cookie'), {
      timeoutMs: TOR_CONTROL_FILE_TIMEOUT,
      onTimeout: () => new TorError('TOR_SPAWN_FAILED', 'Tor did not write its control cookie'),
      signal: options.signal,
      failIf: () => (p.hasExited() ? startFailure() : undefined),
    });
    const m = /PORT=(\S+)/.exec(portText);
    if (m?.[1] === undefined) throw new TorError('TOR_SPAWN_FAILED', 'Tor wrote an unreadable control port file');
    control = await ControlConnection.connect(parseControlAddress(m[1]), options.signal);
    startOver = closeOnAbort(control, options.signal);
    await authenticate(control, { kind: 'cookie', cookieFile: join(dir, 'control.cookie') });
    // From here on tor exits when this connection closes, whatever happens to us.
    await control.send('TAKEOWNERSHIP');
    await checkOwnedOptions(control, owned);
    const socks = await socksEndpoint(control, socksPath);
    session = new Session(control, socks, proc, dir, releaseLock);
    options.onSpawned?.(session);
    const bridges = options.extraConfig !== undefined ? bridgeConfig(options.extraConfig) : null;
    await waitBootstrapped(control, options.onProgress, options.signal, bridges?.useBridges === true ? new BridgeWatch(bridges.bridges) : undefined);
    if (keptGuard !== null && options.onGuardChanged !== undefined) await checkGuard(control, keptGuard, options.onGuardChanged);
    startOver();
    return session;
  } catch (e) {
    startOver();
    if (session !== null) await session.close();
    else {
      control?.close();
      if (proc !== null) await stopTor(proc);
      releaseLock();
      await removeDir(dir);
      exitCleanups.get(dir)?.();
      exitCleanups.delete(dir);
    }
    // Our control connection closed by itself (authenticating, TAKEOWNERSHIP…): tor was stopped.
    if (isEntrechatError(e)) throw options.signal.aborted ? e : torGone(e);
    throw new TorError('TOR_SPAWN_FAILED', options.signal.aborted ? 'the attempt ended while Tor was starting' : 'Tor could not be started', { cause: e });
  }
}

/**
 * Connects and authenticates to a running tor's control port. A tor that stops answering cannot hold
 * the attempt: aborting `signal` closes the connection, which fails whatever command is pending.
 * Authentication as {@link authenticateAuto}: never a cookie file named by whatever answers.
 * @throws UsageError BAD_ADDRESS; TorError TOR_CONTROL_UNREACHABLE, TOR_CONTROL_AUTH_FAILED,
 *   TOR_CONTROL_AUTH_REFUSED, TOR_CONTROL_AUTH_SERVER_HASH, TOR_CONTROL_CLOSED
 */
export async function connectBorrowed(address: string, auth: AutoAuthOptions, signal: AbortSignal): Promise<{ control: ControlConnection; startOver: () => void }> {
  const control = await ControlConnection.connect(parseControlAddress(address), signal);
  const startOver = closeOnAbort(control, signal);
  try {
    await authenticateAuto(control, auth);
    return { control, startOver };
  } catch (e) {
    startOver();
    control.close();
    throw e;
  }
}

/**
 * Closes `control` if `signal` aborts while Tor is being started or attached (a tor that stops
 * answering cannot hold the attempt). Returns the function that ends this once the start is over: the
 * teardown needs the connection after the attempt's signal has aborted.
 */
function closeOnAbort(control: ControlConnection, signal: AbortSignal): () => void {
  const onAbort = (): void => { control.close(); };
  if (signal.aborted) {
    onAbort();
    return () => undefined;
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return () => { signal.removeEventListener('abort', onAbort); };
}

/** Temp folders of spawned tors still in use, with their exit-time cleanup. */
const exitCleanups = new Map<string, () => void>();

/** The last-resort cleanups of the sessions running now: one `exit` listener for all of them. */
const atExit = new Set<() => void>();
let exitHooked = false;

/**
 * Registers a last-resort cleanup for when the process exits without the normal teardown (a second
 * Ctrl-C, process.exit): SIGKILL to our tor by pid (if we spawned one) and the folder removed,
 * synchronously. Returns the function that unregisters it. However many sessions a process runs at
 * once (a page's process, the benchmark's crowd), it adds one `exit` listener, once.
 */
function cleanupAtExit(pid: number | null, dir: string, afterKill: () => void = () => undefined): () => void {
  const onExit = (): void => {
    try {
      if (pid !== null) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    try {
      // The kept folder's lock: a SIGKILLed tor holds nothing any more (its fcntl lock went with it).
      afterKill();
    } catch {
      // nothing more can be done at exit
    }
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // nothing more can be done at exit
    }
  };
  atExit.add(onExit);
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => { for (const f of atExit) f(); });
  }
  return () => { atExit.delete(onExit); };
}

/**
 * Whether tor now builds its circuits through the guard kept from the last session: if none of its
 * built circuits starts there, `onChanged` is called. A notice only: a tor that does not answer is
 * left to fail where it matters.
 */
async function checkGuard(control: ControlConnection, kept: string, onChanged: () => void): Promise<void> {
  try {
    const hops = builtFirstHops((await getInfo(control, ['circuit-status'])).get('circuit-status') ?? '');
    if (hops.length > 0 && !hops.includes(kept)) onChanged();
  } catch {
    // no answer: no notice
  }
}

/** Where the tor listens for SOCKS: our unix socket if it exists, else what GETINFO says. */
export async function socksEndpoint(control: ControlConnection, preferredUnix: string | null): Promise<SocksEndpoint> {
  if (preferredUnix !== null) {
    try {
      await access(preferredUnix, constants.F_OK);
      return { kind: 'unix', path: preferredUnix };
    } catch {
      // not a unix socket: ask
    }
  }
  const info = await getInfo(control, ['net/listeners/socks']);
  const listeners = [...(info.get('net/listeners/socks') ?? '').matchAll(/"([^"]*)"|(\S+)/g)].map((x) => x[1] ?? x[2] ?? '');
  for (const l of listeners) {
    if (l.startsWith('unix:')) return { kind: 'unix', path: l.slice('unix:'.length) };
    const tcp = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):(\d+)$/.exec(l);
    if (tcp?.[1] !== undefined && tcp[2] !== undefined) return { kind: 'tcp', host: tcp[1].replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
  }
  throw new TorError('TOR_SOCKS_UNREACHABLE', 'Tor has no SOCKS port on this machine (set SocksPort in its torrc)');
}

export interface AttachOptions {
  /** "host:port" on loopback, or a unix socket path. */
  readonly address: string;
  /** The password and cookie file the user gave for this control port. */
  readonly auth: AutoAuthOptions;
  readonly onProgress: (p: BootstrapProgress) => void;
  readonly signal: AbortSignal;
}

/**
 * Attaches to a running tor through its control port (SAFECOOKIE, password, no authentication, or
 * plain COOKIE with the user's cookie file, as tor offers), and waits until it is bootstrapped.
 * Nothing is spawned or configured.
 * @throws UsageError BAD_ADDRESS; TorError TOR_CONTROL_UNREACHABLE, TOR_CONTROL_AUTH_FAILED,
 *   TOR_CONTROL_AUTH_REFUSED, TOR_CONTROL_AUTH_SERVER_HASH, TOR_SOCKS_UNREACHABLE, TOR_EXITED
 */
export async function attachTor(options: AttachOptions): Promise<TorSession> {
  const { control, startOver } = await connectBorrowed(options.address, options.auth, options.signal);
  let dir: string | null = null;
  try {
    const socks = await socksEndpoint(control, null);
    if (reachesOurSockets(await borrowedTorProcess(control))) {
      dir = await makeSessionDir(sessionDirCandidates(undefined));
      exitCleanups.set(dir, cleanupAtExit(null, dir));
    }
    await waitBootstrapped(control, options.onProgress, options.signal);
    startOver();
    return new Session(control, socks, null, dir);
  } catch (e) {
    startOver();
    control.close();
    if (dir !== null) {
      await removeDir(dir);
      exitCleanups.get(dir)?.();
      exitCleanups.delete(dir);
    }
    throw e;
  }
}

/** What a borrowed tor says of its process, and what this machine says of that pid. */
export interface BorrowedTorProcess {
  /** GETINFO process/pid and process/uid; null when tor (or a filter in front of it) did not answer. */
  readonly pid: number | null;
  readonly uid: number | null;
  /** Our own uid. */
  readonly ownUid: number;
  /** Owner and name (/proc/PID/comm) of that pid here; null when there is no such process here. */
  readonly procUid: number | null;
  readonly procName: string | null;
}

/**
 * Whether a borrowed tor can connect to unix sockets in a 0700 folder of ours: it says it runs as our
 * user, and that pid is, here, a process named tor of our user (so it is on this machine and sees our
 * files). Then our rendezvous listeners are unix sockets that no other user can reach; otherwise they
 * are TCP on 127.0.0.1, which any local process can reach (and whose failed handshakes are
 * INBOUND_UNAUTHENTICATED, never fatal). Not the case on Tails and Whonix (onion-grater answers
 * neither GETINFO; on Whonix tor runs on the gateway and the target is rewritten to the workstation's
 * address), nor for a system tor running as its own user (debian-tor).
 */
export function reachesOurSockets(p: BorrowedTorProcess): boolean {
  return p.pid !== null && p.uid !== null && p.uid === p.ownUid && p.procUid === p.ownUid && p.procName === 'tor';
}

async function borrowedTorProcess(control: ControlConnection): Promise<BorrowedTorProcess> {
  const ownUid = process.getuid?.() ?? -1;
  let pid: number | null = null;
  let uid: number | null = null;
  try {
    const info = await getInfo(control, ['process/pid', 'process/uid']);
    // Digits only: an empty or missing answer is no uid (Number('') would be 0, root's).
    const digits = (key: string): number | null => {
      const v = info.get(key) ?? '';
      return /^\d{1,10}$/.test(v) ? Number(v) : null;
    };
    const p = digits('process/pid');
    if (p !== null && p > 0) pid = p;
    uid = digits('process/uid');
  } catch (e) {
    // A filter (onion-grater) or an old tor that does not answer: TCP it is. A closed connection is not that.
    if (!(e instanceof TorCommandError)) throw e;
  }
  let procUid: number | null = null;
  let procName: string | null = null;
  if (pid !== null) {
    try {
      procUid = (await stat(`/proc/${pid}`)).uid;
      procName = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
    } catch {
      // no such process here (another machine, another pid namespace)
    }
  }
  return { pid, uid, ownUid, procUid, procName };
}
