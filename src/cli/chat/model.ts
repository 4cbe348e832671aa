/**
 * What the chat knows, and nothing it does not: the phase of the attempt, Tor's progress, the
 * deadlines to count down, the messages on screen and a notice. Pure: the session's events and the
 * user's actions go in, with the time they happened; the terminal and plain views only read it.
 * Everything here lives in memory for the session only; `wipe` forgets the messages.
 *
 * The screen keeps the last CHAT_SCREEN_ENTRIES lines of the conversation: older ones are dropped
 * (released, no copy kept) and counted, so that a long session costs bounded memory and the screen
 * can say that older messages are gone from it.
 */
import { errorWords, type ClosedEvent, type TalkEvent } from '../../app/index.ts';
import { safeText } from './text.ts';

/**
 * Entries (messages and the chat's own notes) the screen keeps: far more than a terminal shows or
 * PgUp is used for, and bounded so that a session of any length holds at most this many (each at most
 * MAX_MESSAGE_BYTES: 16 MiB of text in the worst case, well under a megabyte for ordinary chat).
 */
export const CHAT_SCREEN_ENTRIES = 1000;

export type ChatPhase =
  | 'opening'
  | 'starting_tor'
  | 'publishing'
  | 'waiting'
  | 'handshaking'
  | 'connected'
  | 'closing'
  | 'ended';

export type TorKind = 'own' | 'borrowed' | 'none';

export interface ChatMessage {
  /** The session's message id; own and peer ids are separate sequences. */
  readonly id: number;
  readonly own: boolean;
  /** Wall-clock time it was sent or received (shown in local time). */
  readonly at: number;
  /** Already made safe to print. */
  readonly text: string;
  delivered: boolean;
}

/** Lines of the conversation: messages, and what happened (connected, the peer left…). */
export type ChatEntry =
  | { readonly kind: 'message'; readonly message: ChatMessage }
  | { readonly kind: 'info'; readonly at: number; readonly text: string };

export type NoticeLevel = 'info' | 'warn' | 'error';

export interface ChatModel {
  readonly peer: string;
  /** Known once the store is open. */
  verified: boolean | null;
  /** A tor started for the session, one borrowed with --tor-control, or none (loopback, tests). */
  readonly tor: TorKind;
  phase: ChatPhase;
  torPercent: number;
  /** Monotonic deadlines, for the countdowns; null when not running. */
  windowEndsAt: number | null;
  windowMs: number;
  sessionEndsAt: number | null;
  idleMs: number;
  lastTextAt: number | null;
  tag: string | null;
  readonly entries: ChatEntry[];
  notice: { readonly level: NoticeLevel; readonly text: string } | null;
  closed: ClosedEvent | null;
  /** How many messages were shown in all (for the words at the end). */
  messageCount: number;
  /** Entries kept at most (older ones are dropped): CHAT_SCREEN_ENTRIES unless a test or bench says. */
  readonly screenEntries: number;
  /** Messages dropped from the screen by that bound since it was last cleared (for the line saying so). */
  droppedMessages: number;
  /** Entries of any kind dropped since the screen was last cleared. */
  droppedEntries: number;
}

/**
 * @param screenEntries entries the screen keeps (default CHAT_SCREEN_ENTRIES)
 * @throws RangeError if `screenEntries` is not an integer ≥ 1
 */
export function createModel(peer: string, tor: TorKind, screenEntries: number = CHAT_SCREEN_ENTRIES): ChatModel {
  if (!Number.isInteger(screenEntries) || screenEntries < 1) throw new RangeError(`screenEntries must be an integer ≥ 1, got ${screenEntries}`);
  return {
    peer: safeText(peer),
    verified: null,
    tor,
    phase: 'opening',
    torPercent: 0,
    windowEndsAt: null,
    windowMs: 0,
    sessionEndsAt: null,
    idleMs: 0,
    lastTextAt: null,
    tag: null,
    entries: [],
    notice: null,
    closed: null,
    messageCount: 0,
    screenEntries,
    droppedMessages: 0,
    droppedEntries: 0,
  };
}

export interface Clock {
  /** Monotonic milliseconds (deadlines). */
  readonly mono: number;
  /** Wall-clock milliseconds (the times shown next to messages). */
  readonly wall: number;
}

/** Now, on both clocks. */
export function clockNow(): Clock {
  return { mono: performance.now(), wall: Date.now() };
}

/** What a line the user entered asks for. */
export type ChatInput =
  | { readonly kind: 'nothing' }
  | { readonly kind: 'message'; readonly text: string }
  | { readonly kind: 'command'; readonly name: 'quit' | 'help' | 'clear' }
  | { readonly kind: 'unknown'; readonly name: string };

const COMMANDS: ReadonlyMap<string, 'quit' | 'help' | 'clear'> = new Map([
  ['/quit', 'quit'], ['/q', 'quit'], ['/exit', 'quit'], ['/help', 'help'], ['/clear', 'clear'],
]);

