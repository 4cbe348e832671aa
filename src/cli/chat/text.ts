/**
 * Text for the terminal chat: making a peer's (or a paste's) text safe to print, and measuring,
 * wrapping, cutting and padding it in terminal columns. Pure: no I/O, no terminal queries.
 *
 * Safety first: a peer controls every character of its messages, so escape sequences (ESC), carriage
 * returns, backspaces and bidi overrides could rewrite what is already on screen or disguise text
 * ("Trojan Source", CVE-2021-42574). They are replaced by visible placeholders, never passed through.
 *
 * Widths follow Unicode's East Asian Width property (UAX #11, through get-east-asian-width: its data
 * and nothing else) and general categories for the marks that take no column: what terminals and
 * tmux (glibc's wcwidth) draw, so that a row never spills onto the next.
 */
import { eastAsianWidth } from 'get-east-asian-width';

/**
 * Code points that take no column: nonspacing and enclosing marks (combining accents, variation
 * selectors), format characters (zero-width space and joiners, soft hyphen's cousins), and the Hangul
 * medial and final jamo that join the syllable before them.
 */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\u1160-\u11ff]$/u;

/** Bidi embedding, override, isolate and mark controls: they reorder the text around them (UAX #9). */
const BIDI_CONTROLS: ReadonlySet<number> = new Set([
  0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
]);

/** U+2400 CONTROL PICTURES: U+2400 + code shows the C0 control `code` (␀ … ␟). */
const CONTROL_PICTURES = 0x2400;
/** ␡, the control picture for DEL. */
const DEL_PICTURE = '\u2421';
/** U+FFFD REPLACEMENT CHARACTER, for the controls without a control picture and lone surrogates. */
const REPLACEMENT = '\ufffd';
/** A tab has no fixed width in a chat line: it becomes this many spaces. */
const TAB = '    ';
const ELLIPSIS = '…';


function codePointOf(ch: string): number {
  return ch.codePointAt(0) ?? 0;
}

