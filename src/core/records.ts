/**
 * Records: the fixed-size unit of everything on the wire after the handshake.
 *
 * Plaintext layout (RECORD_PLAINTEXT_SIZE = 482 bytes), sealed by the session's Noise CipherState into
 * exactly RECORD_SIZE = 498 bytes:
 *
 *   type u8 | flags u8 | body length u16 BE | body (length bytes) | zero padding
 *
 * Padding lives inside the AEAD and must be all zeroes (rejected otherwise), so every record looks the
 * same from outside whatever it carries. Long text is split into TEXT records sharing one message id,
 * all but the last flagged MORE, and reassembled under MAX_MESSAGE_BYTES.
 */
import { ProtocolError, UsageError } from './errors.ts';
import { decodeUtf8Strict } from './utf8.ts';
import {
  MAX_MESSAGE_BYTES,
  RECORD_HEADER_SIZE,
  RECORD_MAX_BODY,
  RECORD_PLAINTEXT_SIZE,
  RECORD_SIZE,
  TEXT_CHUNK_BYTES,
} from './limits.ts';

export const RECORD_TYPES = {
  COMMIT: 1,
  COMMIT_ACK: 2,
  TEXT: 3,
  ACK: 4,
  PING: 5,
  PONG: 6,
  CLOSE: 7,
} as const;
export type RecordTypeName = keyof typeof RECORD_TYPES;

/** TEXT only: more records of the same message follow. No other flag exists. */
export const FLAG_MORE = 0x01;

/** Why a session ends, as carried by CLOSE (one byte on the wire). */
export const CLOSE_REASONS = {
  quit: 1, // a person ended the session
  idle: 2, // the idle limit passed
  max_duration: 3, // the session limit passed
  error: 4, // the sender saw a protocol or local error
  superseded: 5, // another connection between the same pair won the commit
  ended: 6, // the attempt ended (quit, window, failure) before a session was open on the sender's side
} as const;
export type WireCloseReason = keyof typeof CLOSE_REASONS;

const TYPE_BY_CODE = new Map<number, RecordTypeName>(
  Object.entries(RECORD_TYPES).map(([name, code]) => [code, name as RecordTypeName]),
);
const REASON_BY_CODE = new Map<number, WireCloseReason>(
  Object.entries(CLOSE_REASONS).map(([name, code]) => [code, name as WireCloseReason]),
);

export type SessionRecord =
  | { readonly type: 'COMMIT' }
  | { readonly type: 'COMMIT_ACK' }
  | { readonly type: 'TEXT'; readonly id: number; readonly more: boolean; readonly chunk: Uint8Array }
  | { readonly type: 'ACK'; readonly id: number }
  | { readonly type: 'PING' }
  | { readonly type: 'PONG' }
  | { readonly type: 'CLOSE'; readonly reason: WireCloseReason };

const MAX_U32 = 0xffff_ffff;

function writeU32(out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
}

function readU32(bytes: Uint8Array, at: number): number {
  return (((bytes[at] ?? 0) << 24) | ((bytes[at + 1] ?? 0) << 16) | ((bytes[at + 2] ?? 0) << 8) | (bytes[at + 3] ?? 0)) >>> 0;
}

/**
 * Encodes one record into its padded plaintext (RECORD_PLAINTEXT_SIZE bytes), in `into` when given (a
 * buffer reused record after record: it is overwritten whole, padding included).
 */
export function encodeRecord(record: SessionRecord, into?: Uint8Array): Uint8Array {
  let out: Uint8Array;
  if (into === undefined) {
    out = new Uint8Array(RECORD_PLAINTEXT_SIZE);
  } else {
    if (into.length !== RECORD_PLAINTEXT_SIZE) throw new RangeError(`into must be ${RECORD_PLAINTEXT_SIZE} bytes`);
    out = into;
    out.fill(0);
  }
  out[0] = RECORD_TYPES[record.type];
  let length = 0;
  switch (record.type) {
    case 'COMMIT':
    case 'COMMIT_ACK':
    case 'PING':
    case 'PONG':
      break;
    case 'ACK':
      writeU32(out, RECORD_HEADER_SIZE, record.id);
      length = 4;
      break;
    case 'CLOSE':
      out[RECORD_HEADER_SIZE] = CLOSE_REASONS[record.reason];
      length = 1;
      break;
    case 'TEXT':
      if (record.chunk.length === 0 || record.chunk.length > TEXT_CHUNK_BYTES || (record.more && record.chunk.length !== TEXT_CHUNK_BYTES)) {
        throw new RangeError(`TEXT chunk must be 1..${TEXT_CHUNK_BYTES} bytes, and full when more parts follow`);
      }
      out[1] = record.more ? FLAG_MORE : 0;
      writeU32(out, RECORD_HEADER_SIZE, record.id);
      out.set(record.chunk, RECORD_HEADER_SIZE + 4);
      length = 4 + record.chunk.length;
      break;
  }
  out[2] = length >>> 8;
  out[3] = length & 0xff;
  return out;
}

