import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { x25519, x25519FromSecret } from '../../src/core/x25519.ts';
import { fromHex, hex } from '../../src/core/bytes.ts';

test('RFC 7748 §6.1 vector: public keys and shared secret', () => {
  const a = x25519FromSecret(fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  const b = x25519FromSecret(fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
  assert.equal(hex(a.publicKey), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.equal(hex(b.publicKey), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const expected = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(hex(x25519(a.privateKey, b.publicKey)), expected);
  assert.equal(hex(x25519(b.privateKey, a.publicKey)), expected);
});

test('agrees with an independent implementation (@noble/curves) on random keys', () => {
  for (let i = 0; i < 20; i++) {
    const a = randomBytes(32);
    const b = randomBytes(32);
    const A = x25519FromSecret(a);
    const B = x25519FromSecret(b);
    assert.equal(hex(A.publicKey), hex(nobleX25519.getPublicKey(a)));
    assert.equal(hex(x25519(A.privateKey, B.publicKey)), hex(nobleX25519.getSharedSecret(a, B.publicKey)));
  }
});

test('a small-order public key is refused with BAD_PUBLIC_KEY', () => {
  const a = x25519FromSecret(randomBytes(32));
  for (const low of ['0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800']) {
    assert.throws(() => x25519(a.privateKey, fromHex(low)), { code: 'BAD_PUBLIC_KEY' });
  }
});

test('wrong key sizes are RangeErrors naming the argument', () => {
  assert.throws(() => x25519FromSecret(new Uint8Array(31)), RangeError);
});
