/**
 * The private Tor test network: the run's network lets a fresh client tor bootstrap to 100 %; `up` and
 * `down` refuse what is not theirs (non-empty folder, busy port, a folder without testnet.json); and the
 * real command line starts a network, is interrupted cleanly, and stops a network leaving no process.
 * Every tor started here is stopped and every folder removed, even when a test fails.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isEntrechatError } from '../../src/core/errors.ts';
import { spawnTor, stopPid, stopTor, waitForFile, type TorProcess } from '../../src/tor/proc.ts';
import { testnetDown, testnetDownSync, testnetUp } from '../../src/tor/testnet.ts';
import { freePort } from '../helpers/cli.ts';
import { sharedTestnet } from '../helpers/testnet.ts';

const BIN = fileURLToPath(new URL('../../bin/entrechat.js', import.meta.url));

const dirs: string[] = [];
const tors: TorProcess[] = [];
/** Folders that may hold a network started by a test: stopped (by pid, cmdline-guarded) at the end. */
const networks: string[] = [];

after(async () => {
  await Promise.all(tors.map((p) => stopTor(p)));
  for (const d of networks) {
    if (existsSync(join(d, 'testnet.json'))) await testnetDown(d).catch(() => undefined);
    await Promise.all(pidsNaming(d).map((pid) => stopPid(pid, `${d}/`)));
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** `entrechat testnet` processes still running. */
const clis = new Set<ReturnType<typeof spawn>>();

// An interrupted run ends this file's process with a signal (the runner sends SIGTERM), which skips the
// `after` hooks: exit instead, and end what this file started, synchronously, on the way out.
for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) process.once(sig, () => process.exit(128 + n));
process.on('exit', () => {
  for (const c of clis) c.kill('SIGTERM'); // `up` tears its network down on SIGTERM
  for (const p of tors) if (!p.hasExited()) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  for (const d of networks) testnetDownSync(d);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function tempDir(prefix = 'entrechat-testnet-test-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

const codeOf = (e: unknown): string | undefined => (isEntrechatError(e) ? e.code : undefined);

/** Live processes whose command line contains `dir/`. */
function pidsNaming(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (/\) [ZXx] /.test(readFileSync(`/proc/${name}/stat`, 'latin1'))) continue;
      if (readFileSync(`/proc/${name}/cmdline`).toString().split('\0').join(' ').includes(`${dir}/`)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function recordedPids(dir: string): number[] {
  const state = JSON.parse(readFileSync(join(dir, 'testnet.json'), 'utf8')) as { nodes: { pid: number | null }[] };
  return state.nodes.map((n) => n.pid).filter((p): p is number => p !== null);
}

/** One control-port exchange: sends `command`, resolves with the reply lines up to the final `250 `. */
function controlSession(port: number, cookieHex: string, command: string): Promise<string[]> {
  return new Promise((resolveReply, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { sock.destroy(new Error('control port did not answer')); }, 5_000);
    let buffer = '';
    let stage: 'auth' | 'cmd' = 'auth';
    const lines: string[] = [];
    sock.setEncoding('utf8');
    sock.on('connect', () => { sock.write(`AUTHENTICATE ${cookieHex}\r\n`); });
    sock.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\r\n')) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (stage === 'auth') {
          if (line !== '250 OK') { sock.destroy(new Error(`authentication refused: ${line}`)); return; }
          stage = 'cmd';
          sock.write(`${command}\r\n`);
        } else {
          lines.push(line);
          if (/^\d{3} /.test(line)) {
            clearTimeout(timer);
            sock.end('QUIT\r\n');
            resolveReply(lines);
            return;
          }
        }
      }
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

test('the run\'s network has a client.torrc with the joining lines only', async () => {
  const net = await sharedTestnet();
  const text = await readFile(net.clientTorrc, 'utf8');
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  assert.ok(lines.includes('TestingTorNetwork 1'));
  assert.ok(lines.includes('ClientUseIPv6 0'));
  assert.ok(lines.includes('PathsNeededToBuildCircuits 0.67'));
  assert.equal(lines.filter((l) => /^DirAuthority \w+ orport=\d+ no-v2 v3ident=[0-9A-F]{40} 127\.0\.0\.1:\d+ [0-9A-F]{40}$/.test(l)).length, 3);
  for (const forbidden of ['SocksPort', 'ControlPort', 'DataDirectory']) {
    assert.ok(!lines.some((l) => l.startsWith(forbidden)), `no ${forbidden} line`);
  }
  assert.match(text, /SocksPort auto ExtendedErrors/, 'the comment says what the owner adds');
});

test('a fresh client tor joins the run\'s network and reaches bootstrap 100 %', async () => {
  const net = await sharedTestnet();
  const data = await tempDir('entrechat-testnet-client-');
  const controlFile = join(data, 'control-port');
  const t0 = Date.now();
  const tor = spawnTor([
    '--defaults-torrc', '/dev/null', '-f', net.clientTorrc,
    '--DataDirectory', data, '--SocksPort', 'auto ExtendedErrors',
    '--ControlPort', 'auto', '--ControlPortWriteToFile', controlFile, '--CookieAuthentication', '1',
    '--Log', `notice file ${join(data, 'notice.log')}`, '--__OwningControllerProcess', String(process.pid),
  ], { cwd: data });
  tors.push(tor);
  try {
    const exitedEarly = (): Error | undefined => (tor.hasExited() ? new Error(`client tor exited: ${tor.stderrTail()}`) : undefined);
    const portLine = (await waitForFile(controlFile, { timeoutMs: 30_000, onTimeout: () => new Error('no control port file'), failIf: exitedEarly })).toString();
    const port = Number(/PORT=127\.0\.0\.1:(\d+)/.exec(portLine)?.[1]);
    const cookie = await waitForFile(join(data, 'control_auth_cookie'), { timeoutMs: 10_000, onTimeout: () => new Error('no cookie') });
    let phase = '';
    const deadline = Date.now() + 60_000;
    while (!/PROGRESS=100 /.test(phase)) {
      const failure = exitedEarly();
      if (failure !== undefined) throw failure;
      if (Date.now() > deadline) throw new Error(`bootstrap stuck: ${phase}`);
      phase = (await controlSession(port, cookie.toString('hex'), 'GETINFO status/bootstrap-phase')).join('\n');
      if (!/PROGRESS=100 /.test(phase)) await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(phase, /TAG=done/);
    process.stderr.write(`# client tor bootstrapped in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  } finally {
    await stopTor(tor);
  }
});

test('testnetUp refuses a non-empty folder (TESTNET_DIR_INVALID) and leaves it untouched', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'keep'), 'mine');
  await assert.rejects(testnetUp({ dir }), (e) => codeOf(e) === 'TESTNET_DIR_INVALID');
  assert.deepEqual(readdirSync(dir), ['keep']);
  const file = join(dir, 'keep');
  await assert.rejects(testnetUp({ dir: file }), (e) => codeOf(e) === 'TESTNET_DIR_INVALID');
});

test('testnetUp on an explicit busy base port: TESTNET_PORT_BUSY, nothing made; out of range: BAD_ARGUMENT', async () => {
  const busy = await freePort();
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(busy, '127.0.0.1', r));
  try {
    const dir = join(await tempDir(), 'net');
    await assert.rejects(testnetUp({ dir, basePort: busy - 4 }), (e) => codeOf(e) === 'TESTNET_PORT_BUSY');
    assert.equal(existsSync(dir), false);
    await assert.rejects(testnetUp({ dir, basePort: 80 }), (e) => codeOf(e) === 'BAD_ARGUMENT');
    await assert.rejects(testnetUp({ dir, basePort: 65_530 }), (e) => codeOf(e) === 'BAD_ARGUMENT');
    assert.equal(existsSync(dir), false);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('testnetDown refuses a folder without a testnet.json of ours (TESTNET_DIR_INVALID), touching nothing', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'keep'), 'mine');
  await assert.rejects(testnetDown(dir), (e) => codeOf(e) === 'TESTNET_DIR_INVALID');
  await assert.rejects(testnetDown(join(dir, 'missing')), (e) => codeOf(e) === 'TESTNET_DIR_INVALID');
  await writeFile(join(dir, 'testnet.json'), '{"marker":"something else"}');
  await assert.rejects(testnetDown(dir), (e) => codeOf(e) === 'TESTNET_DIR_INVALID');
  // A state file copied from another folder: its pids are not this folder's.
  await writeFile(join(dir, 'testnet.json'), JSON.stringify({
    marker: 'entrechat-testnet/1', dir: '/elsewhere', basePort: 20000, nodes: [{ nick: 'ecauth0', role: 'authority', pid: process.pid }],
  }));
  await assert.rejects(testnetDown(dir), (e) => codeOf(e) === 'TESTNET_DIR_INVALID');
  assert.deepEqual(readdirSync(dir).sort(), ['keep', 'testnet.json']);
});

test('testnetUp that fails or is aborted stops what it started and removes the folder', async (t) => {
  await t.test('not ready in time: TESTNET_NOT_READY, its tors stopped', async () => {
    const dir = join(await tempDir(), 'net');
    networks.push(dir);
    const lines: string[] = [];
    await assert.rejects(testnetUp({ dir, readyTimeoutMs: 1_500, onProgress: (l) => lines.push(l) }), (e) => codeOf(e) === 'TESTNET_NOT_READY');
    assert.ok(lines.some((l) => l.startsWith('started 3 authorities')), lines.join('\n'));
    assert.equal(existsSync(dir), false);
    assert.deepEqual(pidsNaming(dir), []);
  });

  await t.test('aborted while making keys: rejects with the reason, nothing recreated afterwards', async () => {
    const dir = join(await tempDir(), 'net');
    networks.push(dir);
    const ac = new AbortController();
    const reason = new Error('stop');
    const up = testnetUp({ dir, signal: ac.signal, onProgress: () => { ac.abort(reason); } });
    await assert.rejects(up, (e) => e === reason);
    assert.equal(existsSync(dir), false);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(existsSync(dir), false);
    assert.deepEqual(pidsNaming(dir), []);
  });

  await t.test('a tool that fails: TESTNET_SETUP_FAILED with its last output', async () => {
    const bin = await tempDir('entrechat-faketor-');
    const fake = join(bin, 'tor');
    await writeFile(fake, '#!/bin/sh\necho "fake tor refuses: $1" >&2\nexit 3\n', { mode: 0o755 });
    const dir = join(await tempDir(), 'net');
    const saved = process.env.ENTRECHAT_TOR;
    process.env.ENTRECHAT_TOR = fake;
    try {
      await assert.rejects(testnetUp({ dir }), (e) => {
        assert.equal(codeOf(e), 'TESTNET_SETUP_FAILED');
        assert.match((e as Error).message, /fake tor refuses/);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.ENTRECHAT_TOR;
      else process.env.ENTRECHAT_TOR = saved;
    }
    assert.equal(existsSync(dir), false);
  });
});

interface CliRun {
  readonly child: ReturnType<typeof spawn>;
  readonly out: () => string;
  readonly err: () => string;
  readonly exited: Promise<number | null>;
}

function cli(args: string[]): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  clis.add(child);
  const exited = new Promise<number | null>((r) => { child.on('close', (code) => { clis.delete(child); r(code); }); });
  return { child, out: () => out, err: () => err, exited };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('entrechat testnet: usage errors exit 2', async () => {
  const noDir = cli(['testnet', 'up']);
  assert.equal(await noDir.exited, 2);
  assert.match(noDir.err(), /\[BAD_ARGUMENT\]/);
  const notOurs = cli(['testnet', 'down', '--dir', await tempDir()]);
  assert.equal(await notOurs.exited, 6);
  assert.match(notOurs.err(), /\[TESTNET_DIR_INVALID\]/);
});

test('entrechat testnet up, interrupted by SIGINT: every tor it started is stopped, the folder removed', async () => {
  const dir = join(await tempDir(), 'net');
  networks.push(dir);
  const up = cli(['testnet', 'up', '--dir', dir]);
  await until(() => /started 3 authorities/.test(up.err()) || up.child.exitCode !== null, 60_000, 'the tors to start');
  const pids = recordedPids(dir);
  assert.equal(pids.length, 5);
  up.child.kill('SIGINT');
  assert.equal(await up.exited, 130, up.err());
  assert.equal(existsSync(dir), false);
  assert.deepEqual(pidsNaming(dir), []);
  for (const pid of pids) assert.equal(existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`).toString().includes(dir), false);
});

test('entrechat testnet up / down through the real command line', async () => {
  const parent = await tempDir();
  const dir = join(parent, 'net');
  await mkdir(dir, { mode: 0o700 }); // an empty folder is accepted
  networks.push(dir);
  const t0 = Date.now();
  const up = cli(['testnet', 'up', '--dir', dir]);
  const code = await up.exited;
  assert.equal(code, 0, up.err());
  const upMs = Date.now() - t0;
  assert.equal(up.out().trim(), join(dir, 'client.torrc'));
  assert.match(up.err(), /ready in/);
  const pids = recordedPids(dir);
  assert.equal(pids.length, 5);
  for (const pid of pids) assert.match(readFileSync(`/proc/${pid}/cmdline`).toString(), /tor/);
  assert.deepEqual(pidsNaming(dir).sort(), [...pids].sort(), 'exactly the recorded tors run, and they outlived `up`');

  const t1 = Date.now();
  const down = cli(['testnet', 'down', '--dir', dir]);
  assert.equal(await down.exited, 0, down.err());
  const downMs = Date.now() - t1;
  assert.equal(existsSync(dir), false);
  assert.deepEqual(pidsNaming(dir), []);
  assert.deepEqual(readdirSync(parent), []);
  process.stderr.write(`# entrechat testnet up: ${(upMs / 1000).toFixed(1)} s, down: ${(downMs / 1000).toFixed(1)} s (CLI start included)\n`);

  const again = cli(['testnet', 'down', '--dir', dir]);
  assert.equal(await again.exited, 6);
  assert.match(again.err(), /\[TESTNET_DIR_INVALID\]/);
});
