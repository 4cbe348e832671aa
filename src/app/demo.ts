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
import { UsageError } from '../core/errors.ts';
import { IDLE_MIN } from '../core/limits.ts';
import { testnetDown, testnetUp } from '../tor/testnet.ts';
import { addContact, initIdentity } from './identity.ts';
import { talkTo, type ClosedEvent, type TalkEvent, type TalkHandle } from './talk.ts';

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

/**
 * Runs the scripted demo. Resolves with how the user's side of the session ended, and whether the
 * script ran to its end.
 * @throws TorError (the network or a tor could not start), StoreError, UsageError
 */
export async function runScriptedDemo(options: DemoOptions): Promise<DemoResult> {
  const say = options.onLine;
  const root = await mkdtemp(join(tmpdir(), 'entrechat-demo-'));
  // If the process is ended without the teardown below, the folder (two unprotected stores, the
  // network's keys) still goes; the tors die with us (ownerPid).
  const onExit = (): void => { rmSync(root, { recursive: true, force: true }); };
  process.once('exit', onExit);
  const net = join(root, 'tornet');
  let netUp = false;
  const handles: TalkHandle[] = [];
  const onAbort = (): void => { for (const h of handles) h.quit(); };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    say({ kind: 'progress', text: 'starting a private Tor network on 127.0.0.1 (3 authorities, 2 relays)…' });
    // The network's tors exit with this process, whatever ends it.
    const network = await testnetUp({ dir: net, ownerPid: process.pid, ...(options.signal !== undefined ? { signal: options.signal } : {}) });
    netUp = true;
    options.signal?.throwIfAborted();
    say({ kind: 'progress', text: `network ready in ${(network.readyMs / 1000).toFixed(1)} s` });
    const you = join(root, 'you');
    const bot = join(root, 'bot');
    const auth = { noPassphrase: true } as const;
    const [yourCode, botCode] = await Promise.all([initIdentity(you, auth), initIdentity(bot, auth)]);
    await addContact(you, auth, 'bot', botCode);
    await addContact(bot, auth, 'you', yourCode);
    say({ kind: 'progress', text: 'two throw-away identities made; each holds the other as a contact' });

    const route = { kind: 'tor', tor: { kind: 'spawn', configFile: network.clientTorrc } } as const;
    let answered = 0;
    let botHandle: TalkHandle | null = null;
    const botEvents = (e: TalkEvent): void => {
      if (e.type === 'message') {
        answered += 1;
        try {
          botHandle?.send(botAnswer(answered, e.text));
        } catch {
          botHandle?.quit();
        }
      }
    };
    let yours: TalkHandle | null = null;
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
    const limits = { window: DEMO_WINDOW, idle: DEMO_IDLE };
    botHandle = await talkTo({ home: bot, auth, contact: 'you', route, ...limits, onEvent: botEvents });
    handles.push(botHandle);
    options.signal?.throwIfAborted();
    yours = await talkTo({ home: you, auth, contact: 'bot', route, ...limits, onEvent: yourEvents });
    handles.push(yours);
    if (options.signal?.aborted === true) onAbort();
    const closed = await yours.done;
    await botHandle.done;
    say({ kind: 'closed', text: `session over (${closed.reason}): keys zeroed, onions removed, both tors stopped` });
    return { closed, complete: heard === DEMO_SCRIPT.length && options.signal?.aborted !== true };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    for (const h of handles) h.quit();
    await Promise.allSettled(handles.map((h) => h.done));
    if (netUp) await testnetDown(net).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
    process.off('exit', onExit);
  }
}

/** @throws UsageError BAD_ARGUMENT: the interactive demo needs the interactive chat, which is not built yet. */
export function interactiveDemoUnavailable(): never {
  throw new UsageError('BAD_ARGUMENT', 'the interactive demo comes with the interactive chat: run `entrechat demo --script`');
}
