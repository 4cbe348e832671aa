import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runVectorFile, runVectors, VectorFileError } from '../../scripts/vectors.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const IN_REPO = new URL('../vectors/noise-kk.json', import.meta.url);
const SHARED = new URL('../../../shared/vectors/noise-vectors.json', import.meta.url);

interface Vector { protocol_name: string; messages: { payload: string; ciphertext: string }[]; handshake_hash?: string; [k: string]: unknown }

function loadInRepo(): { vectors: Vector[] } {
  return JSON.parse(readFileSync(IN_REPO, 'utf8')) as { vectors: Vector[] };
}

/** Runs the CLI as a child process; returns exit code, last stdout line and stderr. */
function cli(file: string): { status: number | null; lines: string[]; last: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/vectors.ts', file], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  const lines = result.stdout.trimEnd().split('\n');
  return { status: result.status, lines, last: lines.at(-1) ?? '', stderr: result.stderr };
}

function withTempFile(content: string, body: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'entrechat-vectors-'));
  try {
    const path = join(dir, 'vectors.json');
    writeFileSync(path, content);
    body(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Changes one hex byte of `text` (xor 0x01 on its low bit). */
function tamperHexByte(text: string, byteIndex: number): string {
  const at = byteIndex * 2;
  const byte = parseInt(text.slice(at, at + 2), 16) ^ 0x01;
  return text.slice(0, at) + byte.toString(16).padStart(2, '0') + text.slice(at + 2);
}

test('in-repo KK vectors: all 12 pass (4 hashes x 3 sources)', () => {
  const data = loadInRepo();
  assert.equal(data.vectors.length, 12);
  for (const hash of ['BLAKE2s', 'BLAKE2b', 'SHA256', 'SHA512']) {
    assert.equal(data.vectors.filter((v) => v.protocol_name === `Noise_KK_25519_ChaChaPoly_${hash}`).length, 3);
  }
  const report = runVectorFile(IN_REPO);
  assert.deepEqual(report.failures, []);
  assert.equal(report.passed, 12);
  assert.equal(report.failed, 0);
  assert.equal(report.skipped, 0);
});

test('shared vectors file (../shared beside the repo): every KK vector passes, other patterns skipped', (t) => {
  if (!existsSync(SHARED)) {
    t.skip('../shared/vectors/noise-vectors.json not present');
    return;
  }
  const report = runVectorFile(SHARED);
  assert.deepEqual(report.failures, []);
  assert.equal(report.passed, 12);
  assert.equal(report.failed, 0);
  assert.ok(report.skipped > 0, 'XX and IK vectors are counted as skipped');
});

test('in-repo copy is the shared file\'s KK vectors, unchanged', (t) => {
  if (!existsSync(SHARED)) {
    t.skip('../shared/vectors/noise-vectors.json not present');
    return;
  }
  const shared = JSON.parse(readFileSync(SHARED, 'utf8')) as { vectors: Vector[] };
  const kk = shared.vectors.filter((v) => v.protocol_name.startsWith('Noise_KK_25519_ChaChaPoly_'));
  assert.deepEqual(loadInRepo().vectors, kk);
});

test('CLI: last line and exit code on the in-repo vectors (and the shared file when present)', () => {
  const ok = cli('test/vectors/noise-kk.json');
  assert.equal(ok.last, '12 passed, 0 failed');
  assert.equal(ok.status, 0);
  if (existsSync(SHARED)) {
    const shared = cli(fileURLToPath(SHARED));
    assert.equal(shared.last, '12 passed, 0 failed');
    assert.equal(shared.status, 0);
  }
});

test('a tampered ciphertext byte makes exactly that vector fail, named, and the CLI exit 1', () => {
  const data = loadInRepo();
  const target = data.vectors[5]!;
  target.messages[1]!.ciphertext = tamperHexByte(target.messages[1]!.ciphertext, 40);
  const report = runVectors(data);
  assert.equal(report.passed, 11);
  assert.equal(report.failed, 1);
  assert.ok(report.failures.length > 0);
  for (const line of report.failures) assert.ok(line.startsWith(`vector 5 (${target.protocol_name}): message 1`), line);
  assert.ok(report.failures.some((l) => l.includes('ciphertext written by the responder differs')));
  withTempFile(JSON.stringify(data), (path) => {
    const run = cli(path);
    assert.equal(run.last, '11 passed, 1 failed');
    assert.equal(run.status, 1);
    assert.ok(run.lines.some((l) => l.startsWith('FAIL vector 5')));
  });
});

test('a tampered transport ciphertext, payload or handshake hash is caught', () => {
  const cases: [string, (v: Vector) => void, string][] = [
    ['transport ciphertext', (v) => { v.messages[3]!.ciphertext = tamperHexByte(v.messages[3]!.ciphertext, 0); }, 'message 3'],
    ['payload', (v) => { v.messages[0]!.payload = tamperHexByte(v.messages[0]!.payload, 2); }, 'message 0'],
    ['handshake hash', (v) => { v.handshake_hash = tamperHexByte(v.handshake_hash!, 31); }, 'handshake hash'],
  ];
  for (const [what, tamper, expected] of cases) {
    const data = loadInRepo();
    tamper(data.vectors[0]!);
    const report = runVectors(data);
    assert.equal(report.failed, 1, what);
    assert.equal(report.passed, 11, what);
    assert.ok(report.failures.some((l) => l.startsWith('vector 0 ') && l.includes(expected)), `${what}: ${report.failures.join('; ')}`);
  }
});

test('unsupported protocols and non-empty psks are skipped, not failed; a bare list is accepted', () => {
  const [first] = loadInRepo().vectors;
  const psk = { ...first!, protocol_name: 'Noise_KKpsk0_25519_ChaChaPoly_BLAKE2s', init_psks: ['00'.repeat(32)], resp_psks: ['00'.repeat(32)] };
  const kkWithPsk = { ...first!, init_psks: ['00'.repeat(32)] };
  const emptyPsks = { ...first!, init_psks: [], resp_psks: [] };
  const other = { ...first!, protocol_name: 'Noise_XX_25519_AESGCM_SHA256' };
  const report = runVectors([first, psk, kkWithPsk, emptyPsks, other, 'not a vector']);
  assert.deepEqual(report.failures, []);
  assert.equal(report.passed, 2);
  assert.equal(report.skipped, 4);
  assert.equal(report.failed, 0);
});

test('a supported vector with a missing or malformed field fails, naming the field', () => {
  const [first] = loadInRepo().vectors;
  const missing: Record<string, unknown> = { ...first! };
  delete missing.init_static;
  const report = runVectors([missing, { ...first!, resp_ephemeral: 'zz' }]);
  assert.equal(report.failed, 2);
  assert.match(report.failures[0]!, /init_static/);
  assert.match(report.failures[1]!, /resp_ephemeral/);
});

test('unreadable, non-JSON or wrongly shaped files: VectorFileError in-process, exit 2 with a message from the CLI', () => {
  assert.throws(() => runVectorFile('/nonexistent/vectors.json'), VectorFileError);
  assert.throws(() => runVectors({ something: [] }), VectorFileError);
  const missing = cli('/nonexistent/vectors.json');
  assert.equal(missing.status, 2);
  assert.ok(missing.stderr.trim().length > 0, 'says why on stderr');
  assert.equal(missing.last, '', 'no result line');
  withTempFile('{ not json', (path) => {
    assert.throws(() => runVectorFile(path), VectorFileError);
    const run = cli(path);
    assert.equal(run.status, 2);
    assert.ok(run.stderr.trim().length > 0, 'says why on stderr');
  });
});
