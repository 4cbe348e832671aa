/**
 * End to end on the private Tor network: two peers as two processes of the real command line, each
 * spawning its own tor that joins the network through `--tor-config`, meeting on their derived onions.
 *
 * Every test gives each peer a TMPDIR of its own, so that the tor it spawns, its temp folder and
 * anything it might write can be found, and checks afterwards that nothing of it is left: no tor whose
 * command line names that folder, no file in it, the store byte-identical, the text nowhere.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { rendezvousPlan, wipePlan, ONION_VIRTUAL_PORT } from '../../src/core/derive.ts';
import { KEEPALIVE_INTERVAL, PEER_GONE_AFTER, UNIX_SOCKET_PATH_MAX } from '../../src/core/limits.ts';
import { withStore } from '../../src/app/identity.ts';
import { decodeContactCode } from '../../src/core/codes.ts';
import { onionClientAuthAdd } from '../../src/tor/commands/client-auth.ts';
import { circuitPurposes, parseCircuitLine } from '../../src/tor/commands/circuits.ts';
import { getInfo } from '../../src/tor/commands/getinfo.ts';
import { readTorConfig, spawnSessionTor } from '../../src/tor/owner.ts';
import { connectOnion } from '../../src/tor/socks.ts';
import { ClientTor, socksSocket, unixSocksPort } from '../helpers/client-tor.ts';
import { Fixture, run, type JsonEvent, type TalkProcess } from '../helpers/cli.ts';
import { eventually, filesContaining, homeSnapshot, snapshot, torsMentioning } from '../helpers/procs.ts';
import { sharedTestnet } from '../helpers/testnet.ts';

const fx = new Fixture();
let alice: { home: string; code: string };
let bob: { home: string; code: string };
let carol: { home: string; code: string };
let clientTorrc: string;
let stores: Map<string, Buffer>[] = [];

before(async () => {
  clientTorrc = (await sharedTestnet()).clientTorrc;
  [alice, bob, carol] = await Promise.all([fx.identity(), fx.identity(), fx.identity()]);
  for (const [home, name, code] of [
    [alice.home, 'bob', bob.code], [bob.home, 'alice', alice.code],
    // Alice's "mallory" entry holds Carol's code: talking to it while Bob talks to her is a wrong key on one side.
    [alice.home, 'mallory', carol.code],
  ] as const) {
    assert.equal((await run(home, ['contacts', 'add', name, code])).code, 0);
  }
  stores = await Promise.all([alice.home, bob.home, carol.home].map((h) => homeSnapshot(h)));
});


// After every test, whatever happened in it: the stores are byte-identical (a session never writes).
afterEach(async () => {
  const now = await Promise.all([alice.home, bob.home, carol.home].map((h) => homeSnapshot(h)));
  assert.deepEqual(now, stores, 'every store is byte-identical');
});

after(async () => {
  await fx.cleanup();
});

/** What Tor answers for an onion whose owner is not there (never published, or left earlier). */
const PEER_ABSENT = new Set(['PEER_ABSENT', 'TOR_HS_DESC_NOT_FOUND', 'TOR_HS_INTRO_FAILED', 'TOR_HS_REND_FAILED', 'TOR_HS_INTRO_TIMEOUT']);

const isActive = (e: JsonEvent): boolean => e.event === 'active';
const isClosed = (e: JsonEvent): boolean => e.event === 'closed';

/** Waits for the exit and checks its code, showing the last events and stderr if it differs. */
async function exitsWith(p: TalkProcess, code: number): Promise<void> {
  const actual = await p.exited;
  assert.equal(actual, code, `exit ${String(actual)}; last events ${JSON.stringify(p.events.slice(-4))}; stderr ${p.stderr.slice(-400)}`);
}

/** A peer's private TMPDIR: where its tor's temp folder goes. */
async function privateTmp(): Promise<string> {
  return fx.home();
}

function talk(home: string, contact: string, tmp: string, window = 90): TalkProcess {
  return fx.talk(home, [contact, '--tor-config', clientTorrc, '--window', String(window)], { TMPDIR: tmp });
}

