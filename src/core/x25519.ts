/**
 * X25519 over node:crypto (RFC 7748), with raw 32-byte keys at the boundary.
 *
 * Keys are imported as JWK: about ten times faster than DER in Node 20. Never generateKeyPairSync +
 * JWK export (it deadlocks Node 20.20, see shared/STYLE.md): a private key is made from 32 bytes the
 * caller supplies (randomness is injected; core/ draws none itself).
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { assertBytes, isZero } from './bytes.ts';
import { CryptoError } from './errors.ts';

export const X25519_KEY_SIZE = 32;

/** A private key ready for DH, with its raw public key. The raw secret is not kept here. */
export interface X25519Key {
  readonly privateKey: KeyObject;
  readonly publicKey: Uint8Array;
}

// Node requires `x` in a private JWK but derives the public key from `d` (checked in the tests).
const PLACEHOLDER_X = Buffer.alloc(X25519_KEY_SIZE).toString('base64url');

function b64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Imports a 32-byte X25519 secret (clamped by X25519 itself, RFC 7748 §5). */
export function x25519FromSecret(secret: Uint8Array): X25519Key {
  assertBytes(secret, 'secret', X25519_KEY_SIZE);
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: b64u(secret), x: PLACEHOLDER_X },
    format: 'jwk',
  });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new CryptoError('BAD_PUBLIC_KEY', 'X25519 public key export failed');
  return { privateKey, publicKey: new Uint8Array(Buffer.from(jwk.x, 'base64url')) };
}

/** Imports a raw 32-byte X25519 public key. */
export function x25519PublicKey(publicKey: Uint8Array): KeyObject {
  assertBytes(publicKey, 'publicKey', X25519_KEY_SIZE);
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64u(publicKey) }, format: 'jwk' });
}

/**
 * X25519(private, public). An all-zero result means the public key has small order (RFC 7748 §6.1);
 * it is refused so that a peer cannot force a known shared secret.
 * @throws CryptoError BAD_PUBLIC_KEY
 */
export function x25519(privateKey: KeyObject, publicKey: KeyObject | Uint8Array): Uint8Array {
  const pub = publicKey instanceof Uint8Array ? x25519PublicKey(publicKey) : publicKey;
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey: pub });
  } catch (cause) {
    throw new CryptoError('BAD_PUBLIC_KEY', 'X25519 rejected the public key', { cause });
  }
  const out = new Uint8Array(shared);
  shared.fill(0);
  if (isZero(out)) throw new CryptoError('BAD_PUBLIC_KEY', 'X25519 public key has small order');
  return out;
}
