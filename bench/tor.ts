/**
 * The Tor part of `npm run bench` (skip it with `--no-tor`, run it alone with `--only-tor`): our
 * sessions over a private Tor network started for the run, against the same work done with raw tor.
 *
 * - session-setup: two in-process `talk()` sessions (Alice and Bob, identities made once) started at
 *   the same moment, each spawning its own tor joined to the network; Alice sends one message as soon
 *   as she is active. Time: from the two `talk()` calls to her `delivered` event. The floor: two fresh
 *   tors spawned at the same moment with exactly the options of owner.ts `spawnSessionTor`, each
 *   bootstrapped (same control steps); A publishes an onion (fresh key, client authorization for B's
 *   fresh x25519 key) forwarding to a local echo server; B adds its client-auth key and dials through
 *   SOCKS, retrying 250 ms after each failure until it connects, writes 498 bytes and gets the echo. Time:
 *   from the two spawns to the echo. Ours and the floor alternate run by run; medians. Goal ≤ 1.15.
 * - message-rtt: sequential 400-character messages in an open session, `send()` → `delivered` (the
 *   peer's ACK, one 498-byte record each way), against sequential 498-byte writes → echo on a floor
 *   setup: 5 of each (after one uncounted) at the end of each of the 8 setup runs, 40 in all. Not one
 *   session: round trips on this network come in steps of about 12, 48 and 95 ms according to the
 *   circuits a pair of tors happens to build, so one session against one floor setup compares two
 *   draws of that lottery (seen: 16 ms against 95 ms); eight of each mostly compare the same step.
 *   Medians in ms; goal ours ≤ baseline + 2 ms.
 * - pairs-20: 20 pairs started at the same moment, against one pair alone, on one private network.
 *   Each of the 40 people has a tor of their own, as in life: 40 tors bootstrapped beforehand and lent
 *   to the sessions (`--tor-control`), so that the row measures the meeting and not 40 bootstraps at
 *   once on a 2-core machine; the lone pair uses the first pair's two. (Two tors carrying all 40
 *   sessions, as test/e2e/tor-pairs.test.ts does for correctness, measure Tor instead: raw tor doing
 *   the same there has a crowd-to-lone ratio of 2.7, from 40 onions' intro circuits built at once by
 *   one tor.) A pair's set-up is from its two talk() calls to Alice's first `delivered`, with fresh
 *   identities (fresh onions) each time. 3 rounds of (a lone pair, then 20 at once); medians, 60
 *   against 3. Goal ≤ 1.5. Each round first does the same with raw tor on the same tors (both sides
 *   publish a fresh onion with client authorization, one dials until it connects, an echo), printed as
 *   a diagnostic line: how much of the crowd's slowness is Tor's own, how much ours; and a row,
 *   pairs-20-raw-tor: our crowd's median against raw tor's crowd's (information).
 * - tor-bootstrap-warm: a session's tor (owner.ts `spawnSessionTor`, the options a session uses) from
 *   spawn to bootstrapped, with the folder it keeps between sessions ($ENTRECHAT_HOME/tor: guards,
 *   directory cache) filled by an uncounted first start, against the same tor started cold (amnesic: a
 *   fresh folder); each one stopped before the next starts, warm and cold alternating, 5 of each;
 *   medians. On this network the consensus is a few KiB, so this measures what the kept state saves
 *   besides the download (certificates, consensus, microdescriptors, guard choice); on the real network
 *   the download (megabytes) comes on top of the cold start. Goal ≤ 0.9.
 * - session-rss: peak RSS (VmHWM) of the compiled command line's node process (`talk --json`) after
 *   30 messages each way (some spanning many records), read just before its input ends, against the
 *   same build running `whoami`. Goal ≤ 60 MB (MiB are reported).
 * - ui-rss: peak RSS (VmHWM) of the compiled command line's `entrechat ui` process during a session
 *   driven over its WebSocket (a `ws` client standing in for the page: sign-in, unlock, Talk, 30
 *   messages each way as session-rss sends them, Quit, Exit), read once all are delivered and received,
 *   against the peak of the same build's `talk --json` at the other end of that very session (the same
 *   messages the other way). Goal: ours ≤ baseline + 10 MB (MiB are reported, and the difference).
 *
 * Everything lives under one temp folder (the network, every tor's folder: TMPDIR points there for the
 * run, the homes, the build); every tor and child started is stopped by pid and the folder removed,
 * on success, failure, SIGINT or SIGTERM. Nothing secret is printed: no text, key or onion address.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { setMaxListeners } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { talk, type ClosedEvent, type Route, type TalkEvent, type TalkHandle } from '../src/app/talk.ts';
import {
  clientAuthPublicBase32,
  clientAuthSecretBase64,
  onionAddress,
  onionExpandedKey,
  onionExpandedKeyBase64,
  onionPublicKey,
  ONION_VIRTUAL_PORT,
} from '../src/core/derive.ts';
import { identityFromSecret, type Identity } from '../src/core/identity.ts';
import { RECORD_SIZE, TOR_DIAL_TIMEOUT } from '../src/core/limits.ts';
import { x25519FromSecret } from '../src/core/x25519.ts';
import { addOnion } from '../src/tor/commands/add-onion.ts';
import { authenticate } from '../src/tor/commands/authenticate.ts';
import { onionClientAuthAdd, onionClientAuthRemove } from '../src/tor/commands/client-auth.ts';
import { parseBootstrapPhase, parseHsDesc, parseStatusClientBootstrap } from '../src/tor/commands/events.ts';
import { circuitPurposes, closeCircuitsOf, parseCircuitLine } from '../src/tor/commands/circuits.ts';
import { delOnion } from '../src/tor/commands/del-onion.ts';
import { getInfo } from '../src/tor/commands/getinfo.ts';
import { setEvents } from '../src/tor/commands/setevents.ts';
import { ControlConnection, parseControlAddress } from '../src/tor/control/connection.ts';
import { abortableSleep, spawnTor, stopPid, stopPidsSync, stopTor, waitForFile, type TorProcess } from '../src/tor/proc.ts';
import { connectOnion, type SocksEndpoint } from '../src/tor/socks.ts';
import { testnetDown, testnetDownSync, testnetUp } from '../src/tor/testnet.ts';
import { readTorConfig, spawnSessionTor } from '../src/tor/owner.ts';
import { bundleArgs, CLI_NODE_FLAGS, ESBUILD } from '../scripts/build.ts';
import { median } from './stats.ts';
// (ui-rss)
import { WebSocket } from 'ws';
import { buildPage } from '../scripts/build.ts';

export interface TorResult {
  readonly name: string;
  readonly ours: number;
  readonly baseline: number;
  readonly unit: string;
  readonly ratio: number;
  readonly goal: string;
  /** ours − baseline, where the goal is a difference. */
  readonly diff?: number;
}

export interface TorBenchOptions {
  /** Called with each result as soon as it is measured. */
  readonly onResult: (result: TorResult) => void;
  /** Progress and diagnostics, one line at a time (stderr by default). */
  readonly log?: (line: string) => void;
  /** Only the rows whose name starts with one of these (all by default). */
  readonly only?: readonly string[];
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/**
 * Timed runs of each side of session-setup (medians). More than the 5 asked for: a tor reaches 100 %
 * on a whole-second step after its start (2.05, 3.05, 4.05 s…), which alone moves one run by a second.
 */
const SETUP_RUNS = 8;
/** Timed message round trips per run, each side (40 in all), after one uncounted. */
const RTT_PER_RUN = 5;
const RTT_WARMUP = 1;
const RSS_MESSAGES = 30;
/** Warm and cold starts each, for tor-bootstrap-warm. */
const BOOT_RUNS = 5;
/** The floor's pause between two failed dials. */
const DIAL_PAUSE_MS = 250;
/** Bound on one setup run, either side: a run that takes longer has failed. */
const RUN_TIMEOUT_MS = 90_000;
/** The sessions' rendezvous window: a failed rendezvous ends well before RUN_TIMEOUT_MS. */
const WINDOW_MS = 60_000;
const TEARDOWN_TIMEOUT_MS = 20_000;
/** pairs-20: pairs started at once, and rounds of (one lone pair, then that many at once). */
const PAIRS_AT_ONCE = 20;
const CROWD_ROUNDS = 3;
/** The crowd's window: 40 onions going up at once on one network take longer than one pair's. */
const CROWD_WINDOW_MS = 180_000;

// ---------------------------------------------------------------------------------------------------
// Small helpers


function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(2);
}

