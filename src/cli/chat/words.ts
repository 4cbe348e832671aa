/** A notice from the layers under the session (not a failure), in plain words. */
export function noticeWords(code: ErrorCode): string {
  return errorWords(code);
}

/**
 * What the chat says, in one place: the phase as a person reads it, the hint under the messages, and
 * the words at the end (how the session ended, and what was wiped). Shared by the terminal view and
 * the plain one. Never a key, a safety number or an onion address.
 */
import { errorWords, isEntrechatError, type ErrorCode } from '../../app/index.ts';
import { clockText, secondsLeft, type ChatModel } from './model.ts';

export type Tone = 'plain' | 'dim' | 'ok' | 'warn' | 'bad' | 'own' | 'peer' | 'accent';

export interface Part {
  readonly text: string;
  readonly tone: Tone;
}

const BAR_CELLS = 10;

/** "██████░░░░ 60%" */
export function progressBar(percent: number): string {
  const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * BAR_CELLS);
  return `${'█'.repeat(filled)}${'░'.repeat(BAR_CELLS - filled)} ${String(percent)}%`;
}

export function verifiedPart(model: ChatModel): Part {
  if (model.verified === null) return { text: '…', tone: 'dim' };
  return model.verified ? { text: '✓ verified', tone: 'ok' } : { text: '! not verified', tone: 'warn' };
}

/** The phase, with its progress or countdown. */
export function phasePart(model: ChatModel, now: number): Part {
  switch (model.phase) {
    case 'opening':
      return { text: 'opening your store…', tone: 'accent' };
    case 'starting_tor':
      return { text: `${model.tor === 'own' ? 'starting Tor' : 'your tor'} ${progressBar(model.torPercent)}`, tone: 'accent' };
    case 'publishing':
      return { text: model.tor === 'none' ? 'listening on loopback…' : 'publishing your onion…', tone: 'accent' };
    case 'waiting':
      return {
        text: `waiting for ${model.peer} · ${model.windowEndsAt === null ? '' : clockText(secondsLeft(model.windowEndsAt, now))} left`,
        tone: 'accent',
      };
    case 'handshaking':
      return { text: `${model.peer} is here · authenticating…`, tone: 'accent' };
    case 'connected':
      return { text: 'connected', tone: 'ok' };
    case 'closing':
      return { text: 'closing…', tone: 'warn' };
    case 'ended':
      return { text: `session over: ${endShort(model)}`, tone: model.closed !== null && isNormalEnd(model) ? 'dim' : 'bad' };
  }
}

/** The limits still to come: the session's length, and the idle limit once it is near. */
export function timePart(model: ChatModel, now: number): Part | null {
  if (model.phase !== 'connected' || model.sessionEndsAt === null) return null;
  const session = secondsLeft(model.sessionEndsAt, now);
  if (model.lastTextAt !== null && model.idleMs > 0) {
    const idle = secondsLeft(model.lastTextAt + model.idleMs, now);
    if (idle < 120 && idle < session) return { text: `idle: ends in ${clockText(idle)}`, tone: 'warn' };
  }
  return { text: `${clockText(session)} left`, tone: session < 120 ? 'warn' : 'dim' };
}

/** Why a message was not sent, in plain words (the text stays with the user). */
export function refusalWords(error: unknown): string {
  return `Not sent: ${isEntrechatError(error) ? errorWords(error.code) : 'the message could not be sent.'}`;
}

/** An unknown command, named. */
export function unknownCommandWords(name: string): string {
  return `Unknown command ${name}: /help lists them.`;
}

/** How the attempt ended, in a few words for the status line. */
function endShort(model: ChatModel): string {
  switch (model.closed?.reason) {
    case undefined: return 'ended';
    case 'quit': return 'you ended it';
    case 'peer_quit': return `${model.peer} ended it`;
    case 'idle': return 'idle limit';
    case 'max_duration': return 'time limit';
    case 'window_expired': return `${model.peer} did not come`;
    case 'peer_gone': return `${model.peer} stopped answering`;
    case 'connection_lost': return 'connection lost';
    case 'error': return model.closed.code ?? 'failed';
  }
}

