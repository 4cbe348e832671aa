import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { bech32, bech32m } from '@scure/base';
import { ed25519, x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import {
  BECH32_MAX_LENGTH,
  CONTACT_CODE_LENGTH,
  assertNotSmallOrder,
  decodeContactCode,
  encodeContactCode,
  isSmallOrderByProbe,
  isSmallOrderKey,
} from '../../src/core/codes.ts';
import { x25519, x25519FromSecret } from '../../src/core/x25519.ts';
import { SMALL_ORDER_KEYS } from '../helpers/small-order.ts';
import { concatBytes, fromHex, hex } from '../../src/core/bytes.ts';

const ALPHABET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const RFC7748_ALICE = fromHex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
/** Documented in docs/protocol.md. */
const ALICE_CODE = 'ec1qxzjpuqf3yc2w4r53d7aedp77adqm0e6p5nrsxh5awj2nr42nd8x5uvdfgs';

const SMALL_ORDER = SMALL_ORDER_KEYS;
const withTopBit = (h: string): Uint8Array => {
  const k = fromHex(h);
  k[31] = k[31]! | 0x80;
  return k;
};
const ALL_SMALL_ORDER = SMALL_ORDER.flatMap((h) => [fromHex(h), withTopBit(h)]);

/** A bech32m string with prefix "ec" (or another) over arbitrary data bytes. */
const codeOver = (data: Uint8Array, prefix = 'ec'): string => bech32m.encode(prefix, bech32m.toWords(data));
const v1 = (key: Uint8Array): Uint8Array => concatBytes(Uint8Array.of(0x01), key);

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((k) => !isSmallOrderKey(k));

test('known answer: contact code of the RFC 7748 §6.1 Alice key (docs/protocol.md)', () => {
  const code = encodeContactCode(RFC7748_ALICE);
  assert.equal(code, ALICE_CODE);
  assert.equal(code.length, CONTACT_CODE_LENGTH);
  assert.equal(CONTACT_CODE_LENGTH, 62);
  assert.equal(hex(decodeContactCode(code)), hex(RFC7748_ALICE));
});

test('the code is plain bech32m (BIP 350) of 0x01 ‖ key, as @scure/base decodes it', () => {
  const { prefix, bytes } = bech32m.decodeToBytes(ALICE_CODE);
  assert.equal(prefix, 'ec');
  assert.equal(hex(bytes), '01' + hex(RFC7748_ALICE));
});

test('property: encode/decode round trip for random keys', () => {
  fc.assert(
    fc.property(key32, (key) => {
      const code = encodeContactCode(key);
      assert.equal(code.length, CONTACT_CODE_LENGTH);
      assert.equal(hex(decodeContactCode(code)), hex(key));
    }),
    { numRuns: 300 },
  );
});

test('surrounding whitespace and an all-uppercase code are accepted', () => {
  assert.equal(hex(decodeContactCode(`  \t${ALICE_CODE}\n `)), hex(RFC7748_ALICE));
  assert.equal(hex(decodeContactCode(ALICE_CODE.toUpperCase())), hex(RFC7748_ALICE));
  assert.equal(hex(decodeContactCode(` ${ALICE_CODE.toUpperCase()}\r\n`)), hex(RFC7748_ALICE));
});

test('property: any single substitution inside the alphabet is CODE_BAD_CHECKSUM (prefix included)', () => {
  fc.assert(
    fc.property(key32, fc.nat(), fc.nat(), (key, posSeed, charSeed) => {
      const code = encodeContactCode(key);
      // every position but the separator "1" at index 2
      const positions = Array.from({ length: code.length }, (_, i) => i).filter((i) => i !== 2);
      const pos = positions[posSeed % positions.length]!;
      const choices = ALPHABET.split('').filter((c) => c !== code[pos]); // ASCII only
      const typo = code.slice(0, pos) + choices[charSeed % choices.length]! + code.slice(pos + 1);
      assert.throws(() => decodeContactCode(typo), { code: 'CODE_BAD_CHECKSUM' });
    }),
    { numRuns: 1000 },
  );
});

test('exhaustive: every single substitution of one code is CODE_BAD_CHECKSUM', () => {
  for (let pos = 0; pos < ALICE_CODE.length; pos++) {
    if (pos === 2) continue;
    for (const c of ALPHABET) {
      if (c === ALICE_CODE[pos]) continue;
      const typo = ALICE_CODE.slice(0, pos) + c + ALICE_CODE.slice(pos + 1);
      assert.throws(() => decodeContactCode(typo), { code: 'CODE_BAD_CHECKSUM' }, `position ${pos}`);
    }
  }
});

test('a swap of two adjacent characters is CODE_BAD_CHECKSUM', () => {
  const code = encodeContactCode(randomBytes(32));
  for (let i = 3; i < code.length - 1; i++) {
    if (code[i] === code[i + 1]) continue;
    const swapped = code.slice(0, i) + code[i + 1]! + code[i]! + code.slice(i + 2);
    assert.throws(() => decodeContactCode(swapped), { code: 'CODE_BAD_CHECKSUM' });
  }
});

test('a bech32 (BIP 173, not bech32m) checksum over the same data is CODE_BAD_CHECKSUM', () => {
  const legacy = bech32.encode('ec', bech32m.toWords(v1(RFC7748_ALICE)));
  assert.throws(() => decodeContactCode(legacy), { code: 'CODE_BAD_CHECKSUM' });
});

test('a valid bech32m string with another prefix is CODE_BAD_PREFIX', () => {
  for (const prefix of ['bc', 'ex', 'e', 'ecc', 'tb']) {
    assert.throws(() => decodeContactCode(codeOver(v1(RFC7748_ALICE), prefix)), { code: 'CODE_BAD_PREFIX' }, prefix);
  }
});

test('prefix characters need not be in the bech32 alphabet (BIP 173): any printable ASCII', () => {
  // `b`, `i`, `o`, `1` and punctuation are outside the data alphabet, yet a well-formed prefix.
  for (const prefix of ['eb', 'ei', 'eo', 'e1', 'e!', 'e~']) {
    assert.throws(() => decodeContactCode(codeOver(v1(RFC7748_ALICE), prefix)), { code: 'CODE_BAD_PREFIX' }, prefix);
  }
  // A typo in the prefix of a real code is caught by the checksum, whatever the printable character
  // (an uppercase letter in a lowercase code is mixed case: CODE_MALFORMED).
  for (let c = 33; c <= 126; c++) {
    const ch = String.fromCharCode(c);
    for (const at of [0, 1]) {
      if (ALICE_CODE[at] === ch) continue;
      const typo = ALICE_CODE.slice(0, at) + ch + ALICE_CODE.slice(at + 1);
      const code = ch >= 'A' && ch <= 'Z' ? 'CODE_MALFORMED' : 'CODE_BAD_CHECKSUM';
      assert.throws(() => decodeContactCode(typo), { code }, JSON.stringify(typo.slice(0, 3)));
    }
  }
});

test('a valid code whose payload is not 33 bytes is CODE_BAD_LENGTH', () => {
  for (const n of [0, 1, 20, 31, 33, 34, 40]) {
    const data = concatBytes(Uint8Array.of(0x01), randomBytes(n));
    assert.throws(() => decodeContactCode(codeOver(data)), { code: 'CODE_BAD_LENGTH' }, `${n}-byte key`);
  }
});

test('an unknown version byte is CODE_BAD_VERSION', () => {
  for (const version of [0x00, 0x02, 0x7f, 0xff]) {
    const data = concatBytes(Uint8Array.of(version), RFC7748_ALICE);
    assert.throws(() => decodeContactCode(codeOver(data)), { code: 'CODE_BAD_VERSION' }, `version ${version}`);
  }
});

test('every small-order key (and its top-bit variant) is CODE_LOW_ORDER_KEY', () => {
  assert.equal(ALL_SMALL_ORDER.length, 14);
  for (const key of ALL_SMALL_ORDER) {
    assert.ok(isSmallOrderKey(key), hex(key));
    assert.throws(() => decodeContactCode(encodeContactCode(key)), { code: 'CODE_LOW_ORDER_KEY' }, hex(key));
  }
});

test('the small-order list is right: X25519 of each with any scalar is all zero (node:crypto and noble)', () => {
  const k = x25519FromSecret(randomBytes(32));
  for (const key of ALL_SMALL_ORDER) {
    assert.throws(() => x25519(k.privateKey, key), { code: 'BAD_PUBLIC_KEY' });
    assert.throws(() => nobleX25519.scalarMult(randomBytes(32), key));
  }
});

test('the fixed probe scalar kills no large-order point: clamped, it is not a multiple of ℓ or ℓ′', () => {
  const p = 2n ** 255n - 19n;
  const l = ed25519.Point.Fn.ORDER;
  const lTwist = (2n * p + 2n - 8n * l) / 4n; // #E′ = 2(p + 1) − #E = 4ℓ′
  const probe = fromHex('0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20');
  probe[0] = probe[0]! & 248;
  probe[31] = (probe[31]! & 127) | 64;
  const k = BigInt('0x' + hex(probe.reverse()));
  assert.notEqual(k % l, 0n);
  assert.notEqual(k % lTwist, 0n);
});

test('each check alone catches every small-order key: the static list and the X25519 probe', () => {
  for (const key of ALL_SMALL_ORDER) {
    assert.equal(isSmallOrderKey(key), true, hex(key));
    assert.equal(isSmallOrderByProbe(key), true, hex(key));
    assert.throws(() => {
      assertNotSmallOrder(key);
    }, { code: 'CODE_LOW_ORDER_KEY' });
  }
});

test('random keys are not small order', () => {
  for (let i = 0; i < 50; i++) {
    const key = x25519FromSecret(randomBytes(32)).publicKey;
    assert.equal(isSmallOrderKey(key), false);
    assert.equal(isSmallOrderByProbe(key), false);
    assertNotSmallOrder(key);
  }
});

test('garbage, mixed case and over-long input are CODE_MALFORMED', () => {
  const cases: [string, string][] = [
    ['empty', ''],
    ['whitespace only', '   '],
    ['plain words', 'hello world'],
    ['no separator', 'ecqqqqqqqqqqqqqqqqqqq'],
    ['separator first', '1qqqqqqqqqqqqqqq'],
    ['too short after separator', 'ec1qqqqq'],
    ['mixed case', ALICE_CODE.slice(0, 10) + ALICE_CODE.slice(10).toUpperCase()],
    ['one uppercase letter', ALICE_CODE.slice(0, 20) + ALICE_CODE[20]!.toUpperCase() + ALICE_CODE.slice(21)],
    ['letter outside the alphabet (b)', ALICE_CODE.slice(0, 20) + 'b' + ALICE_CODE.slice(21)],
    ['letter outside the alphabet (o)', ALICE_CODE.slice(0, 20) + 'o' + ALICE_CODE.slice(21)],
    ['inner space', ALICE_CODE.slice(0, 20) + ' ' + ALICE_CODE.slice(20)],
    ['non-ASCII', ALICE_CODE.slice(0, 20) + 'é' + ALICE_CODE.slice(21)],
    ['over 90 characters', ALICE_CODE + 'q'.repeat(BECH32_MAX_LENGTH - ALICE_CODE.length + 1)],
    ['a hex key', hex(RFC7748_ALICE)],
  ];
  for (const [name, text] of cases) {
    assert.throws(() => decodeContactCode(text), { code: 'CODE_MALFORMED' }, name);
  }
});

test('a valid checksum over 53 words with a non-zero padding bit is CODE_MALFORMED', () => {
  const words = bech32m.toWords(v1(RFC7748_ALICE));
  words[words.length - 1] = words[words.length - 1]! | 1;
  assert.throws(() => decodeContactCode(bech32m.encode('ec', words)), { code: 'CODE_MALFORMED' });
});

test('boundary: non-string input is a TypeError, a wrong-size key a RangeError', () => {
  assert.throws(() => decodeContactCode(42 as unknown as string), TypeError);
  assert.throws(() => encodeContactCode(new Uint8Array(31)), RangeError);
  assert.throws(() => isSmallOrderKey(new Uint8Array(33)), RangeError);
});

test('error messages never carry the code or the key', () => {
  const typo = ALICE_CODE.slice(0, 30) + (ALICE_CODE[30] === 'q' ? 'p' : 'q') + ALICE_CODE.slice(31);
  try {
    decodeContactCode(typo);
    assert.fail('expected a throw');
  } catch (e) {
    assert.ok(e instanceof Error);
    assert.ok(!e.message.includes(typo.slice(3, 20)));
    assert.ok(!e.message.includes(hex(RFC7748_ALICE).slice(0, 16)));
  }
});
