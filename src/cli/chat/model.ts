/**
 * What the chat knows, and nothing it does not: the phase of the attempt, Tor's progress, the
 * deadlines to count down, the messages on screen and a notice. Pure: the session's events and the
 * user's actions go in, with the time they happened; the terminal and plain views only read it.
 * Everything here lives in memory for the session only; `wipe` forgets the messages.
 */
import type { ClosedEvent, TalkEvent } from '../../app/index.ts';
import { safeText } from './text.ts';

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
}

export function createModel(peer: string, tor: TorKind): ChatModel {
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

function info(model: ChatModel, at: Clock, text: string): void {
  model.entries.push({ kind: 'info', at: at.wall, text });
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
      model.entries.push({ kind: 'message', message: { id: event.id, own: false, at: at.wall, text: safeText(event.text), delivered: true } });
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
  model.entries.push({ kind: 'message', message: { id, own: true, at: at.wall, text: safeText(text), delivered: false } });
}

export function addInfo(model: ChatModel, text: string, at: Clock): void {
  info(model, at, text);
}

/** Forgets every message and line shown (the JS strings themselves go with the garbage collector). */
export function wipeEntries(model: ChatModel): void {
  model.entries.length = 0;
  model.notice = null;
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
