/**
 * The chat's input line: the text being typed, its cursor, readline-like editing keys, and a history
 * of the messages sent in this session (kept in memory only, forgotten by wipe() when the session ends).
 * Pure: the terminal driver maps keys to these methods and draws view(); nothing here reads or writes.
 *
 * The text is held as an array of code points, so the cursor never lands inside a surrogate pair.
 */
import { displayWidth, safeText } from './text.ts';

/** Default number of history entries kept: plenty for one conversation. */
const DEFAULT_HISTORY_LIMIT = 100;
/** How view() shows a newline inside the text (a multi-line paste is one message). */
const NEWLINE_MARK = '⏎';
/** How view() shows a tab, so every shown code point takes at most two columns. */
const TAB_MARK = '␉';
/** Shown at an edge of view() where text is scrolled out of sight. */
const ELLIPSIS = '…';

/** Letters and digits (with their combining marks) make the words of wordLeft/wordRight, as in readline. */
const WORD_CHAR = /^[\p{L}\p{N}\p{M}]$/u;
/** Whitespace separates the words killWordBack removes, as in readline's unix-word-rubout. */
const SPACE_CHAR = /^\s$/u;

/** What view() shows for one code point of the text. */
function shown(ch: string): string {
  if (ch === '\n') return NEWLINE_MARK;
  if (ch === '\t') return TAB_MARK;
  return safeText(ch);
}

/**
 * One input line being edited. Text may contain '\n' (a paste of several lines is one message). The
 * cursor is an index in code points (0..length in code points).
 */
export class LineEditor {
  readonly #historyLimit: number;
  #chars: string[] = [];
  #cursor = 0;
  /** Sent messages, oldest first. */
  #history: string[] = [];
  /** Which history entry is shown, or null while editing the fresh line. */
  #historyIndex: number | null = null;
  /** The fresh line's text, kept while browsing the history. */
  #draft = '';

  /**
   * @param historyLimit entries kept (default 100); older ones are dropped
   * @throws RangeError if `historyLimit` is not an integer ≥ 0
   */
  constructor(historyLimit: number = DEFAULT_HISTORY_LIMIT) {
    if (!Number.isInteger(historyLimit) || historyLimit < 0) {
      throw new RangeError(`historyLimit must be an integer ≥ 0, got ${historyLimit}`);
    }
    this.#historyLimit = historyLimit;
  }

  /** The text being edited. */
  get text(): string {
    return this.#chars.join('');
  }

  /** The cursor, as an index in code points. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Inserts `s` at the cursor; the cursor moves after it. */
  insert(s: string): void {
    const added = Array.from(s);
    this.#chars.splice(this.#cursor, 0, ...added);
    this.#cursor += added.length;
  }