/** Rejects with `what` timed out after `ms`; the timer never outlives the race. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => {
      timer = setTimeout(() => { reject(new Error(`${what}: no result within ${Math.round(ms / 1000)} s`)); }, ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${typeof code === 'string' ? `${code}: ` : ''}${e.message}`;
  }
  return String(e);
}

/** VmHWM (peak resident set) of a live process in KiB, or null once it is gone (or a zombie). */
function vmHwmKiB(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m?.[1] !== undefined ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Pids of live tor processes whose command line mentions `needle`. */
function torsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`).toString('utf8').split('\0');
      if (/(^|\/)tor$/.test(argv[0] ?? '') && argv.join(' ').includes(needle)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// What the run owns, and its release on every path

interface OpenSession {
  readonly handle: TalkHandle;
}

class Owned {
  readonly abort = new AbortController();
  readonly tors = new Set<TorProcess>();
  readonly children = new Set<ChildProcess>();
  readonly sessions = new Set<OpenSession>();
  readonly controls = new Set<ControlConnection>();
  readonly servers = new Set<Server>();
  readonly sockets = new Set<Socket>();
  netDir: string | null = null;
  #released: Promise<void> | null = null;

  constructor(readonly root: string) {}

  /** Stops everything still running and removes the root folder. Idempotent, never rejects. */
  release(): Promise<void> {
    this.#released ??= (async () => {
      this.abort.abort(new Error('the benchmark is ending'));
      for (const s of this.sockets) s.destroy();
      const sessions = [...this.sessions].map(async (s) => {
        s.handle.quit();
        await within(s.handle.done, TEARDOWN_TIMEOUT_MS, 'session teardown').catch(() => undefined);
      });
      for (const c of this.controls) c.close();
      for (const child of this.children) killChild(child);
      await Promise.all([...sessions, ...[...this.tors].map((t) => stopTor(t))]);
      for (const server of this.servers) server.close();
      if (this.netDir !== null) await testnetDown(this.netDir).catch(() => undefined);
      // Anything left whose command line names our folder (a session's tor, a child's tor): by pid.
      await Promise.all(torsMentioning(`${this.root}/`).map((pid) => stopPid(pid, `${this.root}/`)));
      await rm(this.root, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
    })().catch(() => undefined);
    return this.#released;
  }

  /** For a process 'exit' handler: the same, synchronously and silently. */
  releaseSync(): void {
    try {
      for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (this.netDir !== null) testnetDownSync(this.netDir);
      stopPidsSync([...[...this.tors].map((t) => t.pid), ...torsMentioning(`${this.root}/`)], `${this.root}/`, 2_000);
      rmSync(this.root, { recursive: true, force: true });
    } catch {
      // best effort: the process is exiting
    }
  }
}

/** SIGTERM, then SIGKILL after 3 s, by the child's own pid. */
function killChild(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); }, 3_000);
  child.once('exit', () => { clearTimeout(timer); });
}

// ---------------------------------------------------------------------------------------------------
// Ours: two in-process talk() sessions

interface Marks {
  boot?: number;
  published?: number;
  active?: number;
}

/** One side of an in-process session: its handle, when things happened, and waits on its events. */
class Peer {
  handle: TalkHandle | null = null;
  readonly marks: Marks = {};
  /** Refused or failed connections, by code: where a pair's time went (dials before the peer's onion was up). */
  readonly rejected = new Map<string, number>();
  closed: ClosedEvent | null = null;
  /** Extra reaction to each event (e.g. send at `active`). */
  hook: ((event: TalkEvent, at: number) => void) | null = null;
  readonly #waiters = new Set<{ pred: (e: TalkEvent) => boolean; resolve: (at: number) => void; reject: (e: Error) => void }>();

  constructor(readonly name: string) {}

  readonly onEvent = (event: TalkEvent): void => {
    const at = performance.now();
    if (event.type === 'tor_progress' && event.percent >= 100) this.marks.boot ??= at;
    else if (event.type === 'published') this.marks.published ??= at;
    else if (event.type === 'active') this.marks.active ??= at;
    else if (event.type === 'rejected') this.rejected.set(event.code, (this.rejected.get(event.code) ?? 0) + 1);
    this.hook?.(event, at);
    if (event.type === 'closed') {
      this.closed = event;
      const error = new Error(`${this.name}'s session closed: ${event.reason}${event.code !== undefined ? ` (${event.code})` : ''}`);
      for (const w of this.#waiters) w.reject(error);
      this.#waiters.clear();
      return;
    }
    for (const w of [...this.#waiters]) {
      if (w.pred(event)) {
        this.#waiters.delete(w);
        w.resolve(at);
      }
    }
  };

  /** When the next event matching `pred` arrives (register before it can happen). */
  next(pred: (e: TalkEvent) => boolean): Promise<number> {
    if (this.closed !== null) return Promise.reject(new Error(`${this.name}'s session is over (${this.closed.reason})`));
    return new Promise((resolve, reject) => { this.#waiters.add({ pred, resolve, reject }); });
  }

  /** Sends one message and resolves with the ms from `send()` to its `delivered` event. */
  async roundTrip(text: string): Promise<number> {
    const h = this.handle;
    if (h === null) throw new Error('no session');
    let id = -1;
    const delivered = this.next((e) => e.type === 'delivered' && e.id === id);
    const t = performance.now();
    id = h.send(text);
    return (await delivered) - t;
  }
}

interface OursRun {
  readonly ms: number;
  readonly alice: Peer;
  readonly bob: Peer;
  readonly t0: number;
}

/**
 * Alice and Bob start at the same moment; Alice sends one message as soon as she is active. Resolves
 * with the time from the two talk() calls to her `delivered` event, the sessions still open.
 */
async function oursOpen(owned: Owned, alice: Identity, bob: Identity, clientTorrc: string, text: string, crowd?: { readonly alice: Route; readonly bob: Route; readonly windowMs: number }): Promise<OursRun> {
  const window = crowd?.windowMs ?? WINDOW_MS;
  const a = new Peer('Alice');
  const b = new Peer('Bob');
  let id = -1;
  const delivered = new Promise<number>((resolve, reject) => {
    a.hook = (event, at) => {
      if (event.type === 'active') {
        try {
          id = a.handle?.send(text) ?? -1;
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      } else if (event.type === 'delivered' && event.id === id) {
        resolve(at);
      } else if (event.type === 'closed') {
        reject(new Error(`Alice's session closed: ${event.reason}${event.code !== undefined ? ` (${event.code})` : ''}`));
      }
    };
    b.hook = (event) => {
      if (event.type === 'closed') reject(new Error(`Bob's session closed: ${event.reason}${event.code !== undefined ? ` (${event.code})` : ''}`));
    };
  });
  const spawned = { kind: 'tor', tor: { kind: 'spawn', configFile: clientTorrc } } as const;
  const t0 = performance.now();
  a.handle = talk({ identity: alice, peerPublic: bob.publicKey, route: crowd?.alice ?? spawned, window, onEvent: a.onEvent });
  owned.sessions.add({ handle: a.handle });
  try {
    b.handle = talk({ identity: bob, peerPublic: alice.publicKey, route: crowd?.bob ?? spawned, window, onEvent: b.onEvent });
  } catch (e) {
    await oursClose(owned, { alice: a, bob: b }).catch(() => undefined);
    throw e;
  }
  owned.sessions.add({ handle: b.handle });
  let at: number;
  try {
    at = await within(delivered, window + RUN_TIMEOUT_MS - WINDOW_MS, 'session setup (ours)');
  } catch (e) {
    await oursClose(owned, { alice: a, bob: b }).catch(() => undefined);
    throw e;
  }
  a.hook = null;
  b.hook = null;
  return { ms: at - t0, alice: a, bob: b, t0 };
}

/** Quits both sessions and waits until both have torn everything down. */
async function oursClose(owned: Owned, run: { alice: Peer; bob: Peer }): Promise<void> {
  const handles = [run.alice.handle, run.bob.handle].filter((h): h is TalkHandle => h !== null);
  for (const h of handles) h.quit();
  await within(Promise.all(handles.map((h) => h.done)), TEARDOWN_TIMEOUT_MS, 'session teardown');
  for (const s of [...owned.sessions]) if (handles.includes(s.handle)) owned.sessions.delete(s);
}

// ---------------------------------------------------------------------------------------------------
// The floor: raw tors, one onion with client authorization, an echo server

interface RawTor {
  readonly dir: string;
  readonly proc: TorProcess;
  readonly socks: SocksEndpoint;
  control: ControlConnection | null;
}

/** Spawns a tor with exactly the options of owner.ts `spawnSessionTor` (the test network's lines as defaults). */
function rawSpawn(owned: Owned, dir: string, clientTorrc: string): RawTor {
  const socksPath = join(dir, 'socks.sock');
  const proc = spawnTor([
    '--ignore-missing-torrc',
    '-f', '/dev/null',
    '--defaults-torrc', clientTorrc,
    '--DataDirectory', join(dir, 'data'),
    '--ControlPort', 'auto',
    '--ControlPortWriteToFile', join(dir, 'control.port'),
    '--CookieAuthentication', '1',
    '--CookieAuthFile', join(dir, 'control.cookie'),
    '--SocksPort', `unix:${socksPath} ExtendedErrors`,
    '--__OwningControllerProcess', String(process.pid),
    '--AvoidDiskWrites', '1',
    '--Log', 'notice stdout',
    '--SafeLogging', '1',
  ], { cwd: dir });
  owned.tors.add(proc);
  return { dir, proc, socks: { kind: 'unix', path: socksPath }, control: null };
}

/** Control port, cookie authentication, TAKEOWNERSHIP, then bootstrap to 100 % (as owner.ts does it). */
async function rawBoot(owned: Owned, tor: RawTor, signal: AbortSignal): Promise<void> {
  const portText = (await waitForFile(join(tor.dir, 'control.port'), {
    timeoutMs: 30_000,
    onTimeout: () => new Error('the floor tor did not open its control port'),
    signal,
    failIf: () => (tor.proc.hasExited() ? new Error(`the floor tor exited: ${tor.proc.stderrTail().split('\n').pop() ?? ''}`) : undefined),
    intervalMs: 10,
  })).toString('utf8');
  const m = /PORT=(\S+)/.exec(portText);
  if (m?.[1] === undefined) throw new Error('unreadable control port file');
  // tor may write the port file before the cookie: wait for the cookie too (owner.ts does not).
  await waitForFile(join(tor.dir, 'control.cookie'), {
    timeoutMs: 30_000,
    onTimeout: () => new Error('the floor tor wrote no cookie'),
    signal,
    intervalMs: 10,
  });
  const control = await ControlConnection.connect(parseControlAddress(m[1]), signal);
  tor.control = control;
  owned.controls.add(control);
  await authenticate(control, { kind: 'cookie', cookieFile: join(tor.dir, 'control.cookie') });
  await control.send('TAKEOWNERSHIP');
  await new Promise<void>((resolve, reject) => {
    let done = false;
    const settle = (e: Error | null): void => {
      if (done) return;
      done = true;
      off();
      signal.removeEventListener('abort', onAbort);
      if (e === null) resolve();
      else reject(e);
    };
    const onAbort = (): void => { settle(new Error('aborted')); };
    signal.addEventListener('abort', onAbort, { once: true });
    const off = control.onEvent((event) => {
      const p = parseStatusClientBootstrap(event);
      if (p !== null && p.progress >= 100) settle(null);
    });
    void control.closed.then(() => { settle(new Error('the floor tor closed its control connection')); });
    setEvents(control, ['STATUS_CLIENT', 'HS_DESC'])
      .then(() => getInfo(control, ['status/bootstrap-phase']))
      .then((info) => { if ((parseBootstrapPhase(info.get('status/bootstrap-phase') ?? '')?.progress ?? 0) >= 100) settle(null); })
      .catch((e: unknown) => { settle(e instanceof Error ? e : new Error(String(e))); });
  });
}

/** A client stream that sends a block and waits for its exact echo. */
class EchoClient {
  #want: Buffer | null = null;
  #got: Buffer[] = [];
  #gotLength = 0;
  #resolve: (() => void) | null = null;
  #reject: ((e: Error) => void) | null = null;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.#got.push(d);
      this.#gotLength += d.length;
      const want = this.#want;
      if (want === null || this.#gotLength < want.length) return;
      const back = Buffer.concat(this.#got);
      const [resolve, reject] = [this.#resolve, this.#reject];
      this.#want = null;
      this.#resolve = null;
      this.#reject = null;
      if (back.length === want.length && back.equals(want)) resolve?.();
      else reject?.(new Error('the echo differs from what was sent'));
    });
    const fail = (): void => { this.#reject?.(new Error('the echo stream closed')); };
    socket.on('error', fail);
    socket.on('close', fail);
  }

  roundTrip(block: Buffer): Promise<void> {
    if (this.#want !== null) return Promise.reject(new Error('one echo at a time'));
    return new Promise((resolve, reject) => {
      this.#want = block;
      this.#got = [];
      this.#gotLength = 0;
      this.#resolve = resolve;
      this.#reject = reject;
      this.socket.write(block);
    });
  }
}

interface FloorRun {
  readonly ms: number;
  readonly bootA: number;
  readonly bootB: number;
  readonly uploaded: number | null;
  readonly connected: number;
  readonly attempts: number;
  readonly echo: EchoClient;
  readonly close: () => Promise<void>;
}

/** Two raw tors spawned at the same moment, to B's first echo through A's onion. Left open. */
async function floorOpen(owned: Owned, clientTorrc: string): Promise<FloorRun> {
  const dirA = await mkdtemp(join(owned.root, 'floor-'));
  const dirB = await mkdtemp(join(owned.root, 'floor-'));
  // A fresh onion key and a fresh client-authorization key pair, made before the clock starts.
  const seed = new Uint8Array(randomBytes(32));
  const expandedKey = onionExpandedKey(seed);
  const address = onionAddress(onionPublicKey(seed));
  const authSecret = new Uint8Array(randomBytes(32));
  authSecret[0] = (authSecret[0] ?? 0) & 248;
  authSecret[31] = ((authSecret[31] ?? 0) & 127) | 64;
  const authPublic = x25519FromSecret(authSecret).publicKey;
  const echoServer = createServer((s) => {
    owned.sockets.add(s);
    s.on('data', (d: Buffer) => { s.write(d); });
    s.on('error', () => undefined);
    s.on('close', () => { owned.sockets.delete(s); });
  });
  owned.servers.add(echoServer);
  const echoPath = join(dirA, 'echo.sock');
  await new Promise<void>((resolve, reject) => {
    echoServer.once('error', reject);
    echoServer.listen(echoPath, () => { echoServer.off('error', reject); resolve(); });
  });
  const local = new AbortController();
  const signal = AbortSignal.any([owned.abort.signal, local.signal]);
  let a: RawTor | null = null;
  let b: RawTor | null = null;
  let socket: Socket | null = null;
  const close = async (): Promise<void> => {
    local.abort();
    socket?.destroy();
    for (const t of [a, b]) {
      if (t === null) continue;
      t.control?.close();
      if (t.control !== null) owned.controls.delete(t.control);
    }
    await Promise.all([a, b].map(async (t) => {
      if (t === null) return;
      await stopTor(t.proc);
      owned.tors.delete(t.proc);
    }));
    await new Promise<void>((resolve) => { echoServer.close(() => { resolve(); }); });
    owned.servers.delete(echoServer);
    await Promise.all([dirA, dirB].map((d) => rm(d, { recursive: true, force: true, maxRetries: 3 })));
  };
  try {
    const t0 = performance.now();
    a = rawSpawn(owned, dirA, clientTorrc);
    b = rawSpawn(owned, dirB, clientTorrc);
    const [ta, tb] = [a, b];
    const at: { bootA: number; bootB: number; uploaded: number | null; connected: number; attempts: number } = {
      bootA: 0, bootB: 0, uploaded: null, connected: 0, attempts: 0,
    };
    const sideA = (async () => {
      await rawBoot(owned, ta, signal);
      at.bootA = performance.now();
      const control = ta.control;
      if (control === null) throw new Error('no control connection');
      control.onEvent((event) => {
        const hs = parseHsDesc(event);
        if (hs?.action === 'UPLOADED' && hs.address === address) at.uploaded ??= performance.now();
      });
      const { serviceId } = await addOnion(control, {
        keyBase64: onionExpandedKeyBase64(expandedKey),
        ports: [{ virtual: ONION_VIRTUAL_PORT, target: `unix:${echoPath}` }],
        clientAuthV3: [clientAuthPublicBase32(authPublic)],
      });
      if (serviceId !== address) throw new Error('tor published another onion than the key gives');
    })();
    // B must not keep dialling an onion that A failed to publish.
    sideA.catch(() => { local.abort(); });
    const block = randomBytes(RECORD_SIZE);
    const sideB = (async () => {
      await rawBoot(owned, tb, signal);
      at.bootB = performance.now();
      const control = tb.control;
      if (control === null) throw new Error('no control connection');
      await onionClientAuthAdd(control, { serviceId: address, privateKeyBase64: clientAuthSecretBase64(authSecret) });
      const isolation = randomBytes(16).toString('hex');
      for (;;) {
        signal.throwIfAborted();
        at.attempts += 1;
        try {
          socket = await connectOnion({ socks: tb.socks, address, port: ONION_VIRTUAL_PORT, isolation, signal, timeoutMs: TOR_DIAL_TIMEOUT });
          break;
        } catch {
          signal.throwIfAborted();
          await abortableSleep(DIAL_PAUSE_MS, signal);
        }
      }
      at.connected = performance.now();
      owned.sockets.add(socket);
      const echo = new EchoClient(socket);
      await echo.roundTrip(block);
      return echo;
    })();
    const echo = await within(sideB, RUN_TIMEOUT_MS, 'session setup (floor)');
    const ms = performance.now() - t0;
    await sideA;
    return {
      ms, bootA: at.bootA - t0, bootB: at.bootB - t0, uploaded: at.uploaded === null ? null : at.uploaded - t0,
      connected: at.connected - t0, attempts: at.attempts, echo, close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------
// session-setup and message-rtt

interface Diagnostics {
  oursBoot: number[];
  oursPublished: number[];
  oursActive: number[];
  floorBoot: number[];
  floorUploaded: number[];
  floorConnected: number[];
  /** Per attempt, the connections refused or failed by code (pairs-20). */
  rejected: string[];
}

function oursMarks(run: OursRun, d: Diagnostics): void {
  const last = (x: number | undefined, y: number | undefined): number | null => (x === undefined || y === undefined ? null : Math.max(x, y) - run.t0);
  const boot = last(run.alice.marks.boot, run.bob.marks.boot);
  const published = last(run.alice.marks.published, run.bob.marks.published);
  const active = run.alice.marks.active;
  if (boot !== null) d.oursBoot.push(boot);
  if (published !== null) d.oursPublished.push(published);
  if (active !== undefined) d.oursActive.push(active - run.t0);
}

/** ms of each of `n` sequential round trips after `warmup` uncounted ones. */
async function roundTrips(n: number, warmup: number, once: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < warmup + n; i++) {
    const ms = await within(once(), 30_000, 'a round trip');
    if (i >= warmup) out.push(ms);
  }
  return out;
}

async function echoTrip(echo: EchoClient, block: Buffer): Promise<number> {
  const t = performance.now();
  await echo.roundTrip(block);
  return performance.now() - t;
}

/**
 * session-setup and message-rtt, from the same runs: ours and the floor alternate run by run; each
 * run, once its setup is timed, also times RTT_PER_RUN sequential round trips on what it opened.
 */
async function setupAndRtt(owned: Owned, alice: Identity, bob: Identity, clientTorrc: string, log: (line: string) => void): Promise<[TorResult, TorResult]> {
  const first = 'b'.repeat(400);
  const text = 'r'.repeat(400);
  const block = randomBytes(RECORD_SIZE);
  const ours: number[] = [];
  const floor: number[] = [];
  const oursRtt: number[] = [];
  const floorRtt: number[] = [];
  const d: Diagnostics = { oursBoot: [], oursPublished: [], oursActive: [], floorBoot: [], floorUploaded: [], floorConnected: [], rejected: [] };
  for (let i = 0; i < SETUP_RUNS; i++) {
    const o = await oursOpen(owned, alice, bob, clientTorrc, first);
    let rttO: number[];
    try {
      rttO = await roundTrips(RTT_PER_RUN, RTT_WARMUP, () => o.alice.roundTrip(text));
    } finally {
      await oursClose(owned, o);
    }
    ours.push(o.ms);
    oursRtt.push(...rttO);
    oursMarks(o, d);
    const f = await floorOpen(owned, clientTorrc);
    let rttF: number[];
    try {
      rttF = await roundTrips(RTT_PER_RUN, RTT_WARMUP, () => echoTrip(f.echo, block));
    } finally {
      await f.close();
    }
    floor.push(f.ms);
    floorRtt.push(...rttF);
    d.floorBoot.push(Math.max(f.bootA, f.bootB));
    if (f.uploaded !== null) d.floorUploaded.push(f.uploaded);
    d.floorConnected.push(f.connected);
    const boot = (p: Peer): string => (p.marks.boot === undefined ? '?' : secs(p.marks.boot - o.t0));
    log(`# run ${i + 1}/${SETUP_RUNS}: ours ${secs(o.ms)} s (tors at 100 % ${boot(o.alice)}/${boot(o.bob)} s), rtt ${median(rttO).toFixed(1)} ms; `
      + `floor ${secs(f.ms)} s (tors at 100 % ${secs(f.bootA)}/${secs(f.bootB)} s, ${f.attempts} dial${f.attempts === 1 ? '' : 's'}), rtt ${median(rttF).toFixed(1)} ms`);
  }
  const m = (xs: number[]): string => secs(median(xs));
  log(`# session-setup ours (medians, s after the talk() calls): both tors at 100 % ${m(d.oursBoot)}, both published ${m(d.oursPublished)}, Alice active ${m(d.oursActive)}, delivered ${m(ours)}`);
  log(`# session-setup floor (medians, s after the spawns): both tors at 100 % ${m(d.floorBoot)}, onion uploaded ${m(d.floorUploaded)}, B connected ${m(d.floorConnected)}, echo ${m(floor)}`);
  const so = median(ours) / 1000;
  const sf = median(floor) / 1000;
  const ro = median(oursRtt);
  const rf = median(floorRtt);
  return [
    { name: 'session-setup', ours: round(so, 3), baseline: round(sf, 3), unit: 's', ratio: round(so / sf, 3), goal: '≤ 1.15' },
    { name: 'message-rtt', ours: round(ro, 2), baseline: round(rf, 2), unit: 'ms', ratio: round(ro / rf, 3), goal: '≤ baseline + 2 ms', diff: round(ro - rf, 2) },
  ];
}

// ---------------------------------------------------------------------------------------------------
// pairs-20: a pair's set-up among 20 pairs at once, against a lone pair

/**
 * Two raw tors per pair (owner.ts options, TCP control port, cookie), all bootstrapped at once and lent
 * to the sessions through `--tor-control` (attach): pair i's first side on tors[i][0], its second on
 * tors[i][1].
 */
async function lenders(owned: Owned, clientTorrc: string, pairs: number): Promise<{ readonly routes: readonly { readonly alice: Route; readonly bob: Route }[]; readonly pids: readonly number[]; readonly tors: readonly (readonly [RawTor, RawTor])[]; readonly close: () => Promise<void>; readonly circuits: () => Promise<string> }> {
  const all: RawTor[] = [];
  for (let i = 0; i < 2 * pairs; i++) all.push(rawSpawn(owned, await mkdtemp(join(owned.root, 'lender-')), clientTorrc));
  const close = async (): Promise<void> => {
    await Promise.all(all.map(async (t) => {
      if (t.control !== null) {
        t.control.close();
        owned.controls.delete(t.control);
      }
      await stopTor(t.proc);
      owned.tors.delete(t.proc);
    }));
  };
  try {
    await Promise.all(all.map((t) => rawBoot(owned, t, owned.abort.signal)));
    const address = (t: RawTor): string => /PORT=(\S+)/.exec(readFileSync(join(t.dir, 'control.port'), 'utf8'))?.[1] ?? '';
    const route = (t: RawTor): Route => ({ kind: 'tor', tor: { kind: 'attach', address: address(t) } });
    const tors = Array.from({ length: pairs }, (_, i) => [all[2 * i], all[2 * i + 1]] as [RawTor, RawTor]);
    /** What circuits the lent tors hold, by purpose, all tors together: a round's sessions should leave none of theirs. */
    const circuits = async (): Promise<string> => {
      const tally = new Map<string, number>();
      for (const t of all) {
        if (t.control === null) continue;
        for (const line of ((await getInfo(t.control, ['circuit-status'])).get('circuit-status') ?? '').split('\n')) {
          const c = parseCircuitLine(line);
          if (c === null) continue;
          const key = `${c.purpose ?? '?'}${c.rendQuery !== null ? ' (an onion)' : ''}${c.socksUsername !== null ? ' (isolated)' : ''}`;
          tally.set(key, (tally.get(key) ?? 0) + 1);
        }
      }
      // A session's own circuits (for an onion, or on its SOCKS isolation) must all be gone; the rest
      // are the tors' own (pre-built, directory).
      const ofSessions = [...tally].filter(([k]) => k.includes('('));
      const own = [...tally].filter(([k]) => !k.includes('('));
      const list = (xs: [string, number][]): string => xs.map(([k, v]) => `${k} ×${v}`).join(', ') || 'none';
      return `of sessions: ${list(ofSessions)}; the tors' own: ${list(own)}`;
    };
    return { routes: tors.map(([a, b]) => ({ alice: route(a), bob: route(b) })), pids: all.map((t) => t.proc.pid), tors, close, circuits };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * `n` pairs (fresh identities, so fresh onions) started at the same moment, pair i on routes[i]; each
 * pair's set-up is the time from its two talk() calls to Alice's first `delivered` (as session-setup).
 * Every session is ended before this returns.
 */
async function pairsAtOnce(owned: Owned, n: number, routes: readonly { readonly alice: Route; readonly bob: Route }[], clientTorrc: string, d: Diagnostics): Promise<number[]> {
  const fresh = (): Identity => identityFromSecret(new Uint8Array(randomBytes(32)));
  const people = Array.from({ length: n }, () => ({ alice: fresh(), bob: fresh() }));
  // All n started in the same tick: each oursOpen makes both its talk() calls before its first await.
  const settled = await Promise.allSettled(people.map((p, i) => oursOpen(owned, p.alice, p.bob, clientTorrc, 'p'.repeat(400), { ...routes[i]!, windowMs: CROWD_WINDOW_MS })));
  await Promise.all(settled.map((r) => (r.status === 'fulfilled' ? oursClose(owned, r.value) : Promise.resolve())));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  const runs = settled.map((r) => (r as PromiseFulfilledResult<OursRun>).value);
  for (const run of runs) oursMarks(run, d);
  const rejected = new Map<string, number>();
  for (const peer of runs.flatMap((run) => [run.alice, run.bob])) {
    for (const [code, count] of peer.rejected) rejected.set(code, (rejected.get(code) ?? 0) + count);
  }
  d.rejected.push([...rejected].map(([code, count]) => `${code}×${count}`).join(' ') || 'none');
  return runs.map((run) => run.ms);
}

/** CPU seconds used so far by these processes (utime + stime of /proc/PID/stat; 0 for one gone). */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

/** The pids of the private network's tors (each NICK/tor.pid of the network's folder). */
function networkPids(netDir: string | null): number[] {
  if (netDir === null) return [];
  return readdirSync(netDir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => {
    try {
      return [Number(readFileSync(join(netDir, e.name, 'tor.pid'), 'utf8').trim())];
    } catch {
      return [];
    }
  });
}

/** Where a round's time went: wall time, and CPU seconds of the lent tors, the network's tors and this process. */
async function accounted<T>(lent: readonly number[], netDir: string | null, run: () => Promise<T>): Promise<{ value: T; line: string }> {
  const net = networkPids(netDir);
  const t0 = performance.now();
  const l0 = cpuSeconds(lent);
  const n0 = cpuSeconds(net);
  const o0 = process.cpuUsage();
  const value = await run();
  const o = process.cpuUsage(o0);
  const line = `wall ${secs(performance.now() - t0)} s, CPU: lent tors ${(cpuSeconds(lent) - l0).toFixed(2)} s, network ${(cpuSeconds(net) - n0).toFixed(2)} s, this process ${((o.user + o.system) / 1e6).toFixed(2)} s`;
  return { value, line };
}

/**
 * The same meeting done with raw tor on the same lent tors, as a floor for the crowd: for each of
 * `n` pairs, both sides publish a fresh onion (one on each of the pair's tors, client authorization for the other's
 * fresh key, as ours do) and add the other's key; the second side dials the first's onion through
 * SOCKS every DIAL_PAUSE_MS until it connects, then a 498-byte echo. Time: from the start to the echo.
 * Every onion, key and circuit is taken back after, as our sessions do on a borrowed tor.
 */
async function floorPairsAtOnce(owned: Owned, n: number, tors: readonly (readonly [RawTor, RawTor])[]): Promise<number[]> {
  const controls = tors.slice(0, n).map(([ta, tb]) => {
    if (ta.control === null || tb.control === null) throw new Error('the lent tors have no control connection');
    return { ca: ta.control, cb: tb.control, socks: tb.socks };
  });
  const echoDir = await mkdtemp(join(owned.root, 'floor-crowd-'));
  const echoServer = createServer((sock) => {
    owned.sockets.add(sock);
    sock.on('data', (d: Buffer) => { sock.write(d); });
    sock.on('error', () => undefined);
    sock.on('close', () => { owned.sockets.delete(sock); });
  });
  owned.servers.add(echoServer);
  const echoPath = join(echoDir, 'echo.sock');
  await new Promise<void>((resolve, reject) => {
    echoServer.once('error', reject);
    echoServer.listen(echoPath, () => { echoServer.off('error', reject); resolve(); });
  });
  const before = await Promise.all(controls.map(async ({ ca, cb }) => [await circuitPurposes(ca), await circuitPurposes(cb)] as const));
  const fresh = (): { seed: Uint8Array; address: string; authSecret: Uint8Array; authPublic: Uint8Array } => {
    const seed = new Uint8Array(randomBytes(32));
    const authSecret = new Uint8Array(randomBytes(32));
    authSecret[0] = (authSecret[0] ?? 0) & 248;
    authSecret[31] = ((authSecret[31] ?? 0) & 127) | 64;
    return { seed, address: onionAddress(onionPublicKey(seed)), authSecret, authPublic: x25519FromSecret(authSecret).publicKey };
  };
  const pairs = Array.from({ length: n }, (_, i) => ({ a: fresh(), b: fresh(), isolation: randomBytes(16).toString('hex'), ...controls[i]!, before: before[i]! }));
  const local = new AbortController();
  const signal = AbortSignal.any([owned.abort.signal, local.signal]);
  // Each of the n dials listens to it at once.
  setMaxListeners(4 * n + 10, signal);
  const sockets: Socket[] = [];
  try {
    const t0 = performance.now();
    const one = async (p: (typeof pairs)[number]): Promise<number> => {
      const { ca, cb } = p;
      const publish = (c: ControlConnection, own: typeof p.a, other: typeof p.a): Promise<unknown> => addOnion(c, {
        keyBase64: onionExpandedKeyBase64(onionExpandedKey(own.seed)),
        ports: [{ virtual: ONION_VIRTUAL_PORT, target: `unix:${echoPath}` }],
        clientAuthV3: [clientAuthPublicBase32(other.authPublic)],
      });
      await Promise.all([
        publish(ca, p.a, p.b).then(() => onionClientAuthAdd(ca, { serviceId: p.b.address, privateKeyBase64: clientAuthSecretBase64(p.a.authSecret) })),
        publish(cb, p.b, p.a).then(() => onionClientAuthAdd(cb, { serviceId: p.a.address, privateKeyBase64: clientAuthSecretBase64(p.b.authSecret) })),
      ]);
      let socket: Socket;
      for (;;) {
        signal.throwIfAborted();
        try {
          socket = await connectOnion({ socks: p.socks, address: p.a.address, port: ONION_VIRTUAL_PORT, isolation: p.isolation, signal, timeoutMs: TOR_DIAL_TIMEOUT });
          break;
        } catch {
          signal.throwIfAborted();
          await abortableSleep(DIAL_PAUSE_MS, signal);
        }
      }
      sockets.push(socket);
      owned.sockets.add(socket);
      await new EchoClient(socket).roundTrip(randomBytes(RECORD_SIZE));
      return performance.now() - t0;
    };
    return await within(Promise.all(pairs.map(one)), CROWD_WINDOW_MS, 'the floor crowd');
  } finally {
    local.abort();
    for (const sock of sockets) sock.destroy();
    for (const p of pairs) {
      await delOnion(p.ca, p.a.address).catch(() => undefined);
      await delOnion(p.cb, p.b.address).catch(() => undefined);
      await onionClientAuthRemove(p.ca, p.b.address).catch(() => undefined);
      await onionClientAuthRemove(p.cb, p.a.address).catch(() => undefined);
      const onions = new Set([p.a.address, p.b.address]);
      await closeCircuitsOf(p.ca, { onions, isolation: p.isolation, before: p.before[0] }).catch(() => undefined);
      await closeCircuitsOf(p.cb, { onions, isolation: p.isolation, before: p.before[1] }).catch(() => undefined);
    }
    await new Promise<void>((resolve) => { echoServer.close(() => { resolve(); }); });
    owned.servers.delete(echoServer);
    await rm(echoDir, { recursive: true, force: true });
  }
}

/**
 * pairs-20: PAIRS_AT_ONCE pairs started together, each on its two lent tors, against one pair alone
 * (on the first pair's), alternating round by round. Medians in s; goal ratio ≤ 1.5.
 */
async function pairsCrowd(owned: Owned, clientTorrc: string, log: (line: string) => void): Promise<TorResult[]> {
  const lent = await lenders(owned, clientTorrc, PAIRS_AT_ONCE);
  const lone: number[] = [];
  const crowd: number[] = [];
  const empty = (): Diagnostics => ({ oursBoot: [], oursPublished: [], oursActive: [], floorBoot: [], floorUploaded: [], floorConnected: [], rejected: [] });
  const dLone = empty();
  const dCrowd = empty();
  const floorLone: number[] = [];
  const floorCrowd: number[] = [];
  try {
    for (let round = 0; round < CROWD_ROUNDS; round++) {
      floorLone.push(...await floorPairsAtOnce(owned, 1, lent.tors));
      const floorMany = await floorPairsAtOnce(owned, PAIRS_AT_ONCE, lent.tors);
      floorCrowd.push(...floorMany);
      log(`# pairs round ${round + 1}/${CROWD_ROUNDS}, raw tor doing the same: a lone pair ${secs(floorLone.at(-1) ?? NaN)} s; ${PAIRS_AT_ONCE} pairs at once: median ${secs(median(floorMany))} s`);
      const one = await pairsAtOnce(owned, 1, lent.routes, clientTorrc, dLone);
      const { value: many, line } = await accounted(lent.pids, owned.netDir, () => pairsAtOnce(owned, PAIRS_AT_ONCE, lent.routes, clientTorrc, dCrowd));
      log(`# pairs round ${round + 1}/${CROWD_ROUNDS}, the ${PAIRS_AT_ONCE} pairs (set-up and teardown): ${line}`);
      log(`# pairs round ${round + 1}/${CROWD_ROUNDS}, circuits left on the lent tors: ${await lent.circuits()}`);
      lone.push(...one);
      crowd.push(...many);
      log(`# pairs round ${round + 1}/${CROWD_ROUNDS}: a lone pair ${secs(one[0] ?? NaN)} s; ${PAIRS_AT_ONCE} pairs at once: median ${secs(median(many))} s, slowest ${secs(Math.max(...many))} s; connections refused or failed: lone ${dLone.rejected.at(-1) ?? ''}, crowd ${dCrowd.rejected.at(-1) ?? ''}`);
    }
  } finally {
    await lent.close();
  }
  // Where the time goes: Tor's first descriptor upload (published) against the rest.
  const m = (xs: number[]): string => secs(median(xs));
  log(`# pairs medians (s after the talk() calls): lone: both published ${m(dLone.oursPublished)}, active ${m(dLone.oursActive)}, delivered ${m(lone)}; `
    + `${PAIRS_AT_ONCE} at once: both published ${m(dCrowd.oursPublished)}, active ${m(dCrowd.oursActive)}, delivered ${m(crowd)}`);
  // What Tor alone makes of the same crowd on the same tors: how much of the ratio is not ours.
  log(`# pairs, raw tor doing the same (both publish, one dials, an echo): lone ${m(floorLone)} s, ${PAIRS_AT_ONCE} at once ${m(floorCrowd)} s, ratio ${(median(floorCrowd) / median(floorLone)).toFixed(3)}; `
    + `ours against it: lone ${(median(lone) / median(floorLone)).toFixed(3)}, ${PAIRS_AT_ONCE} at once ${(median(crowd) / median(floorCrowd)).toFixed(3)}`);
  const c = median(crowd) / 1000;
  const l = median(lone) / 1000;
  const fc = median(floorCrowd) / 1000;
  const fl = median(floorLone) / 1000;
  return [
    { name: `pairs-${PAIRS_AT_ONCE}`, ours: round(c, 3), baseline: round(l, 3), unit: 's', ratio: round(c / l, 3), goal: '≤ 1.5' },
    // The same crowd against raw tor doing the same meeting: what is ours of the row above.
    { name: `pairs-${PAIRS_AT_ONCE}-raw-tor`, ours: round(c, 3), baseline: round(fc, 3), unit: 's', ratio: round(c / fc, 3), goal: `information: raw tor's own ${String(PAIRS_AT_ONCE)} against 1 is ${(fc / fl).toFixed(3)}` },
  ];
}

// ---------------------------------------------------------------------------------------------------
// session-rss: the compiled command line

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runChild(owned: Owned, file: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { env, cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      owned.children.delete(child);
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null;
      if (error !== null && code === null) reject(new Error(`cannot run ${file}`, { cause: error }));
      else resolve({ code, stdout, stderr });
    });
    owned.children.add(child);
  });
}

/**
 * The command line as `npm run build` bundles it (scripts/build.ts): plain node, one module, no
 * TypeScript loader, every dependency inside it.
 */
async function buildCli(owned: Owned): Promise<string> {
  const out = join(owned.root, 'dist');
  const entry = join(out, 'entrechat.mjs');
  const r = await runChild(owned, ESBUILD, bundleArgs(entry), process.env, ROOT);
  if (r.code !== 0) throw new Error(`the build failed: ${(r.stdout + r.stderr).trim().split('\n').slice(0, 5).join(' / ')}`);
  return entry;
}

/** Plain node: no loader options inherited from the bench's own command line. */
function cliEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ENTRECHAT_HOME: home, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

interface CliEvent {
  readonly event: string;
  readonly id?: number;
  readonly code?: string;
  readonly reason?: string;
}

/** A running `talk --json`: its events (message texts dropped), its stdin, its exit. */
class CliTalk {
  readonly events: CliEvent[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';
  #buffer = '';
  #wake: (() => void)[] = [];

  constructor(owned: Owned, readonly child: ChildProcess) {
    owned.children.add(child);
    child.stdout?.on('data', (d: Buffer) => {
      this.#buffer += d.toString('utf8');
      let nl: number;
      while ((nl = this.#buffer.indexOf('\n')) !== -1) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        if (line.trim() === '') continue;
        const e = JSON.parse(line) as Record<string, unknown>;
        this.events.push({
          event: String(e.event),
          ...(typeof e.id === 'number' ? { id: e.id } : {}),
          ...(typeof e.code === 'string' ? { code: e.code } : {}),
          ...(typeof e.reason === 'string' ? { reason: e.reason } : {}),
        });
      }
      for (const w of this.#wake.splice(0)) w();
    });
    child.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString('utf8')).slice(-2000); });
    child.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      child.on('close', (code) => {
        owned.children.delete(child);
        for (const w of this.#wake.splice(0)) w();
        resolve(code);
      });
    });
  }

  count(event: string): number {
    return this.events.filter((e) => e.event === event).length;
  }

  /** Waits until `cond()` holds; rejects after `ms`, or if the process exits first. */
  async until(cond: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (cond()) return;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`${what}: the talk process exited first (events ${this.events.slice(-3).map((e) => `${e.event}${e.code !== undefined ? ` ${e.code}` : ''}`).join(', ')})`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: timed out (last events ${this.events.slice(-3).map((e) => e.event).join(', ')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1_000));
        this.#wake.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  endInput(): void {
    this.child.stdin?.end();
  }
}

/** Peak RSS (KiB) of a short command, polling /proc/<pid>/status until it exits; the last reading counts (VmHWM only grows). */
async function shortRunPeak(owned: Owned, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  owned.children.add(child);
  const exited = new Promise<number | null>((resolve) => { child.on('close', (code) => { owned.children.delete(child); resolve(code); }); });
  child.stdout.resume();
  child.stderr.resume();
  const pid = child.pid;
  if (pid === undefined) throw new Error('cannot start node');
  let last: number | null = null;
  const deadline = Date.now() + 30_000;
  // Synchronous polling: the event loop does not reap the child meanwhile, so the last reading is
  // taken from the live process and the loop ends once only its zombie is left.
  for (;;) {
    const v = vmHwmKiB(pid);
    if (v === null) break;
    last = v;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      break;
    }
    sleepSync(1);
  }
  const code = await exited;
  if (code !== 0 || last === null) throw new Error(`the baseline command failed (exit ${String(code)})`);
  return last;
}

function messageText(i: number, from: string): string {
  // Short, one record, a few records, and long ones (about 26 records each).
  const lengths = [40, 400, 3_000, 12_000];
  return `${from}${String(i)} `.padEnd(lengths[i % lengths.length] ?? 40, '.');
}

/** Two homes made by the compiled command line, Alice's holding 'bob' and Bob's 'alice'. */
async function pairHomes(owned: Owned, entry: string): Promise<readonly [string, string]> {
  const homes = [await mkdtemp(join(owned.root, 'home-')), await mkdtemp(join(owned.root, 'home-'))] as const;
  const codes: string[] = [];
  for (const home of homes) {
    const r = await runChild(owned, process.execPath, [...CLI_NODE_FLAGS, entry, 'init', '--no-passphrase', '--json'], cliEnv(home));
    if (r.code !== 0) throw new Error(`init failed (exit ${String(r.code)})`);
    codes.push((JSON.parse(r.stdout) as { code: string }).code);
  }
  for (const [home, name, code] of [[homes[0], 'bob', codes[1]], [homes[1], 'alice', codes[0]]] as const) {
    const r = await runChild(owned, process.execPath, [...CLI_NODE_FLAGS, entry, 'contacts', 'add', name, code ?? ''], cliEnv(home));
    if (r.code !== 0) throw new Error(`contacts add failed (exit ${String(r.code)})`);
  }
  return homes;
}

// ui-rss: the page's process against talk's, in one session (see the module comment)

/** A stand-in for the page: `entrechat ui`'s WebSocket, signed in as a browser would be. */
class UiClient {
  readonly answers = new Map<number, { ok: boolean; code?: string }>();
  readonly events = new Map<string, number>();
  #id = 0;
  #wake: (() => void)[] = [];
  closed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString('utf8')) as { re?: number; ok?: boolean; code?: string; push?: string; event?: { event?: string } };
      if (typeof m.re === 'number') this.answers.set(m.re, { ok: m.ok === true, ...(m.code !== undefined ? { code: m.code } : {}) });
      else if (m.push === 'talk' && typeof m.event?.event === 'string') this.events.set(m.event.event, (this.events.get(m.event.event) ?? 0) + 1);
      for (const w of this.#wake.splice(0)) w();
    });
    ws.on('close', () => {
      this.closed = true;
      for (const w of this.#wake.splice(0)) w();
    });
    ws.on('error', () => undefined);
  }

  /** Signs in with the URL's one-time secret (the cookie it is exchanged for), then opens /ws. */
  static async open(url: string): Promise<UiClient> {
    const u = new URL(url);
    const host = `127.0.0.1:${u.port}`;
    const cookie = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: Number(u.port), path: `${u.pathname}${u.search}`, headers: { host } }, (res) => {
        res.resume();
        const set = res.headers['set-cookie']?.[0];
        if (res.statusCode !== 303 || set === undefined) reject(new Error(`sign-in refused (${String(res.statusCode)})`));
        else resolve(set.split(';')[0] ?? '');
      });
      req.on('error', reject);
      req.end();
    });
    const ws = new WebSocket(`ws://${host}/ws`, { headers: { Cookie: cookie }, origin: `http://${host}` });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => { resolve(); });
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => { reject(new Error(`the WebSocket was refused (${String(res.statusCode)})`)); });
    });
    return new UiClient(ws);
  }

  count(event: string): number {
    return this.events.get(event) ?? 0;
  }

  /** Sends a call without waiting. */
  send(call: string, args: Record<string, unknown> = {}): number {
    const id = ++this.#id;
    this.ws.send(JSON.stringify({ id, call, ...args }));
    return id;
  }

  async until(cond: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (cond()) return;
      const left = deadline - Date.now();
      if (this.closed || left <= 0) throw new Error(`${what}: ${this.closed ? 'the page connection closed first' : 'timed out'} (events ${[...this.events].map(([e, n]) => `${e} ${String(n)}`).join(', ')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1_000));
        this.#wake.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Makes a call and waits for its answer; throws with its code if refused. */
  async call(call: string, args: Record<string, unknown> = {}, ms = 30_000): Promise<void> {
    const id = this.send(call, args);
    await this.until(() => this.answers.has(id), ms, `the answer to ${call}`);
    const a = this.answers.get(id);
    if (a?.ok !== true) throw new Error(`${call} refused: ${a?.code ?? '?'}`);
  }
}

async function uiRss(owned: Owned, built: Promise<string>, clientTorrc: string, log: (line: string) => void): Promise<TorResult> {
  const entry = await built;
  const assets = join(owned.root, 'web');
  buildPage(assets);
  const homes = await pairHomes(owned, entry);
  const tmps = [await mkdtemp(join(owned.root, 'tmp-')), await mkdtemp(join(owned.root, 'tmp-'))] as const;
  const window = String(WINDOW_MS / 1000);
  const ui = spawn(process.execPath, [...CLI_NODE_FLAGS, entry, 'ui', '--tor-config', clientTorrc, '--window', window],
    { env: cliEnv(homes[0], { TMPDIR: tmps[0], ENTRECHAT_UI_ASSETS: assets }), stdio: ['ignore', 'pipe', 'pipe'] });
  owned.children.add(ui);
  const uiExited = new Promise<number | null>((resolve) => { ui.on('close', (code) => { owned.children.delete(ui); resolve(code); }); });
  let b: CliTalk | null = null;
  let ours: number;
  let baseline: number;
  try {
    let out = '';
    let err = '';
    ui.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    ui.stderr.on('data', (d: Buffer) => { err = (err + d.toString('utf8')).slice(-2000); });
    const deadline = Date.now() + 30_000;
    while (!out.includes('\n')) {
      if (ui.exitCode !== null || Date.now() > deadline) throw new Error(`entrechat ui printed no URL (${err.trim().split('\n').at(-1) ?? ''})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const page = await UiClient.open(out.split('\n')[0] ?? '');
    await page.call('unlock', { passphrase: '' });
    await page.call('talk', { name: 'bob' });
    const bob = new CliTalk(owned, spawn(process.execPath,
      [...CLI_NODE_FLAGS, entry, 'talk', 'alice', '--json', '--tor-config', clientTorrc, '--window', window],
      { env: cliEnv(homes[1], { TMPDIR: tmps[1] }), stdio: ['pipe', 'pipe', 'pipe'] }));
    b = bob;
    await Promise.all([
      page.until(() => page.count('active') > 0, RUN_TIMEOUT_MS, 'the page active'),
      bob.until(() => bob.count('active') > 0, RUN_TIMEOUT_MS, 'Bob active'),
    ]);
    for (let i = 0; i < RSS_MESSAGES; i++) {
      page.send('send', { text: messageText(i, 'a') });
      bob.send(messageText(i, 'b'));
    }
    await Promise.all([
      page.until(() => page.count('delivered') >= RSS_MESSAGES && page.count('message') >= RSS_MESSAGES, 60_000, 'the page delivered and received all'),
      bob.until(() => bob.count('delivered') >= RSS_MESSAGES && bob.count('message') >= RSS_MESSAGES, 60_000, 'Bob delivered and received all'),
    ]);
    const refused = [...page.answers.values()].filter((a) => !a.ok);
    if (refused.length > 0) throw new Error(`refused sends: ${refused.map((a) => a.code ?? '?').join(', ')}`);
    const pu = ui.pid === undefined ? null : vmHwmKiB(ui.pid);
    const pb = bob.child.pid === undefined ? null : vmHwmKiB(bob.child.pid);
    if (pu === null || pb === null) throw new Error('cannot read a VmHWM');
    ours = pu;
    baseline = pb;
    await page.call('quit');
    await page.until(() => page.count('closed') > 0, TEARDOWN_TIMEOUT_MS, 'the session closed');
    await page.call('exit').catch(() => undefined);
    const codes = await within(Promise.all([uiExited, bob.exited]), TEARDOWN_TIMEOUT_MS, 'ui and talk ending');
    if (codes.some((c) => c !== 0)) log(`# ui-rss: exit codes ui ${String(codes[0])}, talk ${String(codes[1])}`);
  } finally {
    killChild(ui);
    if (b !== null) killChild(b.child);
  }
  const mib = (kib: number): number => kib / 1024;
  const o = mib(ours);
  const b0 = mib(baseline);
  log(`# ui-rss: ui ${o.toFixed(1)} MiB, talk --json ${b0.toFixed(1)} MiB, difference ${(o - b0).toFixed(1)} MiB (goal ≤ +10 MB)`);
  return { name: 'ui-rss', ours: round(o, 1), baseline: round(b0, 1), unit: 'MiB', ratio: round(o / b0, 3), goal: '≤ baseline + 10 MB', diff: round(o - b0, 1) };
}

