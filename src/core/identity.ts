/**
 * An identity is one X25519 static key pair (ARCHITECTURE.md "Identity, contacts, safety numbers").
 *
 * The 32 secret bytes come from the caller (core/ draws no randomness); the key pair is made through
 * core/x25519.ts, never generateKeyPairSync + JWK export (that pair deadlocks Node 20, STYLE.md).
 */
import { assertBytes, isZero, wipe } from './bytes.ts';
import { InternalError } from './errors.ts';
import { x25519FromSecret, X25519_KEY_SIZE, type X25519Key } from './x25519.ts';

export interface Identity {
  /** The raw 32-byte secret, kept so that the store can save it; wipe it with {@link wipeIdentity}. */
  readonly secret: Uint8Array;
  /** The raw 32-byte X25519 public key: what the contact code carries. */
  readonly publicKey: Uint8Array;
  /** The imported private key, ready for DH. */
  readonly key: X25519Key;
}

/**
 * Makes the identity for 32 secret bytes (fresh random bytes from the caller, or the stored secret).
 * The secret is copied: the caller may wipe its buffer afterwards.
 * @throws TypeError / RangeError when `secret` is not 32 bytes
 * @throws InternalError when `secret` is all zero (a broken random source, never a real key)
 */
export function identityFromSecret(secret: Uint8Array): Identity {
  assertBytes(secret, 'secret', X25519_KEY_SIZE);
  if (isZero(secret)) throw new InternalError('identity secret is all zero: the random source is broken');
  const own = secret.slice();
  const key = x25519FromSecret(own);
  return { secret: own, publicKey: key.publicKey, key };
}

/** Zeroes the raw secret of an identity (the KeyObject itself cannot be zeroed from JavaScript). */
export function wipeIdentity(identity: Identity): void {
  wipe(identity.secret);
}
