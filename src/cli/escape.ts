/**
 * Output that cannot drive a terminal. A peer controls every character of its messages, and whoever
 * wrote a command line controls its words: neither may reach a terminal as control sequences.
 *
 * - {@link jsonLine}: JSON.stringify escapes only C0 controls, `"` and `\`; it leaves C1 controls
 *   (U+0080–U+009F: U+009B is a one-byte CSI for terminals that take 8-bit controls), DEL, bidi controls
 *   and other format characters, and the line/paragraph separators raw. Here they are `\uXXXX` too, so
 *   a consumer that prints a field as it is (`jq -r`) cannot be driven by a peer. JSON.parse gives back
 *   exactly the same string: the escape is lossless.
 * - {@link shownEscaped}: for text put on a terminal as is (error messages that quote user input).
 */

/**
 * What is escaped: C0 controls, DEL, C1 controls, every format character (Cf: the bidi controls,
 * zero-width characters, tag characters), line and paragraph separators.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\p{Cf}\u2028\u2029]/gu;

function hex4(unit: number): string {
  return `\\u${unit.toString(16).padStart(4, '0')}`;
}

/** Each UTF-16 unit of `ch` as `\uXXXX` (an astral character as its surrogate pair, as JSON wants). */
function escapeUnits(ch: string): string {
  let out = '';
  for (let i = 0; i < ch.length; i++) out += hex4(ch.charCodeAt(i));
  return out;
}

/**
 * `value` as one line of JSON with every character of {@link UNSAFE} escaped. Outside strings JSON has
 * only ASCII punctuation, so escaping the serialised text escapes exactly the strings' characters.
 */
export function jsonLine(value: unknown): string {
  // JSON.stringify(undefined) is undefined, whatever its declared type says.
  const text = JSON.stringify(value) as string | undefined;
  return (text ?? 'null').replace(UNSAFE, escapeUnits);
}

/** `text` with every control and format character shown as `\uXXXX` (and a backslash as `\\`). */
export function shownEscaped(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(UNSAFE, escapeUnits);
}
