/**
 * A session driven from the page: the server of `entrechat ui` in process (loopback route, short
 * limits) against the real command line's `talk --json` in a child process. Messages both ways through
 * the WebSocket, a reload within the grace, the page gone past it, the flood held back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUiServer, type UiServer } from '../../src/web/index.ts';
import { UI_SEND_BUFFER_MAX } from '../../src/core/limits.ts';
import { Fixture, freePort, type TalkProcess } from '../helpers/cli.ts';
import { filesContaining } from '../helpers/procs.ts';
import { fixtureAssets, Page, signIn } from '../helpers/ui.ts';

const fx = new Fixture();
let work = '';
let assets = '';
let alice: { home: string; code: string };
let bob: { home: string; code: string };
const servers: UiServer[] = [];
const pages: Page[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'entrechat-ui-session-'));
  assets = await fixtureAssets(join(work, 'assets'));
  ({ alice, bob } = await fx.pair());
});

after(async () => {
  for (const p of pages) p.ws.terminate();
  await Promise.all(servers.map((s) => s.close()));
  await fx.cleanup();
  await rm(work, { recursive: true, force: true });
});

/** Alice in the page (unlocked, her store has no passphrase), Bob on the command line; both in the window. */
async function meet(pageGrace = 30_000): Promise<{ page: Page; bob: TalkProcess; server: UiServer; cookie: string; exits: string[] }> {
  const [pa, pb] = [await freePort(), await freePort()];
  const exits: string[] = [];
  const server = await startUiServer({
    home: alice.home, assets, route: { kind: 'loopback', listenPort: pa, peerPort: pb }, limits: { window: 20_000 }, pageGrace,
    onExit: (why) => { exits.push(why); },
  });
  servers.push(server);
  const cookie = await signIn(server.url);
  const page = await Page.open(server.port, cookie);
  pages.push(page);
  await page.waitState((s) => s.identity === 'locked' && s.needsPassphrase === false);
  assert.equal(await page.code('unlock', { passphrase: 'a passphrase for a store that has none' }), 'STORE_PASSPHRASE_UNEXPECTED');
  assert.deepEqual(await page.ok('unlock', { passphrase: '' }), { code: alice.code });
  assert.equal(await page.ok('talk', { name: 'bob' }), null);
  await page.waitState((s) => s.session === 'bob');
  assert.equal(await page.code('talk', { name: 'bob' }), 'UI_SESSION_BUSY');
  const b = fx.talk(bob.home, ['alice', '--loopback-listen', `${pb}`, '--loopback-peer', `${pa}`, '--window', '20']);
  await Promise.all([page.waitEvent((e) => e.event === 'active'), b.waitFor((e) => e.event === 'active')]);
  return { page, bob: b, server, cookie, exits };
}

