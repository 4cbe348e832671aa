/** The chat's terminal text helpers: a peer's text made harmless, widths in columns, wrapping and cutting. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { charWidth, displayWidth, padTo, safeText, truncate, wrap } from '../../src/cli/chat/text.ts';

const cp = (ch: string): number => ch.codePointAt(0)!;

/** Code points safeText must never let through (besides lone surrogates). */
function isForbidden(code: number): boolean {
  return (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f)
    || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)
    || code === 0x200e || code === 0x200f || code === 0x061c;
}

const LONE_SURROGATE = /[\ud800-\udfff]/u;

/** Characters that exercise every rule: controls, bidi, CRLF, surrogates (lone and paired), wide, zero-width. */
const trickyChar = fc.oneof(
  fc.constantFrom('a', 'Z', ' ', '\n', '\r', '\t', '\x1b', '\x07', '\x08', '\x00', '\x7f', '\x85', '\x9b', '\u202e', '\u2066',
    '\u200e', '\u061c', '\ud800', '\udfff', '日', '😀', '\u0301', '\u200d', '\ufe0f', '\u2400', '\ufffd', '…'),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const anyText = fc.string({ unit: trickyChar, maxLength: 60 });

/** Safe text of words, spaces and newlines, with wide and zero-width characters among the letters. */
const wrapChar = fc.constantFrom('a', 'b', 'c', 'd', ' ', ' ', ' ', '\n', '日', '😀', 'e\u0301', '\u200d', 'é');
const wrapText = fc.oneof(fc.string({ unit: wrapChar, maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 40 }).map(safeText));
const width = fc.integer({ min: 1, max: 14 });

// --- charWidth / displayWidth ---

test('charWidth: ASCII and Latin take 1, CJK, Hangul, fullwidth and emoji take 2, combining marks and joiners 0', () => {
  assert.equal(charWidth(cp('a')), 1);
  assert.equal(charWidth(cp('é')), 1);
  assert.equal(charWidth(cp('中')), 2);
  assert.equal(charWidth(cp('あ')), 2);
  assert.equal(charWidth(cp('한')), 2);
  assert.equal(charWidth(cp('Ａ')), 2); // fullwidth A
  assert.equal(charWidth(cp('ｱ')), 1); // halfwidth katakana
  assert.equal(charWidth(cp('😀')), 2);
  assert.equal(charWidth(cp('🤔')), 2);
  assert.equal(charWidth(0x20000), 2); // CJK extension B
  assert.equal(charWidth(0x0301), 0); // combining acute accent
  assert.equal(charWidth(0x200b), 0); // zero-width space
  assert.equal(charWidth(0x200d), 0); // zero-width joiner
  assert.equal(charWidth(0xfe0f), 0); // variation selector 16
  assert.equal(charWidth(0xe0100), 0); // variation selector 17
  assert.equal(charWidth(0x303f), 1); // the one narrow character inside the CJK block
  assert.equal(charWidth(cp('…')), 1);
});

test('charWidth: widths written out by hand, as a terminal draws them', () => {
  const cases: [string, 0 | 1 | 2][] = [
    ['a', 1], ['é', 1], ['\u0301', 0], ['\u20dd', 0], ['\u200b', 0], ['\u200d', 0], ['\ufe0f', 0], ['\u{e0101}', 0],
    ['\u00ad', 1], ['字', 2], ['한', 2], ['\u1100', 2], ['\u1161', 0], ['\u11a8', 0], ['あ', 2], ['\u3000', 2],
    ['Ａ', 2], ['｡', 1], ['😀', 2], ['🚀', 2], ['🛸', 2], ['🩷', 2], ['🈁', 2], ['☕', 2], ['⚡', 2], ['⌚', 2], ['⭐', 2],
    ['✓', 1], ['…', 1], ['█', 1], ['░', 1], ['␛', 1], ['\ufffd', 1], ['\u{20000}', 2],
  ];
  for (const [ch, width] of cases) assert.equal(charWidth(ch.codePointAt(0) ?? -1), width, `U+${(ch.codePointAt(0) ?? 0).toString(16)}`);
});

test('displayWidth sums the code points: a surrogate pair is one character, a combining mark adds nothing', () => {
  assert.equal(displayWidth(''), 0);
  assert.equal(displayWidth('hello'), 5);
  assert.equal(displayWidth('日本語'), 6);
  assert.equal(displayWidth('a😀b'), 4);
  assert.equal(displayWidth('e\u0301te\u0301'), 3);
  assert.equal(displayWidth('👩\u200d💻'), 4);
});

// --- safeText ---

test('safeText neutralises an ANSI escape sequence: ESC becomes ␛ and nothing can reach the terminal', () => {
  assert.equal(safeText('\x1b[31mred'), '␛[31mred');
  assert.equal(safeText('\x1b]0;title\x07'), '␛]0;title␇');
  assert.equal(safeText('\x9b31m'), '\ufffd31m'); // the 8-bit CSI
});

test('safeText replaces the bidi overrides, embeddings, isolates and marks (Trojan Source)', () => {
  assert.equal(safeText('abc\u202edef'), 'abc\ufffddef');
  for (const c of [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c]) {
    assert.equal(safeText(`x${String.fromCodePoint(c)}y`), 'x\ufffdy', c.toString(16));
  }
});

test('safeText shows C0 controls and DEL as control pictures and C1 controls as U+FFFD', () => {
  assert.equal(safeText('\x00'), '␀');
  assert.equal(safeText('\x07'), '␇');
  assert.equal(safeText('ab\x08\x08cd'), 'ab␈␈cd');
  assert.equal(safeText('\x1f'), '␟');
  assert.equal(safeText('\x7f'), '␡');
  assert.equal(safeText('\x80\x85\x9f'), '\ufffd\ufffd\ufffd');
  assert.equal(safeText('\xa0'), '\xa0'); // no-break space is not a control
});

test('safeText: CRLF becomes LF, a lone CR is shown, a tab becomes four spaces', () => {
  assert.equal(safeText('one\r\ntwo'), 'one\ntwo');
  assert.equal(safeText('fake\rline'), 'fake␍line');
  assert.equal(safeText('\r\r\n'), '␍\n');
  assert.equal(safeText('a\tb'), 'a    b');
});

test('safeText replaces lone surrogates and keeps valid pairs', () => {
  assert.equal(safeText('a\ud800b'), 'a\ufffdb');
  assert.equal(safeText('\udc00\ud800'), '\ufffd\ufffd');
  assert.equal(safeText('😀\ud83d'), '😀\ufffd');
});

test('safeText leaves ordinary text alone: letters, CJK, emoji, combining marks, joiners, newlines', () => {
  const text = 'héllo 日本 😀 e\u0301 👩\u200d💻 ❤\ufe0f\nnext line …';
  assert.equal(safeText(text), text);
});

test('property: safeText output has no forbidden character, no lone surrogate, as many newlines, and is idempotent', () => {
  fc.assert(
    fc.property(anyText, (s) => {
      const out = safeText(s);
      for (const ch of out) assert.ok(!isForbidden(cp(ch)), `U+${cp(ch).toString(16)} in output`);
      assert.ok(!LONE_SURROGATE.test(out));
      assert.equal(out.split('\n').length, s.replaceAll('\r\n', '\n').split('\n').length);
      assert.equal(safeText(out), out);
    }),
    { numRuns: 500 },
  );
});

test('property: safeText changes nothing in text without forbidden characters', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
      const clean = Array.from(s).filter((ch) => !isForbidden(cp(ch)) && ch !== '\t').join('');
      assert.equal(safeText(clean), clean);
    }),
    { numRuns: 300 },
  );
});

