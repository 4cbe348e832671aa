/**
 * Rendezvous derivations (ARCHITECTURE.md "Rendezvous"; every byte is written down, with worked
 * examples, in docs/protocol.md, and test/unit/derive.test.ts asserts the same values).
 *
 *   pair     = HKDF-SHA256(ikm = X25519(s_own, S_peer), salt = "entrechat/1 pair",  info = lo ‖ hi)
 *   onion_X  = HKDF-SHA256(ikm = pair, salt = "entrechat/1 onion", info = "onion" ‖ u32be(day) ‖ S_X)
 *   auth_X   = clamp(HKDF-SHA256(ikm = pair, salt = "entrechat/1 auth", info = "auth" ‖ u32be(day) ‖ S_X))
 *
 * (lo, hi = the two static public keys in byte order; every output is 32 bytes.) Peer X publishes the
 * onion whose ed25519 seed is onion_X, authorising the client key auth_Y of the other peer Y; it dials
 * Y's onion with its own auth_X. Both peers can compute all four values; nobody else can.
 *
 * Pure: HKDF, SHA-512, SHA3-256 and the ed25519 base-point multiplication are deterministic; time comes
 * in as `nowMs`. No key, seed or full onion address is ever put in an error message.
 */
import { createHash, createPrivateKey, createPublicKey, hkdfSync } from 'node:crypto';
import { base32, base32nopad } from '@scure/base';
import { assertBytes, base64, compareBytes, concatBytes, equalBytes, u32be, wipe } from './bytes.ts';
import { CryptoError, InternalError, UsageError } from './errors.ts';
import { DAY_OVERLAP_MS, ONION_VIRTUAL_PORT } from './limits.ts';
import { x25519, x25519FromSecret, X25519_KEY_SIZE, type X25519Key } from './x25519.ts';

// --- labels (ASCII; hex in docs/protocol.md) ---
export const PAIR_SALT = 'entrechat/1 pair';
export const ONION_SALT = 'entrechat/1 onion';
export const ONION_INFO_LABEL = 'onion';
export const AUTH_SALT = 'entrechat/1 auth';
export const AUTH_INFO_LABEL = 'auth';

/** Milliseconds in a UTC day (POSIX time has no leap seconds). */
export const DAY_MS = 86_400_000;
// Within DAY_OVERLAP_MS of UTC midnight the adjacent day is tried too (src/core/limits.ts).
export { DAY_OVERLAP_MS };
/** Days are encoded as big-endian u32. */
const MAX_DAY = 0xffff_ffff;

/** rend-spec-v3 §6 "Encoding onion addresses": 32-byte key ‖ 2-byte checksum ‖ version 0x03. */
export const ONION_VERSION = 0x03;
export const ONION_ADDRESS_LENGTH = 56;
// The virtual port of every rendezvous onion (src/core/limits.ts).
export { ONION_VIRTUAL_PORT };
const ONION_CHECKSUM_LABEL = '.onion checksum';
const ED25519_KEY_SIZE = 32;
/** tor's ed25519 "expanded secret key": clamped scalar (32, little-endian) ‖ PRF secret (32). */
export const ONION_EXPANDED_KEY_SIZE = 64;
const DERIVED_KEY_SIZE = 32;

const PLACEHOLDER_X = Buffer.alloc(ED25519_KEY_SIZE).toString('base64url');

function ascii(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'ascii'));
}

function hkdf32(ikm: Uint8Array, salt: string, info: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, ascii(salt), info, DERIVED_KEY_SIZE));
}

function assertDay(day: number): void {
  if (!Number.isInteger(day) || day < 0 || day > MAX_DAY) throw new RangeError('day must be an integer in [0, 2^32)');
}

function sorted(a: Uint8Array, b: Uint8Array): Uint8Array {
  return compareBytes(a, b) <= 0 ? concatBytes(a, b) : concatBytes(b, a);
}

