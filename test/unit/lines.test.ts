/** Lines of standard input for `talk --json`: ended by \n or \r\n only, in any chunking. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineSplitter } from '../../src/cli/lines.ts';
import { MAX_MESSAGE_BYTES } from '../../src/core/limits.ts';

const enc = new TextEncoder();

function split(chunks: Uint8Array[]): string[] {
  const s = new LineSplitter();
  const out = chunks.flatMap((c) => s.push(c));
  const last = s.end();
  return last === null ? out : [...out, last];
}

test('a lone \\r stays in the line; \\n and \\r\\n end it; a last line without an end is kept', () => {
  assert.deepEqual(split([enc.encode('a\rb\nc\r\nd')]), ['a\rb', 'c', 'd']);
  assert.deepEqual(split([enc.encode('\r')]), ['\r']);
  assert.deepEqual(split([enc.encode('x\n\n')]), ['x', '']);
  assert.deepEqual(split([]), []);
});

test('a line longer than any message is kept only past the message limit, however long, and the next line is whole', () => {
  const s = new LineSplitter();
  const chunk = enc.encode('x'.repeat(64 * 1024));
  for (let i = 0; i < 64; i++) assert.deepEqual(s.push(chunk), []);
  const [long, next] = s.push(enc.encode('yy\nnext\n'));
  assert.ok(long !== undefined && long.length > MAX_MESSAGE_BYTES && long.length <= MAX_MESSAGE_BYTES + 2, 'cut, and still too long to send');
  assert.equal(next, 'next');
});

test('property: any chunking, split inside \\r\\n or inside a UTF-8 sequence, gives the same lines', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constantFrom('\r', '\n', '\r\n', 'é', '𝄞', 'a'), fc.string()), { maxLength: 30 }),
      fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 20 }),
      (parts, cuts) => {
        const bytes = enc.encode(parts.join(''));
        const chunks: Uint8Array[] = [];
        for (let at = 0, k = 0; at < bytes.length; k++) {
          const n = cuts[k % cuts.length] ?? 1;
          chunks.push(bytes.subarray(at, at + n));
          at += n;
        }
        assert.deepEqual(split(chunks), split([bytes]));
        const text = parts.join('');
        const expected = text === '' ? [] : text.split('\n').map((l, i, all) => (i < all.length - 1 && l.endsWith('\r') ? l.slice(0, -1) : l));
        if (text.endsWith('\n')) expected.pop();
        assert.deepEqual(split([bytes]), expected);
      },
    ),
  );
});