/**
 * Reads an entered line: blank is nothing, `/word` a command, `//text` the message "/text", anything
 * else a message. Line breaks at the end (of a paste) are dropped.
 */
export function readInput(line: string): ChatInput {
  const text = line.replace(/[\r\n]+$/, '');
  if (text.trim() === '') return { kind: 'nothing' };
  if (text.startsWith('//')) return { kind: 'message', text: text.slice(1) };
  if (!text.startsWith('/')) return { kind: 'message', text };
  const name = COMMANDS.get(text.trim().toLowerCase());
  return name !== undefined ? { kind: 'command', name } : { kind: 'unknown', name: safeText(text.split(/\s/)[0] ?? '') };
}

/** Adds an entry at the bottom; the oldest goes (and is counted) once the screen holds its bound. */
function push(model: ChatModel, entry: ChatEntry): void {
  model.entries.push(entry);
  while (model.entries.length > model.screenEntries) {
    const gone = model.entries.shift();
    model.droppedEntries += 1;
    if (gone?.kind === 'message') model.droppedMessages += 1;
  }
}

function info(model: ChatModel, at: Clock, text: string): void {
  push(model, { kind: 'info', at: at.wall, text });
}

/** Applies one session event. */
export function applyEvent(model: ChatModel, event: TalkEvent, at: Clock): void {
  switch (event.type) {
    case 'state':
      if (event.state === 'starting_tor') model.phase = model.tor === 'none' ? 'publishing' : 'starting_tor';
      else if (event.state === 'rendezvous') model.phase = model.windowEndsAt === null ? 'publishing' : 'waiting';
      else if (event.state === 'handshaking') model.phase = 'handshaking';
      else if (event.state === 'closing') model.phase = 'closing';
      return;
    case 'tor_progress':
      model.torPercent = Math.max(model.torPercent, Math.min(100, Math.max(0, Math.round(event.percent))));
      if (model.torPercent === 100 && model.phase === 'starting_tor') model.phase = 'publishing';
      return;
    case 'published':
      return;
    case 'notice':
      // Not a failure: said once, in the conversation's lines (the notice line is for what goes wrong).
      info(model, at, errorWords(event.code));
      return;
    case 'window':
      model.windowMs = event.ms;
      model.windowEndsAt = at.mono + event.ms;
      if (model.phase === 'publishing' || model.phase === 'starting_tor') model.phase = 'waiting';
      return;
    case 'active':
      model.phase = 'connected';
      model.tag = event.tag;
      model.sessionEndsAt = at.mono + event.maxSession;
      model.idleMs = event.idle;
      model.lastTextAt = at.mono;
      model.windowEndsAt = null;
      info(model, at, `connected to ${model.peer}: session ${event.tag}, end-to-end encrypted (Noise KK) ${
        model.tor === 'none' ? 'over plain loopback TCP (no Tor: tests only)' : 'over onions only you two can compute'}`);
      if (model.notice?.level !== 'error') model.notice = null;
      return;
    case 'sent':
      return;
    case 'message':
      model.lastTextAt = at.mono;
      model.messageCount += 1;
      push(model, { kind: 'message', message: { id: event.id, own: false, at: at.wall, text: safeText(event.text), delivered: true } });
      return;
    case 'delivered':
      for (let i = model.entries.length - 1; i >= 0; i -= 1) {
        const e = model.entries[i];
        if (e?.kind === 'message' && e.message.own && e.message.id === event.id) {
          e.message.delivered = true;
          return;
        }
      }
      return;
    case 'rejected':
      return;
    case 'closed':
      model.phase = 'ended';
      model.closed = event;
      model.windowEndsAt = null;
      model.sessionEndsAt = null;
      return;
  }
}

/** Records a message the user sent (the session accepted it as `id`). */
export function addOwnMessage(model: ChatModel, id: number, text: string, at: Clock): void {
  model.lastTextAt = at.mono;
  model.messageCount += 1;
  push(model, { kind: 'message', message: { id, own: true, at: at.wall, text: safeText(text), delivered: false } });
}

export function addInfo(model: ChatModel, text: string, at: Clock): void {
  info(model, at, text);
}

/**
 * Forgets every message and line shown (the JS strings themselves go with the garbage collector); the
 * screen starts afresh, with nothing said to have been dropped from it.
 */
export function wipeEntries(model: ChatModel): void {
  model.entries.length = 0;
  model.notice = null;
  model.droppedMessages = 0;
  model.droppedEntries = 0;
}

/** Whole seconds left until `deadline`, never negative. */
export function secondsLeft(deadline: number, now: number): number {
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}

/** 75 → "1:15"; 3725 → "1:02:05". */
export function clockText(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${String(h)}:${String(m).padStart(2, '0')}:${sec}` : `${String(m)}:${sec}`;
}
