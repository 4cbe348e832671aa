/**
 * The fuzz targets: every parser a peer, a tor, a file or a user can feed. Each one calls only public
 * functions (listed in `calls`), builds valid inputs with our own encoders and damages them with the
 * structured mutators of mutate.ts, and checks on every input: a typed error of the parser's fault
 * groups, or a valid result that survives a round trip through the matching encoder.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bech32, bech32m } from '@scure/base';
import fc from 'fast-check';
import { checkContactName } from '../../src/app/identity.ts';
import { decodeContactCode, encodeContactCode } from '../../src/core/codes.ts';
import { TorError, type ErrorCode } from '../../src/core/errors.ts';
import { decodeHello, encodeHello, prologue } from '../../src/core/hello.ts';
import { IDLE_MAX, IDLE_MIN, MAX_CONTROL_LINE, MAX_CONTROL_REPLY, MAX_MESSAGE_BYTES, MAX_SESSION_MAX, MAX_SESSION_MIN, RECORD_MAX_BODY, RECORD_SIZE, TEXT_CHUNK_BYTES } from '../../src/core/limits.ts';
import { CipherState, createHandshake, ENTRECHAT_NOISE_HASH } from '../../src/core/noise.ts';
import {
  CLOSE_REASONS,
  decodeRecord,
  EMPTY_REASSEMBLY,
  encodeRecord,
  reassemble,
  RecordSplitter,
  textRecords,
  wipeReassembly,
  type SessionRecord,
} from '../../src/core/records.ts';
import { x25519FromSecret } from '../../src/core/x25519.ts';
import { encodeContent, openStoreFile, parseStoreHeader, sealPlaintext, sealStoreFile, STORE_PAD_BLOCK, type HeaderFields, type StoreContent } from '../../src/store/format.ts';
import { deriveStoreKeys } from '../../src/store/kdf.ts';
import { parseKeyValues, quoteString, ReplyParser, type Reply } from '../../src/tor/control/reply.ts';
import { readTorConfig } from '../../src/tor/owner.ts';
import { readSocksServer, socksReplyCode } from '../../src/tor/socks.ts';
import { SMALL_ORDER_KEYS } from '../helpers/small-order.ts';
import { seededRandom } from '../helpers/sim.ts';
import { applyBytes, byteMutation, chunked, chunkSizes, mutatedBytes, mutatedText, type ByteMutation, type Field } from './mutate.ts';
import { attempt, expect, FuzzFailure, sameBytes, showBytes, showText, type FuzzTarget, type Outcome } from './target.ts';

const MAX_U32 = 0xffff_ffff;
const utf8 = new TextEncoder();
const noMutation = fc.constant([] as ByteMutation[]);
/** Mostly no damage at all, sometimes one to three mutations: for a second layer of damage (the wire under a valid plaintext). */
const rareMutations = (fields: readonly Field[] = []): fc.Arbitrary<ByteMutation[]> =>
  fc.oneof({ weight: 4, arbitrary: noMutation }, { weight: 1, arbitrary: fc.array(byteMutation(fields), { minLength: 1, maxLength: 3 }) });

function fromHexText(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

// --- records: splitter, decryption, decoder, reassembly ------------------------------------------------

/** Type, flags, body length, and the first body bytes (message id, close reason), with their edges. */
const RECORD_FIELDS: readonly Field[] = [
  { at: 0, size: 1, values: [0, 1, 2, 3, 4, 5, 6, 7, 8] },
  { at: 1, size: 1, values: [0, 1, 2, 3] },
  { at: 2, size: 2, values: [0, 1, 3, 4, 5, TEXT_CHUNK_BYTES, RECORD_MAX_BODY - 1, RECORD_MAX_BODY, RECORD_MAX_BODY + 1, RECORD_MAX_BODY + 4] },
  { at: 4, size: 4, values: [0, 1, 2, MAX_U32] },
  { at: 4, size: 1, values: [0, 1, 6, 7] },
];

type Segment =
  | { readonly kind: 'control'; readonly record: SessionRecord }
  | { readonly kind: 'message'; readonly delta: number; readonly text: string }
  | { readonly kind: 'raw'; readonly record: SessionRecord }
  | { readonly kind: 'over'; readonly delta: number; readonly parts: number };

const arbId = fc.oneof(fc.constantFrom(1, 2, MAX_U32 - 1, MAX_U32), fc.integer({ min: 1, max: MAX_U32 }));
const arbControl: fc.Arbitrary<SessionRecord> = fc.oneof(
  fc.constantFrom<SessionRecord>({ type: 'COMMIT' }, { type: 'COMMIT_ACK' }, { type: 'PING' }, { type: 'PONG' }),
  fc.oneof(arbId, fc.constant(0)).map((id): SessionRecord => ({ type: 'ACK', id })),
  fc.constantFrom(...(Object.keys(CLOSE_REASONS) as (keyof typeof CLOSE_REASONS)[])).map((reason): SessionRecord => ({ type: 'CLOSE', reason })),
);
const arbRawText: fc.Arbitrary<SessionRecord> = fc.record({
  id: arbId,
  more: fc.boolean(),
  chunk: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.uint8Array({ minLength: TEXT_CHUNK_BYTES, maxLength: TEXT_CHUNK_BYTES })),
}).map((r): SessionRecord => ({ type: 'TEXT', id: r.id, more: r.more && r.chunk.length === TEXT_CHUNK_BYTES, chunk: r.chunk }));
/** Message texts: mostly short, sometimes long enough to span many records, up to the limit. */
const arbMessageText = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 4000 })).map(([s, n]) => underLimit(s.repeat(n))) },
);

