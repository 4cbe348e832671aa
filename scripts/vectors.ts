/**
 * Runs Noise test vectors (the Noise wiki's test-vector format) against src/core/noise.ts.
 *
 *   npm run vectors -- FILE
 *
 * FILE holds either a list of vectors or `{ "vectors": [...] }`. Every vector whose protocol we
 * implement (Noise_KK_25519_ChaChaPoly_{BLAKE2s,BLAKE2b,SHA256,SHA512}, no psk) is run; others are
 * counted as skipped. Message i is written by the initiator when i is even, by the responder when odd;
 * after the two handshake messages the Split() cipher states carry the rest. Each side is checked
 * against the vector independently: what we write must equal the vector's ciphertext, and what the
 * other side reads from the vector's ciphertext must equal the payload; the handshake hash, when
 * present, must match on both sides. Prints each failure, then as its last line `N passed, M failed`.
 * Exit code: 0 if nothing failed, 1 if a vector failed, 2 if the file cannot be read or parsed.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fromHex, hex, equalBytes } from '../src/core/bytes.ts';
import { isEntrechatError } from '../src/core/errors.ts';
import {
  createHandshake, NOISE_HASHES, noiseProtocolName, type CipherState, type NoiseHash,
} from '../src/core/noise.ts';
import { x25519FromSecret } from '../src/core/x25519.ts';

export interface VectorReport {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  /** One line per failure: vector index, protocol, message number and what differed. */
  readonly failures: readonly string[];
}

/** Thrown for a file that is not a vector file at all (as opposed to a vector that fails). */
export class VectorFileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'VectorFileError';
  }
}

const SUPPORTED = new Map<string, NoiseHash>(NOISE_HASHES.map((h) => [noiseProtocolName(h), h]));

/** A vector failed; carries the line to report. */
class Mismatch extends Error {}

/** Runs every vector in an already-parsed vector file. */
export function runVectors(data: unknown): VectorReport {
  const list = vectorList(data);
  let passed = 0;
  let skipped = 0;
  const failures: string[] = [];
  list.forEach((vector, index) => {
    const hash = supportedHash(vector);
    if (hash === undefined) {
      skipped++;
      return;
    }
    const label = `vector ${index} (${String((vector as Record<string, unknown>).protocol_name)})`;
    const problems = runOne(vector as Record<string, unknown>, hash);
    if (problems.length === 0) passed++;
    else for (const p of problems) failures.push(`${label}: ${p}`);
  });
  const failed = list.length - passed - skipped;
  return { passed, failed, skipped, failures };
}

/** Reads, parses and runs a vector file. @throws VectorFileError if unreadable or not JSON */
export function runVectorFile(path: string | URL): VectorReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new VectorFileError(`cannot read ${String(path)}`, { cause });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw new VectorFileError(`${String(path)} is not valid JSON`, { cause });
  }
  return runVectors(data);
}

function vectorList(data: unknown): readonly unknown[] {
  if (Array.isArray(data)) return data;
  if (typeof data === 'object' && data !== null && Array.isArray((data as { vectors?: unknown }).vectors)) {
    return (data as { vectors: unknown[] }).vectors;
  }
  throw new VectorFileError('expected a list of vectors or an object with a "vectors" list');
}

function supportedHash(vector: unknown): NoiseHash | undefined {
  if (typeof vector !== 'object' || vector === null) return undefined;
  const v = vector as Record<string, unknown>;
  const name = typeof v.protocol_name === 'string' ? v.protocol_name : v.name;
  if (typeof name !== 'string') return undefined;
  for (const field of ['init_psks', 'resp_psks']) {
    const psks = v[field];
    if (psks !== undefined && !(Array.isArray(psks) && psks.length === 0)) return undefined;
  }
  return SUPPORTED.get(name);
}

function bytesField(v: Record<string, unknown>, field: string): Uint8Array {
  const value = v[field];
  if (typeof value !== 'string') throw new Mismatch(`field ${field} is missing`);
  try {
    return fromHex(value);
  } catch {
    throw new Mismatch(`field ${field} is not hex`);
  }
}

function noRandom(): Uint8Array {
  throw new Error('a test vector must not draw randomness');
}

