/**
 * A hostile peer for tests: an identity of its own that speaks the real protocol (the project's Noise
 * KK, hello and record code), dials a victim's loopback listener, completes the handshake and the
 * commit, then floods records without ever reading what the victim answers. Used only by tests.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { encodeContactCode } from '../../src/core/codes.ts';
import { rendezvousPlan, wipePlan } from '../../src/core/derive.ts';
import { encodeHello, prologue } from '../../src/core/hello.ts';
import { identityFromSecret, type Identity } from '../../src/core/identity.ts';
import { IDLE_DEFAULT, MAX_MESSAGE_BYTES, MAX_SESSION_DEFAULT, RECORD_SIZE } from '../../src/core/limits.ts';
import { createHandshake, ENTRECHAT_NOISE_HASH, type CipherState } from '../../src/core/noise.ts';
import { decodeRecord, encodeRecord, textRecords, type SessionRecord } from '../../src/core/records.ts';

/** What a flood did: the records written. */
export interface FloodResult {
  readonly records: number;
}

/** Records per write: one read's worth for the victim (64 KiB). */
const BATCH_RECORDS = 128;

export class HostilePeer {
  readonly identity: Identity;
  #socket: Socket | null = null;
  #tx: CipherState | null = null;
  #closed = false;

  constructor() {
    this.identity = identityFromSecret(randomBytes(32));
  }

  /** The contact code the victim adds. */
  get code(): string {
    return encodeContactCode(this.identity.publicKey);
  }

  /**
   * Dials the victim at 127.0.0.1:`port`, completes `-> e, es, ss` / `<- e, ee, se`, sends COMMIT and
   * reads the COMMIT_ACK: from then on the victim holds an active session with us, and we read nothing.
   */
  async open(port: number, victimPublic: Uint8Array): Promise<void> {
    const plan = rendezvousPlan({ own: this.identity.key, ownPublic: this.identity.publicKey, peerPublic: victimPublic, nowMs: Date.now() });
    const day = plan.days[0];
    if (day === undefined) throw new Error('no rendezvous day');
    const hs = createHandshake({
      hash: ENTRECHAT_NOISE_HASH,
      initiator: true,
      prologue: prologue(day.day, day.ownOnion.address, day.peerOnion.address),
      s: this.identity.key,
      rs: victimPublic,
      random: (n) => randomBytes(n),
    });
    wipePlan(plan);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('error', reject);
      s.once('connect', () => { s.off('error', reject); resolve(s); });
    });
    socket.on('error', () => undefined);
    socket.once('close', () => { this.#closed = true; });
    this.#socket = socket;
    const reader = recordReader(socket);
    socket.write(hs.writeMessage(encodeHello({ idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT })));
    hs.readMessage(await reader());
    const { send, recv } = hs.split();
    this.#tx = send;
    socket.write(send.encrypt(encodeRecord({ type: 'COMMIT' })));
    const ack = decodeRecord(recv.decrypt(await reader()));
    if (ack.type !== 'COMMIT_ACK') throw new Error(`expected COMMIT_ACK, got ${ack.type}`);
    // From here on nothing is read: the victim's answers pile up in the kernel, then at the victim.
    socket.pause();
  }

  /** PINGs as fast as the victim takes them, for `ms`. */
  floodPings(ms: number): Promise<FloodResult> {
    return this.#flood(ms, () => [{ type: 'PING' }]);
  }

  /** Full 16 KiB TEXT messages (each one ACKed by the victim, if it reads them), for `ms`. */
  floodTexts(ms: number): Promise<FloodResult> {
    const text = 'x'.repeat(MAX_MESSAGE_BYTES);
    let id = 0;
    return this.#flood(ms, () => {
      id += 1;
      return textRecords(id, text);
    });
  }

  /** From now on takes one byte a second of what the victim sends (a reader too slow to matter). */
  readSlowly(): void {
    const socket = this.#socket;
    if (socket === null) throw new Error('open() first');
    const timer = setInterval(() => { socket.read(1); }, 1000);
    socket.once('close', () => { clearInterval(timer); });
  }

  /** Ends the connection abruptly (no CLOSE). */
  hangUp(): void {
    this.#socket?.destroy();
  }

  async #flood(ms: number, next: () => SessionRecord[]): Promise<FloodResult> {
    const tx = this.#tx;
    if (this.#socket === null || tx === null) throw new Error('open() first');
    const socket: Socket = this.#socket;
    const end = Date.now() + ms;
    let records = 0;
    while (Date.now() < end && !this.#closed) {
      const batch: Uint8Array[] = [];
      while (batch.length < BATCH_RECORDS) {
        for (const r of next()) batch.push(tx.encrypt(encodeRecord(r)));
      }
      records += batch.length;
      if (!socket.write(Buffer.concat(batch))) {
        // The victim stopped reading: wait for it, or for the end of the flood.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.max(0, end - Date.now()));
          function done(): void {
            clearTimeout(timer);
            socket.off('drain', done);
            socket.off('close', done);
            resolve();
          }
          socket.once('drain', done);
          socket.once('close', done);
        });
      } else {
        // Let the event loop breathe (timers, the test's sampling) between batches.
        await new Promise((r) => setImmediate(r));
      }
    }
    return { records };
  }
}

/** Reads whole records from a socket, one at a time (only for the handshake and the commit). */
function recordReader(socket: Socket): () => Promise<Uint8Array> {
  let buffered = Buffer.alloc(0);
  let waiting: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    waiting?.();
  });
  socket.on('close', () => { waiting?.(); });
  return async () => {
    while (buffered.length < RECORD_SIZE) {
      if (socket.destroyed) throw new Error('the victim closed the connection during the handshake');
      await new Promise<void>((resolve) => { waiting = resolve; });
      waiting = null;
    }
    const record = new Uint8Array(buffered.subarray(0, RECORD_SIZE));
    buffered = buffered.subarray(RECORD_SIZE);
    return record;
  };
}