/**
 * The pair secret, the same on both sides: HKDF-SHA256(X25519(s_own, S_peer), salt "entrechat/1 pair",
 * info = both public keys in byte order).
 * @throws UsageError CONTACT_IS_SELF when the peer's key is our own
 * @throws CryptoError BAD_PUBLIC_KEY when the peer's key has small order
 * @throws InternalError when `ownPublic` is not the public key of `own`
 */
export function pairSecret(own: X25519Key, ownPublic: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  assertBytes(ownPublic, 'ownPublic', X25519_KEY_SIZE);
  assertBytes(peerPublic, 'peerPublic', X25519_KEY_SIZE);
  if (!equalBytes(ownPublic, own.publicKey)) throw new InternalError('ownPublic is not the public key of own');
  if (equalBytes(ownPublic, peerPublic)) throw new UsageError('CONTACT_IS_SELF', 'a rendezvous needs two different keys');
  const shared = x25519(own.privateKey, peerPublic);
  try {
    return hkdf32(shared, PAIR_SALT, sorted(ownPublic, peerPublic));
  } finally {
    wipe(shared);
  }
}

/**
 * The UTC day number of a Unix time in milliseconds: floor(nowMs / 86 400 000).
 * @throws RangeError when `nowMs` is negative, not finite, or past the u32 day range
 */
export function utcDay(nowMs: number): number {
  if (!Number.isFinite(nowMs) || nowMs < 0) throw new RangeError('nowMs must be a finite, non-negative number');
  const day = Math.floor(nowMs / DAY_MS);
  if (day > MAX_DAY) throw new RangeError('nowMs is past the u32 day range');
  return day;
}

/**
 * The days to try at `nowMs`: today first, then the adjacent day when within {@link DAY_OVERLAP_MS} of
 * UTC midnight (strictly). Any two instants at most DAY_OVERLAP_MS apart share a day.
 */
export function rendezvousDays(nowMs: number): number[] {
  const day = utcDay(nowMs);
  const intoDay = nowMs - day * DAY_MS;
  const days = [day];
  if (intoDay < DAY_OVERLAP_MS && day > 0) days.push(day - 1);
  if (DAY_MS - intoDay < DAY_OVERLAP_MS && day < MAX_DAY) days.push(day + 1);
  return days;
}

/** The ed25519 seed of peer `ownerPublic`'s onion for `day`. */
export function onionSeed(pair: Uint8Array, day: number, ownerPublic: Uint8Array): Uint8Array {
  assertBytes(pair, 'pair', DERIVED_KEY_SIZE);
  assertDay(day);
  assertBytes(ownerPublic, 'ownerPublic', X25519_KEY_SIZE);
  return hkdf32(pair, ONION_SALT, concatBytes(ascii(ONION_INFO_LABEL), u32be(day), ownerPublic));
}

/**
 * tor's 64-byte expanded ed25519 secret key for a seed, as `ADD_ONION ED25519-V3:<base64>` takes it
 * (control-spec ADD_ONION: "the 32-byte ed25519 secret scalar in little-endian and the 32-byte ed25519
 * PRF secret"): h = SHA-512(seed); h[0] &= 248; h[31] &= 127; h[31] |= 64 (RFC 8032 §5.1.5).
 */
export function onionExpandedKey(seed: Uint8Array): Uint8Array {
  assertBytes(seed, 'seed', ED25519_KEY_SIZE);
  const h = new Uint8Array(createHash('sha512').update(seed).digest());
  h[0] = (h[0] ?? 0) & 248;
  h[31] = ((h[31] ?? 0) & 127) | 64;
  return h;
}

/**
 * The ed25519 public key of a seed (RFC 8032 §5.1.5), through node:crypto. Node wants `x` in a private
 * JWK but derives the public key from `d` (asserted in the tests against @noble/curves).
 */
export function onionPublicKey(seed: Uint8Array): Uint8Array {
  assertBytes(seed, 'seed', ED25519_KEY_SIZE);
  const d = Buffer.from(seed.buffer, seed.byteOffset, seed.byteLength).toString('base64url');
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x: PLACEHOLDER_X }, format: 'jwk' });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new CryptoError('BAD_PUBLIC_KEY', 'ed25519 public key export failed');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