function describe(error: unknown): string {
  if (error instanceof Mismatch) return error.message;
  if (isEntrechatError(error)) return `threw ${error.name} ${error.code}`;
  return `threw ${error instanceof Error ? error.name : 'a non-error'}`;
}

/** Runs one supported vector; returns what differed (empty if it passed). */
function runOne(v: Record<string, unknown>, hash: NoiseHash): string[] {
  const problems: string[] = [];
  let where = 'setup';
  try {
    const side = (role: 'init' | 'resp') => createHandshake({
      hash, initiator: role === 'init', random: noRandom,
      prologue: bytesField(v, `${role}_prologue`),
      s: x25519FromSecret(bytesField(v, `${role}_static`)),
      rs: bytesField(v, `${role}_remote_static`),
      e: bytesField(v, `${role}_ephemeral`),
    });
    const init = side('init');
    const resp = side('resp');
    const messages = v.messages;
    if (!Array.isArray(messages) || messages.length < 2) throw new Mismatch('fewer than 2 messages');
    let transport: { init: { send: CipherState; recv: CipherState }; resp: { send: CipherState; recv: CipherState } } | undefined;
    for (let i = 0; i < messages.length; i++) {
      where = `message ${i}`;
      const m = messages[i] as Record<string, unknown>;
      const payload = bytesField(m, 'payload');
      const ciphertext = bytesField(m, 'ciphertext');
      const initiatorWrites = i % 2 === 0;
      const writerName = initiatorWrites ? 'initiator' : 'responder';
      const readerName = initiatorWrites ? 'responder' : 'initiator';
      let written: Uint8Array;
      if (i < 2) written = (initiatorWrites ? init : resp).writeMessage(payload);
      else if (transport === undefined) throw new Mismatch('no transport keys');
      else written = (initiatorWrites ? transport.init : transport.resp).send.encrypt(payload);
      if (!equalBytes(written, ciphertext)) {
        problems.push(`message ${i}: ciphertext written by the ${writerName} differs (got ${hex(written)})`);
      }
      where = `message ${i} (${readerName} reading)`;
      let read: Uint8Array;
      if (i < 2) read = (initiatorWrites ? resp : init).readMessage(ciphertext);
      else if (transport === undefined) throw new Mismatch('no transport keys');
      else read = (initiatorWrites ? transport.resp : transport.init).recv.decrypt(ciphertext);
      if (!equalBytes(read, payload)) {
        problems.push(`message ${i}: payload read by the ${readerName} differs (got ${hex(read)})`);
      }
      if (i === 1) {
        where = 'split';
        const a = init.split();
        const b = resp.split();
        transport = { init: a, resp: b };
        if (v.handshake_hash !== undefined) {
          const expected = bytesField(v, 'handshake_hash');
          if (!equalBytes(a.handshakeHash, expected)) problems.push(`handshake hash of the initiator differs (got ${hex(a.handshakeHash)})`);
          if (!equalBytes(b.handshakeHash, expected)) problems.push(`handshake hash of the responder differs (got ${hex(b.handshakeHash)})`);
        }
      }
    }
  } catch (error) {
    problems.push(`${where}: ${describe(error)}`);
  }
  return problems;
}

function main(args: readonly string[]): number {
  const file = args[0];
  if (file === undefined || args.length !== 1) {
    console.error('usage: npm run vectors -- FILE');
    return 2;
  }
  let report: VectorReport;
  try {
    report = runVectorFile(file);
  } catch (error) {
    if (!(error instanceof VectorFileError)) throw error;
    console.error(`vectors: ${error.message}`);
    return 2;
  }
  for (const line of report.failures) console.log(`FAIL ${line}`);
  if (report.skipped > 0) console.log(`${report.skipped} skipped (protocol not implemented)`);
  console.log(`${report.passed} passed, ${report.failed} failed`);
  return report.failed > 0 ? 1 : 0;
}

/** True when this file is the program being run (not imported by a test). */
function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false; // argv[1] is not a file (e.g. node -e): not run as a script
  }
}

if (isMain()) {
  process.exitCode = main(process.argv.slice(2));
}