// --- wrap ---

test('wrap: empty text is one empty line; explicit newlines start lines and empty lines are kept', () => {
  assert.deepEqual(wrap('', 5), ['']);
  assert.deepEqual(wrap('a\n\nb', 5), ['a', '', 'b']);
  assert.deepEqual(wrap('\n', 5), ['', '']);
  assert.deepEqual(wrap('a\n', 5), ['a', '']);
});

test('wrap breaks at spaces and drops the spaces at the break', () => {
  assert.deepEqual(wrap('hello world', 5), ['hello', 'world']);
  assert.deepEqual(wrap('hello world', 11), ['hello world']);
  assert.deepEqual(wrap('the quick brown fox', 10), ['the quick', 'brown fox']);
  assert.deepEqual(wrap('aaa    bbb', 5), ['aaa', 'bbb']);
  assert.deepEqual(wrap('ab   ', 3), ['ab']);
});

test('wrap keeps the spaces that are not at a break', () => {
  assert.deepEqual(wrap('a  b', 10), ['a  b']);
  assert.deepEqual(wrap('  indented', 10), ['  indented']);
  assert.deepEqual(wrap('trailing  ', 10), ['trailing  ']);
  assert.deepEqual(wrap('x  y  z', 4), ['x  y', 'z']);
});

test('wrap hard-breaks a word longer than the width at the column limit, on a line of its own', () => {
  assert.deepEqual(wrap('abcdefghij', 4), ['abcd', 'efgh', 'ij']);
  assert.deepEqual(wrap('see abcdefghij', 4), ['see', 'abcd', 'efgh', 'ij']);
  assert.deepEqual(wrap('ab abcdefghij', 5), ['ab', 'abcde', 'fghij']);
  assert.deepEqual(wrap('abcdefghij ok', 4), ['abcd', 'efgh', 'ij', 'ok']);
  assert.deepEqual(wrap('abc', 1), ['a', 'b', 'c']);
});

test('wrap never splits a surrogate pair nor lets a wide character straddle the limit', () => {
  assert.deepEqual(wrap('日本語です', 5), ['日本', '語で', 'す']);
  assert.deepEqual(wrap('😀😀😀', 4), ['😀😀', '😀']);
  assert.deepEqual(wrap('a😀😀', 4), ['a😀', '😀']);
  assert.deepEqual(wrap('日本', 1), ['日', '本']); // cannot fit: one per line
});

