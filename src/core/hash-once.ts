/**
 * One-shot hashing that runs on Node 18.20 too (nodejs-mobile's runtime, see docs/mobile.md).
 * `crypto.hash` (Node ≥ 20.12) hashes a buffer in one call without making a Hash object, measurably
 * faster for the many short hashes of a Noise handshake; Node 18 has only `createHash`. The function
 * is looked up on the module object (a named import of `hash` would fail to link on Node 18), and
 * either way the result is the same digest.
 */
import nodeCrypto, { createHash } from 'node:crypto';

/** `crypto.hash(algorithm, data, 'buffer')`'s shape. */
export type OneShotHash = (algorithm: string, data: Uint8Array, outputEncoding: 'buffer') => Buffer;

/** A one-shot hash through `oneShot` when the runtime has it, else through `createHash` (same digest). */
export function hashOnceWith(oneShot: OneShotHash | undefined): (algorithm: string, data: Uint8Array) => Buffer {
  if (typeof oneShot === 'function') return (algorithm, data) => oneShot(algorithm, data, 'buffer');
  return (algorithm, data) => createHash(algorithm).update(data).digest();
}

/** HASH(data) with a node:crypto algorithm name: `crypto.hash` where it exists (Node ≥ 20.12), else createHash. */
export const hashOnce = hashOnceWith((nodeCrypto as { readonly hash?: OneShotHash }).hash);
