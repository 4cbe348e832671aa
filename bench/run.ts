/**
 * `npm run bench [-- --json]`: our code against its baseline, measured in the same run, with the ratio.
 *
 * - kk-handshake: full Noise KK handshakes per second, both sides (two ephemeral key generations and
 *   eight X25519 operations, plus hashing and two AEAD operations per side), against the bound
 *   "raw X25519 operations per second ÷ 10". Goal: ratio ≥ 0.85.
 * - record-seal-open: records sealed and opened per second through encodeRecord + CipherState +
 *   decodeRecord, against raw chacha20-poly1305 encrypt + decrypt of the same 482-byte plaintext.
 *   Goal: ratio ≥ 0.85.
 *
 * Each measurement alternates ours and the baseline for several short rounds and reports the medians
 * and the median of the per-round ratios.
 */
import { createCipheriv, createDecipheriv, diffieHellman, randomBytes } from 'node:crypto';
import { encodeHello } from '../src/core/hello.ts';
import { IDLE_DEFAULT, MAX_SESSION_DEFAULT, RECORD_PLAINTEXT_SIZE, TEXT_CHUNK_BYTES } from '../src/core/limits.ts';
import { createHandshake, ENTRECHAT_NOISE_HASH } from '../src/core/noise.ts';
import { decodeRecord, encodeRecord } from '../src/core/records.ts';
import { x25519FromSecret, x25519PublicKey } from '../src/core/x25519.ts';

interface Result {
  readonly name: string;
  readonly ours: number;
  readonly baseline: number;
  readonly unit: string;
  readonly ratio: number;
  readonly goal: string;
}

const ROUNDS = 9;
const ROUND_MS = 250;

/** Operations per second of `fn`, run in batches for about `ms`. */
function rate(fn: () => void, ms = ROUND_MS): number {
  for (let i = 0; i < 20; i++) fn(); // warm up
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 20; i++) fn();
    ops += 20;
    elapsed = performance.now() - start;
  }
  return (ops * 1000) / elapsed;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/**
 * Ours and the baseline alternate, round after round, and each round gives a ratio: the reported ratio
 * is the median of those, so a neighbour that slows the machine for a while slows both sides of a
 * round alike instead of skewing one median.
 */
function compare(name: string, unit: string, goal: string, ours: () => number, baseline: () => number): Result {
  const o: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const x = ours();
    const y = baseline();
    o.push(x);
    b.push(y);
    ratios.push(x / y);
  }
  return { name, ours: Math.round(median(o)), baseline: Math.round(median(b)), unit, ratio: Number(median(ratios).toFixed(3)), goal };
}

function kkHandshake(): Result {
  const a = x25519FromSecret(randomBytes(32));
  const b = x25519FromSecret(randomBytes(32));
  const prologue = new TextEncoder().encode('entrechat/1 bench');
  const hello = encodeHello({ idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT });
  const random = (n: number) => new Uint8Array(randomBytes(n));
  const once = (): void => {
    const i = createHandshake({ hash: ENTRECHAT_NOISE_HASH, initiator: true, prologue, s: a, rs: b.publicKey, random });
    const r = createHandshake({ hash: ENTRECHAT_NOISE_HASH, initiator: false, prologue, s: b, rs: a.publicKey, random });
    r.readMessage(i.writeMessage(hello));
    i.readMessage(r.writeMessage(hello));
    const si = i.split();
    const sr = r.split();
    si.send.wipe();
    si.recv.wipe();
    sr.send.wipe();
    sr.recv.wipe();
  };
  // The bound is the raw curve operation alone: keys imported once, outside the loop.
  const peerPublic = x25519PublicKey(x25519FromSecret(randomBytes(32)).publicKey);
  const rawDh = (): void => {
    diffieHellman({ privateKey: a.privateKey, publicKey: peerPublic });
  };
  return compare('kk-handshake', 'handshakes/s', 'ratio >= 0.85', () => rate(once), () => rate(rawDh) / 10);
}

function recordSealOpen(): Result {
  const random = (n: number) => new Uint8Array(randomBytes(n));
  const a = x25519FromSecret(randomBytes(32));
  const b = x25519FromSecret(randomBytes(32));
  const i = createHandshake({ hash: ENTRECHAT_NOISE_HASH, initiator: true, prologue: new Uint8Array(0), s: a, rs: b.publicKey, random });
  const r = createHandshake({ hash: ENTRECHAT_NOISE_HASH, initiator: false, prologue: new Uint8Array(0), s: b, rs: a.publicKey, random });
  r.readMessage(i.writeMessage(new Uint8Array(0)));
  i.readMessage(r.writeMessage(new Uint8Array(0)));
  const send = i.split().send;
  const recv = r.split().recv;
  const chunk = new Uint8Array(TEXT_CHUNK_BYTES).fill(0x61);
  const ours = (): void => {
    const sealed = send.encrypt(encodeRecord({ type: 'TEXT', id: 1, more: false, chunk }));
    decodeRecord(recv.decrypt(sealed));
  };
  const key = randomBytes(32);
  const nonce = Buffer.alloc(12);
  const plaintext = Buffer.alloc(RECORD_PLAINTEXT_SIZE, 0x61);
  let n = 0n;
  const raw = (): void => {
    nonce.writeBigUInt64LE(n, 4);
    n += 1n;
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const body = c.update(plaintext);
    c.final();
    const tag = c.getAuthTag();
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    d.setAuthTag(tag);
    d.update(body);
    d.final();
  };
  return compare('record-seal-open', 'records/s', 'ratio >= 0.85', () => rate(ours), () => rate(raw));
}

const json = process.argv.includes('--json');
const results = [kkHandshake(), recordSealOpen()];
for (const r of results) {
  if (json) console.log(JSON.stringify(r));
  else console.log(`${r.name.padEnd(18)} ours ${String(r.ours).padStart(9)} ${r.unit.padEnd(13)} baseline ${String(r.baseline).padStart(9)}  ratio ${r.ratio.toFixed(3)}  (goal ${r.goal})`);
}
