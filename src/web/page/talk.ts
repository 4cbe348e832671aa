/**
 * The talk screen: a session attempt's phases as the terminal chat shows them (src/cli/chat/words.ts),
 * the conversation, and the words at the end. The model lives in memory for the attempt only; at the
 * end its messages are dropped and the conversation is removed from the page.
 */
import { bdi, h, type Child } from './dom.ts';
import { errorText, type Words } from './i18n.ts';
import { clockText, utf8Length, visibleText } from './text.ts';

/** The terminal chat's phases; and `resumed`, a session found running by a page loaded during it (its phase comes with its next event). */
export type Phase = 'opening' | 'starting_tor' | 'publishing' | 'waiting' | 'handshaking' | 'connected' | 'closing' | 'ended' | 'resumed';

interface Message {
  readonly id: number;
  readonly own: boolean;
  readonly at: number;
  readonly text: string;
  mark: 'sending' | 'sent' | 'delivered';
}
type Entry = { readonly kind: 'message'; readonly message: Message } | { readonly kind: 'connected'; readonly at: number; readonly tag: string }
  | { readonly kind: 'notice'; readonly code: string };

/** Entries the page keeps, as the terminal chat's screen (CHAT_SCREEN_ENTRIES): older ones are dropped. */
const MAX_ENTRIES = 1000;

export interface Closed {
  readonly reason: string;
  readonly code?: string;
  readonly hadSession: boolean;
}

export interface TalkModel {
  readonly peer: string;
  phase: Phase;
  torPercent: number;
  sawTor: boolean;
  windowEndsAt: number | null;
  windowSeconds: number;
  sessionEndsAt: number | null;
  idleSeconds: number;
  lastTextAt: number | null;
  readonly entries: Entry[];
  /** Ids the process reported sent or delivered before the page knew them (the answer to `send` may come after). */
  readonly early: Map<number, 'sent' | 'delivered'>;
  count: number;
  closed: Closed | null;
  draft: string;
  notice: string | null;
}

