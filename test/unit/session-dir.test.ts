/**
 * Where a session's private folder goes: the first candidate whose unix socket paths fit (and have no
 * whitespace), made 0700; none fitting is TOR_SOCKET_PATH, never a silent fall back to TCP.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { UNIX_SOCKET_PATH_MAX } from '../../src/core/limits.ts';
import { LONGEST_SOCKET_NAME, makeSessionDir, SESSION_DIR_PREFIX, sessionDirCandidates, socketBaseFits } from '../../src/tor/session-dir.ts';

const root = mkdtempSync(join('/tmp', 'entrechat-sdir-'));
after(() => { rmSync(root, { recursive: true, force: true }); });

/** A folder whose path makes the longest socket path exactly `total` bytes. */
function baseOfSocketLength(total: number): string {
  const fixed = `${root}/`.length + `/${SESSION_DIR_PREFIX}XXXXXX/${LONGEST_SOCKET_NAME}`.length;
  const dir = join(root, 'd'.repeat(total - fixed));
  mkdirSync(dir, { recursive: true });
  return dir;
}

test('socketBaseFits: up to UNIX_SOCKET_PATH_MAX bytes, absolute, without whitespace or quotes', () => {
  assert.equal(socketBaseFits('/tmp'), true);
  assert.equal(socketBaseFits(baseOfSocketLength(UNIX_SOCKET_PATH_MAX)), true);
  assert.equal(socketBaseFits(baseOfSocketLength(UNIX_SOCKET_PATH_MAX + 1)), false);
  assert.equal(socketBaseFits('/tmp/with space'), false);
  assert.equal(socketBaseFits('/tmp/with\ttab'), false);
  assert.equal(socketBaseFits('/tmp/quote"d'), false);
  assert.equal(socketBaseFits('relative/tmp'), false);
  // Bytes, not characters: 40 two-byte characters are 80 bytes.
  assert.equal(socketBaseFits(`/tmp/${'é'.repeat(40)}`), false);
});

test('sessionDirCandidates: the temp folder given (else $TMPDIR), then $XDG_RUNTIME_DIR, then /tmp', () => {
  assert.deepEqual(sessionDirCandidates('/x', { XDG_RUNTIME_DIR: '/run/user/1000' }), ['/x', '/run/user/1000', '/tmp']);
  assert.deepEqual(sessionDirCandidates('/x', {}), ['/x', '/tmp']);
  assert.deepEqual(sessionDirCandidates(undefined, { XDG_RUNTIME_DIR: '' }), [tmpdir(), '/tmp']);
});

test('makeSessionDir: a long or spaced TMPDIR gives way to the next candidate; the folder is 0700', async () => {
  const long = baseOfSocketLength(UNIX_SOCKET_PATH_MAX + 20);
  const spaced = join(root, 'with space');
  mkdirSync(spaced);
  const short = join(root, 's');
  mkdirSync(short);
  const dir = await makeSessionDir([long, spaced, join(root, 'absent'), short]);
  assert.equal(dirname(dir), short);
  assert.ok(basename(dir).startsWith(SESSION_DIR_PREFIX));
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.ok(Buffer.byteLength(join(dir, LONGEST_SOCKET_NAME)) <= UNIX_SOCKET_PATH_MAX);
});

test('makeSessionDir: no candidate fits → TOR_SOCKET_PATH, and no folder is made', async () => {
  const long = baseOfSocketLength(UNIX_SOCKET_PATH_MAX + 1);
  const spaced = join(root, 'also spaced');
  mkdirSync(spaced);
  await assert.rejects(makeSessionDir([long, spaced, join(root, 'absent')]), (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, 'TOR_SOCKET_PATH');
    return true;
  });
  await assert.rejects(makeSessionDir([]), (e: unknown) => (e as { code?: unknown }).code === 'TOR_SOCKET_PATH');
  assert.deepEqual([...readdirSync(long), ...readdirSync(spaced)], []);
});
