/**
 * Our tor killed (SIGKILL, by its pid) in each phase of a `talk` on the private Tor network, through
 * the real command line: bootstrap, publishing, waiting, handshake, closing (the active session is in
 * test/e2e/tor.test.ts, "tor is killed mid-session"). Each attempt ends with the code README § "If
 * Tor dies" documents for that phase, and leaves nothing: no tor of ours, an empty TMPDIR, the stores
 * byte-identical.
 *
 * The pid comes from /proc: the tor whose command line names the peer's own TMPDIR (its temp folder
 * is made there). Each phase is entered on the event that announces it, and the test checks afterwards
 * that the attempt was still in it when tor died (no later event came before `closed`).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { clientAuthSecretBase64, rendezvousPlan, wipePlan, ONION_VIRTUAL_PORT } from '../../src/core/derive.ts';
import { decodeContactCode } from '../../src/core/codes.ts';
import { withStore } from '../../src/app/identity.ts';
import { onionClientAuthAdd } from '../../src/tor/commands/client-auth.ts';
import type { ControlConnection } from '../../src/tor/control/connection.ts';
import { connectOnion } from '../../src/tor/socks.ts';
import { ClientTor, socksSocket, unixSocksPort } from '../helpers/client-tor.ts';
import { Fixture, run, type JsonEvent, type TalkProcess } from '../helpers/cli.ts';
import { eventually, homeSnapshot, snapshot, torsMentioning } from '../helpers/procs.ts';
import { sharedTestnet } from '../helpers/testnet.ts';

const fx = new Fixture();
let alice: { home: string; code: string };
let bob: { home: string; code: string };
let clientTorrc: string;
let stores: Map<string, Buffer>[] = [];

before(async () => {
  clientTorrc = (await sharedTestnet()).clientTorrc;
  [alice, bob] = await Promise.all([fx.identity(), fx.identity()]);
  assert.equal((await run(alice.home, ['contacts', 'add', 'bob', bob.code])).code, 0);
  assert.equal((await run(bob.home, ['contacts', 'add', 'alice', alice.code])).code, 0);
  stores = await Promise.all([alice.home, bob.home].map((h) => homeSnapshot(h)));
});

afterEach(async () => {
  const now = await Promise.all([alice.home, bob.home].map((h) => homeSnapshot(h)));
  assert.deepEqual(now, stores, 'every store is byte-identical');
});

after(async () => {
  await fx.cleanup();
});

const isClosed = (e: JsonEvent): boolean => e.event === 'closed';
const isPublished = (e: JsonEvent): boolean => e.event === 'progress' && e.step === 'published';
const isState = (state: string) => (e: JsonEvent): boolean => e.event === 'state' && e.state === state;

function talk(home: string, contact: string, tmp: string): TalkProcess {
  return fx.talk(home, [contact, '--tor-config', clientTorrc, '--window', '60'], { TMPDIR: tmp });
}

/** The pid of the tor a peer spawned (its command line names the peer's TMPDIR), once it runs. */
async function torOf(tmp: string, ms = 30_000): Promise<number> {
  let pid: number | undefined;
  const found = await eventually(async () => {
    [pid] = await torsMentioning(tmp);
    return pid !== undefined;
  }, ms);
  assert.ok(found && pid !== undefined, 'the peer runs a tor of its own');
  return pid;
}

/** The events before `closed`: what the attempt had reached when tor died. */
function beforeClosed(p: TalkProcess): JsonEvent[] {
  const i = p.events.findIndex(isClosed);
  return i === -1 ? p.events : p.events.slice(0, i);
}

/** Waits for the exit and checks its code, showing the last events and stderr if it differs. */
async function exitsWith(p: TalkProcess, code: number): Promise<void> {
  const actual = await p.exited;
  assert.equal(actual, code, `exit ${String(actual)}; last events ${JSON.stringify(p.events.slice(-4))}; stderr ${p.stderr.slice(-400)}`);
}

/** The attempt ended with Tor's death: `closed` with TOR_EXITED and no session, exit 6. */
async function endsWithTorExited(p: TalkProcess): Promise<void> {
  const closed = await p.waitFor(isClosed, 30_000);
  assert.equal(closed.code, 'TOR_EXITED', JSON.stringify(closed));
  assert.equal(closed.reason, 'error');
  assert.equal(closed.hadSession, false);
  await exitsWith(p, 6);
}

/** After a peer exited: no tor of its own runs, its TMPDIR is empty. */
async function assertNothingLeft(tmp: string): Promise<void> {
  assert.ok(await eventually(async () => (await torsMentioning(tmp)).length === 0, 10_000), 'no tor of ours is left running');
  assert.deepEqual([...(await snapshot(tmp)).keys()], [], 'nothing is left in TMPDIR');
}

/**
 * A tor of the test's own on the test network, holding Bob's client-authorization key for Alice's
 * onion of today: it can open a connection to Alice's listener as Bob's tor would, and then say nothing.
 */
class Intruder {
  readonly tor = new ClientTor();
  control: ControlConnection | null = null;
  socket: Socket | null = null;

  async start(): Promise<void> {
    this.control = await this.tor.start(clientTorrc, 'entrechat-intruder-', unixSocksPort);
  }

