/**
 * The tor process owner: finding tor, spawning it, stopping by pid (with the SIGKILL fallback for a
 * process that ignores SIGTERM, as a deadlocked tor does), the pid-reuse guard of stopPid, and waitForFile.
 * Every process started here is stopped and every folder removed, even when a test fails.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TorError } from '../../src/core/errors.ts';
import {
  spawnProcess,
  spawnTor,
  stopPid,
  stopPidsSync,
  stopTor,
  torBinary,
  waitForFile,
  type TorProcess,
} from '../../src/tor/proc.ts';
import { allowedOption, checkTorConfig, TORRC_ALLOWED } from '../../src/tor/torrc.ts';

const started: TorProcess[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(started.map((p) => stopTor(p, 500)));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'entrechat-torproc-'));
  dirs.push(d);
  return d;
}

function track(p: TorProcess): TorProcess {
  started.push(p);
  return p;
}

/** Whether `pid` is a live process (a zombie awaiting its reaping does not count). */
function alive(pid: number): boolean {
  try {
    return !/\) [ZXx] /.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}

/** A node process that ignores SIGTERM (as a deadlocked tor does) and says so on stdout once it does. */
function stubborn(marker: string, detached = false): TorProcess {
  const script = "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000);";
  return track(spawnProcess(process.execPath, ['-e', script, marker], { detached }));
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const codeOf = (e: unknown): string | undefined => (e instanceof TorError ? e.code : undefined);

test('torBinary: ENTRECHAT_TOR, PATH, and TOR_NOT_FOUND naming apt-get install tor', () => {
  const found = torBinary();
  assert.ok(found.startsWith('/'));
  assert.equal(torBinary({ ENTRECHAT_TOR: found }), found);
  assert.equal(torBinary({ ENTRECHAT_TOR: 'tor', PATH: '/nonexistent:/usr/bin' }), '/usr/bin/tor');
  assert.throws(() => torBinary({ PATH: '/nonexistent' }), (e: unknown) => {
    assert.equal(codeOf(e), 'TOR_NOT_FOUND');
    assert.match((e as Error).message, /apt-get install tor/);
    return true;
  });
  assert.throws(() => torBinary({ ENTRECHAT_TOR: '/nonexistent/tor' }), (e: unknown) => codeOf(e) === 'TOR_NOT_FOUND');
  assert.throws(() => spawnTor(['--version'], { env: { PATH: '/nonexistent' } }), (e: unknown) => codeOf(e) === 'TOR_NOT_FOUND');
});

test('spawnProcess: a missing program is TOR_NOT_FOUND, a missing working folder TOR_SPAWN_FAILED', async () => {
  assert.throws(() => spawnProcess('/nonexistent/tor', []), (e: unknown) => codeOf(e) === 'TOR_NOT_FOUND');
  const gone = join(await tempDir(), 'missing');
  assert.throws(() => spawnTor(['--version'], { cwd: gone }), (e: unknown) => codeOf(e) === 'TOR_SPAWN_FAILED');
});

test('spawnTor --version: exits 0, its output is in the tail', async () => {
  const p = track(spawnTor(['--version']));
  assert.ok(p.pid > 1);
  const status = await p.exited;
  assert.deepEqual(status, { code: 0, signal: null });
  assert.equal(p.hasExited(), true);
  assert.match(p.stderrTail(), /Tor version 0\.4\./);
  await stopTor(p); // after exit: nothing to do, resolves at once
});

test('a sleeping tor (DisableNetwork 1): pid file awaited, stopped by SIGTERM quickly, stop is idempotent', async () => {
  const dir = await tempDir();
  const pidFile = join(dir, 'tor.pid');
  const p = track(spawnTor([
    '--ignore-missing-torrc', '-f', '/dev/null', '--DataDirectory', join(dir, 'data'), '--DisableNetwork', '1',
    '--SocksPort', '0', '--PidFile', pidFile, '--GeoIPFile', '', '--GeoIPv6File', '', '--Log', 'notice stdout',
  ], { cwd: dir }));
  const content = await waitForFile(pidFile, {
    timeoutMs: 30_000,
    onTimeout: () => new Error(`no pid file; tor said: ${p.stderrTail()}`),
    failIf: () => (p.hasExited() ? new Error(`tor exited: ${p.stderrTail()}`) : undefined),
  });
  assert.equal(Number(content.toString().trim()), p.pid);
  assert.ok(alive(p.pid));
  const t0 = Date.now();
  await Promise.all([stopTor(p), stopTor(p)]);
  assert.ok(Date.now() - t0 < 5_000, 'tor stopped within the grace');
  assert.equal(p.hasExited(), true);
  const status = await p.exited;
  assert.notEqual(status.signal, 'SIGKILL');
  assert.equal(alive(p.pid), false);
  await stopTor(p);
});

test('stopTor: SIGKILL after the grace for a process that ignores SIGTERM', async () => {
  const p = stubborn('entrechat-stubborn-a');
  await until(() => p.stderrTail().includes('ready'));
  const t0 = Date.now();
  await stopTor(p, 300);
  const took = Date.now() - t0;
  assert.ok(took >= 280, `waited the grace (${took} ms)`);
  assert.deepEqual(await p.exited, { code: null, signal: 'SIGKILL' });
  assert.equal(alive(p.pid), false);
});

test('stopPid: only a live pid whose command line holds the marker; SIGKILL fallback; false once gone', async () => {
  const marker = `entrechat-stubborn-${process.pid}-${Date.now()}`;
  const p = stubborn(marker, true);
  await until(() => p.stderrTail().includes('ready'));
  assert.equal(await stopPid(p.pid, 'not-the-marker', 100), false);
  assert.ok(alive(p.pid), 'a pid whose command line does not match is left alone');
  assert.equal(await stopPid(p.pid, '', 100), false);
  assert.equal(await stopPid(0, marker), false);
  assert.equal(await stopPid(-1, marker), false);
  assert.equal(await stopPid(1, marker), false);
  const t0 = Date.now();
  assert.equal(await stopPid(p.pid, marker, 300), true);
  assert.ok(Date.now() - t0 >= 280);
  assert.equal(alive(p.pid), false);
  assert.deepEqual(await p.exited, { code: null, signal: 'SIGKILL' });
  assert.equal(await stopPid(p.pid, marker, 100), false);
});

test('stopPid: a process that honours SIGTERM stops within the grace', async () => {
  const marker = `entrechat-polite-${process.pid}-${Date.now()}`;
  const p = track(spawnProcess(process.execPath, ['-e', "console.log('ready'); setInterval(() => {}, 1000);", marker]));
  await until(() => p.stderrTail().includes('ready'));
  assert.equal(await stopPid(p.pid, marker, 5_000), true);
  assert.deepEqual(await p.exited, { code: null, signal: 'SIGTERM' });
});

test('stopPidsSync: SIGTERM, then SIGKILL for the stubborn, only pids running as the marker', async () => {
  const marker = `entrechat-sync-${process.pid}-${Date.now()}`;
  const stubbornOne = stubborn(marker, true);
  const polite = track(spawnProcess(process.execPath, ['-e', "console.log('ready'); setInterval(() => {}, 1000);", marker], { detached: true }));
  const other = stubborn(`entrechat-other-${process.pid}-${Date.now()}`, true);
  await until(() => [stubbornOne, polite, other].every((p) => p.stderrTail().includes('ready')));
  assert.equal(stopPidsSync([stubbornOne.pid, polite.pid, other.pid, 0, -5], marker, 300), 2);
  assert.deepEqual(await polite.exited, { code: null, signal: 'SIGTERM' });
  assert.deepEqual(await stubbornOne.exited, { code: null, signal: 'SIGKILL' });
  assert.ok(alive(other.pid), 'a pid without the marker is left alone');
  await stopTor(other, 100);
});

test('release: the process runs on, unreferenced, and is still stopped by pid', async () => {
  const marker = `entrechat-released-${process.pid}-${Date.now()}`;
  const p = track(spawnProcess(process.execPath, ['-e', "console.log('ready'); setInterval(() => {}, 1000);", marker], { detached: true }));
  await until(() => p.stderrTail().includes('ready'));
  p.release();
  p.release();
  assert.ok(alive(p.pid));
  assert.equal(await stopPid(p.pid, marker), true);
  assert.equal(alive(p.pid), false);
  // (p.exited is not awaited: a released process no longer holds the event loop open.)
});

test('waitForFile: contents once non-empty, timeout error, abort reason, failIf', async () => {
  const dir = await tempDir();
  const file = join(dir, 'f');
  await writeFile(file, '');
  const pending = waitForFile(file, { timeoutMs: 5_000, onTimeout: () => new Error('timeout') });
  setTimeout(() => { void writeFile(file, 'PORT=127.0.0.1:1234\n'); }, 100);
  assert.equal((await pending).toString(), 'PORT=127.0.0.1:1234\n');

  const timeout = new TorError('TESTNET_NOT_READY', 'too slow');
  await assert.rejects(waitForFile(join(dir, 'never'), { timeoutMs: 120, onTimeout: () => timeout }), (e) => e === timeout);

  const ac = new AbortController();
  const reason = new Error('stop');
  setTimeout(() => { ac.abort(reason); }, 50);
  const t0 = Date.now();
  await assert.rejects(waitForFile(join(dir, 'never'), { timeoutMs: 10_000, intervalMs: 5_000, signal: ac.signal, onTimeout: () => new Error('timeout') }), (e) => e === reason);
  assert.ok(Date.now() - t0 < 2_000, 'abort ends the wait at once');
  await assert.rejects(waitForFile(join(dir, 'never'), { timeoutMs: 10_000, signal: AbortSignal.abort(reason), onTimeout: () => new Error('timeout') }), (e) => e === reason);

  const exited = new Error('exited');
  await assert.rejects(waitForFile(join(dir, 'never'), { timeoutMs: 10_000, onTimeout: () => new Error('timeout'), failIf: () => exited }), (e) => e === exited);
});

// --- the --tor-config allowlist against tor's own reading of a torrc ---

test('tor itself reads these spellings as refused options (so the refusals are real), and allowedOption refuses each', async () => {
  const dir = await tempDir();
  const cases: readonly (readonly [string, string])[] = [
    ['DataDir', 'DataDirectory'], ['CacheDir', 'CacheDirectory'], ['Cache', 'CacheDirectory'], ['c', 'CacheDirectory'],
    ['PidF', 'PidFile'], ['Lo', 'Log'], ['l', 'LearnCircuitBuildTimeout'], ['Bridg', 'Bridge'],
  ];
  for (const [key, canonical] of cases) {
    const file = join(dir, `${key}.torrc`);
    await writeFile(file, `${key} x\n`);
    const p = track(spawnTor(['--verify-config', '--ignore-missing-torrc', '-f', '/dev/null', '--defaults-torrc', file, '--DisableNetwork', '1']));
    await p.exited;
    const readAs = /Please use '([A-Za-z0-9_]+)' instead/.exec(p.stderrTail())?.[1];
    assert.equal(readAs, canonical, `tor reads ${key} as ${canonical}`);
    assert.equal(allowedOption(key), null, key);
    assert.throws(() => { checkTorConfig(`${key} x\n`); }, (e: unknown) => (e as { code?: string }).code === 'TOR_CONFIG_INVALID');
  }
});

test('every option of the --tor-config allowlist is one this tor knows, by that exact name', () => {
  const known = new Set(execFileSync(torBinary(), ['--list-torrc-options'], { encoding: 'utf8' }).split('\n').map((l) => l.trim()));
  assert.ok(known.size > 100, 'tor listed its options');
  for (const { name } of TORRC_ALLOWED.values()) assert.ok(known.has(name), name);
});
