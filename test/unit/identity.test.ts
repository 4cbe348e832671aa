import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { identityFromSecret, wipeIdentity } from '../../src/core/identity.ts';
import { x25519 } from '../../src/core/x25519.ts';
import { fromHex, hex, isZero } from '../../src/core/bytes.ts';

test('RFC 7748 §6.1 secrets give the published public keys', () => {
  const a = identityFromSecret(fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  const b = identityFromSecret(fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
  assert.equal(hex(a.publicKey), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.equal(hex(b.publicKey), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  assert.equal(hex(a.key.publicKey), hex(a.publicKey));
  assert.equal(hex(x25519(a.key.privateKey, b.publicKey)), '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
});

test('agrees with @noble/curves on random secrets', () => {
  for (let i = 0; i < 10; i++) {
    const secret = randomBytes(32);
    assert.equal(hex(identityFromSecret(secret).publicKey), hex(nobleX25519.getPublicKey(secret)));
  }
});

test('the secret is copied: wiping the caller buffer leaves the identity intact', () => {
  const input = new Uint8Array(randomBytes(32));
  const id = identityFromSecret(input);
  const before = hex(input);
  input.fill(0);
  assert.equal(hex(id.secret), before);
});

test('wipeIdentity zeroes the raw secret', () => {
  const id = identityFromSecret(randomBytes(32));
  wipeIdentity(id);
  assert.ok(isZero(id.secret));
});

test('boundary: wrong size is a RangeError, all-zero secret is INTERNAL', () => {
  assert.throws(() => identityFromSecret(new Uint8Array(31)), RangeError);
  assert.throws(() => identityFromSecret(new Uint8Array(33)), RangeError);
  assert.throws(() => identityFromSecret('x' as unknown as Uint8Array), TypeError);
  assert.throws(() => identityFromSecret(new Uint8Array(32)), { code: 'INTERNAL' });
});