function badBody(type: RecordTypeName): never {
  throw new ProtocolError('RECORD_BAD_BODY', `malformed ${type} body`);
}

/**
 * Decodes one padded plaintext, rejecting anything not produced by {@link encodeRecord}. The checks
 * run in a fixed order, the first failing one naming the error (docs/protocol.md § Records): type,
 * flags, body length, padding, then the body for its type.
 * @throws ProtocolError RECORD_UNKNOWN_TYPE, RECORD_BAD_FLAGS, RECORD_BAD_LENGTH, RECORD_NONZERO_PADDING,
 *   RECORD_BAD_BODY
 * @throws RangeError when `plaintext` is not RECORD_PLAINTEXT_SIZE bytes: a caller's bug, since the
 *   splitter and the cipher only ever make plaintexts of that size (no peer can cause it)
 */
export function decodeRecord(plaintext: Uint8Array): SessionRecord {
  if (plaintext.length !== RECORD_PLAINTEXT_SIZE) throw new RangeError(`plaintext must be ${RECORD_PLAINTEXT_SIZE} bytes`);
  const code = plaintext[0] ?? 0;
  const type = TYPE_BY_CODE.get(code);
  if (type === undefined) throw new ProtocolError('RECORD_UNKNOWN_TYPE', `unknown record type ${code}`);
  const flags = plaintext[1] ?? 0;
  if ((flags & ~FLAG_MORE) !== 0 || (flags !== 0 && type !== 'TEXT')) {
    throw new ProtocolError('RECORD_BAD_FLAGS', `bad flags 0x${flags.toString(16)} on ${type}`);
  }
  const length = ((plaintext[2] ?? 0) << 8) | (plaintext[3] ?? 0);
  if (length > RECORD_MAX_BODY) throw new ProtocolError('RECORD_BAD_LENGTH', `body length ${length} too large`);
  let padding = 0;
  for (let i = RECORD_HEADER_SIZE + length; i < RECORD_PLAINTEXT_SIZE; i++) padding |= plaintext[i] ?? 0;
  if (padding !== 0) throw new ProtocolError('RECORD_NONZERO_PADDING', 'record padding is not zero');
  switch (type) {
    case 'COMMIT':
    case 'COMMIT_ACK':
    case 'PING':
    case 'PONG':
      if (length !== 0) badBody(type);
      return { type };
    case 'ACK':
      if (length !== 4) badBody(type);
      return { type, id: readU32(plaintext, RECORD_HEADER_SIZE) };
    case 'CLOSE': {
      if (length !== 1) badBody(type);
      const reason = REASON_BY_CODE.get(plaintext[RECORD_HEADER_SIZE] ?? 0);
      if (reason === undefined) return badBody(type);
      return { type, reason };
    }
    case 'TEXT':
      // Every part but the last is full, so a message spans at most MAX_RECORDS_PER_MESSAGE records.
      if (length <= 4 || ((flags & FLAG_MORE) !== 0 && length !== RECORD_MAX_BODY)) badBody(type);
      return {
        type,
        id: readU32(plaintext, RECORD_HEADER_SIZE),
        more: (flags & FLAG_MORE) !== 0,
        // A view, not a copy: the caller owns `plaintext`, and zeroes the chunk once it has used it.
        chunk: plaintext.subarray(RECORD_HEADER_SIZE + 4, RECORD_HEADER_SIZE + length),
      };
  }
}

/**
 * Incremental splitter for a byte stream of fixed-size records: works on any chunking, never holds
 * more than one partial record.
 */
