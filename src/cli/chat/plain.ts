/**
 * The chat without a terminal (a pipe, a file, TERM=dumb): plain lines, no colour, no redraw. Lines
 * read from the input are messages once the peer is connected; before that they are refused, since
 * nothing is queued. The end of the input ends the session once every message was delivered.
 */
import type { Readable } from 'node:stream';
import type { ClosedEvent, ContactTalkHandle, TalkEvent } from '../../app/index.ts';
import { EXIT } from '../exit.ts';
import { onEndingSignals } from '../signals.ts';
import { addOwnMessage, applyEvent, clockNow, createModel, readInput, wipeEntries } from './model.ts';
import { localTime } from './screen.ts';
import { safeText } from './text.ts';
import type { ChatOptions } from './tty.ts';
import { endHeadline, noticeWords, refusalWords, unknownCommandWords, wipedWords } from './words.ts';
import { LineSplitter } from '../lines.ts';

export interface PlainChatOptions extends Omit<ChatOptions, 'linger'> {
  readonly input: Readable;
  readonly out: (line: string) => void;
}

/** Tor's bootstrap is printed at each step of this many percent. */
const TOR_PROGRESS_STEP = 25;

const PLAIN_HELP: readonly string[] = [
  'Each line is a message once the peer is connected; //text sends "/text".',
  '/quit (or the end of input, once every message is delivered) ends the session for both.',
  'Nothing is queued: lines before the peer is connected are not sent.',
];


/** A message's lines, the first after its header, the others under it. */
function messageLines(head: string, text: string): string[] {
  const pad = ' '.repeat(Array.from(head).length);
  return safeText(text).split('\n').map((line, i) => (i === 0 ? head : pad) + line);
}

/**
 * Runs the chat in plain lines until the attempt is over; resolves with how it ended.
 * @throws what `start` throws
 */
export async function runPlainChat(options: PlainChatOptions): Promise<ClosedEvent> {
  const { out } = options;
  const model = createModel(options.peer, options.tor);
  const peer = model.peer;
  const pending = new Set<number>();
  let handle: ContactTalkHandle | null = null;
  let inputEnded = false;
  let lastQuarter = -1;
  // From input and signal handlers (an object, so the checks are not narrowed away).
  const user = { quit: false };

  const quit = (): void => {
    user.quit = true;
    handle?.quit();
  };
  const finishIfDone = (): void => {
    if (inputEnded && pending.size === 0 && model.phase === 'connected') quit();
  };

  const onEvent = (event: TalkEvent): void => {
    const before = model.phase;
    applyEvent(model, event, clockNow());
    switch (event.type) {
      case 'tor_progress': {
        const quarter = Math.floor(model.torPercent / TOR_PROGRESS_STEP);
        if (quarter !== lastQuarter) {
          lastQuarter = quarter;
          out(`Tor: ${String(model.torPercent)}%`);
        }
        break;
      }
      case 'window':
        out(`Waiting for ${peer} for ${String(Math.round(event.ms / 1000))} s. Nothing is queued: lines typed before ${peer} is connected are not sent.`);
        break;
      case 'active':
        out(`Connected to ${peer} (session ${event.tag}). Each line is a message; /quit ends the session.`);
        // The input may have ended while waiting: then there is nothing to say.
        finishIfDone();
        break;
      case 'message':
        for (const line of messageLines(`[${localTime(Date.now())}] ${peer}: `, event.text)) out(line);
        break;
      case 'delivered':
        if (pending.delete(event.id)) out(`  ✓ #${String(event.id)} delivered`);
        finishIfDone();
        break;
      case 'state':
        if (event.state === 'closing' && before !== 'closing') out('Ending the session…');
        break;
      case 'notice':
        out(`Note: ${noticeWords(event.code)}`);
        break;
      case 'published':
      case 'sent':
      case 'rejected':
      case 'closed':
        break;
    }
  };

  // A line ends at \n or \r\n only: a lone \r stays in the message (readline would split it there).
  const onLine = (line: string): void => {
    const entered = readInput(line);
    switch (entered.kind) {
      case 'nothing':
        return;
      case 'command':
        if (entered.name === 'quit') quit();
        else if (entered.name === 'help') for (const l of PLAIN_HELP) out(l);
        // There is no screen to clear in plain lines.
        else out(unknownCommandWords('/clear'));
        return;
      case 'unknown':
        out(unknownCommandWords(entered.name));
        return;
      case 'message':
        break;
    }
    if (model.phase !== 'connected' || handle === null) {
      out(`Not sent: ${peer} is not connected, and nothing is queued.`);
      return;
    }
    try {
      const id = handle.send(entered.text);
      pending.add(id);
      addOwnMessage(model, id, entered.text, clockNow());
      for (const l of messageLines(`[${localTime(Date.now())}] you #${String(id)}: `, entered.text)) out(l);
    } catch (e) {
      out(refusalWords(e));
    }
  };
  const splitter = new LineSplitter();
  const input = options.input;
  const onData = (chunk: Buffer | string): void => {
    for (const line of splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) onLine(line);
  };
  input.on('data', onData);
  input.once('end', () => {
    const last = splitter.end();
    if (last !== null) onLine(last);
  });
  input.once('close', () => {
    inputEnded = true;
    finishIfDone();
  });
  input.on('error', () => { handle?.quit(); });

  // A first signal ends the session cleanly; a second leaves at once (exit handlers stop a spawned tor).
  const releaseSignals = onEndingSignals({ first: quit, again: () => (model.tag !== null ? EXIT.SESSION_FAILED : EXIT.NO_SESSION) });
  out(`Talking with ${peer}…`);
  try {
    handle = await options.start(onEvent);
    // A /quit or a signal while the store was being opened.
    if (user.quit) handle.quit();
    model.verified = handle.verified;
    out(handle.verified ? `${peer} is verified.` : `${peer} is NOT verified: compare your safety number with \`entrechat contacts verify ${peer}\`.`);
    const closed = await handle.done;
    applyEvent(model, closed, clockNow());
    out(endHeadline(model));
    out(wipedWords(model, 'plain'));
    wipeEntries(model);
    return closed;
  } finally {
    releaseSignals();
    // Stop reading (as readline's close did): nothing typed after the end is read.
    input.off('data', onData);
    input.pause();
  }
}
