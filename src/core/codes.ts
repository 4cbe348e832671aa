/**
 * Contact codes: what a user gives a contact out of band (ARCHITECTURE.md "Identity, contacts, safety
 * numbers"; byte layout in docs/protocol.md).
 *
 *   code = bech32m(hrp = "ec", data = toWords(0x01 ‖ X25519 public key))      (BIP 350, 62 characters)
 *
 * Decoding does its own checks in a fixed order so that each failure has its own code, and never leans
 * on the wording of @scure/base's errors:
 *   1. shape: printable ASCII, not mixed case, at most 90 characters, a separator, bech32 alphabet
 *      → CODE_MALFORMED
 *   2. bech32m checksum over the whole string, prefix included → CODE_BAD_CHECKSUM. It comes before the
 *      prefix check so that a typo in "ec" is reported as a typo, and every single-character
 *      substitution inside the alphabet is CODE_BAD_CHECKSUM (bech32m detects up to 4 substitutions in
 *      strings this short).
 *   3. prefix → CODE_BAD_PREFIX; payload length → CODE_BAD_LENGTH; version byte → CODE_BAD_VERSION
 *   4. the key must not have small order → CODE_LOW_ORDER_KEY
 */
import { bech32m } from '@scure/base';
import { assertBytes, fromHex } from './bytes.ts';
import { CryptoError, UsageError } from './errors.ts';
import { x25519, x25519FromSecret, X25519_KEY_SIZE } from './x25519.ts';

/** Human-readable prefix: "ec" for Entrechat. */
export const CONTACT_CODE_PREFIX = 'ec';
/** First data byte: the version of the code's layout. */
export const CONTACT_CODE_VERSION = 0x01;
/** Version byte plus the public key. */
export const CONTACT_CODE_DATA_BYTES = 1 + X25519_KEY_SIZE;
/** hrp (2) + "1" + ceil(33 × 8 / 5) = 53 data characters + 6 checksum characters. */
export const CONTACT_CODE_LENGTH = CONTACT_CODE_PREFIX.length + 1 + Math.ceil((CONTACT_CODE_DATA_BYTES * 8) / 5) + 6;
/** BIP 173 caps a bech32 string at 90 characters; the checksum guarantees only hold below that. */
export const BECH32_MAX_LENGTH = 90;

const BECH32_ALPHABET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const BECH32_CHECKSUM_CHARS = 6;

/**
 * Every encoding of a Curve25519 u-coordinate of small order (orders 1, 2, 4, 8 on the curve and on its
 * twist), as listed by Bernstein ("Curve25519: how do I validate Curve25519 public keys?") and used by
 * libsodium: 0, 1, the two points of order 8, p − 1, and the non-canonical p and p + 1. X25519 ignores
 * the top bit (RFC 7748 §5), so each is compared with bit 255 cleared: 14 encodings in all.
 */
const SMALL_ORDER_KEYS: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000', // 0
  '0100000000000000000000000000000000000000000000000000000000000000', // 1
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p − 1
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p, non-canonical 0
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p + 1, non-canonical 1
].map(fromHex);

/**
 * A fixed, non-secret X25519 scalar for the second small-order check: multiplying by it (it is clamped
 * to a multiple of 8) sends every point of order 1, 2, 4 or 8 to zero, and no point of large prime
 * order, since the scalar is not a multiple of either large prime.
 */
const PROBE_SCALAR = fromHex('0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20');

/** True when `key` is one of the small-order encodings, top bit ignored (static list only). */
export function isSmallOrderKey(key: Uint8Array): boolean {
  assertBytes(key, 'key', X25519_KEY_SIZE);
  return SMALL_ORDER_KEYS.some((bad) => {
    let diff = (bad[31] ?? 0) ^ ((key[31] ?? 0) & 0x7f);
    for (let i = 0; i < 31; i++) diff |= (bad[i] ?? 0) ^ (key[i] ?? 0);
    return diff === 0;
  });
}

/**
 * True when X25519 of `key` with a fixed scalar is all zero, i.e. `key` has small order (RFC 7748 §6.1).
 * Independent of the static list: it also covers any encoding the list might have missed.
 */