export class RecordSplitter {
  #partial = new Uint8Array(RECORD_SIZE);
  #have = 0;

  /** Feeds bytes; returns the whole records completed by them (copies, safe to keep). */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(RECORD_SIZE - this.#have, chunk.length - at);
      this.#partial.set(chunk.subarray(at, at + take), this.#have);
      this.#have += take;
      at += take;
      if (this.#have === RECORD_SIZE) {
        out.push(this.#partial.slice());
        this.#have = 0;
      }
    }
    return out;
  }

  /** Bytes of an incomplete record held: non-zero at end of stream means it was truncated. */
  get pending(): number {
    return this.#have;
  }

  wipe(): void {
    this.#partial.fill(0);
    this.#have = 0;
  }
}

const encoder = new TextEncoder();

/**
 * Splits a message into TEXT records. Splits on byte boundaries (a code point may straddle two
 * records); the receiver decodes UTF-8 only after reassembly.
 * @throws UsageError MESSAGE_EMPTY, MESSAGE_TOO_LONG
 */
export function textRecords(id: number, text: string): SessionRecord[] {
  if (!Number.isInteger(id) || id < 1 || id > MAX_U32) throw new RangeError('message id must be a u32 > 0');
  const bytes = encoder.encode(text);
  if (bytes.length === 0) throw new UsageError('MESSAGE_EMPTY', 'an empty message cannot be sent');
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new UsageError('MESSAGE_TOO_LONG', `a message is at most ${MAX_MESSAGE_BYTES} bytes of UTF-8`);
  }
  const records: SessionRecord[] = [];
  for (let at = 0; at < bytes.length; at += TEXT_CHUNK_BYTES) {
    const end = Math.min(at + TEXT_CHUNK_BYTES, bytes.length);
    records.push({ type: 'TEXT', id, more: end < bytes.length, chunk: bytes.subarray(at, end) });
  }
  return records;
}

/** Reassembly state for incoming TEXT records; bounded by MAX_MESSAGE_BYTES. */
export interface Reassembly {
  readonly lastId: number;
  readonly current: { readonly id: number; readonly chunks: readonly Uint8Array[]; readonly size: number } | null;
}

export const EMPTY_REASSEMBLY: Reassembly = { lastId: 0, current: null };

/** Zeroes the text parts held while a message is incomplete. */
export function wipeReassembly(state: Reassembly): void {
  for (const c of state.current?.chunks ?? []) c.fill(0);
}

/**
 * Adds one TEXT record. The first message has id 1 and each next one the id after it; the records of
 * one message must be contiguous among TEXT records (PING, PONG and ACK may come between them). Returns the new state and, when the last record arrived, the message. Every
 * chunk passed in is zeroed once it is no longer needed, on success and on every rejection.
 * @throws ProtocolError MESSAGE_BAD_ID, MESSAGE_OVER_LIMIT, MESSAGE_BAD_UTF8
 */
export function reassemble(
  state: Reassembly,
  record: Extract<SessionRecord, { type: 'TEXT' }>,
): { state: Reassembly; message: { id: number; text: string } | null } {
  const current = state.current;
  if (record.id !== (current === null ? state.lastId + 1 : current.id)) {
    wipeReassembly(state);
    record.chunk.fill(0);
    throw new ProtocolError('MESSAGE_BAD_ID', 'unexpected message id');
  }
  const size = (current?.size ?? 0) + record.chunk.length;
  if (size > MAX_MESSAGE_BYTES) {
    wipeReassembly(state);
    record.chunk.fill(0);
    throw new ProtocolError('MESSAGE_OVER_LIMIT', 'message exceeds the size limit');
  }
  const chunks = [...(current?.chunks ?? []), record.chunk];
  if (record.more) return { state: { lastId: state.lastId, current: { id: record.id, chunks, size } }, message: null };
  const joined = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    joined.set(c, at);
    at += c.length;
  }
  let text: string;
  try {
    text = decodeUtf8Strict(joined);
  } catch (cause) {
    throw new ProtocolError('MESSAGE_BAD_UTF8', 'message is not valid UTF-8', { cause });
  } finally {
    joined.fill(0);
    for (const c of chunks) c.fill(0);
  }
  return { state: { lastId: record.id, current: null }, message: { id: record.id, text } };
}
