/**
 * The folder where a spawned tor keeps its guards between sessions ($ENTRECHAT_HOME/tor): made 0700,
 * refused when it is a link, not a folder, another user's or open to others (TOR_STATE_UNSAFE); one
 * session at a time (TOR_STATE_LOCKED), a lock of a process that is gone taken over; the kept guard read
 * from tor's state file, and the guards in use from circuit-status.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  builtFirstHops, isTorLockMessage, keptPrimaryGuard, lockStateDir, parseStateGuards, prepareStateDir, primaryGuard, STATE_LOCK_NAME,
} from '../../src/tor/state-dir.ts';
import { TOR_STATE_FILE_MAX } from '../../src/core/limits.ts';

const root = mkdtempSync(join('/tmp', 'entrechat-state-'));
after(() => { rmSync(root, { recursive: true, force: true }); });
let n = 0;
function fresh(): string {
  n += 1;
  const home = join(root, `home${n}`);
  mkdirSync(home, { mode: 0o700 });
  return join(home, 'tor');
}

test('prepareStateDir makes the folder 0700 (whatever the umask) and accepts it again', async () => {
  const dir = fresh();
  const old = process.umask(0);
  try {
    await prepareStateDir(dir);
  } finally {
    process.umask(old);
  }
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  await prepareStateDir(dir);
});

test('prepareStateDir: a link, a file, a folder open to others or of another user → TOR_STATE_UNSAFE', async () => {
  const target = fresh();
  mkdirSync(target, { mode: 0o700 });
  const link = fresh();
  symlinkSync(target, link);
  await assert.rejects(prepareStateDir(link), { code: 'TOR_STATE_UNSAFE' }, 'a link to a good folder');
  const file = fresh();
  writeFileSync(file, '');
  await assert.rejects(prepareStateDir(file), { code: 'TOR_STATE_UNSAFE' }, 'a file');
  for (const mode of [0o750, 0o705, 0o777, 0o702]) {
    const dir = fresh();
    mkdirSync(dir);
    chmodSync(dir, mode);
    await assert.rejects(prepareStateDir(dir), { code: 'TOR_STATE_UNSAFE' }, mode.toString(8));
  }
  // Another user's (root can make one; others skip this case).
  if (process.getuid?.() === 0) {
    const dir = fresh();
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    await assert.rejects(prepareStateDir(dir), { code: 'TOR_STATE_UNSAFE' }, 'another uid');
  }
  const orphan = join(root, 'no-such-home', 'tor');
  await assert.rejects(prepareStateDir(orphan), { code: 'TOR_STATE_UNSAFE' }, 'no home folder: not made');
});

test('lockStateDir: one at a time (TOR_STATE_LOCKED), free again once released; only our lock is removed', async () => {
  const dir = fresh();
  await prepareStateDir(dir);
  const first = lockStateDir(dir);
  assert.throws(() => lockStateDir(dir), { code: 'TOR_STATE_LOCKED' });
  // Nothing but the lock is left (no temp name).
  assert.deepEqual(readdirSync(dir), [STATE_LOCK_NAME]);
  assert.equal(statSync(join(dir, STATE_LOCK_NAME)).mode & 0o777, 0o600);
  first.release();
  assert.equal(existsSync(join(dir, STATE_LOCK_NAME)), false);
  const second = lockStateDir(dir);
  first.release(); // idempotent, and not the holder any more
  assert.throws(() => lockStateDir(dir), { code: 'TOR_STATE_LOCKED' });
  second.release();
  assert.deepEqual(readdirSync(dir), []);
});

test('lockStateDir: a lock left by a process that is gone (or a reused pid) is taken over', async () => {
  const dir = fresh();
  await prepareStateDir(dir);
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const deadPid = Number(gone.stdout.toString());
  writeFileSync(join(dir, STATE_LOCK_NAME), `${deadPid} 12345\n`);
  const taken = lockStateDir(dir);
  assert.match(readFileSync(join(dir, STATE_LOCK_NAME), 'latin1'), new RegExp(`^${process.pid} \\d+\\n$`));
  taken.release();
  // Our own pid with another start time: a pid reused after a reboot.
  writeFileSync(join(dir, STATE_LOCK_NAME), `${process.pid} 1\n`);
  lockStateDir(dir).release();
  // Written where /proc gave no start time: a live pid holds it, a dead one does not.
  writeFileSync(join(dir, STATE_LOCK_NAME), `${process.pid} 0\n`);
  assert.throws(() => lockStateDir(dir), { code: 'TOR_STATE_LOCKED' });
  writeFileSync(join(dir, STATE_LOCK_NAME), `${deadPid} 0\n`);
  lockStateDir(dir).release();
  // A lock that is not a regular file, or is too big: refused, never followed.
  mkdirSync(join(dir, STATE_LOCK_NAME));
  assert.throws(() => lockStateDir(dir), { code: 'TOR_STATE_LOCKED' });
});

const STATE = `# Tor state file last generated on 2026-12-05 07:47:36 local time
CircuitBuildTimeBin 15 3
Dormant 0
Guard in=default rsa_id=0449BBD3F7995851916C98FC65B25C3124C27C98 nickname=ecauth2 sampled_on=2026-11-30T08:52:37 sampled_idx=0 sampled_by=0.4.9.11 listed=1 confirmed_on=2026-11-24T12:06:44 confirmed_idx=1 pb_circ_attempts=3.000000
Guard in=default rsa_id=37c99a0f573905e4733f101616abc346f6520b7e nickname=ecauth0 sampled_on=2026-11-25T23:29:28 sampled_idx=1 sampled_by=0.4.9.11 listed=1 confirmed_on=2026-11-25T12:06:44 confirmed_idx=0
Guard in=default rsa_id=4A239608A553937C9E5E54851FE68CAE6BD01F76 nickname=ecauth1 sampled_on=2026-11-30T18:02:24 sampled_idx=2 sampled_by=0.4.9.11 listed=1
Guard in=bridges rsa_id=5A239608A553937C9E5E54851FE68CAE6BD01F76 confirmed_idx=0
Guard in=default rsa_id=nothex confirmed_idx=0
Guard in=default rsa_id=6A239608A553937C9E5E54851FE68CAE6BD01F76 confirmed_idx=x
LastWritten 2026-12-05 07:47:36
`;

test("the kept guard: tor's state file's first confirmed guard in sample order, default selection only", () => {
  const guards = parseStateGuards(STATE);
  assert.deepEqual(guards.map((g) => [g.fingerprint.slice(0, 4), g.confirmedIdx, g.sampledIdx]), [['0449', 1, 0], ['37C9', 0, 1], ['4A23', null, 2], ['6A23', null, null]]);
  // Sampled first, confirmed second: tor uses it first (as a tor on the test network did).
  assert.equal(primaryGuard(STATE), '0449BBD3F7995851916C98FC65B25C3124C27C98');
  assert.equal(primaryGuard(STATE.replace('sampled_idx=0 ', 'sampled_idx=5 ')), '37C99A0F573905E4733F101616ABC346F6520B7E');
  assert.equal(primaryGuard('Guard in=default rsa_id=4A239608A553937C9E5E54851FE68CAE6BD01F76 listed=1\n'), null, 'none confirmed');
  assert.equal(primaryGuard(''), null);
  const dir = fresh();
  mkdirSync(dir, { mode: 0o700 });
  assert.equal(keptPrimaryGuard(dir), null, 'no state file');
  writeFileSync(join(dir, 'state'), STATE);
  assert.equal(keptPrimaryGuard(dir), '0449BBD3F7995851916C98FC65B25C3124C27C98');
  writeFileSync(join(dir, 'state'), STATE + '#'.repeat(TOR_STATE_FILE_MAX));
  assert.equal(keptPrimaryGuard(dir), null, 'over the bound: not read');
});

test('the guards in use: first hops of BUILT circuits in circuit-status', () => {
  const status = [
    '1 BUILT $0449BBD3F7995851916C98FC65B25C3124C27C98~ecauth2,$4A239608A553937C9E5E54851FE68CAE6BD01F76~ecauth1 BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL',
    '2 EXTENDED $37C99A0F573905E4733F101616ABC346F6520B7E~ecauth0 PURPOSE=GENERAL',
    '3 BUILT $0449bbd3f7995851916c98fc65b25c3124c27c98~ecauth2 PURPOSE=HS_VANGUARDS',
    '4 LAUNCHED',
  ].join('\n');
  assert.deepEqual(builtFirstHops(status), ['0449BBD3F7995851916C98FC65B25C3124C27C98']);
  assert.deepEqual(builtFirstHops(''), []);
});

test("tor's own lock message is recognised", () => {
  assert.equal(isTorLockMessage('Dec 05 [warn] It looks like another Tor process is running with the same data directory.  Waiting 5 seconds to see if it goes away.'), true);
  assert.equal(isTorLockMessage('[err] Reading config failed'), false);
});
