import { SMALL_ORDER_KEYS } from '../helpers/small-order.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { equalBytes, fromHex, hex, isZero } from '../../src/core/bytes.ts';
import {
  CipherState, createHandshake, ENTRECHAT_NOISE_HASH, NOISE_HASHES, NOISE_MAX_HANDSHAKE_PAYLOAD, NOISE_MAX_MESSAGE,
  NOISE_MAX_NONCE, NOISE_MAX_PLAINTEXT, noiseProtocolName, SECRETS_FOR_TEST,
  type HandshakeState, type NoiseHash, type SplitResult,
} from '../../src/core/noise.ts';
import { x25519FromSecret, x25519PublicKey, type X25519Key } from '../../src/core/x25519.ts';

const EMPTY = new Uint8Array(0);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const keyPair = (): X25519Key => x25519FromSecret(randomBytes(32));

interface Pair {
  readonly a: X25519Key;
  readonly b: X25519Key;
  readonly init: HandshakeState;
  readonly resp: HandshakeState;
}

/** A fresh initiator/responder pair; `random` defaults to fresh randomness. */
function makePair(hash: NoiseHash, options: {
  prologue?: Uint8Array; respPrologue?: Uint8Array; initRs?: Uint8Array; respRs?: Uint8Array;
  a?: X25519Key; b?: X25519Key; initRandom?: (n: number) => Uint8Array; respRandom?: (n: number) => Uint8Array;
} = {}): Pair {
  const a = options.a ?? keyPair();
  const b = options.b ?? keyPair();
  const prologue = options.prologue ?? utf8('entrechat/1 test');
  const init = createHandshake({
    hash, initiator: true, prologue, s: a, rs: options.initRs ?? b.publicKey, random: options.initRandom ?? randomBytes,
  });
  const resp = createHandshake({
    hash, initiator: false, prologue: options.respPrologue ?? prologue, s: b, rs: options.respRs ?? a.publicKey,
    random: options.respRandom ?? randomBytes,
  });
  return { a, b, init, resp };
}

function handshake(p: Pair, p1: Uint8Array = EMPTY, p2: Uint8Array = EMPTY): { i: SplitResult; r: SplitResult } {
  assert.deepEqual(p.resp.readMessage(p.init.writeMessage(p1)), p1);
  assert.deepEqual(p.init.readMessage(p.resp.writeMessage(p2)), p2);
  return { i: p.init.split(), r: p.resp.split() };
}