export function isSmallOrderByProbe(key: Uint8Array): boolean {
  assertBytes(key, 'key', X25519_KEY_SIZE);
  const probe = x25519FromSecret(PROBE_SCALAR);
  try {
    x25519(probe.privateKey, key).fill(0);
    return false;
  } catch (cause) {
    if (cause instanceof CryptoError && cause.code === 'BAD_PUBLIC_KEY') return true;
    throw cause;
  }
}

/**
 * Refuses a small-order key twice over: by the static list, then by the X25519 probe, so that a gap in
 * either check is covered by the other.
 * @throws UsageError CODE_LOW_ORDER_KEY
 */
export function assertNotSmallOrder(key: Uint8Array): void {
  if (isSmallOrderKey(key) || isSmallOrderByProbe(key)) {
    throw new UsageError('CODE_LOW_ORDER_KEY', 'contact key has small order');
  }
}

/**
 * The contact code of an X25519 public key: lowercase bech32m, 62 characters. The key is not checked
 * for small order here (our own keys come from clamped secrets); {@link decodeContactCode} checks it.
 * @throws TypeError / RangeError when `publicKey` is not 32 bytes
 */
export function encodeContactCode(publicKey: Uint8Array): string {
  assertBytes(publicKey, 'publicKey', X25519_KEY_SIZE);
  const data = new Uint8Array(CONTACT_CODE_DATA_BYTES);
  data[0] = CONTACT_CODE_VERSION;
  data.set(publicKey, 1);
  return bech32m.encode(CONTACT_CODE_PREFIX, bech32m.toWords(data), BECH32_MAX_LENGTH);
}

/**
 * The 32-byte X25519 public key in a contact code. Surrounding whitespace is ignored; the code may be
 * all lowercase or all uppercase (BIP 173), never mixed.
 * @throws UsageError CODE_MALFORMED, CODE_BAD_CHECKSUM, CODE_BAD_PREFIX, CODE_BAD_LENGTH,
 *   CODE_BAD_VERSION, CODE_LOW_ORDER_KEY (in that order of checking)
 * @throws TypeError when `text` is not a string
 */
export function decodeContactCode(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  const code = text.trim();

  // 1. Shape (BIP 173 "Bech32" section): everything before the checksum can be judged.
  if (code.length > BECH32_MAX_LENGTH) throw malformed('longer than 90 characters');
  for (let i = 0; i < code.length; i++) {
    const c = code.charCodeAt(i);
    if (c < 33 || c > 126) throw malformed('not printable ASCII');
  }
  const lower = code.toLowerCase();
  if (code !== lower && code !== code.toUpperCase()) throw malformed('mixed case');
  const sep = lower.lastIndexOf('1');
  if (sep < 1) throw malformed('no prefix or separator');
  const data = lower.slice(sep + 1);
  if (data.length < BECH32_CHECKSUM_CHARS) throw malformed('too short');
  for (const ch of data) if (!BECH32_ALPHABET.includes(ch)) throw malformed('character outside the bech32 alphabet');

  // 2. Checksum. Every other reason decodeUnsafe could fail for was ruled out above.
  const decoded = bech32m.decodeUnsafe(lower, BECH32_MAX_LENGTH);
  if (decoded === undefined) throw new UsageError('CODE_BAD_CHECKSUM', 'contact code checksum does not match: a typo?');

  // 3. Prefix, length, version.
  if (decoded.prefix !== CONTACT_CODE_PREFIX) throw new UsageError('CODE_BAD_PREFIX', 'not an Entrechat contact code (prefix)');
  if (decoded.words.length !== Math.ceil((CONTACT_CODE_DATA_BYTES * 8) / 5)) {
    throw new UsageError('CODE_BAD_LENGTH', 'contact code has the wrong length');
  }
  const bytes = bech32m.fromWordsUnsafe(decoded.words);
  // 53 words carry 265 bits: the spare bit must be zero (BIP 173 conversion rules).
  if (bytes === undefined || bytes.length !== CONTACT_CODE_DATA_BYTES) throw malformed('non-zero padding bits');
  if (bytes[0] !== CONTACT_CODE_VERSION) throw new UsageError('CODE_BAD_VERSION', 'unknown contact code version');

  // 4. The key itself.
  const key = bytes.slice(1);
  assertNotSmallOrder(key);
  return key;
}

function malformed(why: string): UsageError {
  return new UsageError('CODE_MALFORMED', `not a contact code: ${why}`);
}