/** Cut to at most MAX_MESSAGE_BYTES of UTF-8 (textRecords refuses more: over-limit messages are made apart). */
function underLimit(text: string): string {
  let t = text;
  while (utf8.encode(t).length > MAX_MESSAGE_BYTES) t = t.slice(0, Math.floor(t.length * 0.9));
  return t;
}
const arbSegment: fc.Arbitrary<Segment> = fc.oneof(
  { weight: 3, arbitrary: arbControl.map((record): Segment => ({ kind: 'control', record })) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('message' as const), delta: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom(0, 2, 1000) }), text: arbMessageText }) },
  { weight: 1, arbitrary: arbRawText.map((record): Segment => ({ kind: 'raw', record })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('over' as const), delta: fc.constant(1), parts: fc.integer({ min: 1, max: Math.ceil(MAX_MESSAGE_BYTES / TEXT_CHUNK_BYTES) + 2 }) }) },
);

interface RecordsInput {
  readonly stream: Uint8Array;
  readonly chunks: readonly number[];
  /** Every record valid and in order, nothing damaged: the messages must arrive as sent. */
  readonly clean: boolean;
  readonly messages: readonly string[];
}

function recordsTarget(): FuzzTarget<RecordsInput> {
  const faults = ['peer', 'crypto'] as const;
  return {
    name: 'records',
    calls: ['RecordSplitter.push', 'CipherState.decrypt', 'decodeRecord', 'reassemble', '(encodeRecord, textRecords, CipherState.encrypt to build)'],
    faults,
    setup(): Promise<{ arbitrary: fc.Arbitrary<RecordsInput>; check: (input: RecordsInput) => Outcome; show: (input: RecordsInput) => string }> {
      const key = seededRandom('fuzz/records/key')(32);
      const build = fc.record({
        segments: fc.array(arbSegment, { minLength: 1, maxLength: 6 }),
        plainDamage: fc.oneof({ weight: 1, arbitrary: fc.constant([] as { index: number; mutations: ByteMutation[] }[]) }, { weight: 2, arbitrary: fc.array(fc.record({ index: fc.nat(), mutations: fc.array(byteMutation(RECORD_FIELDS), { minLength: 1, maxLength: 3 }) }), { minLength: 1, maxLength: 2 }) }),
        wireDamage: rareMutations(),
        chunks: chunkSizes,
      }).map(({ segments, plainDamage, wireDamage, chunks }): RecordsInput => {
        const records: SessionRecord[] = [];
        const messages: string[] = [];
        let clean = plainDamage.length === 0 && wireDamage.length === 0;
        let lastId = 0;
        for (const s of segments) {
          if (s.kind === 'control' || s.kind === 'raw') {
            records.push(s.record);
            if (s.kind === 'raw') clean = false;
            continue;
          }
          const id = lastId + s.delta;
          // Ids start at 1 and go up by one (docs/protocol.md § Messages): any other step is refused.
          if (s.delta !== 1 || id > MAX_U32) {
            clean = false;
            if (id > MAX_U32 || id === 0) continue;
          }
          lastId = id;
          if (s.kind === 'message') {
            records.push(...textRecords(id, s.text));
            messages.push(new TextDecoder().decode(utf8.encode(s.text)));
          } else {
            clean = false;
            for (let p = 0; p < s.parts; p++) {
              records.push({ type: 'TEXT', id, more: p < s.parts - 1, chunk: new Uint8Array(TEXT_CHUNK_BYTES).fill(0x61) });
            }
          }
        }
        const plaintexts = records.map((r) => encodeRecord(r));
        for (const d of plainDamage) {
          if (plaintexts.length === 0) break;
          const i = d.index % plaintexts.length;
          plaintexts[i] = applyBytes(plaintexts[i]!, d.mutations);
        }
        const tx = new CipherState(Uint8Array.from(key));
        const sealed = Buffer.concat(plaintexts.map((p) => tx.encrypt(p)));
        tx.wipe();
        return { stream: applyBytes(sealed, wireDamage), chunks, clean, messages };
      });
      const check = (input: RecordsInput): Outcome => {
        const splitter = new RecordSplitter();
        const got: Uint8Array[] = [];
        for (const chunk of chunked(input.stream, input.chunks)) got.push(...splitter.push(chunk));
        expect(got.length === Math.floor(input.stream.length / RECORD_SIZE) && splitter.pending === input.stream.length % RECORD_SIZE,
          'splitter', `${got.length} records and ${splitter.pending} pending bytes from ${input.stream.length} bytes`);
        got.forEach((r, i) => { expect(sameBytes(r, input.stream.subarray(i * RECORD_SIZE, (i + 1) * RECORD_SIZE)), 'splitter', `record ${i} differs from the stream`); });
        const pending = splitter.pending;
        splitter.wipe();
        const rx = new CipherState(Uint8Array.from(seededRandom('fuzz/records/key')(32)));
        let state = EMPTY_REASSEMBLY;
        const received: string[] = [];
        try {
          for (const sealed of got) {
            const step = attempt(faults, () => {
              const plaintext = rx.decrypt(sealed);
              const record = decodeRecord(plaintext);
              expect(sameBytes(encodeRecord(record), plaintext), 'round trip', `encodeRecord(decodeRecord(p)) differs for a ${record.type}`);
              if (record.type !== 'TEXT') return;
              const next = reassemble(state, record);
              state = next.state;
              if (next.message !== null) received.push(next.message.text);
            });
            if (!step.ok) {
              expect(!input.clean, 'clean stream refused', `a clean stream ended in ${step.code}`);
              return { valid: false, code: step.code };
            }
          }
        } finally {
          wipeReassembly(state);
          rx.wipe();
        }
        if (pending > 0) return { valid: false, code: 'RECORD_TRUNCATED' };
        if (input.clean) {
          expect(received.length === input.messages.length && received.every((t, i) => t === input.messages[i]), 'messages', 'a clean stream did not deliver the messages sent');
        }
        return { valid: true, label: state.current === null ? 'whole' : 'message pending' };
      };
      return Promise.resolve({ arbitrary: build, check, show: (i) => `${showBytes(i.stream)} in chunks ${JSON.stringify(i.chunks)}` });
    },
  };
}