async function sessionRss(owned: Owned, built: Promise<string>, clientTorrc: string, log: (line: string) => void): Promise<TorResult> {
  const entry = await built;
  const homes = await pairHomes(owned, entry);
  const start = (home: string, contact: string, tmp: string): CliTalk => new CliTalk(owned, spawn(process.execPath,
    [...CLI_NODE_FLAGS, entry, 'talk', contact, '--json', '--tor-config', clientTorrc, '--window', String(WINDOW_MS / 1000)],
    { env: cliEnv(home, { TMPDIR: tmp }), stdio: ['pipe', 'pipe', 'pipe'] }));
  const tmps = [await mkdtemp(join(owned.root, 'tmp-')), await mkdtemp(join(owned.root, 'tmp-'))] as const;
  const a = start(homes[0], 'bob', tmps[0]);
  const b = start(homes[1], 'alice', tmps[1]);
  let ours: number;
  let bobPeak: number | null;
  try {
    const active = (p: CliTalk) => () => p.count('active') > 0;
    await Promise.all([a.until(active(a), RUN_TIMEOUT_MS, 'Alice active'), b.until(active(b), RUN_TIMEOUT_MS, 'Bob active')]);
    for (let i = 0; i < RSS_MESSAGES; i++) {
      a.send(messageText(i, 'a'));
      b.send(messageText(i, 'b'));
    }
    const settled = (p: CliTalk) => () => p.count('delivered') >= RSS_MESSAGES && p.count('message') >= RSS_MESSAGES;
    await Promise.all([a.until(settled(a), 60_000, 'Alice delivered and received all'), b.until(settled(b), 60_000, 'Bob delivered and received all')]);
    const errors = [...a.events, ...b.events].filter((e) => e.event === 'error');
    if (errors.length > 0) throw new Error(`refused lines: ${errors.map((e) => e.code ?? '?').join(', ')}`);
    const pa = a.child.pid === undefined ? null : vmHwmKiB(a.child.pid);
    bobPeak = b.child.pid === undefined ? null : vmHwmKiB(b.child.pid);
    if (pa === null) throw new Error("cannot read Alice's VmHWM");
    ours = pa;
    a.endInput();
    b.endInput();
    const codesOut = await within(Promise.all([a.exited, b.exited]), TEARDOWN_TIMEOUT_MS, 'talk processes ending');
    if (codesOut.some((c) => c !== 0)) log(`# session-rss: talk exit codes ${codesOut.map(String).join(', ')}`);
  } finally {
    for (const p of [a, b]) killChild(p.child);
  }
  const base: number[] = [];
  for (let i = 0; i < 3; i++) base.push(await shortRunPeak(owned, [...CLI_NODE_FLAGS, entry, 'whoami', '--json'], cliEnv(homes[0])));
  const mib = (kib: number): number => kib / 1024;
  log(`# session-rss: Alice ${mib(ours).toFixed(1)} MiB, Bob ${bobPeak === null ? '?' : mib(bobPeak).toFixed(1)} MiB; whoami ${base.map((k) => mib(k).toFixed(1)).join(' / ')} MiB`);
  const o = mib(ours);
  const b0 = mib(median(base));
  return { name: 'session-rss', ours: round(o, 1), baseline: round(b0, 1), unit: 'MiB', ratio: round(o / b0, 3), goal: '≤ 60 MB' };
}

