/**
 * The Tor transport: rendezvous over v3 onion services that only the pair can compute and reach.
 *
 * For every rendezvous day (today, and the adjacent day within 30 minutes of midnight UTC) we publish
 * our own derived onion with client authorization for the peer's derived key only (`ADD_ONION …
 * Flags=V3Auth ClientAuthV3=…`, without `Detach`: the service dies with our control connection), and
 * dial the peer's derived onion through Tor's SOCKS port after `ONION_CLIENT_AUTH_ADD` of our own
 * client-authorization key. Each onion forwards to a listener of ours: a unix socket in the session's
 * 0700 folder for a tor we spawned or a borrowed tor that runs as our user on this machine (see
 * reachesOurSockets), else TCP: 127.0.0.1 (a system tor running as its own user, Tails), or the
 * address and ports of `--tor-listen` (a Whonix-Workstation, whose tor is on the Gateway). Anyone who
 * can reach that one may connect: a connection that fails its handshake there is only `rejected`
 * (INBOUND_UNAUTHENTICATED), and the attempt goes on.
 *
 * Tor caches a failed descriptor fetch (15 min on the real network, 5 s on the test network). So the
 * first dial waits (at most FIRST_DIAL_WAIT) for our own first descriptor upload, and on a tor of our
 * own a dial after a missed descriptor may first send `SIGNAL NEWNYM` (see NewnymPolicy), after which
 * our client-authorization keys are added again.
 */
