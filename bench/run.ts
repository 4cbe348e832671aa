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
 * - chat-frame: the terminal chat's frame (a message arrives, the screen is drawn) with 10,000
 *   mixed-length messages in the session, against the same with 10. Goal: ratio (time) ≤ 2: a
 *   frame's cost depends on what is visible, not on how long the session has been.
 *
 * - page-size: everything the page of `entrechat ui` loads (index.html, app.js, app.css, as
 *   `npm run build` makes them), gzipped, against the 100 KB budget of issue 10. Goal: ratio ≤ 1.
 *
 * Each measurement alternates ours and the baseline for several short rounds and reports the medians
 * and the median of the per-round ratios.
 *
 * Then the Tor benchmarks (bench/tor.ts, a few minutes on their own private network): session-setup,
 * message-rtt, pairs-20, tor-bootstrap-warm, session-rss and ui-rss. `--no-tor` skips them; `--only-tor` runs
 * them alone. `--only NAME,…` runs the rows whose names start with these (e.g. `--only page-size`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createCipheriv, createDecipheriv, diffieHellman, hash, randomBytes, type KeyObject } from 'node:crypto';
import { encodeHello } from '../src/core/hello.ts';
import { IDLE_DEFAULT, MAX_SESSION_DEFAULT, RECORD_PLAINTEXT_SIZE, TEXT_CHUNK_BYTES } from '../src/core/limits.ts';
import { createHandshake, ENTRECHAT_NOISE_HASH } from '../src/core/noise.ts';
import { decodeRecord, encodeRecord } from '../src/core/records.ts';
import { x25519FromSecret, x25519PublicKey } from '../src/core/x25519.ts';
import { applyEvent, createModel, type ChatModel } from '../src/cli/chat/model.ts';
import { renderFrame, WrapCache } from '../src/cli/chat/screen.ts';
import { buildPage, PAGE_FILES } from '../scripts/build.ts';
import { cliHelp } from './startup.ts';
import { torBenchmarks, type TorResult } from './tor.ts';
import { median } from './stats.ts';

/** One line of output; `diff` (ours − baseline) where the goal is a difference. */
type Result = TorResult;

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

function kkHandshake(): { handshake: Result; floor: Result } {
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
  return {
    handshake: compare('kk-handshake', 'handshakes/s', 'ratio >= 0.85', () => rate(once), () => rate(rawDh) / 10),
    floor: compare('kk-handshake-floor', 'handshakes/s', 'information', () => rate(once), () => rate(kkFloor(a, b))),
  };
}

/**
 * The least any Noise_KK_25519_ChaChaPoly_BLAKE2s handshake over node:crypto must call, both sides,
 * done back to back with no protocol around it: 2 ephemeral key generations and 8 X25519 operations,
 * 4 public-key imports (each side's remote static and remote ephemeral), 66 BLAKE2s calls (per side:
 * 7 MixHash, and 13 HMACs of 2 hashes each for the 4 MixKey and Split, skipping the 2 outputs that
 * the next MixKey overwrites unread) and 4 ChaCha20-Poly1305 operations on the 450-byte payloads.
 * This is information, not a goal: it shows what of the gap to the X25519 bound is ours.
 */
