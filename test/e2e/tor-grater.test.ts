/**
 * Entrechat behind the real control-port filter of Tails and Whonix: Whonix's onion-grater, unchanged
 * (../shared/tools/onion-grater, started by its launcher on a free port of 127.0.0.1), in front of a
 * tor of the test that is a client of the private Tor network. Alice attaches through the filter with
 * `--tor-control`; Bob starts his own tor. With Entrechat's profile a full session runs, messages both
 * ways; without it (no profile, or only another application's) talk fails with TOR_COMMAND_FILTERED
 * and words that say what to install; `doctor --tor-control` says the same before any session.
 *
 * The profiles are used as shipped, except for who they match: the Tails profile names the user
 * `amnesia` and Debian's /usr/bin/node, which become this machine's user and node here; the Whonix
 * profile matches remote clients (`hosts`, the Workstation), which a client on 127.0.0.1 never is, so
 * its test copy matches local ones instead; and the SOCKS port both announce (127.0.0.1:9050: Tails'
 * own, the Workstation's forwarded one) becomes this tor's. Commands, argument patterns, rewrites and events are unchanged.
 *
 * onion-grater and the tor are stopped by their pids, their folders removed, even when a test fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, realpath } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { getInfo } from '../../src/tor/commands/getinfo.ts';
import { ClientTor } from '../helpers/client-tor.ts';
import { Fixture, run, type JsonEvent, type TalkProcess } from '../helpers/cli.ts';
import { graterPythonReady, OnionGrater, onionGraterDir } from '../helpers/onion-grater.ts';
import { sharedTestnet } from '../helpers/testnet.ts';

const CONTRIB = new URL('../../contrib/onion-grater/', import.meta.url);
const ready = onionGraterDir() !== null && graterPythonReady();
const skip = ready ? false : 'onion-grater launcher or python3-stem/psutil/yaml missing';

const fx = new Fixture();
const system = new ClientTor();
const graters: OnionGrater[] = [];
let alice: { home: string; code: string };
let bob: { home: string; code: string };
let clientTorrc: string;
/** The test tor's own SOCKS port (host:port), as it says itself. */
let socks = '';

before(async () => {
  if (!ready) return;
  clientTorrc = (await sharedTestnet()).clientTorrc;
  ({ alice, bob } = await fx.pair());
  const control = await system.start(clientTorrc, 'entrechat-grater-tor-', () => '127.0.0.1:auto');
  const listeners = (await getInfo(control, ['net/listeners/socks'])).get('net/listeners/socks') ?? '';
  socks = /"?(127\.0\.0\.1:\d+)"?/.exec(listeners)?.[1] ?? '';
  assert.notEqual(socks, '', `the test tor has a SOCKS port: ${listeners}`);
});

after(async () => {
  for (const g of graters.splice(0)) await g.stop();
  await system.close();
  await fx.cleanup();
});

/** Entrechat's Tails profile, matching this machine's user and node instead of amnesia and /usr/bin/node, announcing this tor's SOCKS port. */
async function tailsProfile(): Promise<string> {
  const text = await readFile(new URL('tails/entrechat.yml', CONTRIB), 'utf8');
  assert.ok(text.includes("- 'amnesia'") && text.includes("- '/usr/bin/node'") && text.includes('"127.0.0.1:9050"'), 'the shipped Tails profile names amnesia, /usr/bin/node and 127.0.0.1:9050');
  return text.replace("- 'amnesia'", `- '${userInfo().username}'`).replace("- '/usr/bin/node'", `- '${await realpath(process.execPath)}'`).replace('"127.0.0.1:9050"', `"${socks}"`);
}

/** Entrechat's Whonix-Gateway profile, matching local clients, announcing this tor's SOCKS port. */
async function whonixProfile(): Promise<string> {
  const text = await readFile(new URL('40_entrechat.yml', CONTRIB), 'utf8');
  const who = "- exe-paths:\n    - '*'\n  users:\n    - '*'\n  hosts:\n    - '*'\n";
  assert.ok(text.includes(who) && text.includes('"127.0.0.1:9050"'), 'the shipped Whonix profile matches every host and announces 127.0.0.1:9050');
  return text.replace(who, "- apparmor-profiles:\n    - '*'\n  users:\n    - '*'\n").replace('"127.0.0.1:9050"', `"${socks}"`);
}

async function grater(profiles: Record<string, string>): Promise<OnionGrater> {
  const g = new OnionGrater();
  graters.push(g);
  await g.start({ profiles, torControl: system.address, cookieFile: join(system.dir, 'cookie') });
  return g;
}

async function stopGrater(g: OnionGrater): Promise<void> {
  await g.stop();
  graters.splice(graters.indexOf(g), 1);
}

const isActive = (e: JsonEvent): boolean => e.event === 'active';

async function exitsWith(p: TalkProcess, code: number): Promise<void> {
  const actual = await p.exited;
  assert.equal(actual, code, `exit ${String(actual)}; last events ${JSON.stringify(p.events.slice(-4))}; stderr ${p.stderr.slice(-600)}`);
}

/** Alice through `g` (with `extra` talk options), Bob on a tor of his own: messages both ways, both end with 0. */
async function sessionThrough(g: OnionGrater, extra: string[] = []): Promise<void> {
  const a = fx.talk(alice.home, ['bob', '--tor-control', g.address, '--window', '90', ...extra]);
  const b = fx.talk(bob.home, ['alice', '--tor-config', clientTorrc, '--window', '90']);
  await Promise.all([a.waitFor(isActive, 120_000), b.waitFor(isActive, 120_000)]);
  a.send('through the filter');
  b.send('and back');
  await b.waitFor((e) => e.event === 'message' && e.text === 'through the filter', 30_000);
  await a.waitFor((e) => e.event === 'message' && e.text === 'and back', 30_000);
  b.endInput();
  await exitsWith(b, 0);
  await exitsWith(a, 0);
  const view = await system.control?.send('ONION_CLIENT_AUTH_VIEW');
  assert.ok(!(view?.lines ?? []).some((l) => l.text.startsWith('CLIENT ')), 'alice took her client-authorization keys back');
}