test('wrap keeps a combining mark with the character before it', () => {
  assert.deepEqual(wrap('e\u0301e\u0301e\u0301', 2), ['e\u0301e\u0301', 'e\u0301']);
});

test('wrap rejects a width below 1 or not an integer', () => {
  assert.throws(() => wrap('a', 0), RangeError);
  assert.throws(() => wrap('a', 1.5), RangeError);
  assert.throws(() => wrap('a', Number.NaN), RangeError);
});

test('property: every wrapped line fits the width (a wide character alone may not fit width 1) and has no newline', () => {
  fc.assert(
    fc.property(wrapText, width, (text, w) => {
      for (const line of wrap(text, w)) {
        assert.ok(!line.includes('\n'));
        const fits = displayWidth(line) <= w;
        const lonelyWide = w === 1 && Array.from(line).filter((ch) => charWidth(cp(ch)) > 0).length === 1;
        assert.ok(fits || lonelyWide, `${JSON.stringify(line)} is wider than ${w}`);
      }
    }),
    { numRuns: 1000 },
  );
});

test('property: the wrapped lines rejoin to the text, minus spaces and newlines', () => {
  const strip = (s: string): string => s.replace(/[ \n]/gu, '');
  fc.assert(
    fc.property(wrapText, width, (text, w) => {
      const lines = wrap(text, w);
      assert.equal(strip(lines.join('')), strip(text));
      assert.ok(lines.length >= text.split('\n').length);
      for (const line of lines) assert.ok(!LONE_SURROGATE.test(line) || LONE_SURROGATE.test(text));
    }),
    { numRuns: 1000 },
  );
});

test('property: within a paragraph only the first line starts, and only the last line ends, with a space', () => {
  fc.assert(
    fc.property(wrapText.map((t) => t.replaceAll('\n', ' ')), width, (text, w) => {
      const lines = wrap(text, w);
      lines.forEach((line, i) => {
        if (i > 0) assert.ok(!line.startsWith(' '), `line ${i} ${JSON.stringify(line)}`);
        if (i < lines.length - 1) assert.ok(!line.endsWith(' '), `line ${i} ${JSON.stringify(line)}`);
      });
    }),
    { numRuns: 1000 },
  );
});

test('property: a paragraph that fits comes back unchanged', () => {
  fc.assert(
    fc.property(wrapText.map((t) => t.replaceAll('\n', '')), width, (text, w) => {
      fc.pre(displayWidth(text) <= w);
      assert.deepEqual(wrap(text, w), [text]);
    }),
  );
});

// --- truncate / padTo ---

test('truncate cuts to the width and ends with … only when something was cut', () => {
  assert.equal(truncate('hello', 5), 'hello');
  assert.equal(truncate('hello world', 5), 'hell…');
  assert.equal(truncate('abc', 1), '…');
  assert.equal(truncate('', 1), '');
  assert.equal(truncate('日本語', 4), '日…');
  assert.equal(truncate('日本語', 5), '日本…');
  assert.equal(truncate('😀😀😀', 5), '😀😀…');
  assert.equal(truncate('abc', 0), '');
  assert.throws(() => truncate('abc', -1), RangeError);
});

test('padTo pads on the right to exactly the width, cutting first', () => {
  assert.equal(padTo('ab', 4), 'ab  ');
  assert.equal(padTo('日', 3), '日 ');
  assert.equal(padTo('abcdef', 4), 'abc…');
  assert.equal(padTo('日本語', 5), '日本…');
  assert.equal(padTo('日本語', 4), '日… ');
  assert.equal(padTo('x', 0), '');
  assert.throws(() => padTo('x', -1), RangeError);
});

test('property: truncate fits the width, keeps what fits, and cuts to a prefix followed by …', () => {
  fc.assert(
    fc.property(wrapText, width, (s, w) => {
      const out = truncate(s, w);
      assert.ok(displayWidth(out) <= w);
      if (displayWidth(s) <= w) assert.equal(out, s);
      else {
        assert.ok(out.endsWith('…'));
        assert.ok(s.startsWith(out.slice(0, -1)));
        assert.ok(!LONE_SURROGATE.test(out) || LONE_SURROGATE.test(s));
      }
    }),
    { numRuns: 500 },
  );
});

test('property: padTo is exactly the width and starts with the truncated text', () => {
  fc.assert(
    fc.property(wrapText.map((t) => t.replaceAll('\n', ' ')), fc.integer({ min: 0, max: 14 }), (s, w) => {
      const out = padTo(s, w);
      assert.equal(displayWidth(out), w);
      assert.ok(out.startsWith(truncate(s, w)));
      assert.equal(out.slice(truncate(s, w).length).trim(), '');
    }),
    { numRuns: 500 },
  );
});