function onionChecksum(publicKey: Uint8Array): Uint8Array {
  const h = createHash('sha3-256').update(ONION_CHECKSUM_LABEL, 'ascii').update(publicKey).update(Uint8Array.of(ONION_VERSION)).digest();
  return new Uint8Array(h.subarray(0, 2));
}

/**
 * The v3 onion address of an ed25519 public key, 56 lowercase base32 characters without ".onion"
 * (rend-spec-v3 §6): base32(PUBKEY ‖ CHECKSUM ‖ VERSION), CHECKSUM = SHA3-256(".onion checksum" ‖
 * PUBKEY ‖ VERSION)[:2], VERSION = 0x03.
 */
export function onionAddress(publicKey: Uint8Array): string {
  assertBytes(publicKey, 'publicKey', ED25519_KEY_SIZE);
  return base32.encode(concatBytes(publicKey, onionChecksum(publicKey), Uint8Array.of(ONION_VERSION))).toLowerCase();
}

/**
 * The ed25519 public key in a v3 onion address. Accepts surrounding whitespace, either case, and an
 * optional ".onion" suffix. The key is not checked to be a valid curve point (tor does that itself).
 * @throws UsageError BAD_ADDRESS for a wrong length, a non-base32 character, a wrong version or checksum
 */
export function parseOnionAddress(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  let s = text.trim().toLowerCase();
  if (s.endsWith('.onion')) s = s.slice(0, -'.onion'.length);
  if (s.length !== ONION_ADDRESS_LENGTH) throw new UsageError('BAD_ADDRESS', 'not a v3 onion address: wrong length');
  if (!/^[a-z2-7]+$/.test(s)) throw new UsageError('BAD_ADDRESS', 'not a v3 onion address: not base32');
  const raw = base32.decode(s.toUpperCase());
  const publicKey = raw.slice(0, ED25519_KEY_SIZE);
  if (raw[ED25519_KEY_SIZE + 2] !== ONION_VERSION) throw new UsageError('BAD_ADDRESS', 'not a v3 onion address: wrong version');
  if (!equalBytes(raw.subarray(ED25519_KEY_SIZE, ED25519_KEY_SIZE + 2), onionChecksum(publicKey))) {
    throw new UsageError('BAD_ADDRESS', 'not a v3 onion address: checksum does not match');
  }
  return publicKey;
}

/** The key blob of `ADD_ONION ED25519-V3:<blob>`: standard padded base64 of the 64-byte expanded key. */
export function onionExpandedKeyBase64(expandedKey: Uint8Array): string {
  assertBytes(expandedKey, 'expandedKey', ONION_EXPANDED_KEY_SIZE);
  return base64(expandedKey);
}

/** An x25519 client-authorization key pair (rend-spec-v3 "client authorization"). */
export interface ClientAuthKey {
  /** Clamped 32-byte secret: what `ONION_CLIENT_AUTH_ADD … x25519:<base64>` takes. */
  readonly secret: Uint8Array;
  /** 32-byte public key: what `ADD_ONION … ClientAuthV3=<base32>` takes. */
  readonly publicKey: Uint8Array;
}

/**
 * The client-authorization key of peer `ownerPublic` for `day`. The secret is clamped like tor's own
 * curve25519 keys (RFC 7748 §5); X25519 clamps anyway, so the public key is the same either way.
 */
export function clientAuthKey(pair: Uint8Array, day: number, ownerPublic: Uint8Array): ClientAuthKey {
  assertBytes(pair, 'pair', DERIVED_KEY_SIZE);
  assertDay(day);
  assertBytes(ownerPublic, 'ownerPublic', X25519_KEY_SIZE);
  const secret = hkdf32(pair, AUTH_SALT, concatBytes(ascii(AUTH_INFO_LABEL), u32be(day), ownerPublic));
  secret[0] = (secret[0] ?? 0) & 248;
  secret[31] = ((secret[31] ?? 0) & 127) | 64;
  return { secret, publicKey: x25519FromSecret(secret).publicKey };
}

