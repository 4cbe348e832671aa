/**
 * The demo: a real session over real Tor, with nothing set up but tor. It starts the private test
 * network in a temp folder, makes two throw-away identities there (you and a bot, each the other's
 * contact), and runs both sides of a session through their own tors, the bot answering what it gets.
 * The scripted demo (`entrechat demo --script`) sends a few lines and prints the transcript. Whatever
 * happens, the network is stopped and the folder removed.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IDLE_MIN } from '../core/limits.ts';
import { testnetDown, testnetUp } from '../tor/testnet.ts';
import type { StoreAuth } from '../store/store.ts';
import { addContact, contactSafetyNumber, initIdentity, markVerified } from './identity.ts';
import { talkTo, type ClosedEvent, type Route, type TalkEvent, type TalkHandle } from './talk.ts';

/** What the scripted demo says, one message a line. */
export const DEMO_SCRIPT: readonly string[] = [
  'Hello! Is this really peer to peer?',
  'And when we stop, what is left?',
];

/** The bot's answer to the n-th message it gets (1-based). */
export function botAnswer(n: number, text: string): string {
  switch (n) {
    case 1:
      return `Yes: you reached my onion, and I yours; no server in between. (${String(Array.from(text).length)} characters received.)`;
    case 2:
      return 'Nothing: the keys are zeroed, the onions removed, both tors stopped, their folders deleted.';
    default:
      return `Got your message ${String(n)}.`;
  }
}

export type DemoLine =
  | { readonly kind: 'progress'; readonly text: string }
  | { readonly kind: 'sent'; readonly text: string }
  | { readonly kind: 'received'; readonly text: string }
  | { readonly kind: 'closed'; readonly text: string };

export interface DemoOptions {
  readonly onLine: (line: DemoLine) => void;
  readonly signal?: AbortSignal;
}

/** The window each side of the demo gives the other: both start at once, on a network ready for them. */
const DEMO_WINDOW = 120_000;
/** A demo that stalls ends at the shortest idle limit. */
const DEMO_IDLE = IDLE_MIN;

export interface DemoResult {
  /** How the user's side of the session ended. */
  readonly closed: ClosedEvent;
  /** Every scripted line was sent and answered, and nobody interrupted the demo. */
  readonly complete: boolean;
}

/** A demo ready to talk: the network up, both identities made, the bot waiting for you. */
export interface DemoSetup {
  /** Your throw-away identity's home (no passphrase). */
  readonly home: string;
  readonly auth: StoreAuth;
  /** Your contact name for the bot. */
  readonly contact: string;
  readonly route: Route;
  /** The window and idle limit to talk with. */
  readonly limits: { readonly window: number; readonly idle?: number };
  /** Ends the bot's session, stops the network, removes the folder. Safe to call twice. */
  stop(): Promise<void>;
}

export interface DemoStartOptions extends DemoOptions {
  /** What the bot answers to its n-th message (1-based). */
  readonly answer: (n: number, text: string) => string;
  /** A short idle limit, for the scripted demo (a stalled demo ends soon). */
  readonly shortIdle?: boolean;
}

/**
 * Starts the private network, makes the identities and starts the bot's side of the session.
 * @throws TorError (the network or a tor could not start), StoreError
 */