// --- handshake: Noise KK readMessage, then hello -------------------------------------------------------

interface HandshakeInput {
  readonly side: 'read1' | 'read2';
  readonly payload: Uint8Array;
  readonly damage: readonly ByteMutation[];
  /** Replaces the ephemeral key with a small-order point. */
  readonly lowOrder: number | null;
  /** Replaces the whole message with random bytes. */
  readonly garbage: Uint8Array | null;
}

/** Hello fields: version, idle (u32 seconds), session (u32 seconds), the first padding bytes. */
const HELLO_FIELDS: readonly Field[] = [
  { at: 0, size: 1, values: [0, 1, 2] },
  { at: 1, size: 4, values: [IDLE_MIN / 1000 - 1, IDLE_MIN / 1000, IDLE_MAX / 1000, IDLE_MAX / 1000 + 1] },
  { at: 5, size: 4, values: [MAX_SESSION_MIN / 1000 - 1, MAX_SESSION_MIN / 1000, MAX_SESSION_MAX / 1000, MAX_SESSION_MAX / 1000 + 1] },
  { at: 9, size: 1, values: [0, 1] },
];
const edgeSeconds = (min: number, max: number): fc.Arbitrary<number> =>
  fc.oneof(fc.constantFrom(0, min / 1000 - 1, min / 1000, min / 1000 + 1, max / 1000 - 1, max / 1000, max / 1000 + 1, MAX_U32), fc.integer({ min: 0, max: MAX_U32 }), fc.integer({ min: min / 1000, max: max / 1000 }));
const arbHello: fc.Arbitrary<Uint8Array> = mutatedBytes(
  fc.record({ idle: edgeSeconds(IDLE_MIN, IDLE_MAX), session: edgeSeconds(MAX_SESSION_MIN, MAX_SESSION_MAX) })
    .map(({ idle, session }) => encodeHello({ idle: idle * 1000, maxSession: session * 1000 })),
  HELLO_FIELDS,
);

