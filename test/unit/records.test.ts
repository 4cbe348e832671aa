import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CLOSE_REASONS,
  decodeRecord,
  EMPTY_REASSEMBLY,
  encodeRecord,
  reassemble,
  RecordSplitter,
  textRecords,
  type SessionRecord,
} from '../../src/core/records.ts';
import {
  MAX_MESSAGE_BYTES,
  RECORD_MAX_BODY,
  RECORD_PLAINTEXT_SIZE,
  RECORD_SIZE,
  TEXT_CHUNK_BYTES,
} from '../../src/core/limits.ts';
import { createHandshake, ENTRECHAT_NOISE_HASH, type CipherState } from '../../src/core/noise.ts';
import { x25519FromSecret } from '../../src/core/x25519.ts';
import { seededRandom } from '../helpers/sim.ts';

const arbRecord: fc.Arbitrary<SessionRecord> = fc.oneof(
  fc.constantFrom<SessionRecord>({ type: 'COMMIT' }, { type: 'COMMIT_ACK' }, { type: 'PING' }, { type: 'PONG' }),
  fc.integer({ min: 0, max: 0xffff_ffff }).map((id): SessionRecord => ({ type: 'ACK', id })),
  fc.constantFrom(...(Object.keys(CLOSE_REASONS) as (keyof typeof CLOSE_REASONS)[])).map((reason): SessionRecord => ({ type: 'CLOSE', reason })),
  fc.record({
    id: fc.integer({ min: 1, max: 0xffff_ffff }),
    more: fc.boolean(),
    chunk: fc.uint8Array({ minLength: 1, maxLength: TEXT_CHUNK_BYTES }),
  }).map((r): SessionRecord => ({ type: 'TEXT', ...r, more: r.more && r.chunk.length === TEXT_CHUNK_BYTES })),
);

/** A connected pair of transport cipher states, as after a real handshake. */
function cipherPair(): { send: CipherState; recv: CipherState } {
  const random = seededRandom('records');
  const a = x25519FromSecret(random(32));
  const b = x25519FromSecret(random(32));
  const i = createHandshake({ hash: ENTRECHAT_NOISE_HASH, initiator: true, prologue: new Uint8Array(0), s: a, rs: b.publicKey, random });
  const r = createHandshake({ hash: ENTRECHAT_NOISE_HASH, initiator: false, prologue: new Uint8Array(0), s: b, rs: a.publicKey, random });
  r.readMessage(i.writeMessage(new Uint8Array(0)));
  i.readMessage(r.writeMessage(new Uint8Array(0)));
  return { send: i.split().send, recv: r.split().recv };
}

test('property: every record round-trips through its fixed-size plaintext', () => {
  fc.assert(
    fc.property(arbRecord, (record) => {
      const pt = encodeRecord(record);
      assert.equal(pt.length, RECORD_PLAINTEXT_SIZE);
      assert.deepEqual(decodeRecord(pt), record.type === 'TEXT' ? { ...record, chunk: Uint8Array.from(record.chunk) } : record);
    }),
  );
});

test('property: sealed records are all RECORD_SIZE bytes and any single bit flip is rejected', () => {
  const { send, recv } = cipherPair();
  fc.assert(
    fc.property(arbRecord, fc.nat(), (record, bit) => {
      const sealed = send.encrypt(encodeRecord(record));
      assert.equal(sealed.length, RECORD_SIZE);
      const flipped = Uint8Array.from(sealed);
      const at = bit % (RECORD_SIZE * 8);
      flipped[at >> 3]! ^= 1 << (at & 7);
      assert.throws(() => recv.decrypt(flipped), { code: 'DECRYPT_FAILED' });
      // The untouched record still opens: a failed decryption does not advance the nonce.
      assert.deepEqual(decodeRecord(recv.decrypt(sealed)).type, record.type);
    }),
    { numRuns: 200 },
  );
});

test('property: any chunking of a record stream gives the same records', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: RECORD_SIZE, maxLength: RECORD_SIZE }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 50 }),
      (records, cuts) => {
        const stream = Buffer.concat(records);
        const splitter = new RecordSplitter();
        const out: Uint8Array[] = [];
        let at = 0;
        for (let k = 0; at < stream.length; k++) {
          const n = cuts[k % cuts.length]!;
          out.push(...splitter.push(stream.subarray(at, at + n)));
          at += n;
        }
        assert.equal(splitter.pending, 0);
        assert.deepEqual(out.map((r) => Buffer.from(r).toString('hex')), records.map((r) => Buffer.from(r).toString('hex')));
      },
    ),
  );
});

test('the splitter works one byte at a time and reports a truncated tail', () => {
  const splitter = new RecordSplitter();
  const record = new Uint8Array(RECORD_SIZE).fill(9);
  let got: Uint8Array[] = [];
  for (const byte of record) got = got.concat(splitter.push(Uint8Array.of(byte)));
  assert.equal(got.length, 1);
  splitter.push(new Uint8Array(10));
  assert.equal(splitter.pending, 10);
});

