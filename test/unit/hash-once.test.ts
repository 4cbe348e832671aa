/** hashOnce: crypto.hash where the runtime has it, createHash on Node 18; the same digests either way. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodeCrypto, { createHash, randomBytes } from 'node:crypto';
import { hashOnce, hashOnceWith, type OneShotHash } from '../../src/core/hash-once.ts';

const ALGORITHMS = ['blake2s256', 'blake2b512', 'sha256', 'sha512'];
const SIZES = [0, 1, 31, 32, 64, 65, 1024, 70_000];

test('without crypto.hash (Node 18), the fallback gives the same digests as createHash and as crypto.hash', () => {
  const native = (nodeCrypto as { hash?: OneShotHash }).hash;
  const fallback = hashOnceWith(undefined);
  for (const algorithm of ALGORITHMS) {
    for (const size of SIZES) {
      const data = randomBytes(size);
      const want = createHash(algorithm).update(data).digest();
      assert.deepEqual(fallback(algorithm, data), want, `${algorithm} ${size}`);
      assert.deepEqual(hashOnce(algorithm, data), want, `${algorithm} ${size}`);
      if (native !== undefined) assert.deepEqual(hashOnceWith(native)(algorithm, data), want);
    }
  }
});

test('the one-shot function is used when the runtime has it', () => {
  const calls: string[] = [];
  const fake: OneShotHash = (algorithm, data) => {
    calls.push(algorithm);
    return createHash(algorithm).update(data).digest();
  };
  hashOnceWith(fake)('sha256', new Uint8Array(3));
  assert.deepEqual(calls, ['sha256']);
});

test('an unknown algorithm is refused either way', () => {
  assert.throws(() => hashOnceWith(undefined)('no-such-hash', new Uint8Array(1)));
  assert.throws(() => hashOnce('no-such-hash', new Uint8Array(1)));
});
