import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agreeLimits, decodeHello, encodeHello, prologue, PROTOCOL_VERSION } from '../../src/core/hello.ts';
import { HANDSHAKE_PAYLOAD_SIZE, IDLE_DEFAULT, IDLE_MIN, MAX_SESSION_DEFAULT } from '../../src/core/limits.ts';
import { hex } from '../../src/core/bytes.ts';

const limits = { idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT };

test('hello round-trips and has the documented layout', () => {
  const bytes = encodeHello(limits);
  assert.equal(bytes.length, HANDSHAKE_PAYLOAD_SIZE);
  assert.equal(hex(bytes.subarray(0, 9)), '0100000384' + '00001c20'); // v1, 900 s, 7200 s
  assert.deepEqual(decodeHello(bytes), limits);
});

test('the stricter proposal wins on both sides', () => {
  const a = { idle: IDLE_MIN, maxSession: MAX_SESSION_DEFAULT };
  const b = { idle: IDLE_DEFAULT, maxSession: 60 * 60 * 1000 };
  assert.deepEqual(agreeLimits(a, b), { idle: IDLE_MIN, maxSession: 60 * 60 * 1000 });
  assert.deepEqual(agreeLimits(a, b), agreeLimits(b, a));
});

test('prologue = label ‖ u32be(day) ‖ dialer onion ‖ listener onion', () => {
  const p = prologue(20_000, 'a'.repeat(56), 'b'.repeat(56));
  assert.equal(p.length, 11 + 4 + 112);
  assert.equal(hex(p.subarray(0, 15)), `${Buffer.from('entrechat/1').toString('hex')}00004e20`);
});

test('rejections: version, size, padding, limits out of bounds', () => {
  const v = encodeHello(limits);
  v[0] = PROTOCOL_VERSION + 1;
  assert.throws(() => decodeHello(v), { code: 'HANDSHAKE_BAD_VERSION' });
  assert.throws(() => decodeHello(new Uint8Array(HANDSHAKE_PAYLOAD_SIZE - 1)), { code: 'HANDSHAKE_BAD_PAYLOAD' });
  const pad = encodeHello(limits);
  pad[HANDSHAKE_PAYLOAD_SIZE - 1] = 1;
  assert.throws(() => decodeHello(pad), { code: 'HANDSHAKE_BAD_PAYLOAD' });
  const zeroIdle = encodeHello(limits);
  zeroIdle.fill(0, 1, 5);
  assert.throws(() => decodeHello(zeroIdle), { code: 'HANDSHAKE_BAD_PAYLOAD' });
  const huge = encodeHello(limits);
  huge.fill(0xff, 5, 9);
  assert.throws(() => decodeHello(huge), { code: 'HANDSHAKE_BAD_PAYLOAD' });
});
