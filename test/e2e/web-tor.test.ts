/**
 * `entrechat ui` over the private Tor network: the page (a `ws` client) drives a real `ui` process
 * that spawns its own tor through --tor-config, against the command line's `talk --json`. Messages both
 * ways, the page's Quit, then nothing left: no tor, an empty TMPDIR, the stores byte-identical.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Fixture } from '../helpers/cli.ts';
import { eventually, filesContaining, homeSnapshot, snapshot, torsMentioning } from '../helpers/procs.ts';
import { sharedTestnet } from '../helpers/testnet.ts';
import { fixtureAssets, Page, signIn, startUiProcess } from '../helpers/ui.ts';

const fx = new Fixture();
let clientTorrc = '';
let assets = '';
const children: ChildProcessWithoutNullStreams[] = [];

before(async () => {
  clientTorrc = (await sharedTestnet()).clientTorrc;
  assets = await fixtureAssets(join(await fx.home(), 'assets'));
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await fx.cleanup();
});

describe('entrechat ui over the private Tor network', () => {
  test('the page talks with talk --json: both ways, Quit from the page, nothing left', async () => {
    const { alice, bob } = await fx.pair();
    const [ta, tb] = [await fx.home(), await fx.home()];
    const stores = [await homeSnapshot(alice.home), await homeSnapshot(bob.home)];
    const ui = await startUiProcess({ home: alice.home, assets, children, args: ['--tor-config', clientTorrc, '--window', '90'], env: { TMPDIR: ta } });
    const { child, url, exited } = ui;
    const page = await Page.open(Number(new URL(url).port), await signIn(url));
    await page.ok('unlock', { passphrase: '' });
    assert.deepEqual(await torsMentioning(ta), [], 'no tor before Talk');
    await page.ok('talk', { name: 'bob' });
    const b = fx.talk(bob.home, ['alice', '--tor-config', clientTorrc, '--window', '90'], { TMPDIR: tb });
    await page.waitEvent((e) => e.event === 'progress' && e.percent === 100, 90_000);
    await Promise.all([page.waitEvent((e) => e.event === 'active', 120_000), b.waitFor((e) => e.event === 'active', 120_000)]);
    assert.equal((await torsMentioning(ta)).length, 1, 'the ui process runs one tor during the session');

    const secret = `over tor from the page ${randomBytes(8).toString('hex')} 🧅`;
    assert.deepEqual(await page.ok('send', { text: secret }), { id: 1 });
    await b.waitFor((e) => e.event === 'message' && e.text === secret, 30_000);
    await page.waitEvent((e) => e.event === 'delivered' && e.id === 1, 30_000);
    b.send('hello page');
    assert.equal((await page.waitEvent((e) => e.event === 'message', 30_000)).text, 'hello page');
    for (const dir of [ta, tb, alice.home, bob.home]) assert.deepEqual(await filesContaining(dir, secret), []);

    await page.ok('quit');
    assert.equal((await page.waitEvent((e) => e.event === 'closed', 30_000)).reason, 'quit');
    assert.equal(await b.exited, 0);
    assert.equal((await b.waitFor((e) => e.event === 'closed')).reason, 'peer_quit');
    await page.waitState((s) => s.session === null);
    assert.ok(await eventually(async () => (await torsMentioning(ta)).length === 0, 15_000), 'the session’s tor is stopped; the ui process runs on');
    assert.equal(child.exitCode, null, 'the ui process is still there for the next Talk');
    await page.ok('exit');
    assert.equal(await exited, 0, ui.stderr());
    assert.deepEqual([...(await snapshot(ta)).keys()], [], 'nothing left in the ui process’s TMPDIR');
    assert.ok(await eventually(async () => (await torsMentioning(tb)).length === 0, 15_000));
    assert.deepEqual([...(await snapshot(tb)).keys()], []);
    assert.deepEqual(await homeSnapshot(alice.home), stores[0]);
    assert.deepEqual(await homeSnapshot(bob.home), stores[1]);
  });
});