  /** Deletes the code point before the cursor. */
  backspace(): void {
    if (this.#cursor === 0) return;
    this.#chars.splice(this.#cursor - 1, 1);
    this.#cursor--;
  }

  /** Deletes the code point under the cursor. */
  deleteForward(): void {
    this.#chars.splice(this.#cursor, 1);
  }

  /** Moves the cursor one code point left. */
  left(): void {
    this.#cursor = Math.max(0, this.#cursor - 1);
  }

  /** Moves the cursor one code point right. */
  right(): void {
    this.#cursor = Math.min(this.#chars.length, this.#cursor + 1);
  }

  /** Moves the cursor to the start of the text. */
  home(): void {
    this.#cursor = 0;
  }

  /** Moves the cursor to the end of the text. */
  end(): void {
    this.#cursor = this.#chars.length;
  }

  /** Moves to the start of the current or previous word (letters and digits), like readline's meta-b. */
  wordLeft(): void {
    let i = this.#cursor;
    while (i > 0 && !this.#isWordChar(i - 1)) i--;
    while (i > 0 && this.#isWordChar(i - 1)) i--;
    this.#cursor = i;
  }

  /** Moves to the end of the current or next word (letters and digits), like readline's meta-f. */
  wordRight(): void {
    let i = this.#cursor;
    while (i < this.#chars.length && !this.#isWordChar(i)) i++;
    while (i < this.#chars.length && this.#isWordChar(i)) i++;
    this.#cursor = i;
  }

  /** Deletes from the start of the text to the cursor (ctrl-u). */
  killToStart(): void {
    this.#chars.splice(0, this.#cursor);
    this.#cursor = 0;
  }

  /** Deletes from the cursor to the end of the text (ctrl-k). */
  killToEnd(): void {
    this.#chars.splice(this.#cursor);
  }

  /** Deletes the whitespace, then the word (up to the previous whitespace), before the cursor (ctrl-w). */
  killWordBack(): void {
    let i = this.#cursor;
    while (i > 0 && this.#isSpace(i - 1)) i--;
    while (i > 0 && !this.#isSpace(i - 1)) i--;
    this.#chars.splice(i, this.#cursor - i);
    this.#cursor = i;
  }

  /**
   * Shows the previous history entry, cursor at its end. Leaving the fresh line keeps it as the draft;
   * edits made to a shown entry are not kept. A no-op at the oldest entry or with no history.
   */
  historyUp(): void {
    if (this.#history.length === 0 || this.#historyIndex === 0) return;
    if (this.#historyIndex === null) {
      this.#draft = this.text;
      this.#historyIndex = this.#history.length - 1;
    } else {
      this.#historyIndex--;
    }
    this.#show(this.#history[this.#historyIndex] ?? '');
  }

  /** Shows the next history entry; past the newest, the draft comes back. A no-op on the fresh line. */
  historyDown(): void {
    if (this.#historyIndex === null) return;
    if (this.#historyIndex < this.#history.length - 1) {
      this.#historyIndex++;
      this.#show(this.#history[this.#historyIndex] ?? '');
    } else {
      this.#historyIndex = null;
      this.#show(this.#draft);
      this.#draft = '';
    }
  }

  /** Returns the text, adds it to the history (unless empty or equal to the newest entry) and empties the line. */
  take(): string {
    const text = this.text;
    if (text !== '' && text !== this.#history.at(-1)) {
      this.#history.push(text);
      if (this.#history.length > this.#historyLimit) this.#history.splice(0, this.#history.length - this.#historyLimit);
    }
    this.#historyIndex = null;
    this.#draft = '';
    this.#show('');
    return text;
  }

  /** Empties the line and forgets the whole history (the session ended). */
  wipe(): void {
    this.#history = [];
    this.#historyIndex = null;
    this.#draft = '';
    this.#show('');
  }

  /**
   * What to show in `width` columns (width ≥ 2): '\n' shown as '⏎' (other controls as by safeText, a
   * tab as '␉'), the text scrolled horizontally so the cursor is visible, with '…' at an edge where text
   * is hidden, plus the cursor's column within the returned string. The text takes at most `width`
   * columns and the cursor's cell lies within them (cursorColumn ≤ width − 1).
   *
   * Scrolling is stateless: the view starts at the text's start when the cursor can be seen from there,
   * else as little to the left of the cursor as possible (the cursor then sits near the right edge).
   *
   * @throws RangeError if `width` is not an integer ≥ 2
   */
  view(width: number): { readonly text: string; readonly cursorColumn: number } {
    if (!Number.isInteger(width) || width < 2) throw new RangeError(`width must be an integer ≥ 2, got ${width}`);
    const cells = this.#chars.map(shown);
    const widths = cells.map(displayWidth);
    const n = cells.length;
    const c = this.#cursor;
    // The cursor needs a column of its own, also on a zero-width mark or after the last character.
    const cursorWidth = Math.max(1, widths[c] ?? 1);
    // No start left of `first` can show the cursor: the text from there to the cursor is too wide.
    let first = c;
    let span = cursorWidth;
    while (first > 0 && span + (widths[first - 1] ?? 0) <= width) {
      first--;
      span += widths[first] ?? 0;
    }
    for (let start = first; start <= c; start++) {
      const layout = layoutFrom(widths, start, width);
      let column = 0;
      for (let i = start; i < c; i++) column += widths[i] ?? 0;
      if (column + cursorWidth > layout.room) continue;
      const left = start > 0 ? ELLIPSIS : '';
      const right = layout.end < n ? ELLIPSIS : '';
      return { text: left + cells.slice(start, layout.end).join('') + right, cursorColumn: displayWidth(left) + column };
    }
    // Only in a very narrow view (a wide character, or ellipses on both sides, fill it): the cursor's character alone.
    return { text: cells[c] ?? '', cursorColumn: 0 };
  }

  #show(text: string): void {
    this.#chars = Array.from(text);
    this.#cursor = this.#chars.length;
  }

  #isWordChar(i: number): boolean {
    return WORD_CHAR.test(this.#chars[i] ?? '');
  }

  #isSpace(i: number): boolean {
    return SPACE_CHAR.test(this.#chars[i] ?? '');
  }
}

/**
 * The cells shown when the view starts at cell `start`: a '…' first when start > 0; then cells while they
 * fit, keeping a column for a '…' at the right unless every remaining cell fits. `end` is the first cell
 * not shown, `room` the columns available to cells (the cursor must lie within them).
 */
function layoutFrom(widths: readonly number[], start: number, width: number): { end: number; room: number } {
  const available = width - (start > 0 ? 1 : 0);
  let rest = 0;
  for (let i = start; i < widths.length && rest <= available; i++) rest += widths[i] ?? 0;
  if (rest <= available) return { end: widths.length, room: available };
  const room = available - 1;
  let end = start;
  let used = 0;
  while (end < widths.length && used + (widths[end] ?? 0) <= room) {
    used += widths[end] ?? 0;
    end++;
  }
  return { end, room };
}