/** `doctor --tor-control ADDR --json`: exit code and checks. */
async function doctorAt(address: string): Promise<{ code: number | null; checks: { name: string; ok: boolean; warn?: boolean; code?: string; detail: string; fix?: string }[] }> {
  const r = await run(alice.home, ['doctor', '--tor-control', address, '--json']);
  return { code: r.code, checks: JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]') as never };
}

describe('through onion-grater', { skip }, () => {
  test("with Entrechat's Tails profile: a full session, messages both ways; the only commands refused are the optional GETINFO process/pid and circuit-status, once each", async () => {
    const g = await grater({ 'entrechat.yml': await tailsProfile() });
    try {
      await sessionThrough(g);
      assert.deepEqual(g.filtered(), ['GETINFO process/pid process/uid', 'GETINFO circuit-status'], g.shown());
      assert.match(g.log, /loaded filter: entrechat/);
    } finally {
      await stopGrater(g);
    }
  });

  test("with Entrechat's Whonix-Gateway profile (ADD_ONION target rewritten to {client-address}, ports 17740-17743): a full session with --tor-listen", async () => {
    const g = await grater({ '40_entrechat.yml': await whonixProfile() });
    try {
      await sessionThrough(g, ['--tor-listen', '127.0.0.1:17740']);
      assert.deepEqual(g.filtered(), ['GETINFO process/pid process/uid', 'GETINFO circuit-status'], g.shown());
      // Without --tor-listen the listener's port is the system's pick, which this profile refuses.
      const a = fx.talk(alice.home, ['bob', '--tor-control', g.address, '--window', '30']);
      await exitsWith(a, 6);
      assert.ok(a.events.some((e) => (e.event === 'error' || e.event === 'closed') && e.code === 'TOR_COMMAND_FILTERED'), JSON.stringify(a.events));
      assert.equal(g.filtered().filter((l) => l.startsWith('ADD_ONION ')).length, 1, 'the ADD_ONION was refused');
    } finally {
      await stopGrater(g);
    }
  });

  test('without a profile for Entrechat (none, or only another application\'s): TOR_COMMAND_FILTERED, exit 6, words that say what to install', async () => {
    const ricochet = await readFile(join(onionGraterDir() ?? '', 'example-40_ricochet.yml'), 'utf8');
    for (const profiles of [{}, { '40_ricochet.yml': ricochet }]) {
      const g = await grater(profiles);
      try {
        const a = fx.talk(alice.home, ['bob', '--tor-control', g.address, '--window', '30']);
        await exitsWith(a, 6);
        assert.ok(a.events.some((e) => (e.event === 'error' || e.event === 'closed') && e.code === 'TOR_COMMAND_FILTERED'), JSON.stringify(a.events));
        assert.ok(g.filtered().includes('GETINFO net/listeners/socks'), g.shown());
        // The same without --json: the plain lines a person reads say what refused and what to install.
        const plain = await run(alice.home, ['talk', 'bob', '--tor-control', g.address, '--window', '30']);
        assert.equal(plain.code, 6, plain.stdout + plain.stderr);
        assert.match(plain.stdout, /control-port filter \(onion-grater/);
        assert.match(plain.stdout, /\/etc\/onion-grater\.d\//);
        assert.match(plain.stdout, /onion-grater-merger\.d/);
      } finally {
        await stopGrater(g);
      }
    }
  });

  test('doctor --tor-control: all good on the tor itself and through the filter with the profile; TOR_COMMAND_FILTERED without it; nothing unreachable passes', async () => {
    const direct = await doctorAt(system.address);
    assert.equal(direct.code, 0, JSON.stringify(direct.checks));
    assert.deepEqual(direct.checks.map((c) => c.name), ['control-port', 'control-auth', 'tor-version', 'tor-socks', 'tor-bootstrap', 'tor-commands', 'add-onion']);
    assert.match(direct.checks[1]?.detail ?? '', /SAFECOOKIE/);
    assert.match(direct.checks.find((c) => c.name === 'add-onion')?.detail ?? '', /not checked/);

    const g = await grater({ 'entrechat.yml': await tailsProfile() });
    try {
      const through = await doctorAt(g.address);
      assert.equal(through.code, 0, JSON.stringify(through.checks));
      assert.match(through.checks[1]?.detail ?? '', /NULL/);
      assert.ok(through.checks.every((c) => c.ok), JSON.stringify(through.checks));
      assert.deepEqual(g.filtered(), [], 'doctor sent nothing the profile does not allow');
    } finally {
      await stopGrater(g);
    }

    const bare = await grater({});
    try {
      const refused = await doctorAt(bare.address);
      assert.equal(refused.code, 6);
      const failed = refused.checks.filter((c) => !c.ok);
      assert.deepEqual([...new Set(failed.map((c) => c.code))], ['TOR_COMMAND_FILTERED'], JSON.stringify(failed));
      assert.deepEqual(failed.map((c) => c.name), ['tor-socks', 'tor-bootstrap', 'tor-commands']);
      assert.ok(failed.every((c) => (c.fix ?? '').includes('/etc/onion-grater.d/')));
    } finally {
      await stopGrater(bare);
    }

    const nowhere = await doctorAt(`unix:${join(system.dir, 'no-such.sock')}`);
    assert.equal(nowhere.code, 6);
    assert.equal(nowhere.checks[0]?.code, 'TOR_CONTROL_UNREACHABLE');
  });
});
