/**
 * A peer's text made visible as it is, as the terminal chat does (src/cli/chat/text.ts): controls and
 * bidi overrides could disguise a message ("Trojan Source"), so they are shown as placeholders instead
 * of acting. The page then puts the result in a text node inside a direction-isolated element.
 */

const BIDI_CONTROLS = new Set([0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]);

export function visibleText(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '\n' || ch === '\t') out += ch;
    else if (cp < 0x20) out += String.fromCharCode(0x2400 + cp);
    else if (cp === 0x7f) out += '\u2421';
    else if ((cp >= 0x80 && cp <= 0x9f) || BIDI_CONTROLS.has(cp) || (cp >= 0xd800 && cp <= 0xdfff)) out += '\ufffd';
    else out += ch;
  }
  return out;
}

/** UTF-8 bytes of `text` (the limit on a message is in bytes). */
export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** 75 → "1:15"; 3725 → "1:02:05". */
export function clockText(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${String(h)}:${String(m).padStart(2, '0')}:${sec}` : `${String(m)}:${sec}`;
}