/** The line under the messages when there is no notice; `lingerLeft`: seconds until the screen clears. */
export function hint(model: ChatModel, lingerLeft?: number): string {
  switch (model.phase) {
    case 'opening':
    case 'starting_tor':
    case 'publishing':
    case 'waiting':
    case 'handshaking':
      return `Nothing is queued: you can send only while ${model.peer} is connected. /help · Ctrl-C stops`;
    case 'connected':
      return 'Enter sends · /quit or Ctrl-C ends the session · /help';
    case 'closing':
      return model.tor === 'own' ? 'ending: telling the peer, removing the onions, stopping Tor, wiping the keys…'
        : model.tor === 'borrowed' ? 'ending: telling the peer, removing our onions from your tor, wiping the keys…'
        : 'ending: telling the peer, wiping the keys…';
    case 'ended':
      return `Any key clears the screen and leaves${lingerLeft === undefined ? '' : ` (by itself in ${clockText(lingerLeft)})`}.`;
  }
}

/** The line at the top of the conversation once the screen's bound dropped older entries from it. */
export function droppedWords(model: ChatModel): string {
  const n = model.droppedMessages;
  const what = n > 0 ? `${String(n)} older message${n === 1 ? ' was' : 's were'}` : 'Older notes were';
  return `↑ ${what} dropped from this screen: it keeps only the latest ${String(model.screenEntries)} messages and notes.`;
}

export const HELP_LINES: readonly string[] = [
  'Enter sends the line (a paste of several lines is one message); //text sends "/text".',
  '/quit (or Ctrl-C, or Ctrl-D on an empty line) ends the session for both of you.',
  '/clear clears the screen · ↑/↓ your lines of this session (never saved) · PgUp/PgDn scroll.',
  'Nothing is queued: messages go only while both of you are connected, and nothing is kept:',
  'at the end the keys are wiped and this screen is cleared.',
];

function isNormalEnd(model: ChatModel): boolean {
  const r = model.closed?.reason;
  return r === 'quit' || r === 'peer_quit' || r === 'idle' || r === 'max_duration';
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s % 60 === 0 ? `${String(s / 60)} min` : `${String(s)} s`;
}

/** How the attempt ended, in a sentence. */
export function endHeadline(model: ChatModel): string {
  const closed = model.closed;
  if (closed === null) return 'The session ended.';
  const peer = model.peer;
  switch (closed.reason) {
    case 'quit':
      return closed.hadSession ? `You ended the session with ${peer}.` : `You stopped waiting for ${peer}; no session was opened.`;
    case 'peer_quit':
      return `${peer} ended the session.`;
    case 'idle':
      return `The session ended: nothing was said for ${duration(model.idleMs)}.`;
    case 'max_duration':
      return 'The session reached its time limit and ended.';
    case 'window_expired': {
      const why = closed.code !== undefined && closed.code !== 'PEER_ABSENT' ? ` ${errorWords(closed.code)}` : '';
      return `${peer} did not come within ${duration(model.windowMs)}.${why}`;
    }
    case 'peer_gone':
      return `${peer} stopped answering: their connection or computer went away.`;
    case 'connection_lost':
      return `The connection to ${peer} was lost.`;
    case 'error':
      return `The session failed: ${closed.code !== undefined ? errorWords(closed.code) : 'unknown error.'}`;
  }
}

/**
 * What was wiped, in a sentence. On a screen (the terminal view) the messages were on a screen that
 * was cleared, with an input history: the count is of the messages shown in the session (those the
 * screen's bound dropped earlier were released then); in plain output they are wherever that output went.
 */
export function wipedWords(model: ChatModel, where: 'screen' | 'plain'): string {
  const n = model.messageCount;
  const what = where === 'screen'
    ? `the screen${n === 0 ? '' : ` (${String(n)} message${n === 1 ? '' : 's'} shown this session)`}, the session keys and your input history`
    : 'the session keys';
  const tor = model.tor === 'own' ? ' Your tor was stopped and its temp folder deleted.'
    : model.tor === 'borrowed' ? ' Our onions and keys were removed from your tor.' : '';
  // Our own tor may have updated the guards and directory cache it keeps between sessions
  // ($ENTRECHAT_HOME/tor, unless amnesic): nothing of the session, but a write all the same.
  const disk = model.tor === 'own' ? ' Nothing of the session was written to disk.' : ' Nothing was written to disk.';
  const kept = n > 0 && where === 'plain' ? ' The lines printed above are the only copy of the messages.' : '';
  return `Wiped: ${what}.${tor}${disk}${kept}`;
}