function handshakeTarget(): FuzzTarget<HandshakeInput> {
  const faults = ['peer', 'crypto'] as const;
  return {
    name: 'handshake',
    calls: ['HandshakeState.readMessage', 'HandshakeState.split', 'decodeHello', '(createHandshake, writeMessage, encodeHello to build)'],
    faults,
    setup() {
      const random = seededRandom('fuzz/handshake');
      const dialer = x25519FromSecret(random(32));
      const listener = x25519FromSecret(random(32));
      const eDialer = random(32);
      const eListener = random(32);
      const onion = (c: string): string => c.repeat(56);
      const pro = prologue(20_000, onion('a'), onion('b'));
      const start = (initiator: boolean) => createHandshake({
        hash: ENTRECHAT_NOISE_HASH,
        initiator,
        prologue: pro,
        s: initiator ? dialer : listener,
        rs: initiator ? listener.publicKey : dialer.publicKey,
        random: () => { throw new FuzzFailure('harness', 'the fixed ephemeral key was not used'); },
        e: initiator ? eDialer : eListener,
      });
      const firstHello = encodeHello({ idle: IDLE_MIN, maxSession: MAX_SESSION_MIN });
      const arbitrary = fc.record({
        side: fc.constantFrom('read1' as const, 'read2' as const),
        payload: fc.oneof({ weight: 9, arbitrary: arbHello }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }) }),
        damage: rareMutations([{ at: 0, size: 4, values: [] }]),
        lowOrder: fc.oneof({ weight: 19, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat({ max: SMALL_ORDER_KEYS.length - 1 }) }),
        garbage: fc.oneof({ weight: 19, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }) }),
      });
      const check = (input: HandshakeInput): Outcome => {
        const dial = start(true);
        const listen = start(false);
        let reader = listen;
        let writer = dial;
        let sent: Uint8Array;
        if (input.side === 'read1') {
          sent = dial.writeMessage(input.payload);
        } else {
          listen.readMessage(dial.writeMessage(firstHello));
          sent = listen.writeMessage(input.payload);
          reader = dial;
          writer = listen;
        }
        let message = applyBytes(sent, input.damage);
        if (input.lowOrder !== null && message.length >= 32) message.set(fromHexText(SMALL_ORDER_KEYS[input.lowOrder]!), 0);
        if (input.garbage !== null) message = input.garbage;
        const intact = sameBytes(message, sent);
        const result = attempt(faults, () => {
          const payload = reader.readMessage(message);
          expect(sameBytes(payload, input.payload), 'round trip', 'the payload read differs from the payload written');
          if (input.side === 'read2') {
            const a = reader.split();
            const b = writer.split();
            expect(sameBytes(a.handshakeHash, b.handshakeHash), 'handshake hash', 'the two sides disagree');
            for (const c of [a.send, a.recv, b.send, b.recv]) c.wipe();
          }
          const limits = decodeHello(payload);
          expect(sameBytes(encodeHello(limits), payload), 'round trip', 'encodeHello(decodeHello(p)) differs');
        });
        reader.wipe();
        writer.wipe();
        if (intact) expect(result.ok || (result.code !== 'DECRYPT_FAILED' && result.code !== 'BAD_PUBLIC_KEY'), 'intact message refused', `an undamaged message ended in ${result.ok ? '' : result.code}`);
        return result.ok ? { valid: true, label: input.side } : { valid: false, code: result.code };
      };
      return Promise.resolve({ arbitrary, check, show: (i: HandshakeInput) => `${i.side} payload ${showBytes(i.payload)} damage ${JSON.stringify(i.damage)} lowOrder ${i.lowOrder} garbage ${i.garbage === null ? 'no' : showBytes(i.garbage)}` });
    },
  };
}

// --- hello alone ---------------------------------------------------------------------------------------

function helloTarget(): FuzzTarget<Uint8Array> {
  const faults = ['peer'] as const;
  return {
    name: 'hello',
    calls: ['decodeHello', '(encodeHello to build)'],
    faults,
    setup() {
      const check = (payload: Uint8Array): Outcome => {
        const r = attempt(faults, () => decodeHello(payload));
        if (!r.ok) return { valid: false, code: r.code };
        const { idle, maxSession } = r.value;
        expect(idle >= IDLE_MIN && idle <= IDLE_MAX && maxSession >= MAX_SESSION_MIN && maxSession <= MAX_SESSION_MAX, 'bounds', 'limits out of bounds accepted');
        expect(sameBytes(encodeHello(r.value), payload), 'round trip', 'encodeHello(decodeHello(p)) differs');
        return { valid: true };
      };
      return Promise.resolve({ arbitrary: fc.oneof({ weight: 19, arbitrary: arbHello }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 500 }) }), check, show: (p: Uint8Array) => showBytes(p) });
    },
  };
}

// --- the control-port reply parser --------------------------------------------------------------------

interface GenReply {
  readonly status: number;
  readonly mids: readonly string[];
  readonly data: { readonly text: string; readonly lines: readonly string[] } | null;
  readonly end: string;
}

const arbKeyword = fc.stringMatching(/^[A-Za-z0-9_]{1,10}$/);
const arbValueText = fc.string({ unit: fc.oneof(fc.constantFrom('\\', '"', ' ', '=', 'n', '0', '7', '\t'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 16 });
const arbItem: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^[!-~]{1,12}$/),
  fc.tuple(arbKeyword, fc.stringMatching(/^[!-~]{0,12}$/)).map(([k, v]) => `${k}=${v}`),
  fc.tuple(arbKeyword, arbValueText).map(([k, v]) => `${k}=${quoteString(v)}`),
  fc.tuple(arbKeyword, fc.constantFrom('\\n', '\\101', '\\377', '\\0', '\\\\', '\\"', '\\7777', '\\', '\\303\\251')).map(([k, v]) => `${k}="${v}"`),
);
const arbLineText = fc.array(arbItem, { maxLength: 5 }).chain((items) => fc.constantFrom(' ', '  ').map((sep) => items.join(sep)));
const arbReply: fc.Arbitrary<GenReply> = fc.record({
  status: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(250, 251, 451, 510, 512, 515, 550, 552, 650) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 999 }) }),
  mids: fc.array(arbLineText, { maxLength: 3 }),
  data: fc.option(fc.record({ text: arbLineText, lines: fc.array(fc.oneof(fc.constantFrom('', '.', '..', '.x'), fc.string({ unit: 'grapheme', maxLength: 20 })), { maxLength: 4 }) })),
  end: arbLineText,
});

