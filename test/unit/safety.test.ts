import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { sha512 } from '@noble/hashes/sha2.js';
import { SAFETY_GROUPS, SAFETY_LABEL, safetyNumber, safetyNumberGroups } from '../../src/core/safety.ts';
import { compareBytes, concatBytes, fromHex } from '../../src/core/bytes.ts';

const ALICE = fromHex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
const BOB = fromHex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
/** Documented in docs/protocol.md. */
const ALICE_BOB = '05345 62154 71810 45511 05291 40762 63655 50446 23151 23751 98855 84022';

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** Independent reading of the spec in docs/protocol.md, with noble's SHA-512 and BigInt. */
function reference(a: Uint8Array, b: Uint8Array): string {
  const [lo, hi] = compareBytes(a, b) <= 0 ? [a, b] : [b, a];
  const h = sha512(concatBytes(new TextEncoder().encode('entrechat/1 safety'), lo, hi));
  const groups: string[] = [];
  for (let g = 0; g < 12; g++) {
    const v = BigInt('0x' + Buffer.from(h.subarray(5 * g, 5 * g + 5)).toString('hex')) % 100000n;
    groups.push(v.toString().padStart(5, '0'));
  }
  return groups.join(' ');
}

test('known answer for the RFC 7748 §6.1 key pair (docs/protocol.md)', () => {
  assert.equal(safetyNumber(ALICE, BOB), ALICE_BOB);
  assert.equal(safetyNumber(BOB, ALICE), ALICE_BOB);
  assert.deepEqual(safetyNumberGroups(ALICE, BOB), ALICE_BOB.split(' '));
  assert.equal(SAFETY_LABEL, 'entrechat/1 safety');
});

test('property: the same on both sides and equal to an independent implementation', () => {
  fc.assert(
    fc.property(key32, key32, (a, b) => {
      const ab = safetyNumber(a, b);
      assert.equal(safetyNumber(b, a), ab);
      assert.equal(ab, reference(a, b));
    }),
    { numRuns: 200 },
  );
});

test('shape: 12 groups of exactly 5 digits, single spaces', () => {
  for (let i = 0; i < 50; i++) {
    const groups = safetyNumberGroups(randomBytes(32), randomBytes(32));
    assert.equal(groups.length, SAFETY_GROUPS);
    for (const g of groups) assert.match(g, /^[0-9]{5}$/);
  }
  assert.match(safetyNumber(ALICE, BOB), /^[0-9]{5}( [0-9]{5}){11}$/);
});

test('different pairs give different numbers', () => {
  const carol = randomBytes(32);
  const seen = new Set([safetyNumber(ALICE, BOB), safetyNumber(ALICE, carol), safetyNumber(BOB, carol)]);
  assert.equal(seen.size, 3);
  // a single flipped bit in either key changes the number
  for (const bit of [0, 7, 100, 255]) {
    const flipped = ALICE.slice();
    flipped[bit >> 3] = flipped[bit >> 3]! ^ (1 << (bit & 7));
    assert.notEqual(safetyNumber(flipped, BOB), ALICE_BOB);
  }
});

test('boundary: wrong sizes are RangeErrors, wrong types TypeErrors', () => {
  assert.throws(() => safetyNumber(new Uint8Array(31), BOB), RangeError);
  assert.throws(() => safetyNumber(ALICE, new Uint8Array(33)), RangeError);
  assert.throws(() => safetyNumber('x' as unknown as Uint8Array, BOB), TypeError);
});