function kkFloor(a: { privateKey: KeyObject; publicKey: Uint8Array }, b: { publicKey: Uint8Array }): () => void {
  const block = new Uint8Array(96);
  const payload = new Uint8Array(450);
  const key = randomBytes(32);
  const nonce = Buffer.alloc(12);
  const aead = (): void => {
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    c.update(payload);
    c.final();
    c.getAuthTag();
  };
  return () => {
    for (let side = 0; side < 2; side++) {
      x25519FromSecret(randomBytes(32));
      x25519PublicKey(b.publicKey);
      const remote = x25519PublicKey(b.publicKey);
      for (let k = 0; k < 4; k++) diffieHellman({ privateKey: a.privateKey, publicKey: remote });
      for (let k = 0; k < 33; k++) hash('blake2s256', block, 'buffer');
      aead();
      aead();
    }
  };
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
  // As the session machine does it: one plaintext buffer per connection, zeroed after sealing.
  const scratch = new Uint8Array(RECORD_PLAINTEXT_SIZE);
  const ours = (): void => {
    const sealed = send.encrypt(encodeRecord({ type: 'TEXT', id: 1, more: false, chunk }, scratch));
    scratch.fill(0);
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

/** Messages of mixed length: 1 to 600 words (the longest near the 16 KiB message limit's scale). */
const CHAT_TEXTS: readonly string[] = [1, 5, 12, 40, 3, 120, 8, 600, 20, 2].map((n, i) =>
  Array.from({ length: n }, (_, k) => `word${String(i)}${String(k)}`).join(' '));

/**
 * Frame time with 10,000 messages in the session against 10, in microseconds: each frame is what the
 * chat does when a message arrives (the model takes it, the screen is drawn with its cache).
 */
function chatFrame(): Result {
  const size = { cols: 100, rows: 30 };
  const input = { text: '', cursorColumn: 0 };
  const style = { color: true };
  const connected = { type: 'active', tag: '0123456789abcdef', idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT, initiator: true } as const;
  const session = (messages: number, screenEntries?: number): () => void => {
    const model: ChatModel = createModel('bob', 'own', screenEntries);
    applyEvent(model, connected, { mono: 0, wall: 0 });
    let id = 0;
    const arrive = (): void => {
      applyEvent(model, { type: 'message', id, text: CHAT_TEXTS[id % CHAT_TEXTS.length] ?? '' }, { mono: id, wall: id * 1000 });
      id += 1;
    };
    for (let i = 0; i < messages; i++) arrive();
    const cache = new WrapCache();
    return () => {
      arrive();
      renderFrame(model, input, size, id, { style, cache });
    };
  };
  // The short session keeps 10 entries, so that it stays at 10 messages however many frames are drawn.
  const long = session(10_000);
  const short = session(10, 10);
  return compare('chat-frame', 'µs/frame', 'ratio <= 2', () => 1e6 / rate(long), () => 1e6 / rate(short));
}

/** The page's budget: 100 KB gzipped for everything it loads. */
const PAGE_BUDGET_BYTES = 100 * 1000;

/** Bytes of the page's files once gzipped (level 9, as a server or a proxy would send them at most). */
function pageSize(): Result {
  const dir = mkdtempSync(join(tmpdir(), 'ec-bench-page-'));
  try {
    buildPage(dir);
    const bytes = PAGE_FILES.reduce((sum, f) => sum + gzipSync(readFileSync(join(dir, f)), { level: 9 }).length, 0);
    return { name: 'page-size', ours: bytes, baseline: PAGE_BUDGET_BYTES, unit: 'B gzipped', ratio: Number((bytes / PAGE_BUDGET_BYTES).toFixed(3)), goal: 'ratio <= 1' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const json = process.argv.includes('--json');
const noTor = process.argv.includes('--no-tor');
const onlyTor = process.argv.includes('--only-tor');
/** `--only NAME[,NAME…]`: the rows whose names start with these. */
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? (process.argv[onlyAt + 1] ?? '').split(',').filter((n) => n !== '') : undefined;
if (noTor && onlyTor) {
  console.error('--no-tor and --only-tor exclude each other');
  process.exit(2);
}
const print = (r: Result): void => {
  if (json) console.log(JSON.stringify(r));
  else console.log(`${r.name.padEnd(18)} ours ${String(r.ours).padStart(9)} ${r.unit.padEnd(13)} baseline ${String(r.baseline).padStart(9)}  ratio ${r.ratio.toFixed(3)}${r.diff !== undefined ? `  diff ${String(r.diff)} ${r.unit}` : ''}  (goal ${r.goal})`);
};
const LOCAL_ROWS: readonly (readonly [string, () => Result[]])[] = [
  ['kk-handshake', () => { const kk = kkHandshake(); return [kk.handshake, kk.floor]; }],
  ['record-seal-open', () => [recordSealOpen()]],
  ['chat-frame', () => [chatFrame()]],
  ['cli-help', () => [cliHelp()]],
  ['page-size', () => [pageSize()]],
];
const picks = (name: string): boolean => only?.some((n) => name.startsWith(n)) ?? !onlyTor;
for (const [name, run] of LOCAL_ROWS) if (picks(name)) for (const r of run()) print(r);
/** `--only` names no local row only: the rest are Tor rows. */
const onlyLocal = only !== undefined && only.every((n) => LOCAL_ROWS.some(([name]) => name.startsWith(n)));
if (!noTor && !onlyLocal) {
  try {
    await torBenchmarks({ onResult: print, ...(only !== undefined ? { only } : {}) });
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  }
}