test('text is split into records under the chunk size and reassembled exactly', () => {
  for (const text of ['a', 'x'.repeat(TEXT_CHUNK_BYTES), 'x'.repeat(TEXT_CHUNK_BYTES + 1), '€𝄞é'.repeat(1500)]) {
    const records = textRecords(1, text);
    let state = EMPTY_REASSEMBLY;
    let message: { id: number; text: string } | null = null;
    records.forEach((r, i) => {
      assert.ok(r.type === 'TEXT');
      assert.equal(r.more, i < records.length - 1);
      const decoded = decodeRecord(encodeRecord(r));
      assert.ok(decoded.type === 'TEXT');
      ({ state, message } = reassemble(state, decoded));
    });
    assert.deepEqual(message, { id: 1, text });
    assert.equal(state.lastId, 1);
  }
});

// --- one negative test per rejection path, asserted by code ---

function plaintext(type: number, flags: number, body: number[], pad: (pt: Uint8Array) => void = () => undefined): Uint8Array {
  const pt = new Uint8Array(RECORD_PLAINTEXT_SIZE);
  pt[0] = type;
  pt[1] = flags;
  new DataView(pt.buffer).setUint16(2, body.length);
  pt.set(body, 4);
  pad(pt);
  return pt;
}

test('rejections: type, flags, length, padding, bodies', () => {
  // Not a peer's fault: only a bug can hand over a plaintext of another size.
  assert.throws(() => decodeRecord(new Uint8Array(RECORD_PLAINTEXT_SIZE - 1)), RangeError);
  assert.throws(() => decodeRecord(plaintext(0, 0, [])), { code: 'RECORD_UNKNOWN_TYPE' });
  assert.throws(() => decodeRecord(plaintext(99, 0, [])), { code: 'RECORD_UNKNOWN_TYPE' });
  assert.throws(() => decodeRecord(plaintext(5, 1, [])), { code: 'RECORD_BAD_FLAGS' }); // MORE on PING
  assert.throws(() => decodeRecord(plaintext(3, 2, [0, 0, 0, 1, 65])), { code: 'RECORD_BAD_FLAGS' });
  const tooLong = plaintext(5, 0, []);
  new DataView(tooLong.buffer).setUint16(2, RECORD_MAX_BODY + 1);
  assert.throws(() => decodeRecord(tooLong), { code: 'RECORD_BAD_LENGTH' });
  assert.throws(() => decodeRecord(plaintext(5, 0, [], (pt) => { pt[RECORD_PLAINTEXT_SIZE - 1] = 1; })), { code: 'RECORD_NONZERO_PADDING' });
  assert.throws(() => decodeRecord(plaintext(5, 0, [1])), { code: 'RECORD_BAD_BODY' }); // PING with a body
  assert.throws(() => decodeRecord(plaintext(4, 0, [0, 0, 1])), { code: 'RECORD_BAD_BODY' }); // short ACK
  assert.throws(() => decodeRecord(plaintext(7, 0, [200])), { code: 'RECORD_BAD_BODY' }); // unknown CLOSE reason
  assert.throws(() => decodeRecord(plaintext(3, 0, [0, 0, 0, 1])), { code: 'RECORD_BAD_BODY' }); // TEXT without text
  assert.throws(() => decodeRecord(plaintext(3, 1, [0, 0, 0, 1, 65])), { code: 'RECORD_BAD_BODY' }); // MORE on a short part
});

test('the order of the record checks: the first failing one names the error (docs/protocol.md § Records)', () => {
  const badLength = (pt: Uint8Array) => { new DataView(pt.buffer).setUint16(2, RECORD_MAX_BODY + 1); };
  const badPadding = (pt: Uint8Array) => { pt[RECORD_PLAINTEXT_SIZE - 1] = 1; };
  // Each record below also breaks every later check.
  assert.throws(() => decodeRecord(plaintext(99, 2, [], (pt) => { badLength(pt); badPadding(pt); })), { code: 'RECORD_UNKNOWN_TYPE' });
  assert.throws(() => decodeRecord(plaintext(5, 1, [], (pt) => { badLength(pt); badPadding(pt); })), { code: 'RECORD_BAD_FLAGS' });
  assert.throws(() => decodeRecord(plaintext(5, 0, [], (pt) => { badLength(pt); badPadding(pt); })), { code: 'RECORD_BAD_LENGTH' });
  assert.throws(() => decodeRecord(plaintext(5, 0, [1], badPadding)), { code: 'RECORD_NONZERO_PADDING' }); // PING with a body, too
  assert.throws(() => decodeRecord(plaintext(7, 0, [200, 1])), { code: 'RECORD_BAD_BODY' });
});

