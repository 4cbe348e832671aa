/**
 * The Tor transport against a scripted control port and SOCKS port of our own (unix sockets in a temp
 * folder): what it asks a borrowed tor and in which order, what it takes back at the end, and the
 * NEWNYM policy (after a missed descriptor, at most once per NEWNYM_MIN_INTERVAL, never on a borrowed tor).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { rendezvousPlan, wipePlan } from '../../src/core/derive.ts';
import { clientAuthPublicBase32, onionExpandedKeyBase64 } from '../../src/core/derive.ts';
import { isEntrechatError } from '../../src/core/errors.ts';
import { x25519FromSecret } from '../../src/core/x25519.ts';
import { NEWNYM_MIN_INTERVAL } from '../../src/core/limits.ts';
import { createTorTransport } from '../../src/net/tor.ts';
import { NewnymPolicy } from '../../src/tor/newnym.ts';
import { reachesOurSockets } from '../../src/tor/owner.ts';
import { keyPair } from '../helpers/sim.ts';

const dirs: string[] = [];
const servers: Server[] = [];
after(async () => {
  for (const s of servers) s.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** An ADD_ONION "reply" that makes the fake control port hang up instead, as a tor that dies does. */
const HANG_UP = 'hang up';

/** A control port that accepts NULL auth, is bootstrapped, and says 250 to everything; it logs the commands
 * (verb and first argument only), and answers ADD_ONION with `onionReplies` in turn. */