/** After a peer exited: no tor of its own runs, its TMPDIR is empty. */
async function assertNothingLeft(tmp: string): Promise<void> {
  assert.ok(await eventually(async () => (await torsMentioning(tmp)).length === 0, 10_000), 'no tor of ours is left running');
  assert.deepEqual([...(await snapshot(tmp)).keys()], [], 'nothing is left in TMPDIR');
}

describe('sessions over the private Tor network', () => {
  test('a session opens, text flows both ways (short, long, Unicode), alice ends it, nothing is left', async () => {
    const [ta, tb] = [await privateTmp(), await privateTmp()];
    const storesBefore = [await homeSnapshot(alice.home), await homeSnapshot(bob.home)];
    assert.deepEqual(await torsMentioning(ta), [], 'no tor runs before talk');
    const a = talk(alice.home, 'bob', ta);
    const b = talk(bob.home, 'alice', tb);
    await a.waitFor((e) => e.event === 'progress' && e.percent === 100, 60_000);
    const [ea, eb] = await Promise.all([a.waitFor(isActive, 90_000), b.waitFor(isActive, 90_000)]);
    assert.equal(ea.session, eb.session, 'one session, the same on both sides');
    assert.equal((await torsMentioning(ta)).length, 1, 'alice runs one tor of her own during the session');

    const secret = `a secret ${randomBytes(8).toString('hex')}`;
    const long = `Ünïcødé ✓ 𝄞 ${randomBytes(4).toString('hex')} `.repeat(400);
    a.send(secret);
    a.send(long);
    b.send('hi alice 👋');
    await b.waitFor((e) => e.event === 'message' && e.text === long, 30_000);
    await a.waitFor((e) => e.event === 'message' && e.text === 'hi alice 👋', 30_000);
    await a.waitFor((e) => e.event === 'delivered' && e.id === 2, 30_000);
    assert.deepEqual(b.of('message').map((e) => e.text), [secret, long]);
    // Mid-session too: the text is in no file of either peer (tor's folder included).
    for (const dir of [ta, tb, alice.home, bob.home]) assert.deepEqual(await filesContaining(dir, secret), []);

    a.endInput();
    await exitsWith(a, 0);
    await exitsWith(b, 0);
    assert.equal((await a.waitFor(isClosed)).reason, 'quit');
    assert.equal((await b.waitFor(isClosed)).reason, 'peer_quit');
    assert.equal(a.of('active').length, 1);
    assert.equal(b.of('active').length, 1);

    await assertNothingLeft(ta);
    await assertNothingLeft(tb);
    assert.deepEqual(await homeSnapshot(alice.home), storesBefore[0], "alice's store is byte-identical");
    assert.deepEqual(await homeSnapshot(bob.home), storesBefore[1], "bob's store is byte-identical");
    for (const dir of [ta, tb, alice.home, bob.home]) {
      assert.deepEqual(await filesContaining(dir, secret), []);
      assert.deepEqual(await filesContaining(dir, 'hi alice'), []);
    }
  });

  test('only one peer shows up: the attempt ends at its deadline, window_expired, exit 4, nothing left', async () => {
    const ta = await privateTmp();
    const a = talk(alice.home, 'bob', ta, 20);
    const closed = await a.waitFor(isClosed, 90_000);
    assert.equal(closed.reason, 'window_expired');
    // Not published now (a descriptor left from an earlier session today answers "introduction failed").
    assert.ok(PEER_ABSENT.has(closed.code as string), JSON.stringify(closed));
    assert.equal(closed.hadSession, false);
    await exitsWith(a, 4);
    assert.equal(a.of('active').length, 0);
    await assertNothingLeft(ta);
  });

  test('a wrong key on one side: no session, a typed error on both sides', async () => {
    const [ta, tb] = [await privateTmp(), await privateTmp()];
    // Alice holds Carol's key where Bob's should be: the two sides derive different rendezvous.
    const a = talk(alice.home, 'mallory', ta, 20);
    const b = talk(bob.home, 'alice', tb, 20);
    const [ca, cb] = await Promise.all([a.waitFor(isClosed, 90_000), b.waitFor(isClosed, 90_000)]);
    for (const c of [ca, cb]) {
      assert.equal(c.reason, 'window_expired');
      assert.equal(c.hadSession, false);
    }
    // Alice looks for an onion nobody ever published; Bob for hers with him, which she does not publish.
    assert.equal(ca.code, 'TOR_HS_DESC_NOT_FOUND');
    assert.ok(PEER_ABSENT.has(String(cb.code)), `code ${String(cb.code)}`);
    await exitsWith(a, 4);
    await exitsWith(b, 4);
    await assertNothingLeft(ta);
    await assertNothingLeft(tb);
  });

  test('the peer process is killed mid-session: the survivor ends within the keepalive bound; the dead side leaves no tor', async () => {
    const [ta, tb] = [await privateTmp(), await privateTmp()];
    const a = talk(alice.home, 'bob', ta);
    const b = talk(bob.home, 'alice', tb);
    await Promise.all([a.waitFor(isActive, 90_000), b.waitFor(isActive, 90_000)]);
    const killedAt = Date.now();
    b.child.kill('SIGKILL');
    const closed = await a.waitFor(isClosed, PEER_GONE_AFTER + KEEPALIVE_INTERVAL + 10_000);
    assert.ok(Date.now() - killedAt <= PEER_GONE_AFTER + 5_000, 'within the keepalive bound');
    assert.ok(closed.reason === 'connection_lost' || closed.reason === 'peer_gone', `reason ${String(closed.reason)}`);
    await exitsWith(a, 5);
    await assertNothingLeft(ta);
    // Bob's tor dies with its owner (TAKEOWNERSHIP): no tor of his is left either.
    assert.ok(await eventually(async () => (await torsMentioning(tb)).length === 0, 15_000), "bob's tor ended with him");
    await rm(tb, { recursive: true, force: true }); // his process was killed: its temp folder is the one trace left
  });

  test("tor is killed mid-session: TOR_EXITED, exit 6, everything cleaned up; the peer sees the connection go", async () => {
    const [ta, tb] = [await privateTmp(), await privateTmp()];
    const a = talk(alice.home, 'bob', ta);
    const b = talk(bob.home, 'alice', tb);
    await Promise.all([a.waitFor(isActive, 90_000), b.waitFor(isActive, 90_000)]);
    const [torPid] = await torsMentioning(ta);
    assert.ok(torPid !== undefined, "alice's tor is found");
    process.kill(torPid, 'SIGKILL');
    const closed = await a.waitFor(isClosed, 30_000);
    assert.equal(closed.code, 'TOR_EXITED', JSON.stringify(closed));
    await exitsWith(a, 6);
    await assertNothingLeft(ta);
    const cb = await b.waitFor(isClosed, PEER_GONE_AFTER + 15_000);
    assert.ok(cb.reason === 'connection_lost' || cb.reason === 'peer_gone', `reason ${String(cb.reason)}`);
    await exitsWith(b, 5);
    await assertNothingLeft(tb);
  });
});