  /** Connects to Alice's onion with Bob's key (retrying while this tor or her descriptor are not ready). */
  async connectToAlice(): Promise<void> {
    const control = this.control;
    assert.ok(control !== null);
    const { onion, secret } = await withStore(bob.home, { noPassphrase: true }, (_content, identity) => {
      const plan = rendezvousPlan({ own: identity.key, ownPublic: identity.publicKey, peerPublic: decodeContactCode(alice.code), nowMs: Date.now() });
      try {
        const today = plan.days[0];
        assert.ok(today !== undefined);
        return { onion: today.peerOnion.address, secret: clientAuthSecretBase64(today.ownAuth.secret) };
      } finally {
        wipePlan(plan);
      }
    });
    await onionClientAuthAdd(control, { serviceId: onion, privateKeyBase64: secret });
    let last = '';
    for (let i = 0; i < 30; i += 1) {
      try {
        this.socket = await connectOnion({
          socks: { kind: 'unix', path: socksSocket(this.tor.dir) }, address: onion, port: ONION_VIRTUAL_PORT,
          isolation: randomBytes(8).toString('hex'), signal: AbortSignal.timeout(30_000), timeoutMs: 30_000,
        });
        this.socket.on('error', () => undefined);
        return;
      } catch (e) {
        last = (e as { code?: string }).code ?? 'unknown';
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    assert.fail(`the intruder never reached alice's onion: ${last}`);
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await this.tor.close();
  }
}

describe('our tor is killed in each phase of talk', () => {
  test('bootstrap, before its control port is up: TOR_EXITED, exit 6, nothing left', async () => {
    const ta = await fx.home();
    const a = talk(alice.home, 'bob', ta);
    // As soon as the process exists: tor has not written its control-port file yet (or only just).
    process.kill(await torOf(ta), 'SIGKILL');
    await endsWithTorExited(a);
    assert.ok(!beforeClosed(a).some((e) => e.event === 'window'), `killed before it was ready: ${JSON.stringify(a.events)}`);
    await assertNothingLeft(ta);
  });

  test('bootstrap, progress reported: TOR_EXITED, exit 6, nothing left', async () => {
    const ta = await fx.home();
    const a = talk(alice.home, 'bob', ta);
    const pid = await torOf(ta);
    await a.waitFor((e) => e.event === 'progress' && typeof e.percent === 'number' && e.percent < 100, 30_000);
    process.kill(pid, 'SIGKILL');
    await endsWithTorExited(a);
    assert.ok(!beforeClosed(a).some((e) => e.event === 'window'), `killed before 100 %: ${JSON.stringify(a.events)}`);
    await assertNothingLeft(ta);
  });

  test('publishing (ADD_ONION sent, no descriptor uploaded yet): TOR_EXITED, exit 6, nothing left', async () => {
    const ta = await fx.home();
    const a = talk(alice.home, 'bob', ta);
    const pid = await torOf(ta);
    await a.waitFor(isState('rendezvous'), 30_000);
    process.kill(pid, 'SIGKILL');
    await endsWithTorExited(a);
    assert.ok(!beforeClosed(a).some(isPublished), `killed before the upload: ${JSON.stringify(a.events)}`);
    await assertNothingLeft(ta);
  });

  test('waiting for the peer (published, dialling): TOR_EXITED, exit 6, nothing left', async () => {
    const ta = await fx.home();
    const a = talk(alice.home, 'bob', ta);
    const pid = await torOf(ta);
    await a.waitFor(isPublished, 30_000);
    process.kill(pid, 'SIGKILL');
    await endsWithTorExited(a);
    assert.ok(!beforeClosed(a).some(isState('handshaking')), JSON.stringify(a.events));
    await assertNothingLeft(ta);
  });

  describe('handshake', () => {
    const intruder = new Intruder();
    after(async () => { await intruder.close(); });

    test('a connection in its handshake (the dialler says nothing): TOR_EXITED, exit 6, nothing left', async () => {
      const ta = await fx.home();
      await intruder.start();
      const a = talk(alice.home, 'bob', ta);
      const pid = await torOf(ta);
      await a.waitFor(isPublished, 30_000);
      await intruder.connectToAlice();
      await a.waitFor(isState('handshaking'), 30_000);
      process.kill(pid, 'SIGKILL');
      await endsWithTorExited(a);
      assert.ok(!beforeClosed(a).some((e) => e.event === 'active'), JSON.stringify(a.events));
      await assertNothingLeft(ta);
    });
  });

  test('closing (CLOSE sent, the peer has not answered): the session ends as it was ending, quit, exit 0; nothing left', async () => {
    const [ta, tb] = [await fx.home(), await fx.home()];
    const a = talk(alice.home, 'bob', ta);
    const b = talk(bob.home, 'alice', tb);
    await Promise.all([a.waitFor((e) => e.event === 'active', 90_000), b.waitFor((e) => e.event === 'active', 90_000)]);
    const pid = await torOf(ta);
    // Bob's process stops reading (his tor runs on): Alice's CLOSE stays unanswered, she stays in closing.
    process.kill(b.pid, 'SIGSTOP');
    try {
      a.endInput();
      await a.waitFor(isState('closing'), 10_000);
      process.kill(pid, 'SIGKILL');
      const closed = await a.waitFor(isClosed, 30_000);
      assert.equal(closed.reason, 'quit', JSON.stringify(closed));
      assert.equal(closed.code, undefined);
      assert.equal(closed.hadSession, true);
      await exitsWith(a, 0);
    } finally {
      process.kill(b.pid, 'SIGCONT');
    }
    await assertNothingLeft(ta);
    // Bob reads Alice's CLOSE (or finds the connection gone): his attempt ends too, and leaves nothing.
    const cb = await b.waitFor(isClosed, 60_000);
    assert.ok(['peer_quit', 'connection_lost', 'peer_gone'].includes(String(cb.reason)), JSON.stringify(cb));
    await b.exited;
    await assertNothingLeft(tb);
  });
});