/**
 * `ClientAuthV3=` value of ADD_ONION: base32 of the 32-byte x25519 public key, lowercase, unpadded,
 * 52 characters (tor's parse_authorized_client_key wants exactly BASE32_NOPAD_LEN(32) characters).
 */
export function clientAuthPublicBase32(publicKey: Uint8Array): string {
  assertBytes(publicKey, 'publicKey', X25519_KEY_SIZE);
  return base32nopad.encode(publicKey).toLowerCase();
}

/** Key blob of `ONION_CLIENT_AUTH_ADD <addr> x25519:<blob>`: standard padded base64 of the 32-byte secret. */
export function clientAuthSecretBase64(secret: Uint8Array): string {
  assertBytes(secret, 'secret', X25519_KEY_SIZE);
  return base64(secret);
}

/** What we publish for one day. */
export interface OwnOnion {
  /** Secret: the 64-byte expanded key for ADD_ONION. Wiped by {@link wipePlan}. */
  readonly expandedKey: Uint8Array;
  readonly publicKey: Uint8Array;
  /** 56 characters, no ".onion". Not to be logged in full. */
  readonly address: string;
}

/** What we dial for one day. */
export interface PeerOnion {
  readonly address: string;
}

export interface RendezvousDay {
  readonly day: number;
  /** Our onion: ADD_ONION with expandedKey, Flags=V3Auth, ClientAuthV3 = peerAuthPublic. */
  readonly ownOnion: OwnOnion;
  /** The peer's onion: dialled after ONION_CLIENT_AUTH_ADD with ownAuth. */
  readonly peerOnion: PeerOnion;
  /** auth_own: the key we present when dialling the peer's onion. Its secret is wiped by {@link wipePlan}. */
  readonly ownAuth: ClientAuthKey;
  /** Public half of auth_peer: the only client our onion admits. */
  readonly peerAuthPublic: Uint8Array;
}

export interface RendezvousPlan {
  /** Today first, then the adjacent day near midnight (see {@link rendezvousDays}). */
  readonly days: readonly RendezvousDay[];
}

export interface RendezvousInput {
  readonly own: X25519Key;
  readonly ownPublic: Uint8Array;
  readonly peerPublic: Uint8Array;
  readonly nowMs: number;
}

/**
 * Everything a peer needs to publish its onion and dial the other's, for every day to try at `nowMs`.
 * Intermediate secrets (pair secret, seeds, the peer's auth secret) are wiped before returning; the
 * plan's own secrets are wiped by {@link wipePlan}.
 * @throws as {@link pairSecret} and {@link utcDay}
 */
export function rendezvousPlan(input: RendezvousInput): RendezvousPlan {
  const { own, ownPublic, peerPublic, nowMs } = input;
  const dayList = rendezvousDays(nowMs);
  const pair = pairSecret(own, ownPublic, peerPublic);
  try {
    return { days: dayList.map((day) => planDay(pair, day, ownPublic, peerPublic)) };
  } finally {
    wipe(pair);
  }
}

function planDay(pair: Uint8Array, day: number, ownPublic: Uint8Array, peerPublic: Uint8Array): RendezvousDay {
  const ownSeed = onionSeed(pair, day, ownPublic);
  const peerSeed = onionSeed(pair, day, peerPublic);
  const peerAuth = clientAuthKey(pair, day, peerPublic);
  try {
    const ownOnionPublic = onionPublicKey(ownSeed);
    return {
      day,
      ownOnion: { expandedKey: onionExpandedKey(ownSeed), publicKey: ownOnionPublic, address: onionAddress(ownOnionPublic) },
      peerOnion: { address: onionAddress(onionPublicKey(peerSeed)) },
      ownAuth: clientAuthKey(pair, day, ownPublic),
      peerAuthPublic: peerAuth.publicKey,
    };
  } finally {
    wipe(ownSeed, peerSeed, peerAuth.secret);
  }
}

/** Zeroes every secret a plan holds: each day's expanded onion key and our client-auth secret. */
export function wipePlan(plan: RendezvousPlan): void {
  for (const d of plan.days) wipe(d.ownOnion.expandedKey, d.ownAuth.secret);
}