function serializeReplies(replies: readonly { status: number; lines: readonly { text: string; data?: readonly string[] }[] }[], eol: string): string {
  let out = '';
  for (const r of replies) {
    const code = String(r.status).padStart(3, '0');
    r.lines.forEach((line, i) => {
      if (line.data !== undefined) {
        out += `${code}+${line.text}${eol}`;
        for (const d of line.data) out += `${d.startsWith('.') ? '.' : ''}${d}${eol}`;
        out += `.${eol}`;
      } else {
        out += `${code}${i === r.lines.length - 1 ? ' ' : '-'}${line.text}${eol}`;
      }
    });
  }
  return out;
}

/** Rare blow-ups at the bounds: a line around MAX_CONTROL_LINE, a reply around MAX_CONTROL_REPLY. */
type Blow = { readonly kind: 'none' } | { readonly kind: 'long-line'; readonly at: number; readonly extra: number } | { readonly kind: 'big-reply'; readonly extra: number };

interface ControlInput {
  readonly bytes: Uint8Array;
  readonly chunks: readonly number[];
}

interface ParseRun {
  readonly items: { readonly event: boolean; readonly reply: Reply }[];
  readonly error: ErrorCode | null;
}

function parseControl(chunks: readonly Uint8Array[]): ParseRun {
  const items: { event: boolean; reply: Reply }[] = [];
  const parser = new ReplyParser((reply) => items.push({ event: false, reply }), (reply) => items.push({ event: true, reply }));
  const r = attempt(['tor'], () => { for (const c of chunks) parser.push(c); });
  if (!r.ok) {
    // A dead parser stays dead, with the same code.
    const again = attempt(['tor'], () => { parser.push(new Uint8Array(1)); });
    expect(!again.ok && again.code === r.code, 'dead parser', 'a parser that failed accepted more bytes');
  }
  return { items, error: r.ok ? null : r.code };
}

function controlTarget(): FuzzTarget<ControlInput> {
  const faults = ['tor'] as const;
  return {
    name: 'control-reply',
    calls: ['ReplyParser.push', 'parseKeyValues', 'unescapeQuoted (through parseKeyValues)', '(quoteString to build)'],
    faults,
    setup() {
      const blow: fc.Arbitrary<Blow> = fc.oneof(
        { weight: 5000, arbitrary: fc.constant({ kind: 'none' as const }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('long-line' as const), at: fc.nat(), extra: fc.integer({ min: -6, max: 2 }) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('big-reply' as const), extra: fc.integer({ min: -3, max: 3 }) }) },
      );
      const arbitrary = fc.record({
        replies: fc.array(arbReply, { maxLength: 4 }),
        eol: fc.constantFrom('\r\n', '\n'),
        damage: fc.oneof({ weight: 1, arbitrary: noMutation }, { weight: 2, arbitrary: fc.array(byteMutation(), { minLength: 1, maxLength: 4 }) }),
        blow,
        chunks: chunkSizes,
      }).map(({ replies, eol, damage, blow, chunks }): ControlInput => {
        const text = serializeReplies(replies.map((r) => ({
          status: r.status,
          lines: [...r.mids.map((text) => ({ text })), ...(r.data !== null ? [{ text: r.data.text, data: r.data.lines }] : []), { text: r.end }],
        })), eol);
        let bytes = applyBytes(utf8.encode(text), damage);
        if (blow.kind === 'long-line') {
          const at = blow.at % (bytes.length + 1);
          bytes = Buffer.concat([bytes.subarray(0, at), Buffer.alloc(MAX_CONTROL_LINE + blow.extra, 0x61), bytes.subarray(at)]);
        } else if (blow.kind === 'big-reply') {
          // "250+x" + n data lines of 1000 bytes + "." + "250 OK": n chosen so the reply ends near the bound.
          const line = `${'y'.repeat(1000)}\r\n`;
          const n = Math.floor((MAX_CONTROL_REPLY - 20) / line.length) + blow.extra;
          bytes = Buffer.concat([bytes, utf8.encode(`250+x\r\n${line.repeat(n)}.\r\n250 OK\r\n`)]);
        }
        return { bytes, chunks };
      });
      const check = (input: ControlInput): Outcome => {
        const whole = parseControl([input.bytes]);
        const split = parseControl(chunked(input.bytes, input.chunks));
        expect(JSON.stringify(whole) === JSON.stringify(split), 'chunking', 'whole and chunked feeding disagree');
        for (const { reply } of whole.items) {
          expect(reply.lines.length > 0 && reply.lines.every((l) => l.status === reply.status), 'reply shape', 'a reply with no line or mixed status codes');
          for (const line of reply.lines) {
            const kv = attempt(faults, () => parseKeyValues(line.text));
            if (!kv.ok) continue;
            // Round trip: written back with quoteString, the same words and values come out.
            const values = [...kv.value.values];
            if (values.some(([, v]) => /[\r\n\0]/.test(v))) continue;
            const rebuilt = [...kv.value.positional, ...values.map(([k, v]) => `${k}=${quoteString(v)}`)].join(' ');
            const again = attempt(faults, () => parseKeyValues(rebuilt));
            expect(again.ok && JSON.stringify([again.value.positional, [...again.value.values]]) === JSON.stringify([kv.value.positional, values]),
              'round trip', `parseKeyValues of its own rebuilt line differs: ${showText(line.text)}`);
          }
        }
        // Round trip of the replies themselves: written back (CRLF, dot-stuffed), they parse the same.
        const rewritten = parseControl([utf8.encode(serializeReplies(whole.items.map((i) => i.reply), '\r\n'))]);
        expect(rewritten.error === null && JSON.stringify(rewritten.items) === JSON.stringify(whole.items), 'round trip', 'replies written back parse differently');
        if (whole.error !== null) return { valid: false, code: whole.error };
        return { valid: true, label: whole.items.length === 0 ? 'no reply' : 'replies' };
      };
      return Promise.resolve({ arbitrary, check, show: (i: ControlInput) => `${showText(Buffer.from(i.bytes).toString('latin1'), 400)} in chunks ${JSON.stringify(i.chunks)}` });
    },
  };
}