async function fakeControl(dir: string, socksPath: string, onionReplies: string[] = [], processInfo = ''): Promise<{ path: string; commands: string[]; lines: string[]; sockets: Socket[]; connections: () => number }> {
  const path = join(dir, 'control.sock');
  const commands: string[] = [];
  const lines: string[] = [];
  const sockets: Socket[] = [];
  let connections = 0;
  const server = createServer((socket: Socket) => {
    sockets.push(socket);
    connections += 1;
    let buffered = '';
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      let nl: number;
      while ((nl = buffered.indexOf('\r\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        commands.push(line.split(' ').slice(0, 2).join(' '));
        lines.push(line);
        const [verb] = line.split(' ');
        if (verb === 'ADD_ONION') {
          const reply = onionReplies.shift() ?? '250-ServiceID=nothing\r\n250 OK\r\n';
          if (reply === HANG_UP) socket.destroy();
          else socket.write(reply);
        } else if (verb === 'PROTOCOLINFO') {
          socket.write('250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n');
        } else if (verb === 'GETINFO' && line.includes('net/listeners/socks')) {
          socket.write(`250-net/listeners/socks="unix:${socksPath}"\r\n250 OK\r\n`);
        } else if (verb === 'GETINFO' && line.includes('process/pid')) {
          socket.write(processInfo === '' ? '552 Unrecognized key "process/pid"\r\n' : `${processInfo}250 OK\r\n`);
        } else if (verb === 'GETINFO' && line.includes('status/bootstrap-phase')) {
          socket.write('250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"\r\n250 OK\r\n');
        } else if (verb === 'ONION_CLIENT_AUTH_ADD' || verb === 'ONION_CLIENT_AUTH_REMOVE') {
          socket.write('250 OK\r\n');
        } else {
          socket.write('250 OK\r\n');
        }
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
  return { path, commands, lines, sockets, connections: () => connections };
}

/** A SOCKS5 port that answers every CONNECT with 0xF0 (descriptor not found). */
async function descriptorlessSocks(path: string): Promise<void> {
  const server = createServer((socket: Socket) => {
    let stage = 0;
    socket.on('error', () => undefined);
    socket.on('data', () => {
      // One answer per client message: method choice, password accepted, then the refusal.
      if (stage === 0) socket.write(Buffer.of(5, 2));
      else if (stage === 1) socket.write(Buffer.of(1, 0));
      else socket.end(Buffer.of(5, 0xf0, 0, 1, 0, 0, 0, 0, 0, 0));
      stage += 1;
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
}

test('NewnymPolicy: only after a missed descriptor, at most once per 10 s, never with a dial in flight, never on a borrowed tor', () => {
  const p = new NewnymPolicy(true);
  assert.equal(p.take(0), false, 'nothing missed yet');
  p.dialStarted();
  p.dialEnded('TOR_HS_INTRO_FAILED');
  assert.equal(p.take(1), false, 'not for other failures');
  p.dialStarted();
  p.dialEnded('TOR_HS_DESC_NOT_FOUND');
  p.dialStarted(); // the other day's dial is still under way
  assert.equal(p.take(2), false, 'not while a dial is in flight');
  p.dialEnded(null);
  assert.equal(p.take(3), true);
  assert.equal(p.take(4), false, 'once per miss');
  p.dialStarted();
  p.dialEnded('TOR_HS_DESC_NOT_FOUND');
  assert.equal(p.take(3 + NEWNYM_MIN_INTERVAL - 1), false, 'not within the interval');
  assert.equal(p.take(3 + NEWNYM_MIN_INTERVAL), true);
  const borrowed = new NewnymPolicy(false);
  borrowed.dialStarted();
  borrowed.dialEnded('TOR_HS_DESC_NOT_FOUND');
  assert.equal(borrowed.take(1e9), false);
});

/** Noon UTC: one rendezvous day. */
const NOON = Date.UTC(2026, 10, 26, 12);

test('a borrowed tor: client auth after bootstrap, no NEWNYM after missed descriptors, the keys taken back at the end', async () => {
  const { plan, control, transport } = await setup(NOON, () => []);
  const day = plan.days[0]?.day ?? 0;
  await withTransport({ plan, transport }, async (ac) => {
    const progress: number[] = [];
    await transport.start((p) => progress.push(p.percent), ac.signal);
    assert.deepEqual(progress, [100]);
    const afterStart = control.commands.length;
    assert.deepEqual(control.commands.filter((c) => c.startsWith('ONION_CLIENT_AUTH_ADD')).length, 1, 'one key for the one day');
    const codes: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      await transport.dial(day, ac.signal).then(() => codes.push('connected'), (e: unknown) => codes.push(isEntrechatError(e) ? e.code : 'other'));
    }
    assert.deepEqual(codes, ['TOR_HS_DESC_NOT_FOUND', 'TOR_HS_DESC_NOT_FOUND', 'TOR_HS_DESC_NOT_FOUND']);
    assert.deepEqual(control.commands.slice(afterStart), [], 'nothing sent to a borrowed tor while dialling: no NEWNYM');
    assert.equal(transport.failed?.(), null);
  });
  assert.ok(control.commands.some((c) => c.startsWith('ONION_CLIENT_AUTH_REMOVE')), 'the key is taken back from the borrowed tor');
});

test('a borrowed tor whose control connection broke: the keys are taken back and the circuits closed over a new connection', async () => {
  const { plan, control, transport } = await setup(NOON, () => []);
  const failures: unknown[] = [];
  await withTransport({ plan, transport }, async (ac) => {
    await transport.start(() => undefined, ac.signal, (e) => failures.push(e));
    for (const socket of control.sockets) socket.destroy();
    for (let i = 0; i < 100 && failures.length === 0; i += 1) await new Promise((r) => setTimeout(r, 10));
    assert.equal(failures.length, 1, 'the broken connection is reported');
    assert.equal(transport.failed?.(), 'TOR_EXITED');
  });
  assert.equal(control.connections(), 2, 'a second connection');
  assert.deepEqual(control.commands.slice(-2), [`ONION_CLIENT_AUTH_REMOVE ${plan.days[0]?.peerOnion.address ?? ''}`, 'GETINFO circuit-status']);
});

async function setup(nowMs: number, onionReplies: (addresses: string[]) => string[], processInfo = '') {
  const dir = await mkdtemp(join(tmpdir(), 'entrechat-transport-'));
  dirs.push(dir);
  const socksPath = join(dir, 'socks.sock');
  await descriptorlessSocks(socksPath);
  const alice = keyPair('alice');
  const bob = keyPair('bob');
  const plan = rendezvousPlan({ own: x25519FromSecret(alice.secret), ownPublic: alice.publicKey, peerPublic: bob.publicKey, nowMs });
  const control = await fakeControl(dir, socksPath, onionReplies(plan.days.map((d) => d.ownOnion.address)), processInfo);
  const transport = createTorTransport({ plan, tor: { kind: 'attach', address: control.path } });
  return { plan, control, transport };
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** Runs `body` on the transport, then always aborts, unpublishes, stops it and wipes the plan. */
async function withTransport({ plan, transport }: Pick<Setup, 'plan' | 'transport'>, body: (ac: AbortController) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  try {
    await body(ac);
  } finally {
    ac.abort();
    await transport.unpublish();
    await transport.stop();
    wipePlan(plan);
  }
}

/** Starts the transport; publishing then fails with `code`. */
async function publishFails(s: Setup, code: string): Promise<void> {
  await withTransport(s, async (ac) => {
    await s.transport.start(() => undefined, ac.signal);
    await assert.rejects(s.transport.publish(() => undefined, ac.signal), (e) => isEntrechatError(e) && e.code === code);
  });
}

const uploadedEvent = (address: string): string => `650 HS_DESC UPLOADED ${address} UNKNOWN $AAAA\r\n`;

test('near midnight UTC both days are published and dialled: two onions with V3Auth for the peer, two client-auth keys; the ServiceIDs are checked', async () => {
  const { plan, control, transport } = await setup(Date.UTC(2026, 10, 26, 23, 45), (addresses) =>
    addresses.map((a, i) => `250-ServiceID=${a}\r\n250 OK\r\n${i === 0 ? uploadedEvent(a) : ''}`));
  await withTransport({ plan, transport }, async (ac) => {
    assert.equal(plan.days.length, 2, 'today and tomorrow');
    await transport.start(() => undefined, ac.signal);
    await transport.publish(() => undefined, ac.signal);
    const adds = control.lines.filter((l) => l.startsWith('ADD_ONION'));
    assert.equal(adds.length, 2);
    for (const [i, d] of plan.days.entries()) {
      const line = adds[i] ?? '';
      assert.ok(line.startsWith(`ADD_ONION ED25519-V3:${onionExpandedKeyBase64(d.ownOnion.expandedKey)} `), 'our derived key');
      assert.match(line, /Flags=V3Auth/);
      assert.doesNotMatch(line, /Detach/);
      assert.ok(line.includes(`ClientAuthV3=${clientAuthPublicBase32(d.peerAuthPublic)}`), "the peer's derived client-auth key only");
    }
    const auths = control.lines.filter((l) => l.startsWith('ONION_CLIENT_AUTH_ADD'));
    assert.deepEqual(auths.map((l) => l.split(' ')[1]), plan.days.map((d) => d.peerOnion.address));
  });
  assert.equal(control.commands.filter((c) => c.startsWith('DEL_ONION')).length, 2, 'both onions removed');
  assert.equal(control.commands.filter((c) => c.startsWith('ONION_CLIENT_AUTH_REMOVE')).length, 2, 'both keys taken back');
});

test('a ServiceID that is not the derived address: TOR_ONION_MISMATCH, and the onion tor made is removed', async () => {
  const other = 'b'.repeat(56);
  const s = await setup(NOON, () => [`250-ServiceID=${other}\r\n250 OK\r\n`]);
  await publishFails(s, 'TOR_ONION_MISMATCH');
  assert.ok(s.control.lines.includes(`DEL_ONION ${other}`));
});

test('550 Onion address collision (another talk with this contact on the same tor): TOR_ONION_COLLISION', async () => {
  await publishFails(await setup(NOON, () => ['550 Onion address collision\r\n']), 'TOR_ONION_COLLISION');
});

/** A hostile control port: offers `authLine`, answers AUTHCHALLENGE with a server hash it cannot know; logs every line. */
async function hostileControl(dir: string, authLine: string): Promise<{ path: string; lines: string[] }> {
  const path = join(dir, 'hostile.sock');
  const lines: string[] = [];
  const server = createServer((socket: Socket) => {
    let buffered = '';
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      let nl: number;
      while ((nl = buffered.indexOf('\r\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        lines.push(line);
        if (line.startsWith('PROTOCOLINFO')) socket.write(`250-PROTOCOLINFO 1\r\n${authLine}\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n`);
        else if (line.startsWith('AUTHCHALLENGE')) socket.write(`250 AUTHCHALLENGE SERVERHASH=${'AB'.repeat(32)} SERVERNONCE=${'CD'.repeat(32)}\r\n`);
        else socket.write('250 OK\r\n');
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
  return { path, lines };
}

for (const [what, method, code] of [
  ['only plain COOKIE, with a COOKIEFILE of its choosing', 'COOKIE', 'TOR_CONTROL_AUTH_REFUSED'],
  ['SAFECOOKIE with a server hash it cannot know', 'COOKIE,SAFECOOKIE', 'TOR_CONTROL_AUTH_SERVER_HASH'],
] as const) {
  test(`a control port offering ${what}: ${code}, and it never gets the file, an onion key or a client-auth key`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'entrechat-transport-'));
    dirs.push(dir);
    // A 32-byte file the answerer would like to read (any file of that size: a key, say).
    const secretFile = join(dir, 'secret');
    const secret = Buffer.alloc(32, 0x42);
    await writeFile(secretFile, secret, { mode: 0o600 });
    const hostile = await hostileControl(dir, `250-AUTH METHODS=${method} COOKIEFILE="${secretFile}"`);
    const alice = keyPair('alice');
    const bob = keyPair('bob');
    const plan = rendezvousPlan({ own: x25519FromSecret(alice.secret), ownPublic: alice.publicKey, peerPublic: bob.publicKey, nowMs: NOON });
    const transport = createTorTransport({ plan, tor: { kind: 'attach', address: hostile.path } });
    await withTransport({ plan, transport }, async (ac) => {
      await assert.rejects(transport.start(() => undefined, ac.signal), (e: unknown) => {
        assert.equal(isEntrechatError(e) ? e.code : e, code);
        return true;
      });
      const sent = hostile.lines.join('\n');
      assert.ok(!sent.toLowerCase().includes(secret.toString('hex')), 'the file was not sent');
      assert.deepEqual(hostile.lines.map((l) => l.split(' ')[0]), method === 'COOKIE' ? ['PROTOCOLINFO'] : ['PROTOCOLINFO', 'AUTHCHALLENGE']);
      for (const d of plan.days) {
        assert.ok(!sent.includes(onionExpandedKeyBase64(d.ownOnion.expandedKey)), 'no onion key');
        assert.ok(!sent.includes(d.peerOnion.address), 'no client-auth entry');
      }
    });
  });
}

test('reachesOurSockets: only a tor of our user that this machine sees as such a process', () => {
  const base = { pid: 4242, uid: 1000, ownUid: 1000, procUid: 1000, procName: 'tor' };
  assert.equal(reachesOurSockets(base), true);
  assert.equal(reachesOurSockets({ ...base, pid: null }), false, 'GETINFO refused (onion-grater)');
  assert.equal(reachesOurSockets({ ...base, uid: null }), false, 'GETINFO refused (onion-grater)');
  assert.equal(reachesOurSockets({ ...base, uid: 107, procUid: 107 }), false, 'a system tor running as debian-tor');
  assert.equal(reachesOurSockets({ ...base, procUid: null, procName: null }), false, 'no such process here (another machine)');
  assert.equal(reachesOurSockets({ ...base, procName: 'bash' }), false, 'another process under that pid (another pid namespace)');
  assert.equal(reachesOurSockets({ ...base, procUid: 0 }), false, 'that pid belongs to someone else here');
});

for (const local of [true, false]) {
  test(`a borrowed tor ${local ? 'of our user on this machine: the onion forwards to a unix socket in a 0700 folder, gone after' : 'that is not ours: the onion forwards to 127.0.0.1'}`, async () => {
    // A process named "tor" of our user: a copy of sleep under that name.
    const bin = await mkdtemp(join(tmpdir(), 'entrechat-faketor-'));
    dirs.push(bin);
    await copyFile('/bin/sleep', join(bin, 'tor'));
    await chmod(join(bin, 'tor'), 0o700);
    const fake = spawn(join(bin, 'tor'), ['30'], { stdio: 'ignore' });
    try {
      const uid = process.getuid?.() ?? 0;
      const info = `250-process/pid=${fake.pid ?? 0}\r\n250-process/uid=${local ? uid : uid + 1}\r\n`;
      const { plan, control, transport } = await setup(NOON, (addresses) => addresses.map((a) => `250-ServiceID=${a}\r\n250 OK\r\n${uploadedEvent(a)}`), info);
      let target = '';
      await withTransport({ plan, transport }, async (ac) => {
        await transport.start(() => undefined, ac.signal);
        await transport.publish(() => undefined, ac.signal);
        target = /Port=\d+,(\S+)/.exec(control.lines.find((l) => l.startsWith('ADD_ONION')) ?? '')?.[1] ?? '';
        if (local) {
          assert.match(target, /^unix:\/.+\/entrechat-[^/]+\/rendezvous-0\.sock$/);
          const folder = dirname(target.slice('unix:'.length));
          assert.equal((await stat(folder)).mode & 0o777, 0o700);
        } else {
          assert.match(target, /^127\.0\.0\.1:\d+$/);
        }
      });
      if (local) await assert.rejects(stat(dirname(target.slice('unix:'.length))), 'the folder is removed');
    } finally {
      fake.kill('SIGKILL');
    }
  });
}

test('tor goes away while ADD_ONION is pending (the control connection closes under it): TOR_EXITED, not TOR_CONTROL_CLOSED', async () => {
  await publishFails(await setup(NOON, () => [HANG_UP]), 'TOR_EXITED');
});
