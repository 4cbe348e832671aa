/**
 * A private Tor network on 127.0.0.1: 3 directory authorities + 2 relays, configured as measured in
 * TORNET.md (guards on the authorities only, equal weights from a bandwidth file, every node an HSDir),
 * for tests, benchmarks and the demo. Clients join it with the lines of DIR/client.torrc.
 *
 * Layout of DIR (0700):
 *   testnet.json      what `down` needs: a marker, the ports, the pid of every tor we started
 *   client.torrc      the lines a client tor needs (written once the network is ready)
 *   bandwidth         the authorities' V3BandwidthsFile
 *   geoip, geoip6     empty GeoIP files (saves 2.5 s of CPU and 35 MiB per tor)
 *   NICK/             one DataDirectory per tor, with its torrc, notice.log and tor.pid
 *
 * With `bridge: true` (`testnet up --bridge`), one more tor, `ecbridge0`, is an obfs4 bridge of that
 * network (`BridgeRelay 1`, `PublishServerDescriptor 0`: the authorities never hear of it, as with a
 * private bridge on the real network), its transport Debian's obfs4proxy or lyrebird; DIR/bridge.torrc
 * then holds the lines a client needs to join the network through that bridge alone. {@link bridgeUp}
 * adds such a bridge, in a folder of its own, to a network already running (a test run's).
 *
 * Every tor is started with `-f DIR/NICK/torrc`, so its command line names DIR: `down` signals only
 * pids whose command line still does (stopPid), and nothing else.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createServer } from 'node:net';
import { chmod, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { TorError, UsageError, isEntrechatError } from '../core/errors.ts';
import { abortableSleep, spawnProcess, spawnTor, stopPid, stopPidsSync, stopTor, torBinary, type TorProcess } from './proc.ts';
import { findObfs4Binary } from './transport-plugin.ts';

export interface TestnetOptions {
  /** The folder to make the network in: must not exist, or be empty. */
  readonly dir: string;
  /** First port of the network's range (15 ports); default: a free range chosen at random. */
  readonly basePort?: number;
  /** Progress, one line at a time (nothing secret: fingerprints and ports only). */
  readonly onProgress?: (line: string) => void;
  /** Aborting stops what was started, removes DIR, and rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Upper bound on the whole start, keys included (default 180 s). */
  readonly readyTimeoutMs?: number;
  /**
   * A pid whose exit makes every tor of the network exit (tor's `__OwningControllerProcess`): for a test
   * run, so that a killed runner does not leave a network behind. Default: none (the network outlives us).
   */
  readonly ownerPid?: number;
  /**
   * Also start an obfs4 bridge of the network (3 more ports) and write DIR/bridge.torrc: the lines a
   * client needs to reach the network only through it. Needs obfs4proxy (or lyrebird).
   */
  readonly bridge?: boolean;
}

export interface Testnet {
  readonly dir: string;
  /** DIR/client.torrc: the lines a client tor needs to join. */
  readonly clientTorrc: string;
  readonly authorities: number;
  readonly relays: number;
  /** From the call to the complete consensus. */
  readonly readyMs: number;
  /** First port of the range the network uses (PORTS_PER_NETWORK ports, BRIDGE_PORTS more with a bridge). */
  readonly basePort: number;
  /** DIR/bridge.torrc, with `bridge: true`. */
  readonly bridgeTorrc?: string;
}

/** An obfs4 bridge of a private network. */
export interface TestnetBridge {
  /** The folder of the bridge (the network's, or one of its own made by bridgeUp). */
  readonly dir: string;
  /** The client lines of the network, plus UseBridges, the Bridge line and ClientTransportPlugin. */
  readonly bridgeTorrc: string;
  /** The Bridge line alone (`Bridge obfs4 127.0.0.1:PORT FINGERPRINT cert=… iat-mode=0`). */
  readonly bridgeLine: string;
  /** Every TCP port of the network a client could reach directly (ORPorts, DirPorts): none of them with bridges. */
  readonly networkPorts: readonly number[];
  /** The bridge's obfs4 port: the only one a client with bridge.torrc connects to (through its obfs4 proxy). */
  readonly obfs4Port: number;
  /** The transport program in the Bridge/ClientTransportPlugin lines. */
  readonly transport: string;
  readonly readyMs: number;
}

export const AUTHORITIES = 3;
export const RELAYS = 2;
/** Each tor gets three ports in the range: ORPort, DirPort (authorities only), ControlPort. */
const PORTS_PER_NODE = 3;
export const PORTS_PER_NETWORK = (AUTHORITIES + RELAYS) * PORTS_PER_NODE;
/** A bridge's ports: ORPort, obfs4 listener, ControlPort. */
export const BRIDGE_PORTS = 3;
export const BRIDGE_NICK = 'ecbridge0';
const BRIDGE_TORRC = 'bridge.torrc';
export const READY_TIMEOUT_MS = 180_000;
/** Random base ports are drawn below Linux's ephemeral range (32768+), where outgoing connections land. */
const RANDOM_PORT_MIN = 12_000;
const RANDOM_PORT_MAX = 32_000;
const PORT_TRIES = 8;
/** One keygen or verify-config run. */
const TOOL_TIMEOUT_MS = 30_000;
const POLL_MS = 250;
const HTTP_TIMEOUT_MS = 3_000;
/** The bandwidth every node gets in the authorities' bandwidth file, and so in the consensus. */
const BANDWIDTH = 1000;
const STATE_FILE = 'testnet.json';
const STATE_MARKER = 'entrechat-testnet/1';
const CLIENT_TORRC = 'client.torrc';

