/**
 * The handshake payloads (Noise KK messages 1 and 2) and the prologue that binds a handshake to its
 * day and rendezvous addresses.
 *
 * Payload plaintext, HANDSHAKE_PAYLOAD_SIZE = 450 bytes, so each handshake message (32-byte ephemeral
 * key ‖ payload ‖ 16-byte tag) is exactly one 498-byte record:
 *
 *   version u8 | idle limit u32 BE (seconds) | session limit u32 BE (seconds) | zero padding
 */
import { concatBytes, u32be } from './bytes.ts';
import { ProtocolError } from './errors.ts';
import {
  HANDSHAKE_PAYLOAD_SIZE,
  IDLE_MAX,
  IDLE_MIN,
  MAX_SESSION_MAX,
  MAX_SESSION_MIN,
} from './limits.ts';

export const PROTOCOL_VERSION = 1;
export const PROLOGUE_LABEL = 'entrechat/1';

export interface SessionLimits {
  /** Idle limit in milliseconds (whole seconds on the wire). */
  readonly idle: number;
  /** Session length limit in milliseconds (whole seconds on the wire). */
  readonly maxSession: number;
}

const HELLO_FIELDS = 1 + 4 + 4;
const encoder = new TextEncoder();

/** prologue = "entrechat/1" ‖ u32be(day) ‖ dialer onion ‖ listener onion (ASCII, 56 chars each). */
export function prologue(day: number, dialerOnion: string, listenerOnion: string): Uint8Array {
  return concatBytes(encoder.encode(PROLOGUE_LABEL), u32be(day), encoder.encode(dialerOnion), encoder.encode(listenerOnion));
}

export function encodeHello(limits: SessionLimits): Uint8Array {
  const out = new Uint8Array(HANDSHAKE_PAYLOAD_SIZE);
  const view = new DataView(out.buffer);
  view.setUint8(0, PROTOCOL_VERSION);
  view.setUint32(1, Math.floor(limits.idle / 1000));
  view.setUint32(5, Math.floor(limits.maxSession / 1000));
  return out;
}

/**
 * Decodes a peer's hello; limits outside our bounds are a protocol error, not clamped silently.
 * @throws ProtocolError HANDSHAKE_BAD_PAYLOAD, HANDSHAKE_BAD_VERSION
 */
export function decodeHello(payload: Uint8Array): SessionLimits {
  if (payload.length !== HANDSHAKE_PAYLOAD_SIZE) {
    throw new ProtocolError('HANDSHAKE_BAD_PAYLOAD', 'handshake payload has the wrong size');
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const version = view.getUint8(0);
  if (version !== PROTOCOL_VERSION) throw new ProtocolError('HANDSHAKE_BAD_VERSION', `unsupported protocol version ${version}`);
  for (let i = HELLO_FIELDS; i < payload.length; i++) {
    if (payload[i] !== 0) throw new ProtocolError('HANDSHAKE_BAD_PAYLOAD', 'handshake padding is not zero');
  }
  const idle = view.getUint32(1) * 1000;
  const maxSession = view.getUint32(5) * 1000;
  if (idle < IDLE_MIN || idle > IDLE_MAX || maxSession < MAX_SESSION_MIN || maxSession > MAX_SESSION_MAX) {
    throw new ProtocolError('HANDSHAKE_BAD_PAYLOAD', 'proposed session limits out of bounds');
  }
  return { idle, maxSession };
}

/** The stricter of two proposals wins, so both sides agree without another round. */
export function agreeLimits(a: SessionLimits, b: SessionLimits): SessionLimits {
  return { idle: Math.min(a.idle, b.idle), maxSession: Math.min(a.maxSession, b.maxSession) };
}