/** tor-bootstrap-warm: see the module comment. */
async function bootstrapWarm(owned: Owned, clientTorrc: string, log: (line: string) => void): Promise<TorResult> {
  const home = await mkdtemp(join(owned.root, 'home-'));
  const stateDir = join(home, 'tor');
  const extraConfig = readTorConfig(clientTorrc);
  const once = async (kept: boolean): Promise<number> => {
    const t = performance.now();
    const s = await spawnSessionTor({ extraConfig, onProgress: () => undefined, signal: owned.abort.signal, ...(kept ? { stateDir } : {}) });
    const ms = performance.now() - t;
    await s.close();
    return ms;
  };
  // The first start with the kept folder is a cold one: it fills the folder.
  const first = await once(true);
  const warm: number[] = [];
  const cold: number[] = [];
  for (let i = 0; i < BOOT_RUNS; i++) {
    cold.push(await once(false));
    warm.push(await once(true));
  }
  const list = (xs: number[]): string => xs.map((x) => secs(x)).join(' / ');
  log(`# tor-bootstrap-warm: first start (fills the folder) ${secs(first)} s; warm ${list(warm)} s; cold ${list(cold)} s`);
  const w = median(warm);
  const c = median(cold);
  return { name: 'tor-bootstrap-warm', ours: round(w / 1000, 3), baseline: round(c / 1000, 3), unit: 's', ratio: round(w / c, 3), goal: '≤ 0.9' };
}