type Role = 'authority' | 'relay' | 'bridge';

interface NodeSpec {
  readonly nick: string;
  readonly role: Role;
  readonly orPort: number;
  readonly dirPort: number | null;
  readonly controlPort: number;
}

interface NodeKeys extends NodeSpec {
  /** RSA identity fingerprint, 40 upper-case hex digits. */
  readonly fingerprint: string;
  /** Authorities: the v3 identity (authority certificate fingerprint). */
  readonly v3ident: string | null;
}

/** DIR/testnet.json. */
interface State {
  readonly marker: typeof STATE_MARKER;
  readonly dir: string;
  readonly basePort: number;
  readonly nodes: readonly { readonly nick: string; readonly role: Role; readonly pid: number | null }[];
}

function nodeSpecs(base: number): NodeSpec[] {
  const specs: NodeSpec[] = [];
  for (let i = 0; i < AUTHORITIES + RELAYS; i++) {
    const role: Role = i < AUTHORITIES ? 'authority' : 'relay';
    const p = base + i * PORTS_PER_NODE;
    specs.push({
      nick: role === 'authority' ? `ecauth${i}` : `ecrelay${i - AUTHORITIES}`,
      role,
      orPort: p,
      dirPort: role === 'authority' ? p + 1 : null,
      controlPort: p + 2,
    });
  }
  return specs;
}

// ---------------------------------------------------------------------------------------------------
// Ports

function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => { resolvePort(false); });
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      server.close(() => { resolvePort(true); });
    });
  });
}

async function rangeFree(base: number, count: number): Promise<boolean> {
  for (let p = base; p < base + count; p++) {
    if (!(await portFree(p))) return false;
  }
  return true;
}

async function choosePorts(explicit: number | undefined, count: number = PORTS_PER_NETWORK): Promise<number> {
  if (explicit !== undefined) {
    if (!Number.isSafeInteger(explicit) || explicit < 1024 || explicit + count - 1 > 65_535) {
      throw new UsageError('BAD_ARGUMENT', `the base port must be between 1024 and ${65_535 - count + 1}`);
    }
    if (!(await rangeFree(explicit, count))) {
      throw new TorError('TESTNET_PORT_BUSY',
        `a port in 127.0.0.1:${explicit}–${explicit + count - 1} is in use: stop the other network or pick another base port`);
    }
    return explicit;
  }
  for (let i = 0; i < PORT_TRIES; i++) {
    const base = randomInt(RANDOM_PORT_MIN, RANDOM_PORT_MAX - count);
    if (await rangeFree(base, count)) return base;
  }
  throw new TorError('TESTNET_PORT_BUSY', `no free range of ${count} ports found on 127.0.0.1 in ${PORT_TRIES} tries`);
}

// ---------------------------------------------------------------------------------------------------
// Files

async function writeAtomic(file: string, text: string, mode = 0o600): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, text, { mode, flag: 'wx' });
  await rename(tmp, file);
}