import { createServer, isIPv4, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { clientAuthPublicBase32, clientAuthSecretBase64, onionExpandedKeyBase64, ONION_VIRTUAL_PORT, type RendezvousDay, type RendezvousPlan } from '../core/derive.ts';
import { isEntrechatError, ProtocolError, TorError, UsageError, type ErrorCode } from '../core/errors.ts';
import { FIRST_DIAL_WAIT, TOR_CLEANUP_TIMEOUT, TOR_DIAL_TIMEOUT, TOR_LISTEN_PORTS, TOR_PROBE_TIMEOUT } from '../core/limits.ts';
import { addOnion } from '../tor/commands/add-onion.ts';
import type { AutoAuthOptions } from '../tor/commands/authenticate.ts';
import { onionClientAuthAdd, onionClientAuthRemove } from '../tor/commands/client-auth.ts';
import { circuitPurposes, closeCircuitsOf, type CircuitPurposes } from '../tor/commands/circuits.ts';
import type { ControlConnection } from '../tor/control/connection.ts';
import { delOnion } from '../tor/commands/del-onion.ts';
import { getInfo } from '../tor/commands/getinfo.ts';
import { parseHsDesc } from '../tor/commands/events.ts';
import { signal as torSignal } from '../tor/commands/signal.ts';
import { NewnymPolicy } from '../tor/newnym.ts';
import { attachTor, connectBorrowed, readTorConfig, spawnSessionTor, torGone, type TorSession } from '../tor/owner.ts';
import { connectOnion } from '../tor/socks.ts';
import type { Transport } from './transport.ts';

/** Resolves when `p` settles, `ms` pass or `signal` aborts, whichever comes first. */
function waitAtMost(p: Promise<void>, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    void p.then(done);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Which tor the session runs on. */
export type TorChoice =
  /**
   * Spawn a tor for this session; `configFile` adds torrc lines (e.g. the private test network's);
   * `stateDir`: the folder where it keeps its guards and directory cache between sessions (see
   * tor/state-dir.ts), else (amnesic) a fresh DataDirectory in the temp folder, deleted at the end.
   */
  | { readonly kind: 'spawn'; readonly configFile?: string; readonly stateDir?: string }
  /**
   * Attach to a running tor's control port (host:port on loopback, or a unix socket path), with the
   * password and the cookie file the user gave for it (see authenticateAuto).
   */
  | {
    readonly kind: 'attach';
    readonly address: string;
    readonly password?: string;
    readonly cookieFile?: string;
    /**
     * Where our rendezvous listeners go when the borrowed tor cannot reach a unix socket of ours
     * (`--tor-listen`): an IPv4 address of this machine (0.0.0.0 for all) and the first of
     * TOR_LISTEN_PORTS ports. Needed on a Whonix-Workstation, whose tor is on the Gateway. Default:
     * 127.0.0.1, a port the system picks.
     */
    readonly listen?: TorListen;
  };

/** `--tor-listen`: see TorChoice. */
export interface TorListen {
  readonly host: string;
  readonly port: number;
}

/**
 * Reads `--tor-listen ADDR:PORT`: an IPv4 address (0.0.0.0 for all of this machine's) and a port such
 * that PORT … PORT+TOR_LISTEN_PORTS-1 are ports.
 * @throws UsageError BAD_ADDRESS
 */
export function parseTorListen(text: string): TorListen {
  const m = typeof text === 'string' ? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text.trim()) : null;
  const port = Number(m?.[2]);
  if (m?.[1] === undefined || !isIPv4(m[1]) || !Number.isInteger(port) || port < 1 || port + TOR_LISTEN_PORTS - 1 > 65535) {
    throw new UsageError('BAD_ADDRESS', `--tor-listen takes IPv4:PORT (such as 0.0.0.0:17740), the port from 1 to ${65536 - TOR_LISTEN_PORTS}`);
  }
  return { host: m[1], port };
}

export interface TorTransportOptions {
  readonly plan: RendezvousPlan;
  readonly tor: TorChoice;
  /** Something worth saying that is not a failure (TOR_GUARD_CHANGED); called during `start`. */
  readonly onNotice?: (code: ErrorCode) => void;
}

interface Published {
  readonly server: Server;
  readonly day: number;
  serviceId: string | null;
}

/** Read through a call: the signal may have aborted during an await (narrowing would say otherwise). */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

function ended(): ProtocolError {
  return new ProtocolError('CONNECTION_LOST', 'the attempt ended');
}

/** The authentication options for a borrowed tor. */
function borrowedAuth(tor: Extract<TorChoice, { kind: 'attach' }>): AutoAuthOptions {
  return { ...(tor.password !== undefined ? { password: tor.password } : {}), ...(tor.cookieFile !== undefined ? { cookieFile: tor.cookieFile } : {}) };
}

function listenOnce(server: Server, how: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => { reject(e); };
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if ('path' in how) server.listen(how.path, done);
    else server.listen(how.port, how.host, done);
  });
}

/**
 * Listens on a unix socket in `dir`; else on `tcp` (the first free port of its range: see
 * {@link TorListen}), else on 127.0.0.1 with a port the system picks. Resolves the ADD_ONION target
 * (0.0.0.0 is given to tor as 127.0.0.1; a filter such as Whonix's rewrites the host anyway).
 * @throws TorError TOR_LISTEN_FAILED when `tcp` cannot be listened on (address not of this machine,
 *   every port of the range in use)
 */
export async function listenForTor(server: Server, dir: string | null, index: number, tcp?: TorListen): Promise<string> {
  if (dir !== null) {
    await listenOnce(server, { path: join(dir, `rendezvous-${index}.sock`) });
    const a = server.address();
    return typeof a === 'string' ? `unix:${a}` : '';
  }
  if (tcp === undefined) {
    await listenOnce(server, { host: '127.0.0.1', port: 0 });
    const a = server.address();
    return a !== null && typeof a !== 'string' ? `127.0.0.1:${a.port}` : '';
  }
  let why = 'in use';
  for (let port = tcp.port; port < tcp.port + TOR_LISTEN_PORTS; port += 1) {
    try {
      await listenOnce(server, { host: tcp.host, port });
      return `${tcp.host === '0.0.0.0' ? '127.0.0.1' : tcp.host}:${port}`;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      if (code !== 'EADDRINUSE') throw new TorError('TOR_LISTEN_FAILED', `cannot listen on ${tcp.host} (${code}): --tor-listen needs an address of this machine`, { cause: e });
      why = code;
    }
  }
  throw new TorError('TOR_LISTEN_FAILED', `ports ${tcp.port} to ${tcp.port + TOR_LISTEN_PORTS - 1} on ${tcp.host} are all taken (${why}): another session uses them, or choose other ports with --tor-listen`);
}

