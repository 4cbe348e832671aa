/**
 * A session's tor on a kept folder that another tor holds (tor's own lock on its DataDirectory, not
 * ours: a second program, or our lock taken over as stale at the same instant): TOR_STATE_LOCKED, the
 * same refusal as our lock gives, and the folder is left as it was. No network: both tors have
 * DisableNetwork 1 (the second fails before it would reach anything).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSessionTor } from '../../src/tor/owner.ts';
import { spawnTor, stopTor, waitForFile, type TorProcess } from '../../src/tor/proc.ts';
import { STATE_LOCK_NAME } from '../../src/tor/state-dir.ts';

let holder: TorProcess | null = null;
let root = '';
after(async () => {
  if (holder !== null) await stopTor(holder, 500);
  if (root !== '') await rm(root, { recursive: true, force: true });
});

test("a kept folder that another tor holds (tor's lock) → TOR_STATE_LOCKED", { timeout: 60_000 }, async () => {
  root = await mkdtemp(join(tmpdir(), 'entrechat-torstate-'));
  const state = join(root, 'tor');
  await mkdir(state, { mode: 0o700 });
  holder = spawnTor(['--ignore-missing-torrc', '-f', '/dev/null', '--defaults-torrc', '/dev/null', '--DataDirectory', state,
    '--DisableNetwork', '1', '--SocksPort', '0', '--Log', 'notice stdout', '--ControlPort', 'auto', '--ControlPortWriteToFile', join(root, 'port')], { cwd: root });
  // Once it writes its control port file it holds its lock.
  await waitForFile(join(root, 'port'), { timeoutMs: 30_000, onTimeout: () => new Error('the holding tor did not start') });
  // DisableNetwork as torrc lines (the allowlist is for users' files): tor refuses before any network
  // anyway, the lock being taken when it reads its options.
  await assert.rejects(spawnSessionTor({ extraConfig: 'DisableNetwork 1\n', stateDir: state, tmp: root, onProgress: () => undefined, signal: AbortSignal.timeout(40_000) }), { code: 'TOR_STATE_LOCKED' });
  assert.ok(!(await readdir(state)).includes(STATE_LOCK_NAME), 'our lock is released');
  assert.deepEqual((await readdir(root)).filter((n) => n.startsWith('entrechat-')), [], 'the session folder is removed');
});
