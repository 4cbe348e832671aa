/**
 * `talk(contact)`: one session attempt with one contact, wired from the store's identity, the
 * rendezvous derivations, a transport and the session driver. Every UI uses this and nothing below it.
 */
import { rendezvousDays, rendezvousPlan, wipePlan, type RendezvousDay, type RendezvousPlan } from '../core/derive.ts';
import { UsageError, type ErrorCode } from '../core/errors.ts';
import type { Identity } from '../core/identity.ts';
import type { StoreAuth } from '../store/store.ts';
import { findContact, withStore } from './identity.ts';
import { torStateDir } from './settings.ts';
import {
  IDLE_DEFAULT,
  IDLE_MAX,
  IDLE_MIN,
  DAY_CHECK_INTERVAL,
  MAX_RENDEZVOUS_DAYS,
  MAX_SESSION_DEFAULT,
  MAX_SESSION_MAX,
  MAX_SESSION_MIN,
  RENDEZVOUS_WINDOW_DEFAULT,
  RENDEZVOUS_WINDOW_MAX,
  RENDEZVOUS_WINDOW_MIN,
} from '../core/limits.ts';
import type { SessionEvent } from '../core/session.ts';
import { SessionDriver, type ClosedEvent } from '../net/driver.ts';
import { createLoopbackTransport } from '../net/loopback.ts';
import { createTorTransport, type TorChoice } from '../net/tor.ts';
import type { Transport } from '../net/transport.ts';

/**
 * What a session attempt tells its UI: the session machine's events, and notices (something worth
 * saying that is not a failure, e.g. TOR_GUARD_CHANGED) from the layers below it.
 */
export type TalkEvent = SessionEvent | { readonly type: 'notice'; readonly code: ErrorCode };
export type { ClosedEvent };

/** Plain TCP on 127.0.0.1: tests and development only (no Tor, no anonymity). */
export interface LoopbackRoute {
  readonly kind: 'loopback';
  readonly listenPort: number;
  readonly peerPort: number;
}

/** Over Tor onion services: the real thing. */
export interface TorRoute {
  readonly kind: 'tor';
  readonly tor: TorChoice;
  /**
   * For a spawned tor, with {@link talkTo}: a fresh tor folder for this session, deleted at the end, even
   * if the store does not say so (`talk --amnesic`). Otherwise talkTo gives the tor the identity's kept
   * folder (settings.ts) unless the store's `amnesic` setting is on. (`talk` itself keeps no folder
   * unless `tor.stateDir` names one.)
   */
  readonly amnesic?: boolean;
}

export type Route = LoopbackRoute | TorRoute;

/**
 * Where a UI writes what the session shows (stdout, a terminal, a page's connection): any Writable
 * fits, and a page can implement it over its own buffer. While it holds more than its bound (its highWaterMark) of unwritten output, nothing more is
 * read from the peer, so that a flood waits in the peer's socket, not in our memory.
 */