describe('a session from the page (loopback)', () => {
  test('messages both ways with delivered marks; Quit ends it for both; the state follows', async () => {
    const { page, bob: b } = await meet();
    assert.equal(page.events('state').some((e) => e.state === 'starting_tor'), false, 'no tor on loopback');
    const secret = `from the page ${randomBytes(8).toString('hex')} ✓ 👋`;
    const long = 'Ü'.repeat(8000);
    assert.deepEqual(await page.ok('send', { text: secret }), { id: 1 });
    assert.deepEqual(await page.ok('send', { text: long }), { id: 2 });
    assert.equal(await page.code('send', { text: '' }), 'MESSAGE_EMPTY');
    assert.equal(await page.code('send', { text: 'x'.repeat(16_385) }), 'MESSAGE_TOO_LONG');
    await b.waitFor((e) => e.event === 'message' && e.text === long);
    assert.equal(b.of('message')[0]?.text, secret);
    await page.waitEvent((e) => e.event === 'delivered' && e.id === 2);
    b.send('hi from the terminal');
    const got = await page.waitEvent((e) => e.event === 'message');
    assert.equal(got.text, 'hi from the terminal');
    for (const dir of [alice.home, work]) assert.deepEqual(await filesContaining(dir, secret), []);
    assert.equal(await page.ok('quit'), null);
    const closed = await page.waitEvent((e) => e.event === 'closed');
    assert.equal(closed.reason, 'quit');
    assert.equal(closed.hadSession, true);
    await page.waitState((s) => s.session === null);
    assert.equal(await b.exited, 0);
    assert.equal((await b.waitFor((e) => e.event === 'closed')).reason, 'peer_quit');
    assert.equal(await page.code('send', { text: 'late' }), 'SESSION_NOT_ACTIVE');
  });

  test('a reload within the grace reconnects to the running session; the page gone past it ends the session as /quit', async () => {
    const { page, bob: b, server, cookie } = await meet(1_500);
    page.close();
    await page.waitClosed();
    // Bob writes while no page is there: kept for the reload (and the peer is not read meanwhile).
    b.send('while you were away');
    await new Promise((r) => setTimeout(r, 300));
    const again = await Page.open(server.port, cookie);
    pages.push(again);
    await again.waitState((s) => s.session === 'bob');
    assert.equal((await again.waitEvent((e) => e.event === 'message')).text, 'while you were away');
    assert.deepEqual(await again.ok('send', { text: 'back' }), { id: 1 });
    await b.waitFor((e) => e.event === 'message' && e.text === 'back');
    // Gone for good: after the grace, the session ends as /quit; Bob sees the peer quit.
    again.close();
    await again.waitClosed();
    assert.equal(await b.exited, 0);
    assert.equal((await b.waitFor((e) => e.event === 'closed')).reason, 'peer_quit');
  });

  test('a page that does not read: the peer is not read either (what waits for the page stays bounded), then everything arrives', async () => {
    const { page, bob: b, server } = await meet();
    const socket = (page.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    // 19 MB from Bob: far more than the socket buffers between the process and the page, and UI_SEND_BUFFER_MAX.
    const n = 1200;
    const text = (i: number): string => `${String(i).padStart(4, '0')} ${'f'.repeat(16_000)}`;
    for (let i = 0; i < n; i++) b.send(text(i));
    // Until the marks stop: the socket buffers are full and the process no longer reads Bob.
    let last = -1;
    let peak = 0;
    for (let t = 0; t < 60 && b.of('delivered').length !== last; t++) {
      last = b.of('delivered').length;
      for (let k = 0; k < 20; k++) {
        peak = Math.max(peak, server.bufferedToPage);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.ok(last < n, `the process stopped reading Bob: ${last} of ${n} delivered`);
    assert.ok(peak <= UI_SEND_BUFFER_MAX + 64 * 1024, `what waits for the page stays bounded: ${peak} bytes`);
    socket.resume();
    await page.until(() => (page.events('message').length === n ? true : undefined), 120_000, 'every message');
    assert.deepEqual(page.events('message').map((e) => String(e.text).slice(0, 4)), Array.from({ length: n }, (_, i) => String(i).padStart(4, '0')));
    await b.waitFor(() => b.of('delivered').length === n, 30_000);
    await page.ok('quit');
    assert.equal(await b.exited, 0);
  });

  test('lock during a session ends it first; exit during a session ends it, locks, answers, exits', async () => {
    const first = await meet();
    assert.equal(await first.page.ok('lock'), null);
    assert.equal((await first.page.waitEvent((e) => e.event === 'closed')).reason, 'quit');
    await first.page.waitState((s) => s.identity === 'locked' && s.session === null);
    assert.equal(await first.bob.exited, 0);
    assert.equal(await first.page.code('talk', { name: 'bob' }), 'UI_LOCKED');

    const second = await meet();
    assert.equal(await second.page.ok('exit'), null);
    // The session ended before the answer.
    assert.equal(second.page.events('closed')[0]?.reason, 'quit');
    assert.equal(await second.bob.exited, 0);
    assert.equal((await second.bob.waitFor((e) => e.event === 'closed')).reason, 'peer_quit');
    assert.deepEqual(second.exits, ['exit']);
  });
});