/** Always the same bytes, in a fresh array each call (the handshake zeroes what it is given). */
const fixedRandom = (byte: number) => (n: number): Uint8Array => new Uint8Array(n).fill(byte);

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  assert.ok(bit >= 0 && bit < bytes.length * 8, `bit ${bit} is outside the message`);
  const out = Uint8Array.from(bytes);
  out[bit >> 3] = (out[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return out;
}

function allZero(state: HandshakeState): void {
  const secrets = state[SECRETS_FOR_TEST]();
  for (const [name, bytes] of Object.entries(secrets)) assert.ok(isZero(bytes), `${name} is not zero`);
}

// --- names and layout ---

test('protocol names and the hash Entrechat uses', () => {
  assert.equal(ENTRECHAT_NOISE_HASH, 'BLAKE2s');
  assert.equal(noiseProtocolName(ENTRECHAT_NOISE_HASH), 'Noise_KK_25519_ChaChaPoly_BLAKE2s');
  assert.deepEqual(NOISE_HASHES.map(noiseProtocolName), [
    'Noise_KK_25519_ChaChaPoly_BLAKE2s', 'Noise_KK_25519_ChaChaPoly_BLAKE2b',
    'Noise_KK_25519_ChaChaPoly_SHA256', 'Noise_KK_25519_ChaChaPoly_SHA512',
  ]);
  assert.equal(NOISE_MAX_NONCE, 18446744073709551615n);
});

// --- round trips ---

for (const hash of NOISE_HASHES) {
  test(`${hash}: handshake and transport round trip, payloads of several sizes, both directions`, () => {
    for (const size of [0, 1, 31, 450, 1000, NOISE_MAX_HANDSHAKE_PAYLOAD]) {
      const p = makePair(hash);
      assert.equal(p.init.complete, false);
      const p1 = randomBytes(size);
      const p2 = randomBytes(Math.max(0, size - 1));
      const m1 = p.init.writeMessage(p1);
      assert.equal(m1.length, 32 + size + 16, 'message 1 is e ‖ ciphertext ‖ tag');
      assert.deepEqual(p.resp.readMessage(m1), new Uint8Array(p1));
      const m2 = p.resp.writeMessage(p2);
      assert.equal(m2.length, 32 + p2.length + 16);
      assert.deepEqual(p.init.readMessage(m2), new Uint8Array(p2));
      assert.equal(p.init.complete, true);
      assert.equal(p.resp.complete, true);
      const i = p.init.split();
      const r = p.resp.split();
      assert.deepEqual(i.handshakeHash, r.handshakeHash);
      assert.equal(i.handshakeHash.length, hash.endsWith('s') || hash === 'SHA256' ? 32 : 64);
      for (let k = 0; k < 5; k++) {
        const x = randomBytes(Math.min(size * k, NOISE_MAX_PLAINTEXT));
        const cx = i.send.encrypt(x);
        assert.equal(cx.length, x.length + 16);
        assert.deepEqual(r.recv.decrypt(cx), new Uint8Array(x));
        const y = randomBytes(k);
        assert.deepEqual(i.recv.decrypt(r.send.encrypt(y)), new Uint8Array(y));
      }
      assert.equal(i.send.nonce, 5n);
      assert.equal(r.recv.nonce, 5n);
    }
  });
}

test('transport: associated data must match', () => {
  const { i, r } = handshake(makePair(ENTRECHAT_NOISE_HASH));
  const c = i.send.encrypt(utf8('text'), utf8('ad'));
  assert.throws(() => r.recv.decrypt(c, utf8('AD')), { code: 'DECRYPT_FAILED' });
  assert.deepEqual(r.recv.decrypt(c, utf8('ad')), utf8('text'));
});

test('two handshakes between the same keys give different transport keys (fresh ephemerals)', () => {
  const a = keyPair();
  const b = keyPair();
  const first = handshake(makePair(ENTRECHAT_NOISE_HASH, { a, b }));
  const second = handshake(makePair(ENTRECHAT_NOISE_HASH, { a, b }));
  assert.notDeepEqual(first.i.handshakeHash, second.i.handshakeHash);
  const c = first.i.send.encrypt(utf8('x'));
  assert.throws(() => second.r.recv.decrypt(c), { code: 'DECRYPT_FAILED' });
});

test('property: random payload sequences in both directions round-trip in order', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...NOISE_HASHES),
      fc.uint8Array({ maxLength: 600 }),
      fc.uint8Array({ maxLength: 600 }),
      fc.array(fc.record({ fromInitiator: fc.boolean(), payload: fc.uint8Array({ maxLength: 1200 }), ad: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 20 }),
      (hash, p1, p2, script) => {
        const { i, r } = handshake(makePair(hash), p1, p2);
        for (const { fromInitiator, payload, ad } of script) {
          const [send, recv] = fromInitiator ? [i.send, r.recv] : [r.send, i.recv];
          const c = send.encrypt(payload, ad);
          assert.deepEqual(recv.decrypt(c, ad), payload);
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('property: any bit flip in a transport message is rejected without advancing the nonce', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (payload, bitSeed) => {
      const { i, r } = handshake(makePair(ENTRECHAT_NOISE_HASH));
      const c = i.send.encrypt(payload);
      assert.throws(() => r.recv.decrypt(flipBit(c, bitSeed % (c.length * 8))), { code: 'DECRYPT_FAILED' });
      assert.equal(r.recv.nonce, 0n);
      assert.deepEqual(r.recv.decrypt(c), payload);
    }),
    { numRuns: 40 },
  );
});

// --- authentication failures ---

test('wrong remote static key on the initiator side: the responder cannot read message 1', () => {
  const p = makePair(ENTRECHAT_NOISE_HASH, { initRs: keyPair().publicKey });
  const m1 = p.init.writeMessage(utf8('hi'));
  assert.throws(() => p.resp.readMessage(m1), { code: 'DECRYPT_FAILED' });
});

test('wrong remote static key on the responder side: message 1 fails (ss differs)', () => {
  const p = makePair(ENTRECHAT_NOISE_HASH, { respRs: keyPair().publicKey });
  const m1 = p.init.writeMessage(utf8('hi'));
  assert.throws(() => p.resp.readMessage(m1), { code: 'DECRYPT_FAILED' });
});

test('different prologues: message 1 fails', () => {
  const p = makePair(ENTRECHAT_NOISE_HASH, { prologue: utf8('entrechat/1 a'), respPrologue: utf8('entrechat/1 b') });
  assert.throws(() => p.resp.readMessage(p.init.writeMessage(EMPTY)), { code: 'DECRYPT_FAILED' });
});

test('an impostor without the expected responder\'s secret cannot read message 1', () => {
  const a = keyPair();
  const b = keyPair();
  const mallory = keyPair();
  const init = createHandshake({ hash: 'BLAKE2s', initiator: true, prologue: EMPTY, s: a, rs: b.publicKey, random: randomBytes });
  const impostor = createHandshake({ hash: 'BLAKE2s', initiator: false, prologue: EMPTY, s: mallory, rs: a.publicKey, random: randomBytes });
  const m1 = init.writeMessage(EMPTY);
  // es and ss need b's secret.
  assert.throws(() => impostor.readMessage(m1), { code: 'DECRYPT_FAILED' });
});

test('every single bit flip in handshake message 1 is rejected', () => {
  const a = keyPair();
  const b = keyPair();
  const payload = utf8('payload 1');
  const m1 = makePair(ENTRECHAT_NOISE_HASH, { a, b, initRandom: fixedRandom(7) }).init.writeMessage(payload);
  for (let bit = 0; bit < m1.length * 8; bit++) {
    const { resp } = makePair(ENTRECHAT_NOISE_HASH, { a, b });
    assert.throws(() => resp.readMessage(flipBit(m1, bit)), { code: 'DECRYPT_FAILED' }, `bit ${bit}`);
  }
  // The unmodified message is accepted, so the rejections above are the bit flips' doing.
  const { resp } = makePair(ENTRECHAT_NOISE_HASH, { a, b });
  assert.deepEqual(resp.readMessage(m1), payload);
});

test('every single bit flip in handshake message 2 is rejected', () => {
  const a = keyPair();
  const b = keyPair();
  const fresh = (): Pair => makePair(ENTRECHAT_NOISE_HASH, { a, b, initRandom: fixedRandom(7), respRandom: fixedRandom(9) });
  const reference = fresh();
  reference.resp.readMessage(reference.init.writeMessage(EMPTY));
  const m2 = reference.resp.writeMessage(utf8('payload 2'));
  for (let bit = 0; bit < m2.length * 8; bit++) {
    const p = fresh();
    p.init.writeMessage(EMPTY);
    assert.throws(() => p.init.readMessage(flipBit(m2, bit)), { code: 'DECRYPT_FAILED' }, `bit ${bit}`);
  }
  const p = fresh();
  p.init.writeMessage(EMPTY);
  assert.deepEqual(p.init.readMessage(m2), utf8('payload 2'));
});

test('transport: replayed, reordered and dropped messages are rejected; the nonce does not move on failure', () => {
  const { i, r } = handshake(makePair(ENTRECHAT_NOISE_HASH));
  const c0 = i.send.encrypt(utf8('zero'));
  const c1 = i.send.encrypt(utf8('one'));
  const c2 = i.send.encrypt(utf8('two'));
  assert.throws(() => r.recv.decrypt(c1), { code: 'DECRYPT_FAILED' }, 'reordered');
  assert.equal(r.recv.nonce, 0n);
  assert.deepEqual(r.recv.decrypt(c0), utf8('zero'));
  assert.throws(() => r.recv.decrypt(c0), { code: 'DECRYPT_FAILED' }, 'replayed');
  assert.throws(() => r.recv.decrypt(c2), { code: 'DECRYPT_FAILED' }, 'c1 dropped');
  assert.deepEqual(r.recv.decrypt(c1), utf8('one'));
  assert.deepEqual(r.recv.decrypt(c2), utf8('two'));
  // A message sent in one direction does not decrypt in the other (different keys).
  const back = r.send.encrypt(utf8('x'));
  assert.throws(() => r.recv.decrypt(back), { code: 'DECRYPT_FAILED' });
});

/** Those X25519 itself maps to zero (the non-canonical p and p + 1 reduce to 0 and 1 too). */
const SMALL_ORDER = SMALL_ORDER_KEYS.slice(0, 5);

test('a small-order ephemeral key in either message is refused with BAD_PUBLIC_KEY', () => {
  for (const low of SMALL_ORDER) {
    const p = makePair(ENTRECHAT_NOISE_HASH);
    const m1 = p.init.writeMessage(EMPTY);
    const bad1 = Uint8Array.from(m1);
    bad1.set(fromHex(low));
    assert.throws(() => p.resp.readMessage(bad1), { code: 'BAD_PUBLIC_KEY' }, `message 1, ${low}`);
    allZero(p.resp);

    const q = makePair(ENTRECHAT_NOISE_HASH);
    q.resp.readMessage(q.init.writeMessage(EMPTY));
    const bad2 = Uint8Array.from(q.resp.writeMessage(EMPTY));
    bad2.set(fromHex(low));
    assert.throws(() => q.init.readMessage(bad2), { code: 'BAD_PUBLIC_KEY' }, `message 2, ${low}`);
    allZero(q.init);
  }
});

test('a small-order remote static key fails the first write with BAD_PUBLIC_KEY', () => {
  const p = makePair(ENTRECHAT_NOISE_HASH, { initRs: fromHex(SMALL_ORDER[1]!) });
  assert.throws(() => p.init.writeMessage(EMPTY), { code: 'BAD_PUBLIC_KEY' });
  assert.throws(() => p.init.writeMessage(EMPTY), { code: 'HANDSHAKE_STATE' });
  allZero(p.init);
});

// --- state machine ---

test('out-of-turn calls throw HANDSHAKE_STATE and leave the handshake usable', () => {
  const p = makePair(ENTRECHAT_NOISE_HASH);
  assert.throws(() => p.init.readMessage(new Uint8Array(48)), { code: 'HANDSHAKE_STATE' });
  assert.throws(() => p.resp.writeMessage(EMPTY), { code: 'HANDSHAKE_STATE' });
  assert.throws(() => p.init.split(), { code: 'HANDSHAKE_STATE' });
  const m1 = p.init.writeMessage(EMPTY);
  assert.throws(() => p.init.writeMessage(EMPTY), { code: 'HANDSHAKE_STATE' });
  assert.throws(() => p.resp.split(), { code: 'HANDSHAKE_STATE' });
  p.resp.readMessage(m1);
  assert.throws(() => p.resp.readMessage(m1), { code: 'HANDSHAKE_STATE' });
  const m2 = p.resp.writeMessage(EMPTY);
  assert.throws(() => p.resp.writeMessage(EMPTY), { code: 'HANDSHAKE_STATE' }, 'after completion');
  assert.throws(() => p.resp.readMessage(m2), { code: 'HANDSHAKE_STATE' }, 'after completion');
  p.init.readMessage(m2);
  assert.throws(() => p.init.writeMessage(EMPTY), { code: 'HANDSHAKE_STATE' }, 'after completion');
  const i = p.init.split();
  const r = p.resp.split();
  assert.throws(() => p.init.split(), { code: 'HANDSHAKE_STATE' }, 'split twice');
  assert.deepEqual(r.recv.decrypt(i.send.encrypt(utf8('still fine'))), utf8('still fine'));
});

test('a failed read leaves the handshake unusable', () => {
  const p = makePair(ENTRECHAT_NOISE_HASH);
  const m1 = p.init.writeMessage(EMPTY);
  assert.throws(() => p.resp.readMessage(flipBit(m1, 300)), { code: 'DECRYPT_FAILED' });
  assert.throws(() => p.resp.readMessage(m1), { code: 'HANDSHAKE_STATE' }, 'no retry with the right message');
  assert.throws(() => p.resp.writeMessage(EMPTY), { code: 'HANDSHAKE_STATE' });
  assert.throws(() => p.resp.split(), { code: 'HANDSHAKE_STATE' });
  assert.equal(p.resp.complete, false);
});

test('boundary validation: types and lengths', () => {
  const p = makePair(ENTRECHAT_NOISE_HASH);
  assert.throws(() => p.init.writeMessage('hi' as unknown as Uint8Array), TypeError);
  assert.throws(() => p.init.writeMessage(new Uint8Array(NOISE_MAX_HANDSHAKE_PAYLOAD + 1)), RangeError);
  const m1 = p.init.writeMessage(EMPTY); // the rejected calls above changed nothing
  assert.throws(() => p.resp.readMessage([1, 2, 3] as unknown as Uint8Array), TypeError);
  assert.deepEqual(p.resp.readMessage(m1), EMPTY);

  const short = makePair(ENTRECHAT_NOISE_HASH);
  assert.throws(() => short.resp.readMessage(short.init.writeMessage(EMPTY).subarray(0, 47)), { code: 'DECRYPT_FAILED' });
  const long = makePair(ENTRECHAT_NOISE_HASH);
  long.init.writeMessage(EMPTY);
  assert.throws(() => long.resp.readMessage(new Uint8Array(NOISE_MAX_MESSAGE + 1)), { code: 'DECRYPT_FAILED' });

  const a = keyPair();
  const base = { hash: 'BLAKE2s', initiator: true, prologue: EMPTY, s: a, rs: keyPair().publicKey, random: randomBytes } as const;
  assert.throws(() => createHandshake({ ...base, hash: 'MD5' as NoiseHash }), TypeError);
  assert.throws(() => createHandshake({ ...base, rs: new Uint8Array(31) }), RangeError);
  assert.throws(() => createHandshake({ ...base, prologue: 'x' as unknown as Uint8Array }), TypeError);
  assert.throws(() => createHandshake({ ...base, e: new Uint8Array(33) }), RangeError);
  assert.throws(() => createHandshake({ ...base, s: { privateKey: x25519PublicKey(a.publicKey), publicKey: a.publicKey } }), TypeError);
  const badRandom = createHandshake({ ...base, random: () => new Uint8Array(16) });
  assert.throws(() => badRandom.writeMessage(EMPTY), RangeError);

  const { i, r } = handshake(makePair(ENTRECHAT_NOISE_HASH));
  assert.throws(() => i.send.encrypt(new Uint8Array(NOISE_MAX_PLAINTEXT + 1)), RangeError);
  assert.equal(i.send.encrypt(new Uint8Array(NOISE_MAX_PLAINTEXT)).length, NOISE_MAX_MESSAGE);
  assert.throws(() => r.recv.decrypt(new Uint8Array(15)), { code: 'DECRYPT_FAILED' });
  assert.throws(() => r.recv.decrypt(new Uint8Array(NOISE_MAX_MESSAGE + 1)), { code: 'DECRYPT_FAILED' });
  assert.equal(r.recv.nonce, 0n);
});

// --- secret hygiene ---

test('secret hygiene: ephemeral secret, ck, k zero after completion (and not before)', () => {
  const p = makePair(ENTRECHAT_NOISE_HASH);
  const initSecrets = p.init[SECRETS_FOR_TEST]();
  const respSecrets = p.resp[SECRETS_FOR_TEST]();
  assert.equal(p.init[SECRETS_FOR_TEST]().ck, initSecrets.ck, 'the accessor returns the live arrays');
  assert.ok(!isZero(initSecrets.ck), 'ck starts as the protocol name hash');
  p.resp.readMessage(p.init.writeMessage(utf8('one')));
  // Mid-handshake the keys are live (so the zero checks below can fail) …
  assert.ok(!isZero(initSecrets.ck) && !isZero(initSecrets.k));
  assert.ok(!isZero(respSecrets.ck) && !isZero(respSecrets.k));
  // … and the ephemeral secret bytes are already gone: zeroed right after import.
  assert.ok(isZero(initSecrets.e));
  p.init.readMessage(p.resp.writeMessage(utf8('two')));
  allZero(p.init);
  allZero(p.resp);
  assert.equal(p.init[SECRETS_FOR_TEST]().ck, initSecrets.ck);
});

test('secret hygiene: the random bytes handed in for the ephemeral are zeroed', () => {
  const drawn: Uint8Array[] = [];
  const random = (n: number): Uint8Array => {
    const out = randomBytes(n);
    drawn.push(out);
    return out;
  };
  const p = makePair(ENTRECHAT_NOISE_HASH, { initRandom: random, respRandom: random });
  handshake(p);
  assert.equal(drawn.length, 2);
  for (const d of drawn) assert.ok(isZero(d));
});

test('secret hygiene: zero after a failed read, on either message', () => {
  const p = makePair(ENTRECHAT_NOISE_HASH);
  const m1 = p.init.writeMessage(EMPTY);
  assert.throws(() => p.resp.readMessage(flipBit(m1, 300)), { code: 'DECRYPT_FAILED' });
  allZero(p.resp);

  const q = makePair(ENTRECHAT_NOISE_HASH);
  q.resp.readMessage(q.init.writeMessage(EMPTY));
  const m2 = q.resp.writeMessage(EMPTY);
  assert.ok(!isZero(q.init[SECRETS_FOR_TEST]().ck));
  assert.throws(() => q.init.readMessage(flipBit(m2, 300)), { code: 'DECRYPT_FAILED' });
  allZero(q.init);
});

test('secret hygiene: wipe() abandons a handshake mid-way, or before split', () => {
  const p = makePair(ENTRECHAT_NOISE_HASH);
  p.resp.readMessage(p.init.writeMessage(EMPTY));
  p.init.wipe();
  allZero(p.init);
  assert.throws(() => p.init.readMessage(p.resp.writeMessage(EMPTY)), { code: 'HANDSHAKE_STATE' });

  const q = makePair(ENTRECHAT_NOISE_HASH);
  q.resp.readMessage(q.init.writeMessage(EMPTY));
  q.init.readMessage(q.resp.writeMessage(EMPTY));
  q.init.wipe();
  assert.throws(() => q.init.split(), { code: 'HANDSHAKE_STATE' });
});

test('secret hygiene: CipherState.wipe() zeroes the transport key and refuses further use', () => {
  const { i, r } = handshake(makePair(ENTRECHAT_NOISE_HASH));
  const c = i.send.encrypt(utf8('before'));
  const key = i.send[SECRETS_FOR_TEST]().k;
  assert.ok(!isZero(key));
  assert.equal(i.send.wiped, false);
  i.send.wipe();
  assert.equal(i.send.wiped, true);
  assert.ok(isZero(key));
  assert.throws(() => i.send.encrypt(utf8('after')), { code: 'HANDSHAKE_STATE' });
  r.recv.wipe();
  assert.throws(() => r.recv.decrypt(c), { code: 'HANDSHAKE_STATE' });
  i.send.wipe(); // idempotent
});

// --- nonces ---

test('nonce exhaustion: n = 2^64 - 1 is reserved', () => {
  const key = randomBytes(32);
  const sender = new CipherState(Uint8Array.from(key));
  const receiver = new CipherState(Uint8Array.from(key));
  sender.setNonce(NOISE_MAX_NONCE - 1n);
  receiver.setNonce(NOISE_MAX_NONCE - 1n);
  assert.deepEqual(receiver.decrypt(sender.encrypt(utf8('last'))), utf8('last'));
  assert.equal(sender.nonce, NOISE_MAX_NONCE);
  assert.throws(() => sender.encrypt(utf8('one more')), { code: 'NONCE_EXHAUSTED' });
  assert.throws(() => receiver.decrypt(new Uint8Array(16)), { code: 'NONCE_EXHAUSTED' });
});

test('setNonce only moves forward, within 64 bits', () => {
  const cs = new CipherState(randomBytes(32));
  cs.setNonce(5n);
  assert.throws(() => { cs.setNonce(4n); }, RangeError);
  assert.throws(() => { cs.setNonce(NOISE_MAX_NONCE + 1n); }, RangeError);
  cs.encrypt(EMPTY);
  assert.throws(() => { cs.setNonce(5n); }, RangeError, 'a used nonce cannot come back');
});

test('nonce layout: 4 zero bytes, then the counter as 64-bit little-endian (Noise §12.3)', () => {
  const key = randomBytes(32);
  const cs = new CipherState(Uint8Array.from(key));
  const n = 0x0102030405060708n;
  cs.setNonce(n);
  const plaintext = utf8('nonce check');
  const ad = utf8('ad');
  const ours = cs.encrypt(plaintext, ad);
  const cipher = createCipheriv('chacha20-poly1305', key, fromHex('000000000807060504030201'), { authTagLength: 16 });
  cipher.setAAD(ad, { plaintextLength: plaintext.length });
  const expected = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  assert.equal(hex(ours), hex(expected));
});

// --- independent composition ---

/**
 * Noise_KK_25519_ChaChaPoly_BLAKE2s written from the spec with other primitives: @noble/curves X25519,
 * @noble/hashes BLAKE2s and RFC 5869 HKDF (Noise's HKDF is RFC 5869 with salt = ck, empty info);
 * only ChaCha20-Poly1305 is node's.
 */
function referenceKK(v: {
  prologue: Uint8Array; initS: Uint8Array; respS: Uint8Array; initE: Uint8Array; respE: Uint8Array; p1: Uint8Array; p2: Uint8Array;
}): { m1: Uint8Array; m2: Uint8Array; hh: Uint8Array; k1: Uint8Array; k2: Uint8Array } {
  const cat = (...xs: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(xs));
  const dh = (sk: Uint8Array, pk: Uint8Array): Uint8Array => nobleX25519.getSharedSecret(sk, pk);
  const pub = (sk: Uint8Array): Uint8Array => nobleX25519.getPublicKey(sk);
  let h = blake2s(utf8('Noise_KK_25519_ChaChaPoly_BLAKE2s'));
  let ck = h;
  let k = new Uint8Array(32);
  const mixHash = (x: Uint8Array): void => { h = blake2s(cat(h, x)); };
  const mixKey = (ikm: Uint8Array): void => {
    const out = hkdf(blake2s, ikm, ck, undefined, 64);
    ck = out.slice(0, 32);
    k = out.slice(32, 64);
  };
  const seal = (x: Uint8Array): Uint8Array => {
    const c = createCipheriv('chacha20-poly1305', k, new Uint8Array(12), { authTagLength: 16 });
    c.setAAD(h, { plaintextLength: x.length });
    const out = cat(c.update(x), c.final(), c.getAuthTag());
    mixHash(out);
    return out;
  };
  mixHash(v.prologue);
  mixHash(pub(v.initS));
  mixHash(pub(v.respS));
  // -> e, es, ss
  mixHash(pub(v.initE));
  mixKey(dh(v.initE, pub(v.respS)));
  mixKey(dh(v.initS, pub(v.respS)));
  const m1 = cat(pub(v.initE), seal(v.p1));
  // <- e, ee, se
  mixHash(pub(v.respE));
  mixKey(dh(v.respE, pub(v.initE)));
  mixKey(dh(v.respE, pub(v.initS)));
  const m2 = cat(pub(v.respE), seal(v.p2));
  const keys = hkdf(blake2s, EMPTY, ck, undefined, 64);
  return { m1, m2, hh: h, k1: keys.slice(0, 32), k2: keys.slice(32) };
}

test('cross-check: agrees with an independent composition (noble X25519, BLAKE2s, HKDF) on random inputs', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }),
      (initS, respS, initE, respE, prologue, p1, p2) => {
        const ref = referenceKK({ prologue, initS, respS, initE, respE, p1, p2 });
        const a = x25519FromSecret(initS);
        const b = x25519FromSecret(respS);
        const init = createHandshake({ hash: 'BLAKE2s', initiator: true, prologue, s: a, rs: b.publicKey, random: () => Uint8Array.from(initE) });
        const resp = createHandshake({ hash: 'BLAKE2s', initiator: false, prologue, s: b, rs: a.publicKey, random: () => Uint8Array.from(respE) });
        const m1 = init.writeMessage(p1);
        assert.equal(hex(m1), hex(ref.m1));
        resp.readMessage(m1);
        const m2 = resp.writeMessage(p2);
        assert.equal(hex(m2), hex(ref.m2));
        init.readMessage(m2);
        const i = init.split();
        assert.equal(hex(i.handshakeHash), hex(ref.hh));
        assert.equal(hex(i.send[SECRETS_FOR_TEST]().k), hex(ref.k1));
        assert.equal(hex(i.recv[SECRETS_FOR_TEST]().k), hex(ref.k2));
      },
    ),
    { numRuns: 40 },
  );
});