function assertWidth(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${value}`);
}

/**
 * Columns a code point takes in a terminal: 0 (combining marks, zero-width joiner/space, variation
 * selectors), 2 (East Asian Wide/Fullwidth, most emoji), else 1.
 */
export function charWidth(codePoint: number): 0 | 1 | 2 {
  if (codePoint !== 0xad && ZERO_WIDTH.test(String.fromCodePoint(codePoint))) return 0;
  // East Asian Wide and Fullwidth, from Unicode's EastAsianWidth.txt (emoji presentation included);
  // ambiguous characters as narrow, as terminals outside East Asian locales draw them.
  return eastAsianWidth(codePoint) === 2 ? 2 : 1;
}

/** Columns `s` takes (sum over code points; assumes `s` went through safeText). */
export function displayWidth(s: string): number {
  let width = 0;
  for (const ch of s) width += charWidth(codePointOf(ch));
  return width;
}

/** One code point (or lone surrogate) of safeText's output. */
function safeChar(ch: string): string {
  if (ch === '\n') return ch;
  if (ch === '\t') return TAB;
  const cp = codePointOf(ch);
  if (cp < 0x20) return String.fromCharCode(CONTROL_PICTURES + cp);
  if (cp === 0x7f) return DEL_PICTURE;
  if (cp >= 0x80 && cp <= 0x9f) return REPLACEMENT; // C1 controls, CSI (U+009B) among them
  if (BIDI_CONTROLS.has(cp)) return REPLACEMENT;
  // Iterating a string yields a valid surrogate pair as one code point, so a surrogate here is alone.
  if (cp >= 0xd800 && cp <= 0xdfff) return REPLACEMENT;
  return ch;
}

/**
 * Text from a peer (or pasted) made safe to print: every C0 control except '\n' (incl. ESC, BEL, CR,
 * backspace), DEL, every C1 control (U+0080–U+009F), and the bidi embedding/override/isolate controls
 * (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C) are replaced by a visible placeholder: C0
 * controls by their Control Pictures symbol (U+2400 + code, DEL → U+2421), the others by U+FFFD. Tab
 * becomes 4 spaces. Lone surrogates become U+FFFD. "\r\n" is first normalised to "\n". Nothing else
 * changes. Idempotent.
 */
export function safeText(s: string): string {
  let out = '';
  for (const ch of s.replaceAll('\r\n', '\n')) out += safeChar(ch);
  return out;
}

/** Drops the spaces at the end of a line (only U+0020: the only character wrap breaks at). */
function dropTrailingSpaces(line: string): string {
  let end = line.length;
  while (end > 0 && line[end - 1] === ' ') end--;
  return line.slice(0, end);
}

/** wrap() for one paragraph (text without '\n'). */
function wrapParagraph(paragraph: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  let used = 0;
  let hasWord = false; // false while the line holds only the paragraph's leading spaces
  let afterBreak = false; // just broke inside a run of spaces: the rest of the run is dropped
  const breakLine = (): void => {
    // A line of leading spaces only is dropped rather than shown as an empty line.
    if (hasWord) lines.push(dropTrailingSpaces(line));
    line = '';
    used = 0;
    hasWord = false;
  };
  for (const token of paragraph.match(/[^ ]+| /gu) ?? []) {
    if (token === ' ') {
      if (afterBreak) continue;
      if (used + 1 <= width) {
        line += token;
        used += 1;
      } else {
        breakLine();
        afterBreak = true;
      }
      continue;
    }
    afterBreak = false;
    const tokenWidth = displayWidth(token);
    if (used + tokenWidth <= width) {
      line += token;
      used += tokenWidth;
      hasWord = true;
    } else if (tokenWidth <= width) {
      breakLine();
      line = token;
      used = tokenWidth;
      hasWord = true;
    } else {
      // Longer than a line: start it on a line of its own, then cut it at the column limit. A
      // zero-width mark stays with the character before it; `used > 0` lets a width-2 character
      // have a line to itself when width is 1 (it cannot fit anywhere).
      if (hasWord) breakLine();
      for (const ch of token) {
        const w = charWidth(codePointOf(ch));
        if (used + w > width && used > 0) breakLine();
        line += ch;
        used += w;
        hasWord = true;
      }
    }
  }
  if (line !== '') lines.push(line);
  if (lines.length === 0) lines.push('');
  return lines;
}

/**
 * Wraps `text` (already safe) to lines of at most `width` columns (width ≥ 1). Explicit '\n' starts a
 * new line (empty lines kept). Breaks at spaces when a word fits on a line; a word longer than the
 * width starts on a new line and is broken at the column limit (never in the middle of a code point;
 * a width-2 char never straddles the limit, and with width 1 it gets a line of its own). Spaces at a
 * break are dropped, other spaces kept. Always returns at least one line ("" for empty text).
 *
 * @throws RangeError if `width` is not an integer ≥ 1
 */
export function wrap(text: string, width: number): string[] {
  assertWidth('width', width, 1);
  return text.split('\n').flatMap((paragraph) => wrapParagraph(paragraph, width));
}

/**
 * `s` cut to at most `width` columns, ending with '…' when something was cut (width ≥ 1; width 0
 * gives "" for any text that takes a column).
 *
 * @throws RangeError if `width` is not an integer ≥ 0
 */
export function truncate(s: string, width: number): string {
  assertWidth('width', width, 0);
  if (displayWidth(s) <= width) return s;
  if (width === 0) return '';
  let out = '';
  let used = 0;
  for (const ch of s) {
    const w = charWidth(codePointOf(ch));
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return out + ELLIPSIS;
}

/**
 * `s` padded with spaces on the right to exactly `width` columns (truncated first if longer).
 *
 * @throws RangeError if `width` is not an integer ≥ 0
 */
export function padTo(s: string, width: number): string {
  const cut = truncate(s, width);
  return cut + ' '.repeat(width - displayWidth(cut));
}