// --- the SOCKS reply reader ---------------------------------------------------------------------------

/** Method choice, password answer, and CONNECT reply fields (version, reply, reserved, address type, domain length). */
const SOCKS_FIELDS: readonly Field[] = [
  { at: 0, size: 1, values: [4, 5, 6] },
  { at: 1, size: 1, values: [0, 1, 2, 0xff] },
  { at: 2, size: 1, values: [0, 1, 5] },
  { at: 3, size: 1, values: [0, 1, 0xff] },
  { at: 4, size: 1, values: [4, 5] },
  { at: 5, size: 1, values: [0, 1, 4, 5, 8, 0xf0, 0xf3, 0xf7, 0xf8] },
  { at: 7, size: 1, values: [0, 1, 2, 3, 4, 5] },
  { at: 8, size: 1, values: [0, 1, 56, 62, 255] },
];

function socksTarget(): FuzzTarget<Uint8Array> {
  const faults = ['tor'] as const;
  return {
    name: 'socks',
    calls: ['readSocksServer', 'socksReplyCode'],
    faults,
    setup() {
      const server = fc.record({
        reply: fc.oneof(fc.constant(0), fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 8, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xff)),
        atyp: fc.constantFrom(1, 3, 4),
        domain: fc.uint8Array({ maxLength: 255 }),
        port: fc.integer({ min: 0, max: 0xffff }),
        early: fc.uint8Array({ maxLength: 8 }),
      }).map(({ reply, atyp, domain, port, early }) => {
        const address = atyp === 1 ? new Uint8Array(4) : atyp === 4 ? new Uint8Array(16) : Buffer.concat([Buffer.of(domain.length), domain]);
        return Buffer.concat([Buffer.of(5, 2, 1, 0, 5, reply, 0, atyp), address, Buffer.of(port >> 8, port & 0xff), early]);
      });
      const arbitrary = fc.oneof({ weight: 19, arbitrary: mutatedBytes(server, SOCKS_FIELDS) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) });
      const check = (bytes: Uint8Array): Outcome => {
        const full = readSocksServer(bytes);
        if (full.kind === 'granted') {
          expect(full.consumed >= 10 && full.consumed <= bytes.length, 'granted', `consumed ${full.consumed} of ${bytes.length}`);
        }
        // Chunk-agnostic: any prefix is either "need more" or already the final answer.
        for (let n = 0; n < bytes.length; n++) {
          const part = readSocksServer(bytes.subarray(0, n));
          expect(part.kind === 'need' || JSON.stringify(part) === JSON.stringify(full), 'prefix', `prefix of ${n} bytes answers ${JSON.stringify(part)}, the whole ${JSON.stringify(full)}`);
        }
        if (full.kind === 'refused') {
          const r = attempt(faults, () => { throw new TorError(socksReplyCode(full.reply), 'refused'); });
          return r.ok ? { valid: true } : { valid: false, code: r.code };
        }
        return { valid: true, label: full.kind === 'need' ? `need ${full.stage}` : 'granted' };
      };
      return Promise.resolve({ arbitrary, check, show: (b: Uint8Array) => showBytes(b) });
    },
  };
}

// --- contact codes ------------------------------------------------------------------------------------

function contactCodeTarget(): FuzzTarget<string> {
  const faults = ['user'] as const;
  return {
    name: 'contact-code',
    calls: ['decodeContactCode', '(encodeContactCode, bech32m.encode to build)'],
    faults,
    setup() {
      const other = fc.record({
        prefix: fc.constantFrom('ec', 'bc', 'ed', 'ecc', 'e'),
        version: fc.constantFrom(0, 1, 2, 0xff),
        key: fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 49 })),
      }).map(({ prefix, version, key }) => bech32m.encode(prefix, bech32m.toWords(Uint8Array.of(version, ...key)), 90));
      const base = fc.oneof(
        { weight: 6, arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((k) => encodeContactCode(k)) },
        { weight: 1, arbitrary: fc.constantFrom(...SMALL_ORDER_KEYS).map((h) => encodeContactCode(fromHexText(h))) },
        { weight: 2, arbitrary: other },
        { weight: 1, arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((k) => bech32.encode('ec', bech32.toWords(Uint8Array.of(1, ...k)), 90)) },
        { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }) },
      );
      const arbitrary = mutatedText(base, 'qpzry9x8gf2tvdw0s3jn54khce6mua7lbio1EC');
      const check = (text: string): Outcome => {
        const r = attempt(faults, () => decodeContactCode(text));
        if (!r.ok) return { valid: false, code: r.code };
        expect(encodeContactCode(r.value) === text.trim().toLowerCase(), 'round trip', 'encodeContactCode(decodeContactCode(c)) differs');
        return { valid: true };
      };
      return Promise.resolve({ arbitrary, check, show: (t: string) => showText(t) });
    },
  };
}

