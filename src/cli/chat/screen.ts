/**
 * The chat's screen as rows of text, from the model: pure, so that what a person sees is tested
 * without a terminal. The terminal view writes these rows; nothing else decides what is on screen.
 *
 *   row 0          status: entrechat · peer · verified · phase (progress, countdown) · time left
 *   rows 1…        the conversation, wrapped, newest at the bottom (PgUp/PgDn scroll)
 *   1 to 3 rows    a notice, or the hint for the phase (wrapped)
 *   row h-1        the input line
 *
 * A frame costs what is visible, not the length of the session: each entry's wrapped lines are kept
 * in a WrapCache for the current width, and a frame walks back from the bottom (or the scroll
 * position) only as far as the rows it shows. When the model dropped older entries (its bound), the
 * top of the conversation says so.
 */
import { secondsLeft, type ChatEntry, type ChatModel } from './model.ts';
import { displayWidth, padTo, truncate, wrap } from './text.ts';
import { droppedWords, hint, phasePart, timePart, verifiedPart, type Part, type Tone } from './words.ts';

export interface Style {
  /** ANSI colours and attributes (a terminal without NO_COLOR). */
  readonly color: boolean;
}

export interface Frame {
  /** Exactly `rows` rows, each exactly `cols` columns wide once escapes are left out. */
  readonly rows: readonly string[];
  /** Where the terminal's cursor goes (0-based), or null to hide it. */
  readonly cursor: { readonly row: number; readonly col: number } | null;
  /** The scroll offset used: the one asked for, within what there is to scroll. */
  readonly scroll: number;
}

export interface InputView {
  readonly text: string;
  readonly cursorColumn: number;
}

const SGR: Record<Tone, string> = {
  plain: '',
  dim: '2',
  ok: '32',
  warn: '33',
  bad: '31',
  own: '36',
  peer: '35',
  accent: '1',
};

/** Below this the chat shows only a request for a bigger terminal. */
export const MIN_COLS = 30;
export const MIN_ROWS = 6;
const PROMPT = '› ';
const NAME_MAX = 16;
/** A long notice wraps onto this many rows at most. */
const NOTICE_MAX_ROWS = 3;