describe('signals from a terminal', () => {
  test('Ctrl-C (SIGINT to the whole process group) mid-session: a clean quit on both sides, exit 0, nothing left', async () => {
    const [ta, tb] = [await privateTmp(), await privateTmp()];
    const a = fx.talk(alice.home, ['bob', '--tor-config', clientTorrc, '--window', '90'], { TMPDIR: ta }, true);
    const b = talk(bob.home, 'alice', tb);
    await Promise.all([a.waitFor(isActive, 90_000), b.waitFor(isActive, 90_000)]);
    process.kill(-a.pid, 'SIGINT');
    await exitsWith(a, 0);
    await exitsWith(b, 0);
    assert.equal((await a.waitFor(isClosed)).reason, 'quit');
    assert.equal((await b.waitFor(isClosed)).reason, 'peer_quit');
    await assertNothingLeft(ta);
    await assertNothingLeft(tb);
  });

  test('a second Ctrl-C leaves at once: no tor and no temp folder are left even so', async () => {
    const ta = await privateTmp();
    const a = fx.talk(alice.home, ['bob', '--tor-config', clientTorrc, '--window', '90'], { TMPDIR: ta }, true);
    await a.waitFor((e) => e.event === 'state' && e.state === 'rendezvous', 60_000);
    process.kill(-a.pid, 'SIGINT');
    process.kill(-a.pid, 'SIGINT');
    await exitsWith(a, 4);
    await assertNothingLeft(ta);
  });
});