// --- the store decoder --------------------------------------------------------------------------------

/** Header: version, mode, scrypt logN/r/p, plaintext length; plaintext: version, contact count, first contact. */
const HEADER_FIELDS: readonly Field[] = [
  { at: 16, size: 1, values: [0, 1, 2] },
  { at: 17, size: 1, values: [0x50, 0x4e, 0] },
  { at: 18, size: 1, values: [0, 1, 17, 20, 21] },
  { at: 19, size: 1, values: [0, 1, 8, 16, 17] },
  { at: 20, size: 1, values: [0, 1, 4, 5] },
  { at: 21, size: 4, values: [0, 511, 512, 513, 1024, 8 * 1024 * 1024, 8 * 1024 * 1024 + 512] },
];
const CONTENT_FIELDS: readonly Field[] = [
  { at: 0, size: 1, values: [0, 1, 2] },
  { at: 33, size: 4, values: [0, 1, 2, 7, 4096, 4097] },
  { at: 37, size: 1, values: [0, 1, 2] },
  { at: 70, size: 2, values: [0, 1, 2, 400, 1024, 1025] },
];
const CHECKSUM_AT = 85;

interface StoreInput {
  readonly file: Uint8Array;
}

function storeTarget(): FuzzTarget<StoreInput> {
  const faults = ['store'] as const;
  return {
    name: 'store',
    calls: ['parseStoreHeader', 'openStoreFile', 'decodeContent (through openStoreFile)', '(sealStoreFile, sealPlaintext, encodeContent, deriveStoreKeys to build)'],
    faults,
    async setup() {
      const random = seededRandom('fuzz/store');
      const salt = random(32);
      const nonce = random(12);
      const kdfP = { logN: 1, r: 1, p: 1 };
      const keysN = await deriveStoreKeys({ mode: 'no-passphrase', kdf: null, salt }, null);
      const keysP = await deriveStoreKeys({ mode: 'passphrase', kdf: kdfP, salt }, utf8.encode('fuzz'));
      const fieldsOf = (mode: 'passphrase' | 'no-passphrase'): HeaderFields => ({ mode, kdf: mode === 'passphrase' ? kdfP : { logN: 0, r: 0, p: 0 }, salt, nonce });
      const keysOf = (mode: 'passphrase' | 'no-passphrase') => (mode === 'passphrase' ? keysP : keysN);
      const content: fc.Arbitrary<StoreContent> = fc.record({
        identitySecret: fc.uint8Array({ minLength: 32, maxLength: 32 }),
        contacts: fc.array(fc.record({
          name: fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 1024 }).map((n) => 'n'.repeat(n))),
          publicKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
          verified: fc.boolean(),
        }), { maxLength: 6 }),
      });
      const mode = fc.constantFrom('passphrase' as const, 'no-passphrase' as const);
      // Damage after sealing; the header checksum is unkeyed, so an attacker can fix it up: half the time we do.
      const fileDamage = fc.record({ mode, content, damage: fc.array(byteMutation(HEADER_FIELDS), { minLength: 0, maxLength: 3 }), fix: fc.boolean() })
        .map(({ mode, content, damage, fix }) => {
          const file = applyBytes(sealStoreFile(content, fieldsOf(mode), keysOf(mode)), damage);
          if (fix && file.length >= CHECKSUM_AT + 16) {
            const sum = new Uint8Array(createHash('sha256').update(file.subarray(0, CHECKSUM_AT)).digest().subarray(0, 16));
            file.set(sum, CHECKSUM_AT);
          }
          return { file };
        });
      // Damage inside the plaintext, sealed under the right key: reaches every path of the content decoder.
      const plainDamage = fc.record({ mode, content, damage: fc.array(byteMutation(CONTENT_FIELDS), { minLength: 1, maxLength: 4 }) })
        .map(({ mode, content, damage }) => {
          const damaged = applyBytes(encodeContent(content), damage);
          const size = Math.max(STORE_PAD_BLOCK, Math.ceil(damaged.length / STORE_PAD_BLOCK) * STORE_PAD_BLOCK);
          const plaintext = new Uint8Array(size);
          plaintext.set(damaged);
          return { file: sealPlaintext(plaintext, fieldsOf(mode), keysOf(mode)) };
        });
      const arbitrary = fc.oneof(fileDamage, plainDamage, fc.uint8Array({ maxLength: 700 }).map((file) => ({ file })));
      const check = ({ file }: StoreInput): Outcome => {
        const r = attempt(faults, () => {
          const header = parseStoreHeader(file);
          const content = openStoreFile(file, header, keysOf(header.mode));
          const again = sealStoreFile(content, { mode: header.mode, kdf: header.kdf ?? { logN: 0, r: 0, p: 0 }, salt: header.salt, nonce: header.nonce }, keysOf(header.mode));
          expect(sameBytes(again, file), 'round trip', 'the content sealed again differs from the file');
          return header.mode;
        });
        return r.ok ? { valid: true, label: r.value } : { valid: false, code: r.code };
      };
      return { arbitrary, check, show: (i: StoreInput) => showBytes(i.file, 160) };
    },
  };
}

