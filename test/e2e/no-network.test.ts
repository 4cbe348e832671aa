/**
 * No network outside a session: `init`, `whoami`, the `contacts` and `settings` commands make no socket() call, measured
 * with `strace -f` on the compiled command line (plain node: the TypeScript loader used in development
 * talks to its own IPC socket, which would hide nothing but would make the measure meaningless).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { torsMentioning } from '../helpers/procs.ts';
import { fixtureAssets, Page, signIn } from '../helpers/ui.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let work = '';
let entry = '';

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'entrechat-strace-'));
  const out = join(work, 'dist');
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out], { cwd: ROOT });
  // Compiled ES modules next to the project's packages.
  await writeFile(join(out, 'package.json'), '{"type":"module"}\n');
  await symlink(join(ROOT, 'node_modules'), join(out, 'node_modules'));
  entry = join(out, 'cli/entrechat.js');
});

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

interface Traced {
  readonly code: number;
  readonly stdout: string;
  /** The traced network calls (socket, socketpair, connect, bind…), one per line. */
  readonly calls: string[];
}

/** Runs `node ARGS` under `strace -f`, tracing every network system call of every thread and child. */
async function traced(args: string[], env: Record<string, string>): Promise<Traced> {
  const log = join(work, `trace-${String(Date.now())}-${Math.random().toString(16).slice(2)}.txt`);
  let code = 0;
  let stdout = '';
  try {
    ({ stdout } = await run('strace', ['-f', '-qq', '-e', 'trace=%network', '-o', log, process.execPath, ...args], { env: { ...process.env, ...env } }));
  } catch (e) {
    const failed = e as { code?: number; stdout?: string };
    code = failed.code ?? -1;
    stdout = failed.stdout ?? '';
  }
  const text = await readFile(log, 'utf8');
  await rm(log, { force: true });
  const calls = text.split('\n').filter((l) => /\b(socket|socketpair|connect|bind|listen|accept4?|sendto|sendmsg)\(/.test(l));
  return { code, stdout, calls };
}

describe('no network outside a session (strace -f)', () => {
  test('the measure can fail: a program that opens a TCP socket is caught', async () => {
    const r = await traced(['-e', "require('node:net').connect(9, '127.0.0.1').on('error', () => {})"], {});
    assert.ok(r.calls.some((l) => l.includes('socket(')), 'strace sees the socket() call');
  });

  test('init, whoami, every contacts command and settings make no socket() call and start no tor', async () => {
    const home = join(work, 'home');
    const other = join(work, 'other');
    const env = { ENTRECHAT_HOME: home };
    const init = await traced([entry, 'init', '--no-passphrase', '--json'], env);
    assert.equal(init.code, 0);
    const code = (JSON.parse(init.stdout) as { code: string }).code;
    const initOther = await traced([entry, 'init', '--no-passphrase', '--json'], { ENTRECHAT_HOME: other });
    const otherCode = (JSON.parse(initOther.stdout) as { code: string }).code;
    const who = await traced([entry, 'whoami', '--json'], env);
    assert.equal((JSON.parse(who.stdout) as { code: string }).code, code);
    const add = await traced([entry, 'contacts', 'add', 'bob', otherCode], env);
    assert.equal(add.code, 0);
    const list = await traced([entry, 'contacts', 'list', '--json'], env);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /bob/);
    const verify = await traced([entry, 'contacts', 'verify', 'bob', '--yes'], env);
    const rename = await traced([entry, 'contacts', 'rename', 'bob', 'robert'], env);
    const remove = await traced([entry, 'contacts', 'remove', 'robert'], env);
    const show = await traced([entry, 'settings', '--json'], env);
    const amnesic = await traced([entry, 'settings', 'amnesic', 'on'], env);
    const kept = await traced([entry, 'settings', 'amnesic', 'off'], env);
    for (const r of [verify, rename, remove, show, amnesic, kept]) assert.equal(r.code, 0);
    for (const [name, r] of [['init', init], ['init (other)', initOther], ['whoami', who], ['contacts add', add], ['contacts list', list],
      ['contacts verify', verify], ['contacts rename', rename], ['contacts remove', remove],
      ['settings', show], ['settings amnesic on', amnesic], ['settings amnesic off', kept]] as const) {
      assert.deepEqual(r.calls, [], `${name} makes no network system call`);
    }
    assert.deepEqual(await torsMentioning(work), [], 'no tor was started');
  });

  test('ui: the only socket is its listener on 127.0.0.1; it connects nowhere (page calls included)', async () => {
    const home = join(work, 'ui-home');
    const assets = await fixtureAssets(join(work, 'ui-assets'));
    const log = join(work, 'trace-ui.txt');
    const child = spawn('strace', ['-f', '-qq', '-e', 'trace=%network', '-o', log, process.execPath, entry, 'ui'], {
      env: { ...process.env, ENTRECHAT_HOME: home, ENTRECHAT_UI_ASSETS: assets },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<number | null>((resolve) => { child.on('close', resolve); });
    try {
      const deadline = Date.now() + 30_000;
      while (!out.includes('\n') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      const url = out.split('\n')[0] ?? '';
      const page = await Page.open(Number(new URL(url).port), await signIn(url));
      await page.waitState((s) => s.identity === 'none');
      await page.ok('create', { passphrase: 'a passphrase under strace' });
      await page.ok('contacts');
      await page.ok('whoami');
      await page.ok('exit');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    }
    const calls = (await readFile(log, 'utf8')).split('\n').filter((l) => /\b(socket|socketpair|connect|bind|listen|accept4?|sendto|sendmsg)\(/.test(l));
    const sockets = calls.filter((l) => /\bsocket\(/.test(l));
    assert.equal(sockets.length, 1, `one socket: ${sockets.join(' | ')}`);
    assert.match(sockets[0] ?? '', /socket\(AF_INET, SOCK_STREAM/);
    const binds = calls.filter((l) => /\bbind\(/.test(l));
    assert.equal(binds.length, 1);
    assert.match(binds[0] ?? '', /sin_addr=inet_addr\("127\.0\.0\.1"\)/);
    assert.deepEqual(calls.filter((l) => /\b(connect|socketpair|sendto|sendmsg)\(/.test(l)), [], 'no connection out');
    assert.deepEqual(await torsMentioning(work), [], 'no tor was started');
  });
});