test('reassembly rejections: ids, size limit, UTF-8', () => {
  const text = (id: number, more: boolean, chunk: Uint8Array) => ({ type: 'TEXT' as const, id, more, chunk });
  // Ids start at 1 and go up by one: anything else is refused.
  assert.throws(() => reassemble(EMPTY_REASSEMBLY, text(2, false, Uint8Array.of(65))), { code: 'MESSAGE_BAD_ID' }); // first id not 1
  assert.throws(() => reassemble(EMPTY_REASSEMBLY, text(0, false, Uint8Array.of(65))), { code: 'MESSAGE_BAD_ID' });
  const one = reassemble(EMPTY_REASSEMBLY, text(1, false, Uint8Array.of(65))).state;
  assert.throws(() => reassemble(one, text(1, false, Uint8Array.of(65))), { code: 'MESSAGE_BAD_ID' }); // replayed id
  assert.throws(() => reassemble(one, text(3, false, Uint8Array.of(65))), { code: 'MESSAGE_BAD_ID' }); // an id skipped
  const open = reassemble(one, text(2, true, Uint8Array.of(65))).state;
  assert.throws(() => reassemble(open, text(3, false, Uint8Array.of(65))), { code: 'MESSAGE_BAD_ID' }); // interleaved
  let big = EMPTY_REASSEMBLY;
  const chunk = new Uint8Array(TEXT_CHUNK_BYTES).fill(65);
  assert.throws(() => {
    for (let k = 0; k < Math.ceil(MAX_MESSAGE_BYTES / TEXT_CHUNK_BYTES) + 1; k++) big = reassemble(big, text(1, true, chunk)).state;
  }, { code: 'MESSAGE_OVER_LIMIT' });
  assert.throws(() => reassemble(EMPTY_REASSEMBLY, text(1, false, Uint8Array.of(0xc3))), { code: 'MESSAGE_BAD_UTF8' });
  assert.throws(() => reassemble(EMPTY_REASSEMBLY, text(1, false, Uint8Array.of(0xed, 0xa0, 0x80))), { code: 'MESSAGE_BAD_UTF8' }); // surrogate
});

test('sending rejections: empty and over-long messages', () => {
  assert.throws(() => textRecords(1, ''), { code: 'MESSAGE_EMPTY' });
  assert.throws(() => textRecords(1, 'x'.repeat(MAX_MESSAGE_BYTES + 1)), { code: 'MESSAGE_TOO_LONG' });
  assert.throws(() => textRecords(1, '€'.repeat(MAX_MESSAGE_BYTES / 3 + 1)), { code: 'MESSAGE_TOO_LONG' });
  assert.equal(textRecords(1, 'x'.repeat(MAX_MESSAGE_BYTES)).length, Math.ceil(MAX_MESSAGE_BYTES / TEXT_CHUNK_BYTES));
});

test('docs/protocol.md: the sealed TEXT example and every limit are what the code has', async () => {
  const { readFile } = await import('node:fs/promises');
  const limits = await import('../../src/core/limits.ts');
  const { CipherState } = await import('../../src/core/noise.ts');
  const doc = await readFile(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const flat = doc.replace(/\s+/g, '');
  const cs = new CipherState(Uint8Array.from({ length: 32 }, (_, i) => i));
  const sealed = cs.encrypt(encodeRecord({ type: 'TEXT', id: 1, more: false, chunk: new TextEncoder().encode('hi') }));
  assert.ok(flat.includes(Buffer.from(sealed).toString('hex')), 'sealed example');
  // Each in the Limits table itself, which says it lists every limit.
  const table = doc.slice(doc.indexOf('\n## Limits\n'), doc.indexOf('\n## ', doc.indexOf('\n## Limits\n') + 1));
  for (const name of Object.keys(limits)) {
    const row = new RegExp(`^\\| [^|]*\`${name}\`[^|]*\\|`, 'm'); // its own row, or a pair's (`X_MIN` / `X_MAX`)
    assert.ok(row.test(table), `${name} has a row in the Limits table`);
  }
});

test('a reused plaintext buffer is overwritten whole, padding included', () => {
  const scratch = new Uint8Array(RECORD_PLAINTEXT_SIZE);
  encodeRecord({ type: 'TEXT', id: 9, more: false, chunk: new Uint8Array(TEXT_CHUNK_BYTES).fill(0x7a) }, scratch);
  assert.deepEqual(decodeRecord(encodeRecord({ type: 'PING' }, scratch)), { type: 'PING' });
  assert.throws(() => encodeRecord({ type: 'PING' }, new Uint8Array(10)), RangeError);
});

test('received text is zeroed in the decrypted plaintext once reassembled, and on rejection', () => {
  const pt = encodeRecord({ type: 'TEXT', id: 1, more: false, chunk: new TextEncoder().encode('secret words') });
  const decoded = decodeRecord(pt);
  assert.ok(decoded.type === 'TEXT');
  assert.equal(reassemble(EMPTY_REASSEMBLY, decoded).message?.text, 'secret words');
  assert.ok(pt.subarray(8).every((b) => b === 0), 'no text left in the plaintext');

  const state = reassemble(EMPTY_REASSEMBLY, { type: 'TEXT', id: 1, more: false, chunk: Uint8Array.of(65) }).state;
  const again = encodeRecord({ type: 'TEXT', id: 1, more: false, chunk: new TextEncoder().encode('replayed text') });
  const replay = decodeRecord(again);
  assert.ok(replay.type === 'TEXT');
  assert.throws(() => reassemble(state, replay), { code: 'MESSAGE_BAD_ID' });
  assert.ok(again.subarray(8).every((b) => b === 0), 'rejected text zeroed too');
});
