/**
 * `entrechat ui` as a process of the real command line: the URL on stdout (one line), the page's Exit,
 * SIGTERM, a missing build, options it refuses, talk's route options (--amnesic, --tor-control with
 * --tor-listen) taken and checked as for talk.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { ENTRY, Fixture, freePort, run } from '../helpers/cli.ts';
import { fixtureAssets, Page, signIn, startUiProcess, type UiProcess } from '../helpers/ui.ts';

const fx = new Fixture();
let work = '';
let assets = '';
const children: ChildProcessWithoutNullStreams[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'entrechat-ui-cli-'));
  assets = await fixtureAssets(join(work, 'assets'));
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await fx.cleanup();
  await rm(work, { recursive: true, force: true });
});

/** Starts `entrechat ui ARGS` and waits for its URL line. */
function startUi(home: string, args: string[] = [], env: Record<string, string> = {}): Promise<UiProcess> {
  return startUiProcess({ home, assets, children, args, env });
}

describe('entrechat ui, the process', () => {
  test('prints one line, the URL, and nothing of it on stderr; Exit in the page ends the process with 0', async () => {
    const { home } = await fx.identity();
    const ui = await startUi(home);
    assert.match(ui.url, /^http:\/\/127\.0\.0\.1:\d+\/open\?k=[A-Za-z0-9_-]{43}$/);
    const secret = new URL(ui.url).searchParams.get('k') ?? '';
    const page = await Page.open(Number(new URL(ui.url).port), await signIn(ui.url));
    await page.waitState((s) => s.identity === 'locked');
    assert.deepEqual(await page.ok('unlock', { passphrase: '' }), { code: (JSON.parse((await run(home, ['whoami', '--json'])).stdout) as { code: string }).code });
    assert.equal(await page.ok('exit'), null);
    assert.equal(await ui.exited, 0);
    assert.equal(ui.stdout().split('\n').filter((l) => l !== '').length, 1, 'one line on stdout');
    assert.ok(!ui.stderr().includes(secret), 'the secret is not on stderr');
  });

  test('SIGTERM ends it cleanly (0); so does the idle limit without a page (in process: web-server.test.ts)', async () => {
    const { home } = await fx.identity();
    const ui = await startUi(home);
    ui.child.kill('SIGTERM');
    assert.equal(await ui.exited, 0);
  });

  test('a missing build: UI_ASSETS_MISSING, exit 2; options of talk that make no sense here are refused', async () => {
    const home = await fx.home();
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'ui'], {
        env: { ...process.env, ENTRECHAT_HOME: home, TSX_DISABLE_CACHE: '1', ENTRECHAT_UI_ASSETS: join(work, 'no-such-folder') },
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.on('close', (code) => { resolve({ code, stderr }); });
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\[UI_ASSETS_MISSING\]/);
    assert.match(r.stderr, /npm run build/);
    for (const args of [['ui', '--json'], ['ui', 'bob'], ['ui', '--passphrase-file', '/dev/null']]) {
      const bad = await run(home, args);
      assert.equal(bad.code, 2, args.join(' '));
      assert.match(bad.stderr, /\[BAD_ARGUMENT\]/);
    }
  });

  test('every route option of talk: --amnesic and --tor-listen are taken, and checked as for talk', async () => {
    const { alice } = await fx.pair();
    for (const args of [
      ['ui', '--amnesic', '--loopback-listen', '1', '--loopback-peer', '2'],
      ['ui', '--amnesic', '--tor-control', '127.0.0.1:9051'],
      ['ui', '--tor-listen', '127.0.0.1:9000'],
      ['ui', '--tor-control', '127.0.0.1:9051', '--tor-listen', 'localhost'],
    ]) {
      const bad = await run(alice.home, args);
      assert.equal(bad.code, 2, args.join(' '));
      assert.match(bad.stderr, /\[(BAD_ARGUMENT|BAD_ADDRESS)\]/, args.join(' '));
    }
    const amnesic = await startUi(alice.home, ['--amnesic']);
    amnesic.child.kill('SIGTERM');
    assert.equal(await amnesic.exited, 0, amnesic.stderr());

    // A stand-in for a running tor's control port: nothing reaches it until Talk, then the session does.
    const seen: Socket[] = [];
    const control = createServer((s) => { seen.push(s); s.on('error', () => undefined); });
    await new Promise<void>((resolve) => { control.listen(0, '127.0.0.1', resolve); });
    try {
      const address = control.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      const ui = await startUi(alice.home, ['--tor-control', `127.0.0.1:${port}`, '--tor-listen', `127.0.0.1:${await freePort()}`, '--window', '20']);
      const page = await Page.open(Number(new URL(ui.url).port), await signIn(ui.url));
      await page.ok('unlock', { passphrase: '' });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(seen.length, 0, 'no connection before Talk');
      await page.ok('talk', { name: 'bob' });
      const deadline = Date.now() + 15_000;
      const reached = (): boolean => seen.length > 0;
      while (!reached() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(reached(), 'the session uses the tor of --tor-control');
      for (const s of seen) s.destroy();
      ui.child.kill('SIGTERM');
      assert.equal(await ui.exited, 0, ui.stderr());
    } finally {
      for (const s of seen) s.destroy();
      await new Promise<void>((resolve) => { control.close(() => { resolve(); }); });
    }
  });

  test('Ctrl-C during a session: the session ends as /quit for both, the process exits 0', async () => {
    const { alice, bob } = await fx.pair();
    const [pa, pb] = [await freePort(), await freePort()];
    const ui = await startUi(alice.home, ['--loopback-listen', `${pa}`, '--loopback-peer', `${pb}`, '--window', '20']);
    const page = await Page.open(Number(new URL(ui.url).port), await signIn(ui.url));
    await page.ok('unlock', { passphrase: '' });
    await page.ok('talk', { name: 'bob' });
    const b = fx.talk(bob.home, ['alice', '--loopback-listen', `${pb}`, '--loopback-peer', `${pa}`, '--window', '20']);
    await Promise.all([page.waitEvent((e) => e.event === 'active'), b.waitFor((e) => e.event === 'active')]);
    ui.child.kill('SIGINT');
    assert.equal((await page.waitEvent((e) => e.event === 'closed')).reason, 'quit');
    assert.equal(await ui.exited, 0);
    assert.equal(await b.exited, 0);
    assert.equal((await b.waitFor((e) => e.event === 'closed')).reason, 'peer_quit');
  });

  test('--open hands the URL to xdg-open (a stand-in here: no browser is opened), without a shell', async () => {
    const { home } = await fx.identity();
    const bin = join(work, 'bin');
    const seen = join(work, 'opened.txt');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s\\n' "$#" "$1" > '${seen}'\n`, { mode: 0o700 });
    const ui = await startUi(home, ['--open'], { PATH: `${bin}:${process.env.PATH ?? ''}` });
    const deadline = Date.now() + 10_000;
    let opened = '';
    while (Date.now() < deadline) {
      opened = await readFile(seen, 'utf8').catch(() => '');
      if (opened !== '') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(opened, `1\n${ui.url}\n`, 'one argument: the URL');
    await rm(seen);
    ui.child.kill('SIGTERM');
    assert.equal(await ui.exited, 0);
  });
});