export function createTalk(peer: string, phase: 'opening' | 'resumed' = 'opening'): TalkModel {
  return {
    peer, phase, torPercent: 0, sawTor: false, windowEndsAt: null, windowSeconds: 0, sessionEndsAt: null,
    idleSeconds: 0, lastTextAt: null, entries: [], early: new Map(), count: 0, closed: null, draft: '', notice: null,
  };
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function push(model: TalkModel, entry: Entry): void {
  model.entries.push(entry);
  if (model.entries.length > MAX_ENTRIES) model.entries.shift();
}

/** Applies one `talk` push (`talk --json`'s object); returns the entry it added, if any. */
export function applyTalkEvent(model: TalkModel, e: Readonly<Record<string, unknown>>, now: number, wall: number): Entry | null {
  switch (e.event) {
    case 'state':
      if (e.state === 'starting_tor') model.phase = 'starting_tor';
      else if (e.state === 'rendezvous') model.phase = model.windowEndsAt === null ? 'publishing' : 'waiting';
      else if (e.state === 'handshaking') model.phase = 'handshaking';
      else if (e.state === 'closing') model.phase = 'closing';
      return null;
    case 'progress':
      if (typeof e.percent === 'number') {
        model.sawTor = true;
        model.torPercent = Math.max(model.torPercent, Math.min(100, Math.max(0, Math.round(e.percent))));
        if (model.torPercent === 100 && model.phase === 'starting_tor') model.phase = 'publishing';
      }
      return null;
    case 'window':
      model.windowSeconds = num(e.seconds);
      model.windowEndsAt = now + model.windowSeconds * 1000;
      if (['publishing', 'starting_tor', 'opening', 'resumed'].includes(model.phase)) model.phase = 'waiting';
      return null;
    case 'active': {
      model.phase = 'connected';
      model.sessionEndsAt = now + num(e.maxSeconds) * 1000;
      model.idleSeconds = num(e.idleSeconds);
      model.lastTextAt = now;
      model.windowEndsAt = null;
      const entry: Entry = { kind: 'connected', at: wall, tag: str(e.session) };
      push(model, entry);
      return entry;
    }
    case 'message': {
      model.lastTextAt = now;
      model.count += 1;
      const entry: Entry = { kind: 'message', message: { id: num(e.id), own: false, at: wall, text: visibleText(str(e.text)), mark: 'delivered' } };
      push(model, entry);
      return entry;
    }
    case 'sent':
    case 'delivered': {
      const mark = e.event;
      const own = findOwn(model, num(e.id));
      if (own === null) model.early.set(num(e.id), mark);
      else if (own.mark !== 'delivered') own.mark = mark;
      return null;
    }
    case 'notice': {
      // Not a failure (e.g. TOR_GUARD_CHANGED): a line of the conversation with the code's words.
      const entry: Entry = { kind: 'notice', code: str(e.code) };
      push(model, entry);
      return entry;
    }
    case 'closed':
      model.phase = 'ended';
      model.closed = { reason: str(e.reason), ...(typeof e.code === 'string' ? { code: e.code } : {}), hadSession: e.hadSession === true };
      model.windowEndsAt = null;
      model.sessionEndsAt = null;
      wipe(model);
      return null;
    default:
      return null;
  }
}

function findOwn(model: TalkModel, id: number): Message | null {
  for (let i = model.entries.length - 1; i >= 0; i -= 1) {
    const e = model.entries[i];
    if (e?.kind === 'message' && e.message.own && e.message.id === id) return e.message;
  }
  return null;
}

/** A message the process accepted as `id`. */
export function addOwn(model: TalkModel, id: number, text: string, now: number, wall: number): Entry {
  model.lastTextAt = now;
  model.count += 1;
  const entry: Entry = { kind: 'message', message: { id, own: true, at: wall, text: visibleText(text), mark: model.early.get(id) ?? 'sending' } };
  model.early.delete(id);
  push(model, entry);
  return entry;
}

/** Forgets the conversation (the strings go with the garbage collector). */
export function wipe(model: TalkModel): void {
  model.entries.length = 0;
  model.early.clear();
  model.draft = '';
  model.notice = null;
}

/** Why the page refuses to send `text` before asking the process, if it does. */
export function sendRefusal(text: string, maxBytes: number): string | null {
  if (text.trim() === '') return 'MESSAGE_EMPTY';
  if (utf8Length(text) > maxBytes) return 'MESSAGE_TOO_LONG';
  return null;
}

const left = (deadline: number, now: number): number => Math.max(0, Math.ceil((deadline - now) / 1000));

/** The phase line. */
export function phaseLine(w: Words, m: TalkModel, now: number): Child[] {
  const peer = bdi(m.peer);
  switch (m.phase) {
    case 'opening': return [w.phaseOpening];
    case 'resumed': return [w.phaseResumed];
    case 'starting_tor': return [`${w.phaseTor} ${String(m.torPercent)}%`];
    case 'publishing': return [w.phasePublishing];
    case 'waiting': return w.phaseWaiting(peer, clockText(m.windowEndsAt === null ? 0 : left(m.windowEndsAt, now)));
    case 'handshaking': return w.phaseHandshaking(peer);
    case 'connected': return [w.phaseConnected];
    case 'closing': return [w.phaseClosing];
    case 'ended': return [w.phaseEnded];
  }
}

/** Time left in a connected session, or the idle limit once it is near (as the terminal chat). */
export function timeLine(w: Words, m: TalkModel, now: number): { text: string; warn: boolean } | null {
  if (m.phase !== 'connected' || m.sessionEndsAt === null) return null;
  const session = left(m.sessionEndsAt, now);
  if (m.lastTextAt !== null && m.idleSeconds > 0) {
    const idle = left(m.lastTextAt + m.idleSeconds * 1000, now);
    if (idle < 120 && idle < session) return { text: w.idleEnds(clockText(idle)), warn: true };
  }
  return { text: w.timeLeft(clockText(session)), warn: session < 120 };
}

export function hintLine(w: Words, m: TalkModel): Child[] {
  switch (m.phase) {
    case 'connected': case 'resumed': return [w.hintConnected];
    case 'closing': return [w.hintClosing];
    case 'ended': return [];
    case 'opening': case 'starting_tor': case 'publishing': case 'waiting': case 'handshaking': return w.hintWaiting(bdi(m.peer));
  }
}

/** How the attempt ended, and what was wiped. */
export function endWords(w: Words, m: TalkModel): { headline: Child[]; wiped: string } {
  const c = m.closed;
  const peer = bdi(m.peer);
  let headline: Child[];
  if (c === null) headline = [w.endUnknown];
  else {
    switch (c.reason) {
      case 'quit': headline = c.hadSession ? w.endQuit(peer) : w.endQuitWaiting(peer); break;
      case 'peer_quit': headline = w.endPeerQuit(peer); break;
      case 'idle': headline = [w.endIdle(m.idleSeconds)]; break;
      case 'max_duration': headline = [w.endMax]; break;
      case 'window_expired':
        headline = [...w.endWindow(peer, m.windowSeconds), ...(c.code !== undefined && c.code !== 'PEER_ABSENT' ? [' ', errorText(w, c.code)] : [])];
        break;
      case 'peer_gone': headline = w.endGone(peer); break;
      case 'connection_lost': headline = w.endLost(peer); break;
      default: headline = [w.endError, c.code !== undefined ? errorText(w, c.code) : w.unknownError];
    }
  }
  const wiped = [w.wiped(m.count), m.sawTor ? w.wipedTor : '', m.sawTor ? w.wipedDiskOwnTor : w.wipedDisk].filter((s) => s !== '').join(' ');
  return { headline, wiped };
}

/** One entry of the conversation, as an element of its list. */
export function entryElement(w: Words, lang: string, m: TalkModel, entry: Entry): HTMLLIElement {
  if (entry.kind === 'connected') return h('li', { class: 'info' }, ...w.connectedInfo(bdi(m.peer), entry.tag));
  if (entry.kind === 'notice') return h('li', { class: 'info' }, errorText(w, entry.code));
  const msg = entry.message;
  const time = new Date(msg.at);
  const who = msg.own ? h('span', { class: 'who' }, w.you) : h('span', { class: 'who' }, bdi(m.peer));
  const text = h('bdi', { dir: 'auto', class: 'text' });
  text.textContent = msg.text;
  const li = h('li', { class: msg.own ? 'msg own' : 'msg peer', 'data-id': msg.own ? msg.id : null },
    h('span', { class: 'meta' }, who, ' ',
      h('time', { datetime: time.toISOString() }, time.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' })),
      msg.own ? markElement(w, msg.mark) : null),
    text);
  return li;
}

export function markElement(w: Words, mark: Message['mark']): HTMLElement {
  const symbol = mark === 'delivered' ? '✓✓' : mark === 'sent' ? '✓' : '…';
  return h('span', { class: `mark ${mark}`, title: w[mark] }, ' ', h('span', { 'aria-hidden': 'true' }, symbol), h('span', { class: 'sr-only' }, w[mark]));
}

/** Updates the mark shown for own message `id` in `log`. */
export function refreshMark(w: Words, m: TalkModel, log: HTMLElement, id: number): void {
  const msg = findOwn(m, id);
  const old = log.querySelector(`li[data-id="${String(id)}"] .mark`);
  if (msg !== null && old !== null && !old.classList.contains(msg.mark)) old.replaceWith(markElement(w, msg.mark));
}