async function writeState(state: State): Promise<void> {
  await writeAtomic(join(state.dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

function parseState(text: string): State | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o.marker !== STATE_MARKER || typeof o.dir !== 'string' || typeof o.basePort !== 'number' || !Array.isArray(o.nodes)) return null;
  const nodes: State['nodes'][number][] = [];
  for (const n of o.nodes as unknown[]) {
    if (typeof n !== 'object' || n === null) return null;
    const r = n as Record<string, unknown>;
    if (typeof r.nick !== 'string' || !/^[A-Za-z0-9]{1,19}$/.test(r.nick)) return null;
    if (r.role !== 'authority' && r.role !== 'relay' && r.role !== 'bridge') return null;
    if (r.pid !== null && (typeof r.pid !== 'number' || !Number.isSafeInteger(r.pid) || r.pid <= 1)) return null;
    nodes.push({ nick: r.nick, role: r.role, pid: r.pid });
  }
  return { marker: STATE_MARKER, dir: o.dir, basePort: o.basePort, nodes };
}

function dirAuthorityLine(n: NodeKeys): string {
  return `DirAuthority ${n.nick} orport=${n.orPort} no-v2 v3ident=${n.v3ident ?? ''} 127.0.0.1:${n.dirPort ?? 0} ${n.fingerprint}`;
}

function torrcFor(dir: string, n: NodeKeys, all: readonly NodeKeys[], ownerPid: number | undefined): string {
  const data = join(dir, n.nick);
  const authorities = all.filter((a) => a.role === 'authority');
  const lines = [
    `# ${n.role} ${n.nick} of the private test network in ${dir} (entrechat testnet up)`,
    'TestingTorNetwork 1',
    `DataDirectory ${data}`,
    `Nickname ${n.nick}`,
    `PidFile ${join(data, 'tor.pid')}`,
    `Log notice file ${join(data, 'notice.log')}`,
    'ShutdownWaitLength 0',
    `ControlPort 127.0.0.1:${n.controlPort}`,
    'CookieAuthentication 1',
    'PathsNeededToBuildCircuits 0.67',
    'ClientUseIPv6 0',
    `GeoIPFile ${join(dir, 'geoip')}`,
    `GeoIPv6File ${join(dir, 'geoip6')}`,
    ...authorities.map(dirAuthorityLine),
    'SocksPort 0',
    `ORPort 127.0.0.1:${n.orPort}`,
    'Address 127.0.0.1',
    'AssumeReachable 1',
    'ExitRelay 0',
    'ExitPolicy reject *:*',
    'ContactInfo entrechat-testnet@localhost',
  ];
  if (ownerPid !== undefined) lines.push(`__OwningControllerProcess ${ownerPid}`);
  if (n.role === 'authority') {
    lines.push(
      `DirPort 127.0.0.1:${n.dirPort ?? 0}`,
      'AuthoritativeDirectory 1',
      'V3AuthoritativeDirectory 1',
      'TestingDirAuthVoteHSDir *',
      'V3AuthVotingInterval 10',
      'V3AuthVoteDelay 2',
      'V3AuthDistDelay 2',
      'TestingV3AuthInitialVotingInterval 5',
      'TestingV3AuthInitialVoteDelay 2',
      'TestingV3AuthInitialDistDelay 2',
      'V3AuthNIntervalsValid 2',
      `V3BandwidthsFile ${join(dir, 'bandwidth')}`,
      // Exactly one Guard line: guards on the authorities only (TORNET.md, pitfall "stuck at 95 %").
      `TestingDirAuthVoteGuard ${authorities.map((a) => `$${a.fingerprint}`).join(',')}`,
      'TestingDirAuthVoteGuardIsStrict 1',
    );
  }
  return `${lines.join('\n')}\n`;
}

function clientTorrcText(dir: string, all: readonly NodeKeys[]): string {
  return [
    `# Joins the private Tor test network in ${dir} (made by \`entrechat testnet up\`).`,
    '# Only the lines a client tor needs to join: whoever runs the client tor adds its own',
    '# SocksPort (e.g. `SocksPort auto ExtendedErrors`), ControlPort and DataDirectory lines.',
    'TestingTorNetwork 1',
    ...all.filter((a) => a.role === 'authority').map(dirAuthorityLine),
    'ClientUseIPv6 0',
    'PathsNeededToBuildCircuits 0.67',
    `GeoIPFile ${join(dir, 'geoip')}`,
    `GeoIPv6File ${join(dir, 'geoip6')}`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// The obfs4 bridge

interface BridgeSpec {
  readonly orPort: number;
  readonly obfs4Port: number;
  readonly controlPort: number;
}

function bridgeSpec(base: number): BridgeSpec {
  return { orPort: base, obfs4Port: base + 1, controlPort: base + 2 };
}

/** The client lines of a network (client.torrc without its comments). */
function clientLines(clientTorrc: string): string[] {
  return clientTorrc.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

function bridgeTorrcFor(data: string, spec: BridgeSpec, network: readonly string[], transport: string, ownerPid: number | undefined): string {
  const lines = [
    `# obfs4 bridge ${BRIDGE_NICK} of a private test network (entrechat testnet up --bridge)`,
    // The network's client lines: TestingTorNetwork, DirAuthority…, GeoIP files.
    ...network,
    `DataDirectory ${data}`,
    `Nickname ${BRIDGE_NICK}`,
    `PidFile ${join(data, 'tor.pid')}`,
    `Log notice file ${join(data, 'notice.log')}`,
    'ShutdownWaitLength 0',
    `ControlPort 127.0.0.1:${spec.controlPort}`,
    'CookieAuthentication 1',
    'SocksPort 0',
    `ORPort 127.0.0.1:${spec.orPort}`,
    'Address 127.0.0.1',
    'AssumeReachable 1',
    'ExitRelay 0',
    'ExitPolicy reject *:*',
    'ContactInfo entrechat-testnet@localhost',
    // A private bridge: the authorities never get its descriptor; clients need only its Bridge line.
    'BridgeRelay 1',
    'BridgeDistribution none',
    'PublishServerDescriptor 0',
    `ServerTransportPlugin obfs4 exec ${transport}`,
    `ServerTransportListenAddr obfs4 127.0.0.1:${spec.obfs4Port}`,
    'ExtORPort auto',
  ];
  if (ownerPid !== undefined) lines.push(`__OwningControllerProcess ${ownerPid}`);
  return `${lines.join('\n')}\n`;
}

/** What DIR/bridge.json holds (for readBridge). */
interface BridgeFile {
  readonly marker: typeof STATE_MARKER;
  readonly bridgeLine: string;
  readonly networkPorts: readonly number[];
  readonly obfs4Port: number;
  readonly transport: string;
  readonly readyMs: number;
}

/** The line obfs4proxy writes in pt_state/obfs4_bridgeline.txt, with the placeholders filled in. */
function bridgeLineFrom(text: string, obfs4Port: number, fingerprint: string): string | null {
  const m = /^Bridge obfs4 <IP ADDRESS>:<PORT> <FINGERPRINT> (cert=[A-Za-z0-9+/]{70}(?:==)? iat-mode=[0-2])\s*$/m.exec(text);
  return m?.[1] === undefined ? null : `Bridge obfs4 127.0.0.1:${obfs4Port} ${fingerprint} ${m[1]}`;
}

/**
 * Starts the bridge tor in `root/ecbridge0` once the network is ready, waits until it has bootstrapped
 * and obfs4proxy has written its bridge line, then writes root/bridge.torrc and root/bridge.json.
 * `onSpawn` records the pid before anything else happens. The caller stops it on failure.
 */
async function startBridge(args: {
  readonly root: string;
  readonly spec: BridgeSpec;
  readonly clientTorrc: string;
  readonly networkPorts: readonly number[];
  readonly ownerPid: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly deadline: number;
  readonly progress: (line: string) => void;
  readonly onSpawn: (proc: TorProcess) => Promise<void>;
}): Promise<TestnetBridge> {
  const t0 = Date.now();
  const transport = findObfs4Binary();
  if (transport === null) throw setupFailed('the bridge needs the obfs4 transport: sudo apt-get install obfs4proxy', '');
  const data = join(args.root, BRIDGE_NICK);
  await mkdir(data, { recursive: true, mode: 0o700 });
  await chmod(data, 0o700);
  const network = clientLines(args.clientTorrc);
  const torrc = join(data, 'torrc');
  await writeFile(torrc, bridgeTorrcFor(data, args.spec, network, transport, args.ownerPid), { mode: 0o600 });
  await runTool(`tor --verify-config for ${BRIDGE_NICK}`, spawnTor(['--defaults-torrc', '/dev/null', '--verify-config', '-f', torrc], { cwd: data }), args.signal);
  const proc = spawnTor(['--defaults-torrc', '/dev/null', '-f', torrc], { cwd: data, detached: true });
  await args.onSpawn(proc);
  args.progress(`started the obfs4 bridge ${BRIDGE_NICK} on 127.0.0.1:${args.spec.obfs4Port} (${transport})`);
  let bridgeLine: string | null = null;
  for (;;) {
    args.signal?.throwIfAborted();
    const log = await readFile(join(data, 'notice.log'), 'utf8').catch(() => '');
    if (proc.hasExited()) throw setupFailed(`${BRIDGE_NICK} exited while starting`, [proc.stderrTail(), log.trim().split('\n').slice(-8).join('\n')].join('\n'));
    if (/Bootstrapped 100%/.test(log)) {
      const fp = /^\S+ ([0-9A-F]{40})\s*$/m.exec(await readFile(join(data, 'fingerprint'), 'utf8').catch(() => ''))?.[1];
      const line = await readFile(join(data, 'pt_state', 'obfs4_bridgeline.txt'), 'utf8').catch(() => '');
      if (fp !== undefined) bridgeLine = bridgeLineFrom(line, args.spec.obfs4Port, fp);
      if (bridgeLine !== null) break;
    }
    const left = args.deadline - Date.now();
    if (left <= 0) throw new TorError('TESTNET_NOT_READY', `the obfs4 bridge ${BRIDGE_NICK} was not ready in time (bootstrap or bridge line missing)`);
    await abortableSleep(Math.min(POLL_MS, left), args.signal);
  }
  const bridgeTorrc = join(args.root, BRIDGE_TORRC);
  await writeAtomic(bridgeTorrc, [
    '# Joins the private Tor test network only through its obfs4 bridge (made by `entrechat testnet up --bridge`):',
    '# the same lines as client.torrc, and the three lines of README § Where Tor is blocked.',
    ...network,
    'UseBridges 1',
    bridgeLine,
    `ClientTransportPlugin obfs4 exec ${transport}`,
    '',
  ].join('\n'), 0o644);
  const readyMs = Date.now() - t0;
  const file: BridgeFile = { marker: STATE_MARKER, bridgeLine, networkPorts: args.networkPorts, obfs4Port: args.spec.obfs4Port, transport, readyMs };
  await writeAtomic(join(args.root, 'bridge.json'), `${JSON.stringify(file, null, 2)}\n`, 0o644);
  args.progress(`bridge ready in ${(readyMs / 1000).toFixed(1)} s: ${bridgeTorrc}`);
  return { dir: args.root, bridgeTorrc, bridgeLine, networkPorts: args.networkPorts, obfs4Port: args.spec.obfs4Port, transport, readyMs };
}

/** Every ORPort and DirPort of a network whose range starts at `base`. */
function networkPortsOf(base: number): number[] {
  return nodeSpecs(base).flatMap((n) => (n.dirPort !== null ? [n.orPort, n.dirPort] : [n.orPort]));
}

/**
 * The bridge of a folder made by `testnet up --bridge` or bridgeUp, or null when it has none.
 */
export async function readBridge(dir: string): Promise<TestnetBridge | null> {
  let v: unknown;
  try {
    v = JSON.parse(await readFile(join(dir, 'bridge.json'), 'utf8'));
  } catch {
    return null;
  }
  const o = v as Partial<BridgeFile> | null;
  if (o?.marker !== STATE_MARKER || typeof o.bridgeLine !== 'string' || !Array.isArray(o.networkPorts)
    || typeof o.obfs4Port !== 'number' || typeof o.transport !== 'string' || typeof o.readyMs !== 'number') return null;
  return { dir, bridgeTorrc: join(dir, BRIDGE_TORRC), bridgeLine: o.bridgeLine, networkPorts: o.networkPorts.filter((p): p is number => typeof p === 'number'), obfs4Port: o.obfs4Port, transport: o.transport, readyMs: o.readyMs };
}

export interface BridgeOptions {
  /** The folder of a running network (made by testnetUp: it holds testnet.json and client.torrc). */
  readonly network: string;
  /** The bridge's own folder: must not exist, or be empty; stop it with testnetDown(dir). */
  readonly dir: string;
  readonly ownerPid?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (line: string) => void;
  /** Default 60 s. */
  readonly readyTimeoutMs?: number;
}

/**
 * Adds an obfs4 bridge to a network already running (a test run's), in a folder of its own that
 * testnetDown stops and removes. On failure, stops what it started and removes the folder.
 * @throws TorError TESTNET_DIR_INVALID, TESTNET_PORT_BUSY, TESTNET_SETUP_FAILED, TESTNET_NOT_READY
 */
export async function bridgeUp(options: BridgeOptions): Promise<TestnetBridge> {
  const progress = options.onProgress ?? ((): void => undefined);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let networkState: State | null;
  let clientTorrc: string;
  try {
    const net = await realpath(resolve(options.network));
    networkState = parseState(await readFile(join(net, STATE_FILE), 'utf8'));
    clientTorrc = await readFile(join(net, CLIENT_TORRC), 'utf8');
  } catch (e) {
    throw new TorError('TESTNET_DIR_INVALID', `${options.network} is not a running test network (no ${STATE_FILE} or ${CLIENT_TORRC})`, { cause: e });
  }
  if (networkState === null) throw new TorError('TESTNET_DIR_INVALID', `${options.network} holds no ${STATE_FILE} of ours`);
  const requested = resolve(options.dir);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(requested)) throw new TorError('TESTNET_DIR_INVALID', 'the folder name holds a control character');
  await checkEmptyDir(requested);
  const base = await choosePorts(undefined, BRIDGE_PORTS);
  await mkdir(requested, { recursive: true, mode: 0o700 });
  await chmod(requested, 0o700);
  const dir = await realpath(requested);
  let state: State = { marker: STATE_MARKER, dir, basePort: base, nodes: [{ nick: BRIDGE_NICK, role: 'bridge', pid: null }] };
  let proc: TorProcess | null = null;
  let ok = false;
  try {
    await writeState(state);
    const bridge = await startBridge({
      root: dir, spec: bridgeSpec(base), clientTorrc, networkPorts: networkPortsOf(networkState.basePort),
      ownerPid: options.ownerPid, signal: options.signal, deadline, progress,
      onSpawn: async (p) => {
        proc = p;
        state = { ...state, nodes: [{ nick: BRIDGE_NICK, role: 'bridge', pid: p.pid }] };
        await writeState(state);
      },
    });
    (proc as TorProcess | null)?.release();
    ok = true;
    return bridge;
  } finally {
    if (!ok) {
      const p = proc as TorProcess | null;
      if (p !== null) await stopTor(p);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Tools

function setupFailed(what: string, tail: string): TorError {
  const last = tail.trim() === '' ? '' : `:\n${tail.trim()}`;
  return new TorError('TESTNET_SETUP_FAILED', `${what}${last}`);
}

/** Runs a short tool to completion; rejects with TESTNET_SETUP_FAILED (its last output) unless it exits 0. */
async function runTool(what: string, proc: TorProcess, signal: AbortSignal | undefined): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const onAbort = (): void => { void stopTor(proc, 500); };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const outcome = await Promise.race([
      proc.exited,
      new Promise<'timeout'>((r) => { timer = setTimeout(() => { r('timeout'); }, TOOL_TIMEOUT_MS); }),
    ]);
    signal?.throwIfAborted();
    if (outcome === 'timeout') {
      await stopTor(proc, 500);
      throw setupFailed(`${what} did not finish within ${TOOL_TIMEOUT_MS / 1000} s`, proc.stderrTail());
    }
    if (outcome.code !== 0) throw setupFailed(`${what} failed (exit ${outcome.code ?? outcome.signal ?? '?'})`, proc.stderrTail());
    return proc.stderrTail();
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

function gencertBinary(tor: string): string {
  const beside = join(dirname(tor), 'tor-gencert');
  if (existsSync(beside)) return beside;
  return 'tor-gencert';
}

/**
 * Runs the jobs, at most `width` at a time (the machine may have 2 cores). After a failure no further job
 * starts, and the promise settles only once the running ones have: nothing is left writing into DIR.
 */
async function limited<T>(width: number, jobs: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array<T>(jobs.length);
  const run: { next: number; failure: { readonly error: unknown } | null } = { next: 0, failure: null };
  const worker = async (): Promise<void> => {
    while (run.failure === null && run.next < jobs.length) {
      const i = run.next++;
      const job = jobs[i];
      try {
        if (job !== undefined) results[i] = await job();
      } catch (error) {
        run.failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  if (run.failure !== null) throw run.failure.error;
  return results;
}

async function makeKeys(dir: string, spec: NodeSpec, geoip: string, signal: AbortSignal | undefined): Promise<NodeKeys> {
  const data = join(dir, spec.nick);
  await mkdir(join(data, 'keys'), { recursive: true, mode: 0o700 });
  await chmod(data, 0o700);
  let v3ident: string | null = null;
  if (spec.role === 'authority') {
    const tor = torBinary();
    const keys = join(data, 'keys');
    // An empty passphrase: stdin is /dev/null, which tor-gencert reads as an empty line.
    const gencert = spawnProcess(gencertBinary(tor), [
      '--create-identity-key', '--passphrase-fd', '0', '-m', '12', '-a', `127.0.0.1:${spec.dirPort ?? 0}`,
      '-i', join(keys, 'authority_identity_key'), '-s', join(keys, 'authority_signing_key'),
      '-c', join(keys, 'authority_certificate'),
    ], { cwd: data });
    await runTool(`tor-gencert for ${spec.nick}`, gencert, signal);
    const cert = await readFile(join(keys, 'authority_certificate'), 'utf8');
    const m = /^fingerprint ([0-9A-F]{40})$/m.exec(cert);
    if (m?.[1] === undefined) throw setupFailed(`tor-gencert for ${spec.nick} wrote a certificate without a fingerprint`, '');
    v3ident = m[1];
  }
  const list = spawnTor([
    '--ignore-missing-torrc', '-f', '/dev/null', '--defaults-torrc', '/dev/null', '--DataDirectory', data,
    '--ORPort', `127.0.0.1:${spec.orPort}`, '--Nickname', spec.nick, '--GeoIPFile', geoip, '--GeoIPv6File', geoip,
    '--list-fingerprint', '--quiet',
  ], { cwd: data });
  const out = await runTool(`tor --list-fingerprint for ${spec.nick}`, list, signal);
  const line = out.split('\n').reverse().find((l) => l.startsWith(`${spec.nick} `));
  const fingerprint = line?.slice(spec.nick.length).replace(/\s+/g, '') ?? '';
  if (!/^[0-9A-F]{40}$/.test(fingerprint)) throw setupFailed(`tor --list-fingerprint for ${spec.nick} printed no fingerprint`, out);
  return { ...spec, fingerprint, v3ident };
}

// ---------------------------------------------------------------------------------------------------
// Consensus

async function httpGet(port: number, path: string, signal: AbortSignal | undefined): Promise<{ status: number; body: string }> {
  // Loaded here, not at the top: the bundle would otherwise load node:http for every command.
  const { request } = await import('node:http');
  return new Promise((resolveGet, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: HTTP_TIMEOUT_MS, ...(signal !== undefined ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => { resolveGet({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }); });
      res.on('error', reject);
    });
    req.on('timeout', () => { req.destroy(new Error('timeout')); });
    req.on('error', reject);
    req.end();
  });
}

interface ConsensusEntry {
  readonly nick: string;
  readonly flags: ReadonlySet<string>;
  readonly bandwidth: number | null;
}

/** The router entries of a consensus document, by RSA identity fingerprint (hex, upper case). */
function parseConsensus(text: string): Map<string, ConsensusEntry> {
  const entries = new Map<string, ConsensusEntry>();
  let current: { fp: string; nick: string; flags: Set<string>; bandwidth: number | null } | null = null;
  const flush = (): void => {
    if (current !== null) entries.set(current.fp, { nick: current.nick, flags: current.flags, bandwidth: current.bandwidth });
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('r ')) {
      flush();
      const [, nick, identity] = line.split(' ');
      const fp = Buffer.from(identity ?? '', 'base64').toString('hex').toUpperCase();
      current = { fp, nick: nick ?? '', flags: new Set(), bandwidth: null };
    } else if (current !== null && line.startsWith('s ')) {
      current.flags = new Set(line.slice(2).split(' '));
    } else if (current !== null && line.startsWith('w ')) {
      const m = /(?:^| )Bandwidth=(\d+)/.exec(line.slice(2));
      current.bandwidth = m?.[1] !== undefined ? Number(m[1]) : null;
    } else if (line.startsWith('directory-footer')) {
      break;
    }
  }
  flush();
  return entries;
}

/** What is still missing from a consensus for the network to be ready; empty when ready. */
function missing(entries: Map<string, ConsensusEntry>, nodes: readonly NodeKeys[]): string[] {
  const out: string[] = [];
  for (const n of nodes) {
    const e = entries.get(n.fingerprint);
    if (e === undefined) out.push(`${n.nick} not listed`);
    else if (!e.flags.has('HSDir')) out.push(`${n.nick} not HSDir`);
    else if (n.role === 'relay' && e.bandwidth !== BANDWIDTH) out.push(`${n.nick} at Bandwidth=${e.bandwidth ?? '?'}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// up / down

function elapsed(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

/** Refuses a DIR that exists and is not an empty folder. */
async function checkEmptyDir(dir: string): Promise<void> {
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new TorError('TESTNET_DIR_INVALID', `${dir} exists and is not a folder`);
    entries = await readdir(dir);
  } catch (e) {
    if (isEntrechatError(e)) throw e;
    if (e instanceof Error && 'code' in e && e.code === 'ENOENT') return;
    throw new TorError('TESTNET_DIR_INVALID', `${dir} cannot be read`, { cause: e });
  }
  if (entries.length > 0) throw new TorError('TESTNET_DIR_INVALID', `${dir} exists and is not empty`);
}

/**
 * Makes the keys and configuration of a private network in `options.dir`, starts it, and resolves once
 * an authority's consensus lists every node as HSDir with the relays at equal weight. On failure or
 * abort, stops every tor it started and removes the folder, then rejects.
 * The tors outlive the caller's process; stop them with testnetDown(dir).
 * @throws TorError TESTNET_DIR_INVALID, TESTNET_PORT_BUSY, TESTNET_SETUP_FAILED, TESTNET_NOT_READY,
 *   TOR_NOT_FOUND; UsageError BAD_ARGUMENT for a base port out of range; the signal's reason on abort
 */
export async function testnetUp(options: TestnetOptions): Promise<Testnet> {
  const t0 = Date.now();
  const progress = options.onProgress ?? ((): void => undefined);
  const signal = options.signal;
  const timeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const deadline = t0 + timeoutMs;
  signal?.throwIfAborted();
  torBinary(); // TOR_NOT_FOUND before anything is made

  const requested = resolve(options.dir);
  // Its path goes into torrc lines: a control character would end a line and start another.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(requested)) throw new TorError('TESTNET_DIR_INVALID', 'the folder name holds a control character');
  await checkEmptyDir(requested);
  const withBridge = options.bridge === true;
  if (withBridge && findObfs4Binary() === null) throw setupFailed('the bridge needs the obfs4 transport: sudo apt-get install obfs4proxy', '');
  const base = await choosePorts(options.basePort, PORTS_PER_NETWORK + (withBridge ? BRIDGE_PORTS : 0));
  signal?.throwIfAborted();
  let dir: string;
  try {
    await mkdir(requested, { recursive: true, mode: 0o700 });
    await chmod(requested, 0o700);
    // Real path: the tors' command lines (and so stopPid's guard) name it as `down` will resolve it.
    dir = await realpath(requested);
  } catch (e) {
    await rm(requested, { recursive: true, force: true }).catch(() => undefined);
    throw new TorError('TESTNET_DIR_INVALID', `cannot create ${requested}`, { cause: e });
  }
  const procs = new Map<string, TorProcess>();
  let state: State = {
    marker: STATE_MARKER, dir, basePort: base,
    nodes: [
      ...nodeSpecs(base).map((s) => ({ nick: s.nick, role: s.role, pid: null })),
      ...(withBridge ? [{ nick: BRIDGE_NICK, role: 'bridge' as const, pid: null }] : []),
    ],
  };
  let ok = false;
  try {
    await writeState(state);
    const geoip = join(dir, 'geoip');
    await writeFile(geoip, '', { mode: 0o600 });
    await writeFile(join(dir, 'geoip6'), '', { mode: 0o600 });

    progress(`testnet: ${dir}, ports 127.0.0.1:${base}–${base + PORTS_PER_NETWORK + (withBridge ? BRIDGE_PORTS : 0) - 1}`);
    const specs = nodeSpecs(base);
    const nodes = await limited(2, specs.map((s) => () => makeKeys(dir, s, geoip, signal)));
    progress(`keys: ${AUTHORITIES} authorities + ${RELAYS} relays (${elapsed(t0)})`);
    for (const n of nodes) progress(`  ${n.nick} ${n.role} ${n.fingerprint}${n.v3ident !== null ? ` v3ident ${n.v3ident}` : ''}`);

    const unix = Math.floor(Date.now() / 1000);
    await writeFile(join(dir, 'bandwidth'),
      `${unix}\n${nodes.map((n) => `node_id=$${n.fingerprint} bw=${BANDWIDTH}\n`).join('')}`, { mode: 0o600 });
    const torrcs = nodes.map((n) => join(dir, n.nick, 'torrc'));
    await Promise.all(nodes.map((n, i) => writeFile(torrcs[i] ?? '', torrcFor(dir, n, nodes, options.ownerPid), { mode: 0o600 })));
    await limited(2, torrcs.map((f, i) => () => runTool(`tor --verify-config for ${nodes[i]?.nick ?? '?'}`,
      spawnTor(['--defaults-torrc', '/dev/null', '--verify-config', '-f', f], { cwd: dir }), signal)));
    progress(`configuration verified (${elapsed(t0)})`);

    // Start every tor, recording each pid before the next starts.
    for (const [i, n] of nodes.entries()) {
      signal?.throwIfAborted();
      const p = spawnTor(['--defaults-torrc', '/dev/null', '-f', torrcs[i] ?? ''], { cwd: join(dir, n.nick), detached: true });
      procs.set(n.nick, p);
      state = { ...state, nodes: state.nodes.map((s) => (s.nick === n.nick ? { ...s, pid: p.pid } : s)) };
      await writeState(state);
    }
    progress(`started ${AUTHORITIES} authorities + ${RELAYS} relays (${elapsed(t0)})`);

    await waitReady(dir, nodes, procs, deadline, timeoutMs, signal, progress);
    const clientTorrc = join(dir, CLIENT_TORRC);
    const clientText = clientTorrcText(dir, nodes);
    await writeAtomic(clientTorrc, clientText, 0o644);
    let bridge: TestnetBridge | null = null;
    if (withBridge) {
      bridge = await startBridge({
        root: dir, spec: bridgeSpec(base + PORTS_PER_NETWORK), clientTorrc: clientText, networkPorts: networkPortsOf(base),
        ownerPid: options.ownerPid, signal, deadline, progress,
        onSpawn: async (p) => {
          procs.set(BRIDGE_NICK, p);
          state = { ...state, nodes: state.nodes.map((s) => (s.nick === BRIDGE_NICK ? { ...s, pid: p.pid } : s)) };
          await writeState(state);
        },
      });
    }
    for (const p of procs.values()) p.release();
    const readyMs = Date.now() - t0;
    progress(`ready in ${(readyMs / 1000).toFixed(1)} s: ${clientTorrc}`);
    ok = true;
    return { dir, clientTorrc, authorities: AUTHORITIES, relays: RELAYS, readyMs, basePort: base, ...(bridge !== null ? { bridgeTorrc: bridge.bridgeTorrc } : {}) };
  } finally {
    if (!ok) {
      await Promise.all([...procs.values()].map((p) => stopTor(p)));
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      progress(`testnet: stopped what was started and removed ${dir}`);
    }
  }
}

async function waitReady(
  dir: string,
  nodes: readonly NodeKeys[],
  procs: ReadonlyMap<string, TorProcess>,
  deadline: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  progress: (line: string) => void,
): Promise<void> {
  const t0 = Date.now();
  const authorities = nodes.filter((n) => n.role === 'authority');
  let lastReport = '';
  let round = 0;
  for (;;) {
    signal?.throwIfAborted();
    for (const [nick, p] of procs) {
      if (p.hasExited()) {
        const log = await readFile(join(dir, nick, 'notice.log'), 'utf8').catch(() => '');
        const tail = [p.stderrTail(), log.trim().split('\n').slice(-8).join('\n')].filter((s) => s !== '').join('\n');
        if (/Address already in use/.test(tail)) {
          throw new TorError('TESTNET_PORT_BUSY', `${nick} could not bind its port (taken after the check):\n${tail}`);
        }
        throw setupFailed(`${nick} exited while the network was starting`, tail);
      }
    }
    // Ask the authorities in turn: any one's consensus is the network's.
    const a = authorities[round++ % authorities.length];
    let report: string;
    if (a?.dirPort != null) {
      try {
        const res = await httpGet(a.dirPort, '/tor/status-vote/current/consensus', signal);
        if (res.status === 200) {
          const left = missing(parseConsensus(res.body), nodes);
          if (left.length === 0) {
            progress(`consensus complete from ${a.nick} (${((Date.now() - t0) / 1000).toFixed(1)} s after start)`);
            return;
          }
          report = `consensus: ${left.join(', ')}`;
        } else {
          report = 'consensus: none yet';
        }
      } catch {
        signal?.throwIfAborted();
        report = 'consensus: authorities not answering yet';
      }
      if (report !== lastReport) {
        progress(report);
        lastReport = report;
      }
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new TorError('TESTNET_NOT_READY',
        `the private test network did not reach a complete consensus within ${Math.round(timeoutMs / 1000)} s (${lastReport})`);
    }
    await abortableSleep(Math.min(POLL_MS, left), signal);
  }
}

/**
 * Stops the network in `dir` (the tors recorded in DIR/testnet.json, and any whose pid file is in DIR,
 * each only if its command line still names DIR) and removes the folder. Tors already gone are fine.
 * @throws TorError TESTNET_DIR_INVALID (nothing touched) when DIR holds no testnet.json of ours
 */
export async function testnetDown(dir: string): Promise<void> {
  const requested = resolve(dir);
  let text: string;
  let real: string;
  try {
    real = await realpath(requested);
    text = await readFile(join(real, STATE_FILE), 'utf8');
  } catch (e) {
    throw new TorError('TESTNET_DIR_INVALID', `${requested} is not a test network folder (no ${STATE_FILE})`, { cause: e });
  }
  const state = parseState(text);
  if (state === null) throw new TorError('TESTNET_DIR_INVALID', `${join(requested, STATE_FILE)} is not one entrechat testnet up wrote`);
  if (state.dir !== real) {
    throw new TorError('TESTNET_DIR_INVALID', `${requested} was made as ${state.dir} (moved or copied?): nothing was stopped`);
  }
  const pids = statePids(real, state, (file) => readFileSync(file, 'utf8'));
  await Promise.all(pids.map((pid) => stopPid(pid, `${real}/`)));
  await rm(real, { recursive: true, force: true });
}

/** The pids recorded in the state, and those in the tors' own pid files (which cover a crash of `up` between a spawn and its record). */
function statePids(dir: string, state: State, read: (file: string) => string): number[] {
  const pids = new Set<number>();
  for (const n of state.nodes) {
    if (n.pid !== null) pids.add(n.pid);
    let fromFile = '';
    try { fromFile = read(join(dir, n.nick, 'tor.pid')).trim(); } catch { /* not written (yet) */ }
    const pid = Number(fromFile);
    if (/^\d+$/.test(fromFile) && Number.isSafeInteger(pid) && pid > 1) pids.add(pid);
  }
  return [...pids];
}

/**
 * testnetDown for a process 'exit' handler (an interrupted test run), synchronous and silent: stops the
 * network's tors (2 s grace, then SIGKILL) and removes the folder, if it is one of ours; else does nothing.
 */
export function testnetDownSync(dir: string, graceMs = 2_000): void {
  try {
    const real = realpathSync(resolve(dir));
    const state = parseState(readFileSync(join(real, STATE_FILE), 'utf8'));
    if (state?.dir !== real) return;
    stopPidsSync(statePids(real, state, (file) => readFileSync(file, 'utf8')), `${real}/`, graceMs);
    rmSync(real, { recursive: true, force: true });
  } catch {
    // best effort: the process is exiting
  }
}
