/**
 * Where Tor is blocked: both peers reach the private Tor network only through an obfs4 bridge of it
 * (README § Where Tor is blocked: UseBridges 1, a Bridge line, ClientTransportPlugin obfs4), and what
 * the user sees when the transport program is missing (TOR_TRANSPORT_MISSING, before any tor starts) or
 * no bridge answers (TOR_BRIDGE_UNREACHABLE).
 *
 * "Only through the bridge" is checked on the sockets themselves: during the session, no TCP socket of
 * either peer's tor, nor of the transport program it started, has an ORPort or DirPort of the network
 * at its other end, and the transport program is connected to the bridge's obfs4 port.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Fixture, freePort, run, type JsonEvent, type TalkProcess } from '../helpers/cli.ts';
import { eventually, filesContaining, snapshot, torsMentioning } from '../helpers/procs.ts';
import { sharedBridge, sharedTestnet } from '../helpers/testnet.ts';
import { bridgeUp, type TestnetBridge } from '../../src/tor/testnet.ts';

const fx = new Fixture();
let alice: { home: string; code: string };
let bob: { home: string; code: string };
let bridge: TestnetBridge;
let clientTorrc: string;

before(async () => {
  clientTorrc = (await sharedTestnet()).clientTorrc;
  bridge = await sharedBridge();
  [alice, bob] = await Promise.all([fx.identity(), fx.identity()]);
  assert.equal((await run(alice.home, ['contacts', 'add', 'bob', bob.code])).code, 0);
  assert.equal((await run(bob.home, ['contacts', 'add', 'alice', alice.code])).code, 0);
});

after(async () => {
  await fx.cleanup();
});

const isActive = (e: JsonEvent): boolean => e.event === 'active';
const isClosed = (e: JsonEvent): boolean => e.event === 'closed';
const codeOf = (stderr: string): string | undefined => /\[([A-Z_]+)\]/.exec(stderr)?.[1];

async function exitsWith(p: TalkProcess, code: number): Promise<void> {
  const actual = await p.exited;
  assert.equal(actual, code, `exit ${String(actual)}; last events ${JSON.stringify(p.events.slice(-4))}; stderr ${p.stderr.slice(-400)}`);
}

async function assertNothingLeft(tmp: string): Promise<void> {
  assert.ok(await eventually(async () => (await torsMentioning(tmp)).length === 0, 10_000), 'no tor of ours is left running');
  assert.deepEqual([...(await snapshot(tmp)).keys()], [], 'nothing is left in TMPDIR');
}

/** The children of a process (e.g. the transport program tor started). */
async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The remote ports of a process's TCP sockets (IPv4 and IPv6), from /proc: its fds' inodes in net/tcp. */
async function remotePorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m?.[1] !== undefined) inodes.add(m[1]);
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const remote = cols[2];
      const inode = cols[9];
      if (remote === undefined || inode === undefined || !inodes.has(inode)) continue;
      const port = parseInt(remote.split(':')[1] ?? '0', 16);
      if (port !== 0) ports.push(port);
    }
  }
  return ports;
}

/** A --tor-config file in `dir` with the lines given. */
async function torrcFile(dir: string, name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text, { mode: 0o600 });
  return file;
}

