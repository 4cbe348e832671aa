/** decodeUtf8Strict (no ICU needed) accepts and rejects exactly what TextDecoder's fatal mode does. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeUtf8Strict } from '../../src/core/utf8.ts';

const reference = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function referenceDecode(bytes: Uint8Array): string | null {
  try {
    return reference.decode(bytes);
  } catch {
    return null;
  }
}

function ours(bytes: Uint8Array): string | null {
  try {
    return decodeUtf8Strict(bytes);
  } catch (e) {
    assert.ok(e instanceof TypeError);
    return null;
  }
}

const EDGES: readonly number[][] = [
  [], [0x00], [0x7f], [0xc2, 0x80], [0xdf, 0xbf], [0xe0, 0xa0, 0x80], [0xef, 0xbb, 0xbf, 0x41],
  [0xf0, 0x90, 0x80, 0x80], [0xf4, 0x8f, 0xbf, 0xbf],
  // invalid: overlong, surrogates, above U+10FFFF, cut short, stray continuation, 0xfe/0xff
  [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0x80], [0xbf, 0x41], [0xfe], [0xff], [0x41, 0xc3],
];

test('the edge cases: the same text, or both reject', () => {
  for (const e of EDGES) assert.equal(ours(Uint8Array.from(e)), referenceDecode(Uint8Array.from(e)), JSON.stringify(e));
});

test('a leading U+FEFF is kept, as with ignoreBOM', () => {
  assert.equal(decodeUtf8Strict(Uint8Array.from([0xef, 0xbb, 0xbf, 0x41])), '\ufeffA');
});

test('a view into a larger buffer decodes only its own bytes', () => {
  const whole = new TextEncoder().encode('xxhé🙂yy');
  assert.equal(decodeUtf8Strict(whole.subarray(2, whole.length - 2)), 'hé🙂');
});

test('random bytes and random text: the same as TextDecoder fatal', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => ours(b) === referenceDecode(b)), { numRuns: 20_000 });
  fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
    const b = new TextEncoder().encode(s);
    return ours(b) === s && referenceDecode(b) === s;
  }), { numRuns: 5_000 });
});