/**
 * @throws TorError TOR_CONFIG_INVALID (an unreadable or unacceptable `configFile`), TOR_TRANSPORT_MISSING
 *   (a transport program it names is not installed), at once
 */
export function createTorTransport(options: TorTransportOptions): Transport {
  const { plan, tor } = options;
  const extraConfig = tor.kind === 'spawn' && tor.configFile !== undefined ? readTorConfig(tor.configFile) : undefined;
  // SOCKS credentials for stream isolation: this session's circuits are shared with nothing else.
  const isolation = randomBytes(16).toString('hex');
  let session: TorSession | null = null;
  const published: Published[] = [];
  const authAdded = new Set<string>();
  /** On a borrowed tor, its circuits when we came (null: refused, as a filter does: see cleanBorrowed). */
  let circuitsBefore: CircuitPurposes | null = null;
  const newnym = new NewnymPolicy(tor.kind === 'spawn');
  let newnymBusy: Promise<void> | null = null;
  /** Where accepted connections go, once publish was called (days added later are published to it too). */
  let accept: ((socket: Socket, day: number) => void) | null = null;
  // Resolves once our first descriptor is uploaded, or publishing ended without one.
  let markPublished = (): void => undefined;
  const ownPublished = new Promise<void>((resolve) => { markPublished = resolve; });

  const dayOf = (day: number): RendezvousDay => {
    const d = plan.days.find((x) => x.day === day);
    if (d === undefined) throw new TorError('TOR_HS_BAD_ADDRESS', 'no rendezvous for that day');
    return d;
  };

  async function addClientAuth(s: TorSession, onlyNew = false): Promise<void> {
    for (const d of plan.days) {
      if (onlyNew && authAdded.has(d.peerOnion.address)) continue;
      await onionClientAuthAdd(s.control, { serviceId: d.peerOnion.address, privateKeyBase64: clientAuthSecretBase64(d.ownAuth.secret) });
      authAdded.add(d.peerOnion.address);
    }
  }

  /** NEWNYM if the policy says so (see NewnymPolicy), then our client-authorization keys again. */
  async function maybeNewnym(s: TorSession): Promise<void> {
    if (newnymBusy === null && newnym.take(performance.now())) {
      newnymBusy = (async () => {
        await torSignal(s.control, 'NEWNYM');
        await addClientAuth(s);
      })().finally(() => { newnymBusy = null; });
    }
    // A dial never runs while the keys are being added again.
    if (newnymBusy !== null) await newnymBusy;
  }

  /**
   * A borrowed tor outlives the session: take back the keys we gave it (any of its controllers can
   * read them), then close the session's circuits (left open, they would name our onions and the
   * peer's to its controllers for minutes, and cost it work), over a new connection if ours broke.
   */
  async function cleanBorrowed(s: TorSession, borrowed: Extract<TorChoice, { kind: 'attach' }>): Promise<void> {
    // Bounded as a whole: a tor that stops answering (without closing) cannot hold the teardown.
    const signal = AbortSignal.timeout(TOR_CLEANUP_TIMEOUT);
    // Ours, or a new one that this function closes (`fresh`).
    const used: { control: ControlConnection | null; fresh: ControlConnection | null } = { control: s.failure() === null ? s.control : null, fresh: null };
    const work = (async () => {
      let control = used.control;
      if (control === null) {
        const fresh = await connectBorrowed(borrowed.address, borrowedAuth(borrowed), signal);
        fresh.startOver();
        control = fresh.control;
        used.fresh = control;
      }
      for (const address of authAdded) await onionClientAuthRemove(control, address);
      // Only if tor let us read its circuits at the start: a control-port filter refuses it (it would
      // show other programs' circuits), and then the end's reading would be refused as well.
      if (circuitsBefore !== null) {
        const onions = new Set(plan.days.flatMap((d) => [d.ownOnion.address, d.peerOnion.address]));
        await closeCircuitsOf(control, { onions, isolation, before: circuitsBefore });
      }
    })();
    try {
      await Promise.race([work, new Promise<void>((resolve) => { signal.addEventListener('abort', () => { resolve(); }, { once: true }); })]);
    } catch {
      // The tor is gone (and its keys with it), or will not answer: nothing more can be done.
    } finally {
      work.catch(() => undefined);
      used.fresh?.close();
    }
  }

  /** One onion per day: a listener of ours, then ADD_ONION with client authorization for the peer only. */
  async function publishDays(s: TorSession, onConnection: (socket: Socket, day: number) => void, signal: AbortSignal): Promise<void> {
    for (const [index, d] of plan.days.entries()) {
      // Days added to the plan later (see addDays) come here again: each day is published once.
      if (published.some((e) => e.day === d.day)) continue;
      const entry: Published = { server: createServer({ allowHalfOpen: false }, (socket) => { onConnection(socket, d.day); }), day: d.day, serviceId: null };
      published.push(entry);
      entry.server.on('error', () => undefined);
      const target = await listenForTor(entry.server, s.dir, index, tor.kind === 'attach' ? tor.listen : undefined);
      if (aborted(signal)) throw ended();
      const { serviceId } = await addOnion(s.control, {
        keyBase64: onionExpandedKeyBase64(d.ownOnion.expandedKey),
        ports: [{ virtual: ONION_VIRTUAL_PORT, target }],
        clientAuthV3: [clientAuthPublicBase32(d.peerAuthPublic)],
      }).catch((e: unknown) => {
        // Whonix's profile allows only its fixed ports: a refused ADD_ONION there may just lack --tor-listen.
        if (tor.kind === 'attach' && tor.listen === undefined && isEntrechatError(e) && e.code === 'TOR_COMMAND_FILTERED') {
          e.message += '; on a Whonix-Workstation, start talk with --tor-listen 0.0.0.0:17740 (the ports the profile and the firewall open)';
        }
        throw e;
      });
      entry.serviceId = serviceId;
      if (serviceId !== d.ownOnion.address) {
        throw new TorError('TOR_ONION_MISMATCH', 'Tor published a different onion address than the one derived for this pair');
      }
    }
  }

  return {
    async start(onProgress, signal, onFailure) {
      const report = (p: { percent: number; summary: string }): void => { onProgress({ percent: p.percent, summary: p.summary }); };
      const s = tor.kind === 'spawn'
        ? await spawnSessionTor({
            ...(extraConfig !== undefined ? { extraConfig } : {}),
            ...(tor.stateDir !== undefined ? { stateDir: tor.stateDir } : {}),
            ...(options.onNotice !== undefined ? { onGuardChanged: () => { options.onNotice?.('TOR_GUARD_CHANGED'); } } : {}),
            onProgress: report,
            signal,
            onSpawned: (spawned) => { session = spawned; },
          })
        : await attachTor({ address: tor.address, auth: borrowedAuth(tor), onProgress: report, signal });
      session = s;
      if (tor.kind === 'attach') circuitsBefore = await circuitPurposes(s.control).catch(() => null);
      s.onFailure((e) => { onFailure?.(e); });
      if (signal.aborted) throw ended();
      await addClientAuth(s).catch((e: unknown) => { throw torGone(e); });
    },

    async publish(onConnection, signal) {
      const s = session;
      if (s === null) throw new TorError('TOR_EXITED', 'Tor is not running');
      if (signal.aborted) throw ended();
      accept = onConnection;
      const uploaded = new Promise<void>((resolve, reject) => {
        const ours = new Set(plan.days.map((d) => d.ownOnion.address));
        const off = s.control.onEvent((event) => {
          const hs = parseHsDesc(event);
          if (hs?.action === 'UPLOADED' && ours.has(hs.address)) {
            off();
            resolve();
          }
        });
        signal.addEventListener('abort', () => { off(); reject(ended()); }, { once: true });
      });
      uploaded.then(markPublished, markPublished);
      try {
        await publishDays(s, onConnection, signal);
      } catch (e) {
        throw torGone(e);
      }
      // Published once a descriptor is on the directories: dials made before that are bound to fail.
      await uploaded;
    },

    async dial(day, signal) {
      const s = session;
      if (s === null) throw new TorError('TOR_EXITED', 'Tor is not running');
      const d = dayOf(day);
      // A dial made before the peer's descriptor is up fails, and Tor then caches that failure. A peer
      // who started at about the same time as us is published at about the time we are: so the first
      // dial waits for our own upload (bounded: the peer may have been there long before us).
      await waitAtMost(ownPublished, FIRST_DIAL_WAIT, signal);
      if (aborted(signal)) throw ended();
      await maybeNewnym(s).catch((e: unknown) => { throw torGone(e); });
      if (aborted(signal)) throw ended();
      newnym.dialStarted();
      let failure: ErrorCode | null = null;
      try {
        return await connectOnion({
          socks: s.socks,
          address: d.peerOnion.address,
          port: ONION_VIRTUAL_PORT,
          isolation,
          signal,
          timeoutMs: TOR_DIAL_TIMEOUT,
        });
      } catch (e) {
        failure = isEntrechatError(e) ? e.code : 'TOR_SOCKS_FAILED';
        if (aborted(signal)) throw ended();
        throw e;
      } finally {
        newnym.dialEnded(failure);
      }
    },

    async addDays(signal) {
      const s = session;
      // Not started yet: start adds the keys of every day of the plan, and publish publishes them.
      if (s === null || aborted(signal)) return;
      try {
        await addClientAuth(s, true);
        if (accept !== null) await publishDays(s, accept, signal);
      } catch (e) {
        throw torGone(e);
      }
    },

    async unpublish() {
      const s = session;
      const entries = published.splice(0);
      for (const e of entries) {
        if (s !== null && e.serviceId !== null && s.failure() === null) {
          await delOnion(s.control, e.serviceId).catch(() => undefined);
        }
        await new Promise<void>((resolve) => e.server.close(() => { resolve(); }));
      }
    },

    async stop() {
      const s = session;
      session = null;
      if (s === null) return;
      // A borrowed tor keeps running: see cleanBorrowed. A spawned one simply stops, and all with it.
      if (tor.kind === 'attach') await cleanBorrowed(s, tor);
      authAdded.clear();
      await s.close();
    },

    failed(): ErrorCode | null {
      return session?.failure()?.code ?? null;
    },

    async probe(): Promise<ErrorCode | null> {
      const s = session;
      if (s === null) return null;
      const known = s.failure();
      if (known !== null) return known.code;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => { resolve('timeout'); }, TOR_PROBE_TIMEOUT); });
      try {
        // A tor that answers is alive; one that closed the connection (or never answers) is not.
        const answer = await Promise.race([getInfo(s.control, ['version']).then(() => 'ok' as const), timeout]);
        return answer === 'ok' ? null : 'TOR_EXITED';
      } catch {
        return s.failure()?.code ?? 'TOR_EXITED';
      } finally {
        clearTimeout(timer);
      }
    },

    wipe() {
      // The plan's secrets are wiped by its owner (talk); the transport keeps no copy of its own.
    },
  };
}