describe('client authorization', () => {
  const third = new ClientTor();
  after(async () => { await third.close(); });

  test("a third tor without the client-auth key cannot reach a published onion (0xF4), nor with a wrong key (0xF5)", async () => {
    const ta = await privateTmp();
    const a = talk(alice.home, 'bob', ta, 120);
    await a.waitFor((e) => e.event === 'progress' && e.step === 'published', 60_000);
    // Alice's onion for today, as Bob would compute it.
    const onion = await withStore(bob.home, { noPassphrase: true }, (_content, identity) => {
      const plan = rendezvousPlan({ own: identity.key, ownPublic: identity.publicKey, peerPublic: decodeContactCode(alice.code), nowMs: Date.now() });
      try {
        return plan.days[0]?.peerOnion.address ?? '';
      } finally {
        wipePlan(plan);
      }
    });
    assert.equal(onion.length, 56);

    const control = await third.start(clientTorrc, 'entrechat-third-', unixSocksPort);
    const socks = { kind: 'unix', path: socksSocket(third.dir) } as const;
    const dial = async (): Promise<string> => {
      try {
        const s = await connectOnion({ socks, address: onion, port: ONION_VIRTUAL_PORT, isolation: randomBytes(8).toString('hex'), signal: AbortSignal.timeout(60_000), timeoutMs: 60_000 });
        s.destroy();
        return 'connected';
      } catch (e) {
        return (e as { code?: string }).code ?? 'unknown';
      }
    };
    // The tor may still be bootstrapping: descriptor-level failures are retried, an auth answer is final.
    let result = '';
    for (let i = 0; i < 20; i += 1) {
      result = await dial();
      if (result === 'TOR_HS_AUTH_MISSING' || result === 'connected') break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.equal(result, 'TOR_HS_AUTH_MISSING');

    // With a key that is not the authorised one: tor says 0xF5 (TORNET.md: about 1 in 10 come back as 0x04).
    await onionClientAuthAdd(control, { serviceId: onion, privateKeyBase64: randomBytes(32).toString('base64') });
    const seen: string[] = [];
    for (let i = 0; i < 5 && !seen.includes('TOR_HS_AUTH_BAD'); i += 1) seen.push(await dial());
    assert.ok(seen.includes('TOR_HS_AUTH_BAD'), `answers: ${seen.join(', ')}`);
    assert.ok(!seen.includes('connected'));

    a.child.kill('SIGTERM');
    await exitsWith(a, 4);
    await assertNothingLeft(ta);
  });
});

describe('a tor already running (--tor-control)', () => {
  const system = new ClientTor();
  after(async () => { await system.close(); });

  test('alice borrows a running tor: nothing is spawned, the session works, her client-auth entries are gone after, the tor runs on', async () => {
    // A "system" tor: a client of the test network with a TCP control port, cookie auth and a SOCKS port.
    const control = await system.start(clientTorrc, 'entrechat-system-', () => 'auto ExtendedErrors');
    const address = system.address;
    const circuitsBefore = await circuitPurposes(control);

    const [ta, tb] = [await privateTmp(), await privateTmp()];
    const a = fx.talk(alice.home, ['bob', '--tor-control', address, '--window', '90'], { TMPDIR: ta });
    const b = talk(bob.home, 'alice', tb);
    await Promise.all([a.waitFor(isActive, 90_000), b.waitFor(isActive, 90_000)]);
    assert.deepEqual(await torsMentioning(ta), [], 'alice spawned no tor');
    // That tor runs as alice's user here: her onion forwards to a unix socket in her private folder.
    const unixSockets = (await readFile('/proc/net/unix', 'utf8')).split('\n').map((l) => l.split(' ').pop() ?? '');
    assert.ok(unixSockets.some((p) => p.startsWith(`${ta}/entrechat-`) && p.endsWith('/rendezvous-0.sock')), 'a unix rendezvous listener');
    const during = await control.send('ONION_CLIENT_AUTH_VIEW');
    assert.ok(during.lines.some((l) => l.text.startsWith('CLIENT ')), 'alice added a client-auth entry to the borrowed tor');
    a.send('over a borrowed tor');
    await b.waitFor((e) => e.event === 'message' && e.text === 'over a borrowed tor', 30_000);
    b.endInput();
    await exitsWith(b, 0);
    await exitsWith(a, 0);
    const afterwards = await control.send('ONION_CLIENT_AUTH_VIEW');
    assert.ok(!afterwards.lines.some((l) => l.text.startsWith('CLIENT ')), `no client-auth entry is left: ${JSON.stringify(afterwards.lines.map((l) => l.text.slice(0, 20)))}`);
    // Nor is any circuit of the session: none names an onion or carries a SOCKS username (only
    // alice's streams used this tor), no descriptor upload or fetch circuit made (or taken from tor's pool) since she came.
    const left = ((await getInfo(control, ['circuit-status'])).get('circuit-status') ?? '').split('\n').map(parseCircuitLine).filter((c) => c !== null);
    const sessions = left.filter((c) => c.rendQuery !== null || c.socksUsername !== null
      || ((c.purpose === 'HS_SERVICE_HSDIR' || c.purpose === 'HS_CLIENT_HSDIR') && circuitsBefore.get(c.id) !== c.purpose));
    assert.deepEqual(sessions.map((c) => c.purpose), [], 'the session\'s circuits are closed');
    assert.equal(system.proc?.hasExited(), false, 'the borrowed tor runs on');
    await assertNothingLeft(ta);
    await assertNothingLeft(tb);
  });

  test('a control port that never answers cannot hold talk: SIGTERM ends it at once, exit 4', async () => {
    const ta = await privateTmp();
    const path = join(ta, 'silent.sock');
    const held: Socket[] = [];
    const silent = createServer((socket) => { held.push(socket); socket.on('error', () => undefined); socket.resume(); });
    await new Promise<void>((r) => silent.listen(path, r));
    try {
      const a = fx.talk(alice.home, ['bob', '--tor-control', `unix:${path}`]);
      while (held.length === 0) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      a.child.kill('SIGTERM');
      await exitsWith(a, 4);
      assert.ok(Date.now() - t0 < 5_000, `ended in ${String(Date.now() - t0)} ms`);
      assert.equal((await a.waitFor(isClosed)).reason, 'quit');
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });

  test('nothing listening at --tor-control: TOR_CONTROL_UNREACHABLE, exit 6; an address off loopback: BAD_ADDRESS, exit 2', async () => {
    const ta = await privateTmp();
    const closedPort = fx.talk(alice.home, ['bob', '--tor-control', `unix:${join(ta, 'no-such.sock')}`]);
    await exitsWith(closedPort, 6);
    assert.ok(closedPort.events.some((e) => e.event === 'error' && e.code === 'TOR_CONTROL_UNREACHABLE') || closedPort.events.some((e) => e.event === 'closed' && e.code === 'TOR_CONTROL_UNREACHABLE'), JSON.stringify(closedPort.events));
    const remote = fx.talk(alice.home, ['bob', '--tor-control', '192.0.2.1:9051']);
    await exitsWith(remote, 2);
    assert.ok(remote.events.some((e) => (e.event === 'error' || e.event === 'closed') && e.code === 'BAD_ADDRESS'), JSON.stringify(remote.events));
  });
});

describe('the session folder', () => {
  test('a TMPDIR too long for unix sockets: the tor still gets a unix SOCKS socket, in a short private folder, removed after; never a TCP port', async () => {
    const tmp = await privateTmp();
    const long = join(tmp, 'x'.repeat(UNIX_SOCKET_PATH_MAX));
    await mkdir(long);
    const ac = new AbortController();
    const session = await spawnSessionTor({ extraConfig: readTorConfig(clientTorrc), onProgress: () => undefined, signal: ac.signal, tmp: long });
    let dir = '';
    try {
      const socks = session.socks;
      assert.ok(socks.kind === 'unix', 'a unix SOCKS socket');
      assert.ok(Buffer.byteLength(socks.path) <= UNIX_SOCKET_PATH_MAX);
      dir = session.dir ?? '';
      assert.ok(!dir.startsWith(long), 'not under the long TMPDIR');
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
    } finally {
      await session.close();
      ac.abort();
    }
    await assert.rejects(stat(dir), 'the folder is removed');
    assert.deepEqual(await readdir(long), []);
  });
});