// --- the worked example in docs/protocol.md ---

/** `label   hex` lines of the worked example in docs/protocol.md. */
function docValues(): Map<string, string> {
  const text = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const values = new Map<string, string>();
  for (const match of text.matchAll(/^(\S.*?)\s{2,}([0-9a-f]{16,})$/gm)) values.set(match[1]!.trim(), match[2]!);
  return values;
}

test('docs/protocol.md worked example is what the code produces', () => {
  const doc = docValues();
  const get = (label: string): string => {
    const value = doc.get(label);
    assert.ok(value !== undefined, `docs/protocol.md lacks "${label}"`);
    return value;
  };
  const initS = fromHex(get('initiator static secret (TEST VALUE)'));
  const respS = fromHex(get('responder static secret (TEST VALUE)'));
  const initE = fromHex(get('initiator ephemeral secret (TEST VALUE)'));
  const respE = fromHex(get('responder ephemeral secret (TEST VALUE)'));
  assert.equal(hex(initS), '11'.repeat(32));
  assert.equal(hex(respS), '22'.repeat(32));
  assert.equal(hex(initE), '33'.repeat(32));
  assert.equal(hex(respE), '44'.repeat(32));
  const prologue = utf8('entrechat/1 worked example');
  const p1 = utf8('hello, listener');
  const p2 = utf8('hello, dialer');
  assert.equal(get('prologue'), hex(prologue));
  assert.equal(get('payload 1'), hex(p1));
  assert.equal(get('payload 2'), hex(p2));

  const a = x25519FromSecret(initS);
  const b = x25519FromSecret(respS);
  assert.equal(get('initiator static public'), hex(a.publicKey));
  assert.equal(get('responder static public'), hex(b.publicKey));
  const init = createHandshake({ hash: ENTRECHAT_NOISE_HASH, initiator: true, prologue, s: a, rs: b.publicKey, random: () => Uint8Array.from(initE) });
  const resp = createHandshake({ hash: ENTRECHAT_NOISE_HASH, initiator: false, prologue, s: b, rs: a.publicKey, random: () => Uint8Array.from(respE) });
  const m1 = init.writeMessage(p1);
  assert.equal(get('message 1'), hex(m1));
  assert.equal(get('message 1: e'), hex(m1.subarray(0, 32)));
  assert.equal(get('message 1: encrypted payload and tag'), hex(m1.subarray(32)));
  resp.readMessage(m1);
  const m2 = resp.writeMessage(p2);
  assert.equal(get('message 2'), hex(m2));
  init.readMessage(m2);
  const i = init.split();
  const r = resp.split();
  assert.ok(equalBytes(i.handshakeHash, r.handshakeHash));
  assert.equal(get('handshake hash'), hex(i.handshakeHash));
  assert.equal(get('first transport message, initiator to responder'), hex(i.send.encrypt(utf8('hi'))));
  assert.equal(get('first transport message, responder to initiator'), hex(r.send.encrypt(utf8('hi'))));
  // The same values from the independent composition.
  const ref = referenceKK({ prologue, initS, respS, initE, respE, p1, p2 });
  assert.equal(hex(ref.m1), hex(m1));
  assert.equal(hex(ref.hh), hex(i.handshakeHash));
});