// --- the torrc reader ---------------------------------------------------------------------------------

function torrcTarget(): FuzzTarget<Uint8Array> {
  const faults = ['tor'] as const;
  return {
    name: 'torrc',
    calls: ['readTorConfig (on a file written per input)'],
    faults,
    setup(scratch: string) {
      const file = join(scratch, 'torrc');
      const option = fc.oneof(
        fc.constantFrom('DataDirectory', 'ControlPort', 'SocksPort', 'HiddenServiceDir', 'HiddenServicePort', 'CookieAuthentication', 'Sandbox', 'User', '__OwningControllerProcess', 'AvoidDiskWrites', 'RunAsDaemon', 'PidFile', 'ControlSocket', 'HashedControlPassword'),
        fc.constantFrom('TestingTorNetwork', 'DirAuthority', 'UseBridges', 'Log', 'AssumeReachable', 'ClientOnionAuthDir', 'PathsNeededToBuildCircuits', 'Bridge'),
        fc.constantFrom('%include', '%INCLUDE', '#', '# ControlPort', ''),
      );
      const line = fc.record({
        lead: fc.constantFrom('', ' ', '\t', '  ', '\u00a0', '\v', '\f'),
        option: mutatedText(option),
        sep: fc.constantFrom(' ', '\t', '', '=', ' \\'),
        value: fc.string({ unit: 'grapheme-ascii', maxLength: 20 }),
      }).map(({ lead, option, sep, value }) => `${lead}${option}${sep}${value}`);
      const arbitrary = mutatedBytes(
        fc.tuple(fc.array(line, { maxLength: 6 }), fc.constantFrom('\n', '\r\n', '\r')).map(([lines, eol]) => utf8.encode(lines.join(eol))),
      );
      const check = (bytes: Uint8Array): Outcome => {
        writeFileSync(file, bytes);
        const r = attempt(faults, () => readTorConfig(file));
        if (!r.ok) return { valid: false, code: r.code };
        expect(r.value === Buffer.from(bytes).toString('utf8'), 'round trip', 'the text returned is not the file read');
        return { valid: true };
      };
      return Promise.resolve({ arbitrary, check, show: (b: Uint8Array) => showText(Buffer.from(b).toString('latin1')) });
    },
  };
}

// --- the contact-name check ---------------------------------------------------------------------------

function contactNameTarget(): FuzzTarget<string> {
  const faults = ['user'] as const;
  return {
    name: 'contact-name',
    calls: ['checkContactName', 'encodeContent (an accepted name must be storable)'],
    faults,
    setup() {
      const grapheme = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 });
      const base = fc.oneof(
        fc.string({ unit: 'grapheme', maxLength: 30 }),
        fc.string({ unit: 'binary', maxLength: 30 }),
        fc.tuple(grapheme, fc.integer({ min: 60, max: 70 })).map(([g, n]) => g.repeat(n)),
        fc.tuple(fc.constantFrom('e', 'a', '\u{1f469}'), fc.constantFrom('\u0301', '\u200d\u{1f469}', '\ufe0f'), fc.integer({ min: 1, max: 400 })).map(([b, m, n]) => b + m.repeat(n)),
      );
      const identitySecret = new Uint8Array(32);
      const publicKey = new Uint8Array(32);
      const check = (name: string): Outcome => {
        const r = attempt(faults, () => checkContactName(name));
        if (!r.ok) return { valid: false, code: r.code };
        const clean = r.value;
        expect(clean.length > 0 && clean === clean.normalize('NFC').trim(), 'normal form', 'an accepted name is not trimmed NFC');
        expect(checkContactName(clean) === clean, 'idempotent', 'checking an accepted name again changes it');
        try {
          encodeContent({ identitySecret, contacts: [{ name: clean, publicKey, verified: false }] });
        } catch (e) {
          throw new FuzzFailure('unstorable', `an accepted name cannot be stored: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        return { valid: true };
      };
      return Promise.resolve({ arbitrary: mutatedText(base), check, show: (t: string) => showText(t) });
    },
  };
}

/** Every target, in the order `npm run fuzz` runs them. */
export const TARGETS: readonly FuzzTarget<never>[] = [
  recordsTarget(),
  handshakeTarget(),
  helloTarget(),
  controlTarget(),
  socksTarget(),
  contactCodeTarget(),
  storeTarget(),
  torrcTarget(),
  contactNameTarget(),
] as unknown as FuzzTarget<never>[];