export interface OutputSink {
  readonly writableNeedDrain: boolean;
  once(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

export interface TalkOptions {
  readonly identity: Identity;
  readonly peerPublic: Uint8Array;
  readonly route: Route;
  /** Rendezvous window in ms (bounded). */
  readonly window?: number;
  readonly idle?: number;
  readonly maxSession?: number;
  readonly onEvent: (event: TalkEvent) => void;
  /** Where `onEvent` writes: checked after each event; while it is backed up the peer is not read. */
  readonly output?: OutputSink;
  /** One clock for the day and the deadlines, for tests; by default the wall clock gives the day and a
   * monotonic clock the deadlines. */
  readonly now?: () => number;
  /** The wall clock alone, for tests (the day; the deadlines keep `now` or the monotonic clock): by
   * default `now`, else Date.now. */
  readonly wallClock?: () => number;
}

export interface TalkHandle {
  /** @throws UsageError SESSION_NOT_ACTIVE, MESSAGE_EMPTY, MESSAGE_TOO_LONG, TOO_MANY_UNACKED */
  send(text: string): number;
  quit(): void;
  /** Resolves after the session ended and everything was torn down. */
  readonly done: Promise<ClosedEvent>;
}

/** @throws UsageError LIMIT_OUT_OF_RANGE */
export function bounded(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new UsageError('LIMIT_OUT_OF_RANGE', `${name} must be between ${min / 1000} and ${max / 1000} seconds`);
  }
  return v;
}

/** The route's transport; its `wipe` also zeroes the plan's secrets (onion and client-auth keys). */
function transportFor(route: Route, plan: RendezvousPlan, onNotice: (code: ErrorCode) => void): Transport {
  let inner: Transport;
  if (route.kind === 'tor') {
    inner = createTorTransport({ plan, tor: route.tor, onNotice });
  } else {
    inner = createLoopbackTransport({ listenPort: route.listenPort, peerPort: route.peerPort });
  }
  // Methods are called on `inner` itself: the Tor transport's methods share its closure.
  return {
    start: (onProgress, signal, onFailure) => inner.start(onProgress, signal, onFailure),
    publish: (onConnection, signal) => inner.publish(onConnection, signal),
    dial: (day, signal) => inner.dial(day, signal),
    ...(inner.addDays !== undefined ? { addDays: (signal: AbortSignal) => inner.addDays?.(signal) ?? Promise.resolve() } : {}),
    unpublish: () => inner.unpublish(),
    stop: () => inner.stop(),
    failed: () => inner.failed?.() ?? null,
    ...(inner.probe !== undefined ? { probe: () => inner.probe?.() ?? Promise.resolve(null) } : {}),
    wipe: () => { inner.wipe(); wipePlan(plan); },
  };
}

/**
 * Looks at the wall clock every DAY_CHECK_INTERVAL until the rendezvous is over: if it now falls on a
 * day the attempt does not serve (it jumped across midnight: set right, or resumed from suspend while
 * the window's monotonic deadline still runs), that day is derived, added to the plan and handed to
 * the driver, which publishes and dials it too. Returns the function that stops it: called when the
 * rendezvous is over (a session active, or the attempt closed).
 */
function watchDays(driver: SessionDriver, options: TalkOptions, wall: () => number, planDays: RendezvousDay[]): () => void {
  const check = (): void => {
    let nowMs: number;
    let wanted: number[];
    try {
      nowMs = wall();
      wanted = rendezvousDays(nowMs).filter((day) => !planDays.some((d) => d.day === day));
    } catch {
      return; // a wall clock out of any day's range: the days already served go on
    }
    wanted = wanted.slice(0, Math.max(0, MAX_RENDEZVOUS_DAYS - planDays.length));
    if (wanted.length === 0) return;
    const fresh = rendezvousPlan({ own: options.identity.key, ownPublic: options.identity.publicKey, peerPublic: options.peerPublic, nowMs });
    const added = fresh.days.filter((d) => wanted.includes(d.day));
    wipePlan({ days: fresh.days.filter((d) => !wanted.includes(d.day)) });
    planDays.push(...added);
    driver.addDays(added.map((d) => ({ day: d.day, ownOnion: d.ownOnion.address, peerOnion: d.peerOnion.address })));
  };
  const timer = setInterval(check, DAY_CHECK_INTERVAL);
  return () => { clearInterval(timer); };
}

/** Starts a session attempt at once. */
export function talk(options: TalkOptions): TalkHandle {
  const window = bounded('window', options.window, RENDEZVOUS_WINDOW_DEFAULT, RENDEZVOUS_WINDOW_MIN, RENDEZVOUS_WINDOW_MAX);
  const idle = bounded('idle limit', options.idle, IDLE_DEFAULT, IDLE_MIN, IDLE_MAX);
  const maxSession = bounded('session limit', options.maxSession, MAX_SESSION_DEFAULT, MAX_SESSION_MIN, MAX_SESSION_MAX);
  // The UTC day comes from the wall clock; the session's deadlines from the driver's monotonic one.
  const wall = options.wallClock ?? options.now ?? Date.now;
  const derived = rendezvousPlan({
    own: options.identity.key,
    ownPublic: options.identity.publicKey,
    peerPublic: options.peerPublic,
    nowMs: wall(),
  });
  // The transport reads the days through this array: days the wall clock jumps onto are added to it.
  const planDays: RendezvousDay[] = [...derived.days];
  const plan: RendezvousPlan = { days: planDays };
  let driver: SessionDriver | null = null;
  let stopWatching = (): void => undefined;
  const output = options.output;
  /** While our output is backed up: its one 'drain' listener (removed at the end: the sink outlives the attempt). */
  let onDrain: (() => void) | null = null;
  let closedSeen = false;
  const onEvent = (event: TalkEvent): void => {
    if (closedSeen) return;
    if (event.type === 'closed') closedSeen = true;
    if (event.type === 'active' || event.type === 'closed') stopWatching();
    try {
      options.onEvent(event);
    } finally {
      if (event.type === 'closed') {
        if (onDrain !== null) output?.off('drain', onDrain);
        onDrain = null;
      } else if (output !== undefined && onDrain === null && output.writableNeedDrain && driver !== null) {
        const d = driver;
        const drained = (): void => {
          onDrain = null;
          d.setOutputBlocked(false);
        };
        onDrain = drained;
        d.setOutputBlocked(true);
        output.once('drain', drained);
      }
    }
  };
  try {
    // Near UTC midnight both days, on either route: over loopback both are dialled on the one port.
    const days = plan.days.map((d) => ({
      day: d.day,
      ownOnion: d.ownOnion.address,
      peerOnion: d.peerOnion.address,
    }));
    driver = new SessionDriver({
      config: { ownKey: options.identity.key, peerPublic: options.peerPublic, days, window, limits: { idle, maxSession } },
      transport: transportFor(options.route, plan, (code) => { onEvent({ type: 'notice', code }); }),
      onEvent,
      ...(options.now !== undefined ? { now: options.now } : {}),
    });
  } catch (e) {
    wipePlan(plan);
    throw e;
  }
  const d = driver;
  if (options.route.kind === 'tor') stopWatching = watchDays(d, options, wall, planDays);
  d.start();
  return {
    send: (text) => d.send(text),
    quit: () => { d.quit(); },
    done: d.done,
  };
}

/**
 * A spawned tor keeps its network state in the identity's folder, unless the route or the store says
 * amnesic, or the route names a folder itself.
 */
function withTorState(route: Route, home: string, storeAmnesic: boolean): Route {
  if (route.kind !== 'tor' || route.tor.kind !== 'spawn' || route.tor.stateDir !== undefined) return route;
  if (route.amnesic === true || storeAmnesic) return route;
  return { ...route, tor: { ...route.tor, stateDir: torStateDir(home) } };
}

export interface TalkToOptions extends Omit<TalkOptions, 'identity' | 'peerPublic'> {
  readonly home: string;
  readonly auth: StoreAuth;
  /** The contact's name in the store. */
  readonly contact: string;
}

/** A session attempt with a contact of the store. */
export interface ContactTalkHandle extends TalkHandle {
  /** Whether the user marked the contact verified (compared safety numbers). */
  readonly verified: boolean;
}

/**
 * Opens the store, finds the contact and runs one session attempt with it; the identity secret is
 * held for the attempt only and wiped when it ends. Resolves once the attempt has started.
 * @throws StoreError (opening the store), UsageError CONTACT_UNKNOWN / CONTACT_BAD_NAME / LIMIT_OUT_OF_RANGE
 */
export function talkTo(options: TalkToOptions): Promise<ContactTalkHandle> {
  const { home, auth, contact, ...rest } = options;
  return new Promise<ContactTalkHandle>((resolveStarted, rejectStarted) => {
    withStore(home, auth, async (content, identity) => {
      const peer = findContact(content, contact);
      const handle = talk({ ...rest, route: withTorState(rest.route, home, content.amnesic === true), identity, peerPublic: peer.publicKey });
      resolveStarted({ ...handle, verified: peer.verified });
      // withStore wipes the identity once this returns: when the attempt is over.
      await handle.done;
    }).catch(rejectStarted);
  });
}