// ---------------------------------------------------------------------------------------------------

/**
 * Starts one private Tor network, runs the three Tor benchmarks, and stops and removes everything.
 * A benchmark that fails is reported on the log and the others still run; the promise then rejects.
 */
export async function torBenchmarks(options: TorBenchOptions): Promise<void> {
  const log = options.log ?? ((line: string): void => { process.stderr.write(`${line}\n`); });
  const t0 = performance.now();
  const owned = new Owned(await mkdtemp(join(tmpdir(), 'entrechat-bench-')));
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`# ${sig}: stopping every tor and removing ${owned.root}`);
    void owned.release().finally(() => { process.exit(sig === 'SIGINT' ? 130 : 143); });
  };
  const onExit = (): void => { owned.releaseSync(); };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);
  // Every tor a session spawns makes its folder in os.tmpdir(): under our root for this run.
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = owned.root;
  const failures: string[] = [];
  // After a signal nothing more is reported: the run is being torn down.
  const emit = (r: TorResult): void => { if (!owned.abort.signal.aborted) options.onResult(r); };
  try {
    // The build runs while the network starts; nothing is measured before both are done.
    const built = buildCli(owned);
    built.catch(() => undefined);
    const netDir = await mkdtemp(join(owned.root, 'net-'));
    owned.netDir = netDir;
    const net = await testnetUp({ dir: netDir, ownerPid: process.pid, signal: owned.abort.signal });
    log(`# tor: private network ready in ${secs(net.readyMs)} s (${net.authorities} authorities + ${net.relays} relays)`);
    await built.catch(() => undefined);
    const alice = identityFromSecret(new Uint8Array(randomBytes(32)));
    const bob = identityFromSecret(new Uint8Array(randomBytes(32)));
    const wanted = (...names: string[]): boolean => options.only === undefined || names.some((n) => options.only?.some((o) => n.startsWith(o)) === true);
    if (wanted('session-setup', 'message-rtt')) {
      try {
        for (const r of await setupAndRtt(owned, alice, bob, net.clientTorrc, log)) emit(r);
      } catch (e) {
        failures.push(`session-setup and message-rtt: ${describeError(e)}`);
      }
    }
    owned.abort.signal.throwIfAborted();
    if (wanted(`pairs-${PAIRS_AT_ONCE}`)) {
      try {
        for (const r of await pairsCrowd(owned, net.clientTorrc, log)) emit(r);
      } catch (e) {
        failures.push(`pairs-${PAIRS_AT_ONCE}: ${describeError(e)}`);
      }
    }
    owned.abort.signal.throwIfAborted();
    if (wanted('tor-bootstrap-warm')) {
      try {
        emit(await bootstrapWarm(owned, net.clientTorrc, log));
      } catch (e) {
        failures.push(`tor-bootstrap-warm: ${describeError(e)}`);
      }
    }
    owned.abort.signal.throwIfAborted();
    if (wanted('session-rss')) {
      try {
        emit(await sessionRss(owned, built, net.clientTorrc, log));
      } catch (e) {
        failures.push(`session-rss: ${describeError(e)}`);
      }
    }
    owned.abort.signal.throwIfAborted();
    if (wanted('ui-rss')) {
      try {
        emit(await uiRss(owned, built, net.clientTorrc, log));
      } catch (e) {
        failures.push(`ui-rss: ${describeError(e)}`);
      }
    }
  } catch (e) {
    failures.push(`tor: ${describeError(e)}`);
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await owned.release();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    log(`# tor part: ${secs(performance.now() - t0)} s, everything stopped and removed`);
  }
  if (failures.length > 0) {
    for (const f of failures) log(`# FAILED ${f}`);
    throw new Error(`${failures.length} Tor benchmark(s) failed`);
  }
}