describe('bridges', () => {
  test('a session where both sides reach the network only through the obfs4 bridge: text both ways, no direct connection, nothing left', async () => {
    const [ta, tb] = [await fx.home(), await fx.home()];
    const bridgeTorrc = await readFile(bridge.bridgeTorrc, 'utf8');
    assert.match(bridgeTorrc, /^UseBridges 1$/m);
    assert.match(bridgeTorrc, /^Bridge obfs4 127\.0\.0\.1:\d+ [0-9A-F]{40} cert=\S{70} iat-mode=0$/m);
    assert.match(bridgeTorrc, /^ClientTransportPlugin obfs4 exec \/\S+$/m);
    const talk = (home: string, contact: string, tmp: string): TalkProcess =>
      fx.talk(home, [contact, '--tor-config', bridge.bridgeTorrc, '--window', '90'], { TMPDIR: tmp });
    const a = talk(alice.home, 'bob', ta);
    const b = talk(bob.home, 'alice', tb);
    const [ea, eb] = await Promise.all([a.waitFor(isActive, 90_000), b.waitFor(isActive, 90_000)]);
    assert.equal(ea.session, eb.session, 'one session, the same on both sides');

    // Every socket of both tors and their transport programs, during the session.
    for (const [who, tmp] of [['alice', ta], ['bob', tb]] as const) {
      const tors = await torsMentioning(tmp);
      assert.equal(tors.length, 1, `${who} runs one tor`);
      const tor = tors[0] ?? 0;
      const pts = await childrenOf(tor);
      assert.ok(pts.length >= 1, `${who}'s tor runs its transport program`);
      const torPorts = await remotePorts(tor);
      const ptPorts = (await Promise.all(pts.map((p) => remotePorts(p)))).flat();
      for (const port of [...torPorts, ...ptPorts]) {
        assert.ok(!bridge.networkPorts.includes(port), `${who}: no socket to the network's port ${port} (only through the bridge)`);
      }
      assert.ok(ptPorts.includes(bridge.obfs4Port), `${who}'s transport program is connected to the bridge's obfs4 port`);
    }

    const secret = `through the bridge ${randomBytes(8).toString('hex')}`;
    a.send(secret);
    b.send('hi alice, from behind the bridge');
    await b.waitFor((e) => e.event === 'message' && e.text === secret, 30_000);
    await a.waitFor((e) => e.event === 'message' && e.text === 'hi alice, from behind the bridge', 30_000);
    await a.waitFor((e) => e.event === 'delivered' && e.id === 1, 30_000);

    a.endInput();
    await exitsWith(a, 0);
    await exitsWith(b, 0);
    assert.equal((await b.waitFor(isClosed)).reason, 'peer_quit');
    await assertNothingLeft(ta);
    await assertNothingLeft(tb);
    for (const dir of [alice.home, bob.home]) assert.deepEqual(await filesContaining(dir, secret), []);
  });

  test('no bridge answers (an obfs4 bridge and a plain one on closed ports): TOR_BRIDGE_UNREACHABLE, exit 6, nothing left', async () => {
    const closed = await freePort();
    const network = (await readFile(clientTorrc, 'utf8')).split('\n').filter((l) => !l.startsWith('#')).join('\n');
    const obfs4 = bridge.bridgeLine.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${closed}`);
    const cases = [
      `${network}\nUseBridges 1\n${obfs4}\nClientTransportPlugin obfs4 exec ${bridge.transport}\n`,
      `${network}\nUseBridges 1\nBridge 127.0.0.1:${closed}\n`,
    ];
    for (const [i, text] of cases.entries()) {
      const tmp = await fx.home();
      const file = await torrcFile(alice.home, `unreachable-${i}.torrc`, text);
      const t0 = Date.now();
      const a = fx.talk(alice.home, ['bob', '--tor-config', file, '--window', '60'], { TMPDIR: tmp });
      const c = await a.waitFor(isClosed, 60_000);
      assert.equal(c.code, 'TOR_BRIDGE_UNREACHABLE', JSON.stringify(c));
      await exitsWith(a, 6);
      assert.ok(Date.now() - t0 < 45_000, 'well before the 120 s bootstrap deadline');
      await assertNothingLeft(tmp);
    }
  });

  test('the transport program is missing: TOR_TRANSPORT_MISSING before any tor starts (talk, exit 6), and doctor names the fix', async () => {
    const tmp = await fx.home();
    const missing = join(tmp, 'no-such-dir', 'obfs4proxy');
    const file = await torrcFile(alice.home, 'missing-pt.torrc',
      `UseBridges 1\n${bridge.bridgeLine}\nClientTransportPlugin obfs4 exec ${missing}\n`);
    const a = fx.talk(alice.home, ['bob', '--tor-config', file], { TMPDIR: tmp });
    await exitsWith(a, 6);
    assert.equal(codeOf(a.stderr) ?? a.of('error')[0]?.code ?? a.of('closed')[0]?.code, 'TOR_TRANSPORT_MISSING');
    assert.deepEqual(await readdir(tmp), [], 'no tor folder was made');

    const d = await run(alice.home, ['doctor', '--json', '--tor-config', file]);
    assert.equal(d.code, 6);
    const checks = JSON.parse(d.stdout) as { name: string; ok: boolean; code?: string; fix?: string }[];
    const transport = checks.find((c) => c.name === 'transport');
    assert.equal(transport?.ok, false);
    assert.equal(transport.code, 'TOR_TRANSPORT_MISSING');
    assert.match(transport.fix ?? '', /apt-get install obfs4proxy/);

    const good = await run(alice.home, ['doctor', '--json', '--tor-config', bridge.bridgeTorrc]);
    const goodChecks = JSON.parse(good.stdout) as { name: string; ok: boolean }[];
    assert.deepEqual(goodChecks.filter((c) => ['tor-config', 'tor-config-file', 'transport'].includes(c.name)).map((c) => [c.name, c.ok]),
      [['tor-config', true], ['tor-config-file', true], ['transport', true]]);
    assert.equal(good.code, 0);
  });

  test('testnet down --bridge: --bridge goes with up (BAD_ARGUMENT, exit 2), nothing stopped', async () => {
    const r = await run(alice.home, ['testnet', 'down', '--dir', bridge.dir, '--bridge']);
    assert.equal(r.code, 2);
    assert.equal(codeOf(r.stderr), 'BAD_ARGUMENT');
    assert.ok((await readdir(bridge.dir)).includes('bridge.json'), 'the bridge is still there');
  });

  test('bridgeUp on a folder that holds no network: TESTNET_DIR_INVALID, nothing made', async () => {
    const notANetwork = await fx.home();
    const dir = join(await fx.home(), 'bridge');
    await assert.rejects(bridgeUp({ network: notANetwork, dir }), (e) => (e as { code?: string }).code === 'TESTNET_DIR_INVALID');
    await assert.rejects(readdir(dir), 'the bridge folder was not made');
  });
});
