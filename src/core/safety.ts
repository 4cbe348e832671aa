/**
 * Safety numbers: 60 decimal digits that both peers compare aloud once (ARCHITECTURE.md "Identity,
 * contacts, safety numbers"; byte layout and a worked example in docs/protocol.md).
 *
 *   lo, hi = the two X25519 public keys in lexicographic byte order
 *   h      = SHA-512("entrechat/1 safety" ‖ lo ‖ hi)
 *   group i (0 ≤ i < 12) = big-endian u40 of h[5i .. 5i+5) mod 100000, as 5 digits with leading zeros
 *
 * Sorting makes the number the same on both sides. One SHA-512, not Signal's 5200 iterations: Signal
 * iterates because each party's fingerprint there is only 30 digits (~100 bits); here all 60 digits
 * (~199 bits) bind both keys, so a man in the middle would need two key pairs whose numbers collide,
 * about 2^99 work.
 *
 * Bias: 2^40 = 10 995 116 × 100 000 + 27 776, so the residues below 27 776 come up 10 995 117 times in
 * 2^40 and the others 10 995 116 times: a relative excess of 1 / 10 995 116 ≈ 9·10⁻⁸ per group, far below
 * anything a reader comparing digits could exploit, hence no rejection sampling.
 */
import { createHash } from 'node:crypto';
import { assertBytes, compareBytes } from './bytes.ts';
import { X25519_KEY_SIZE } from './x25519.ts';

/** Domain-separation label hashed in front of the keys. */
export const SAFETY_LABEL = 'entrechat/1 safety';
/** Groups shown to the user: 12 × 5 digits, like Signal's safety numbers. */
export const SAFETY_GROUPS = 12;
export const SAFETY_GROUP_DIGITS = 5;
/** Hash bytes per group: 40 bits, reduced mod 10^5 (bias above). */
const BYTES_PER_GROUP = 5;
const GROUP_MODULUS = 100_000;

/**
 * The safety number of a pair as 12 groups of 5 digits, identical whichever key comes first.
 * @throws TypeError / RangeError when a key is not 32 bytes
 */
export function safetyNumberGroups(keyA: Uint8Array, keyB: Uint8Array): string[] {
  assertBytes(keyA, 'keyA', X25519_KEY_SIZE);
  assertBytes(keyB, 'keyB', X25519_KEY_SIZE);
  const [lo, hi] = compareBytes(keyA, keyB) <= 0 ? [keyA, keyB] : [keyB, keyA];
  const h = createHash('sha512').update(SAFETY_LABEL, 'ascii').update(lo).update(hi).digest();
  const groups: string[] = [];
  for (let g = 0; g < SAFETY_GROUPS; g++) {
    let v = 0;
    // 40-bit values stay exact in a double (< 2^53).
    for (let i = 0; i < BYTES_PER_GROUP; i++) v = v * 256 + (h[g * BYTES_PER_GROUP + i] ?? 0);
    groups.push(String(v % GROUP_MODULUS).padStart(SAFETY_GROUP_DIGITS, '0'));
  }
  return groups;
}

/** The safety number as one line: the 12 groups separated by single spaces. */
export function safetyNumber(keyA: Uint8Array, keyB: Uint8Array): string {
  return safetyNumberGroups(keyA, keyB).join(' ');
}