function paint(text: string, tone: Tone, style: Style, base = ''): string {
  if (!style.color) return text;
  const codes = [base, SGR[tone]].filter((c) => c !== '').join(';');
  return codes === '' ? text : `\x1b[${codes}m${text}\x1b[0m${base !== '' ? `\x1b[${base}m` : ''}`;
}

/** Local time, HH:MM. */
export function localTime(wall: number): string {
  const d = new Date(wall);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** The status row: parts separated by " · ", cut to the width; inverse video when coloured. */
export function statusRow(model: ChatModel, now: number, cols: number, style: Style): string {
  const parts: Part[] = [{ text: 'entrechat', tone: 'accent' }, { text: truncate(model.peer, NAME_MAX), tone: 'peer' }, verifiedPart(model), phasePart(model, now)];
  const time = timePart(model, now);
  if (time !== null) parts.push(time);
  // Plain text first, to cut to the width; then painted part by part as far as it fits.
  let used = 0;
  let out = '';
  const budget = cols - 1;
  parts.forEach((part, i) => {
    const sep = i === 0 ? ' ' : ' · ';
    const room = budget - used - displayWidth(sep);
    if (room <= 0) return;
    const text = truncate(part.text, room);
    out += sep + paint(text, part.tone, style, '7');
    used += displayWidth(sep) + displayWidth(text);
  });
  const pad = ' '.repeat(Math.max(0, cols - used));
  return style.color ? `\x1b[7m${out}${pad}\x1b[0m` : out + pad;
}

/**
 * Each entry's wrapped text lines, for one layout (the terminal's width and the name column's), so
 * that an entry is wrapped once, not on every frame. Another layout (a resize) forgets every line.
 * Entries are held weakly: one the model dropped or wiped is released with its lines, no copy kept.
 */
export class WrapCache {
  #layout = '';
  #lines = new WeakMap<ChatEntry, readonly string[]>();
  /** Entries wrapped so far (cache misses): the work frames did, for tests. */
  wraps = 0;

  /** `entry`'s lines for `layout`, from `compute` the first time. */
  lines(entry: ChatEntry, layout: string, compute: () => readonly string[]): readonly string[] {
    if (layout !== this.#layout) {
      this.#layout = layout;
      this.#lines = new WeakMap();
    }
    let lines = this.#lines.get(entry);
    if (lines === undefined) {
      lines = compute();
      this.wraps += 1;
      this.#lines.set(entry, lines);
    }
    return lines;
  }
}

/** "HH:MM · ": the head of a note's first row. */
const INFO_HEAD_WIDTH = 8;

/** Columns of a message's head: "HH:MM name ✓ ". */
function messageHeadWidth(nameWidth: number): number {
  return 5 + 1 + nameWidth + 1 + 1 + 1;
}

/** An entry's text wrapped to the columns it gets (the part the cache keeps). */
function entryLines(entry: ChatEntry, nameWidth: number, cols: number): string[] {
  if (entry.kind === 'info') return wrap(entry.text, Math.max(1, cols - INFO_HEAD_WIDTH));
  return wrap(entry.message.text, Math.max(1, cols - messageHeadWidth(nameWidth)));
}

/** Row `i` of an entry, `line` being its i-th wrapped line: `cols` columns, painted. */
function entryRow(entry: ChatEntry, i: number, line: string, nameWidth: number, peer: string, cols: number, style: Style): string {
  if (entry.kind === 'info') {
    const head = i === 0 ? `${localTime(entry.at)} · ` : ' '.repeat(INFO_HEAD_WIDTH);
    return paint(padTo(head + line, cols), 'dim', style);
  }
  const m = entry.message;
  const indent = messageHeadWidth(nameWidth);
  const body = padTo(line, Math.max(1, cols - indent));
  if (i > 0) return ' '.repeat(indent) + body;
  const name = truncate(m.own ? 'you' : peer, nameWidth);
  const mark = m.own ? (m.delivered ? '✓' : '…') : ' ';
  const tone: Tone = m.own ? 'own' : 'peer';
  const markTone: Tone = m.own && m.delivered ? 'ok' : 'dim';
  return `${paint(localTime(m.at), 'dim', style)} ${paint(padTo(name, nameWidth), tone, style)} ${paint(mark, markTone, style)} ${body}`;
}

/** A run of rows of the conversation: an entry's lines, or (entry null) the line saying older ones were dropped. */
interface Piece {
  readonly entry: ChatEntry | null;
  readonly lines: readonly string[];
}

/**
 * The conversation's `height` rows, `scroll` rows up from the bottom (clamped), walking back from the
 * newest entry only as far as needed; and the scroll offset used.
 */
function conversationRows(model: ChatModel, cols: number, height: number, scroll: number, cache: WrapCache, style: Style): { rows: string[]; offset: number } {
  const nameWidth = Math.min(NAME_MAX, Math.max(3, displayWidth(model.peer)));
  const layout = `${String(cols)}/${String(nameWidth)}`;
  const need = Math.max(0, scroll) + height;
  const pieces: Piece[] = []; // newest first
  let have = 0;
  let i = model.entries.length - 1;
  for (; i >= 0 && have < need; i -= 1) {
    const entry = model.entries[i];
    if (entry === undefined) continue;
    const lines = cache.lines(entry, layout, () => entryLines(entry, nameWidth, cols));
    pieces.push({ entry, lines });
    have += lines.length;
  }
  const atTop = i < 0;
  if (atTop && model.droppedEntries > 0 && have < need) {
    const lines = wrap(droppedWords(model), cols);
    pieces.push({ entry: null, lines });
    have += lines.length;
  }
  // Fewer rows than asked for means the walk reached the top: the scroll stops there.
  const offset = Math.min(Math.max(0, scroll), Math.max(0, have - height));
  const from = Math.max(0, have - offset - height);
  const to = have - offset;
  const rows: string[] = [];
  let index = 0;
  for (let p = pieces.length - 1; p >= 0 && index < to; p -= 1) {
    const piece = pieces[p];
    if (piece === undefined) continue;
    piece.lines.forEach((line, k) => {
      const at = index + k;
      if (at < from || at >= to) return;
      rows.push(piece.entry === null ? paint(padTo(line, cols), 'dim', style) : entryRow(piece.entry, k, line, nameWidth, model.peer, cols, style));
    });
    index += piece.lines.length;
  }
  const blank = ' '.repeat(cols);
  return { rows: [...Array.from({ length: height - rows.length }, () => blank), ...rows], offset };
}

/** The whole screen; `input` is the editor's view for the input line's width. */
export interface FrameOptions {
  readonly style: Style;
  /** Conversation rows the view is moved up from the bottom (clamped). */
  readonly scroll?: number;
  /** Monotonic time the screen clears itself at, once the session is over. */
  readonly lingerUntil?: number;
  /** The wrapped lines of earlier frames (the terminal view keeps one); default: a fresh one. */
  readonly cache?: WrapCache;
}

export function renderFrame(model: ChatModel, input: InputView, size: { cols: number; rows: number }, now: number, options: FrameOptions): Frame {
  const { style } = options;
  const scroll = options.scroll ?? 0;
  const { cols, rows } = size;
  if (cols < MIN_COLS || rows < MIN_ROWS) {
    const msg = truncate('Too small to chat.', Math.max(1, cols));
    return { rows: Array.from({ length: rows }, (_, i) => padTo(i === 0 ? msg : '', cols)), cursor: null, scroll: 0 };
  }
  // The notice (or hint) first: it may take up to NOTICE_MAX_ROWS rows, the conversation the rest.
  let noticeText: string;
  let noticeTone: Tone;
  if (scroll > 0 && model.entries.length > 0) {
    noticeText = ''; // one row, filled in below once the scroll offset is known
    noticeTone = 'accent';
  } else if (model.notice !== null) {
    noticeText = model.notice.text;
    noticeTone = model.notice.level === 'error' ? 'bad' : model.notice.level === 'warn' ? 'warn' : 'accent';
  } else {
    noticeText = hint(model, options.lingerUntil !== undefined ? secondsLeft(options.lingerUntil, now) : undefined);
    noticeTone = 'dim';
  }
  let noticeLines = wrap(noticeText, cols);
  if (noticeLines.length > NOTICE_MAX_ROWS) {
    noticeLines = [...noticeLines.slice(0, NOTICE_MAX_ROWS - 1), truncate(noticeLines.slice(NOTICE_MAX_ROWS - 1).join(' '), cols)];
  }
  const noticeRows = noticeLines.map((line) => paint(padTo(line, cols), noticeTone, style));

  const bodyHeight = rows - 2 - noticeRows.length;
  const { rows: bodyRows, offset } = conversationRows(model, cols, bodyHeight, scroll, options.cache ?? new WrapCache(), style);
  const blank = ' '.repeat(cols);
  if (noticeText === '') noticeRows[0] = paint(padTo(offset > 0 ? `↓ ${String(offset)} more line${offset === 1 ? '' : 's'} below (PgDn)` : '', cols), noticeTone, style);

  let inputRow: string;
  let cursor: Frame['cursor'] = null;
  if (model.phase === 'ended') inputRow = blank;
  else {
    inputRow = paint(PROMPT, 'accent', style) + padTo(input.text, cols - displayWidth(PROMPT));
    cursor = { row: rows - 1, col: Math.min(cols - 1, displayWidth(PROMPT) + input.cursorColumn) };
  }
  return { rows: [statusRow(model, now, cols, style), ...bodyRows, ...noticeRows, inputRow], cursor, scroll: offset };
}

/** Columns the input line's editor gets. */
export function inputWidth(cols: number): number {
  return Math.max(2, cols - displayWidth(PROMPT));
}