export async function startDemo(options: DemoStartOptions): Promise<DemoSetup> {
  const say = options.onLine;
  const root = await mkdtemp(join(tmpdir(), 'entrechat-demo-'));
  // If the process is ended without stop(), the folder (two unprotected stores, the network's keys)
  // still goes; the tors die with us (ownerPid).
  const onExit = (): void => { rmSync(root, { recursive: true, force: true }); };
  process.once('exit', onExit);
  const net = join(root, 'tornet');
  let netUp = false;
  let bot: TalkHandle | null = null;
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      bot?.quit();
      await bot?.done;
      if (netUp) await testnetDown(net).catch(() => undefined);
      await rm(root, { recursive: true, force: true });
      process.off('exit', onExit);
    })();
    return stopped;
  };
  try {
    say({ kind: 'progress', text: 'starting a private Tor network on 127.0.0.1 (3 authorities, 2 relays)…' });
    // The network's tors exit with this process, whatever ends it.
    const network = await testnetUp({ dir: net, ownerPid: process.pid, ...(options.signal !== undefined ? { signal: options.signal } : {}) });
    netUp = true;
    options.signal?.throwIfAborted();
    say({ kind: 'progress', text: `network ready in ${(network.readyMs / 1000).toFixed(1)} s` });
    const you = join(root, 'you');
    const botHome = join(root, 'bot');
    const auth = { noPassphrase: true } as const;
    const [yourCode, botCode] = await Promise.all([initIdentity(you, auth), initIdentity(botHome, auth)]);
    await addContact(you, auth, 'bot', botCode);
    await addContact(botHome, auth, 'you', yourCode);
    // Both sides are on this machine: the safety numbers are compared here, not aloud.
    await markVerified(you, auth, 'bot', await contactSafetyNumber(you, auth, 'bot'));
    await markVerified(botHome, auth, 'you', await contactSafetyNumber(botHome, auth, 'you'));
    say({ kind: 'progress', text: 'two throw-away identities made; each holds the other as a verified contact' });

    // Amnesic: throw-away identities keep no tor folder (the fresh ones go in memory when possible).
    const route: Route = { kind: 'tor', tor: { kind: 'spawn', configFile: network.clientTorrc }, amnesic: true };
    const limits = { window: DEMO_WINDOW, ...(options.shortIdle === true ? { idle: DEMO_IDLE } : {}) };
    let answered = 0;
    const botEvents = (e: TalkEvent): void => {
      if (e.type !== 'message') return;
      answered += 1;
      try {
        bot?.send(options.answer(answered, e.text));
      } catch {
        bot?.quit();
      }
    };
    bot = await talkTo({ home: botHome, auth, contact: 'you', route, ...limits, onEvent: botEvents });
    options.signal?.throwIfAborted();
    return { home: you, auth, contact: 'bot', route, limits, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Runs the scripted demo. Resolves with how the user's side of the session ended, and whether the
 * script ran to its end.
 * @throws TorError (the network or a tor could not start), StoreError, UsageError
 */
export async function runScriptedDemo(options: DemoOptions): Promise<DemoResult> {
  const say = options.onLine;
  const demo = await startDemo({ ...options, answer: botAnswer, shortIdle: true });
  let yours: TalkHandle | null = null;
  const onAbort = (): void => { yours?.quit(); };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let next = 0;
    let heard = 0;
    const sendNext = (): void => {
      const line = DEMO_SCRIPT[next];
      if (line === undefined || yours === null) {
        yours?.quit();
        return;
      }
      next += 1;
      try {
        yours.send(line);
      } catch {
        yours.quit();
        return;
      }
      say({ kind: 'sent', text: line });
    };
    const yourEvents = (e: TalkEvent): void => {
      if (e.type === 'tor_progress' && e.percent === 100) say({ kind: 'progress', text: 'your tor is ready; publishing your onion and dialling the bot’s' });
      else if (e.type === 'active') {
        say({ kind: 'progress', text: `connected (session ${e.tag}): Noise KK over an onion only you two can compute` });
        sendNext();
      } else if (e.type === 'message') {
        heard += 1;
        say({ kind: 'received', text: e.text });
        // Answered: the next line, or the end.
        sendNext();
      }
    };
    yours = await talkTo({ home: demo.home, auth: demo.auth, contact: demo.contact, route: demo.route, ...demo.limits, onEvent: yourEvents });
    if (options.signal?.aborted === true) onAbort();
    const closed = await yours.done;
    await demo.stop();
    say({ kind: 'closed', text: `session over (${closed.reason}): keys zeroed, onions removed, both tors stopped` });
    return { closed, complete: heard === DEMO_SCRIPT.length && options.signal?.aborted !== true };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    yours?.quit();
    await yours?.done;
    await demo.stop();
  }
}

/** The bot quotes at most this many characters of what it got. */
const BOT_ECHO_MAX = 120;

/** What the bot of the interactive demo answers. */
export function interactiveBotAnswer(n: number, text: string): string {
  const chars = Array.from(text).length;
  const echo = chars > BOT_ECHO_MAX ? `${Array.from(text).slice(0, BOT_ECHO_MAX).join('')}…` : text;
  if (n === 1) {
    return `Hello, I am the demo bot, on the other end of a real session: you reached my onion and I yours, through two tors. I got “${echo}” (${String(chars)} characters). Type /quit when you are done: everything is wiped then.`;
  }
  return `Got “${echo}” (${String(chars)} characters), end-to-end encrypted, over Tor. Nothing of it is kept by either of us.`;
}
