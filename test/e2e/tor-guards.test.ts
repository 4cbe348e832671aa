/**
 * Guards on the private Tor network: a spawned tor keeps its network state in $ENTRECHAT_HOME/tor, so
 * the entry guard is the same session after session; that folder holds nothing of any session (no
 * onion address, onion key or client-authorization key of the day, searched byte by byte); a second
 * talk of the same identity is refused while one runs (TOR_STATE_LOCKED); a guard other than the kept
 * one is a notice (TOR_GUARD_CHANGED), not a failure; `--amnesic` and the amnesic setting keep no folder.
 *
 * Tor's `state` file names the guards it sampled, each with a `sampled_on` time tor draws at random
 * (up to weeks in the past) when it samples the guard: a tor that started afresh would sample again,
 * with other times and, most likely, another order. The same lines across three sessions, and no
 * TOR_GUARD_CHANGED notice (which compares the first hop of every built circuit with the kept
 * primary guard), show the guard was kept and used, not merely written back.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { base64 } from '@scure/base';
import { clientAuthPublicBase32, clientAuthSecretBase64, onionExpandedKeyBase64, parseOnionAddress, rendezvousPlan, wipePlan } from '../../src/core/derive.ts';
import { decodeContactCode } from '../../src/core/codes.ts';
import { withStore } from '../../src/app/identity.ts';
import { parseStateGuards, primaryGuard } from '../../src/tor/state-dir.ts';
import { Fixture, run, type JsonEvent, type TalkProcess } from '../helpers/cli.ts';
import { eventually, homeSnapshot, snapshot, torsMentioning } from '../helpers/procs.ts';
import { sharedTestnet } from '../helpers/testnet.ts';

const fx = new Fixture();
after(async () => { await fx.cleanup(); });

const isActive = (e: JsonEvent): boolean => e.event === 'active';

async function exitsWith(p: TalkProcess, code: number): Promise<void> {
  const actual = await p.exited;
  assert.equal(actual, code, `exit ${String(actual)}; last events ${JSON.stringify(p.events.slice(-4))}; stderr ${p.stderr.slice(-400)}`);
}

/** What a client tor may keep in its DataDirectory (README § Guards lists the same). */
const KEPT_NAMES = new Set(['state', 'cached-certs', 'cached-microdesc-consensus', 'cached-microdescs', 'cached-microdescs.new', 'lock', 'keys', 'unverified-microdesc-consensus']);

let clientTorrc = '';

/** One session between `a` and `b` (homes), `extra` added to both command lines; alice ends it. */
async function session(alice: string, bob: string, extra: { a?: string[]; b?: string[] } = {}): Promise<{ a: TalkProcess; b: TalkProcess }> {
  const [ta, tb] = [await fx.home(), await fx.home()];
  const a = fx.talk(alice, ['bob', '--tor-config', clientTorrc, '--window', '90', ...(extra.a ?? [])], { TMPDIR: ta });
  const b = fx.talk(bob, ['alice', '--tor-config', clientTorrc, '--window', '90', ...(extra.b ?? [])], { TMPDIR: tb });
  await Promise.all([a.waitFor(isActive, 90_000), b.waitFor(isActive, 90_000)]);
  a.send('hello');
  await b.waitFor((e) => e.event === 'message' && e.text === 'hello', 30_000);
  a.endInput();
  await exitsWith(a, 0);
  await exitsWith(b, 0);
  for (const tmp of [ta, tb]) {
    assert.ok(await eventually(async () => (await torsMentioning(tmp)).length === 0, 10_000), 'no tor of ours is left running');
    assert.deepEqual([...(await snapshot(tmp)).keys()], [], 'nothing is left in TMPDIR');
  }
  return { a, b };
}

/** Every form in which a secret or an address of today's rendezvous (and the adjacent day's) could be written. */
async function sessionNeedles(home: string, peerCode: string): Promise<Map<string, Buffer>> {
  return withStore(home, { noPassphrase: true }, (_content, identity) => {
    const plan = rendezvousPlan({ own: identity.key, ownPublic: identity.publicKey, peerPublic: decodeContactCode(peerCode), nowMs: Date.now() });
    const out = new Map<string, Buffer>();
    try {
      for (const d of plan.days) {
        for (const address of [d.ownOnion.address, d.peerOnion.address]) {
          out.set(`address ${address.slice(0, 6)}`, Buffer.from(address));
          out.set(`ADDRESS ${address.slice(0, 6)}`, Buffer.from(address.toUpperCase()));
          out.set(`onion public key ${address.slice(0, 6)}`, Buffer.from(parseOnionAddress(address)));
          out.set(`onion public key b64 ${address.slice(0, 6)}`, Buffer.from(base64.encode(parseOnionAddress(address)).replace(/=+$/, '')));
        }
        out.set('onion expanded key', Buffer.from(d.ownOnion.expandedKey));
        out.set('onion expanded key b64', Buffer.from(onionExpandedKeyBase64(d.ownOnion.expandedKey)));
        out.set('onion secret scalar', Buffer.from(d.ownOnion.expandedKey.subarray(0, 32)));
        out.set('client-auth secret', Buffer.from(d.ownAuth.secret));
        out.set('client-auth secret b64', Buffer.from(clientAuthSecretBase64(d.ownAuth.secret)));
        out.set('own client-auth public', Buffer.from(d.ownAuth.publicKey));
        out.set('own client-auth public b32', Buffer.from(clientAuthPublicBase32(d.ownAuth.publicKey)));
        out.set('peer client-auth public', Buffer.from(d.peerAuthPublic));
        out.set('peer client-auth public b32', Buffer.from(clientAuthPublicBase32(d.peerAuthPublic)));
      }
      return out;
    } finally {
      wipePlan(plan);
    }
  });
}

/** What the kept folder holds: only tor's network state, none of the needles, private. */
async function assertKeptFolderClean(home: string, peerCode: string): Promise<void> {
  const dir = join(home, 'tor');
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  const names = await readdir(dir);
  for (const name of names) assert.ok(KEPT_NAMES.has(name), `unexpected ${name} in the tor folder`);
  assert.deepEqual(await readdir(join(dir, 'keys')).catch(() => []), [], 'no relay key');
  assert.ok(!names.includes('entrechat.lock'), 'our lock is released');
  const files = await snapshot(dir);
  assert.ok(files.size > 0);
  for (const [what, needle] of await sessionNeedles(home, peerCode)) {
    for (const [path, bytes] of files) assert.equal(bytes.includes(needle), false, `${what} found in ${path}`);
  }
}

describe('kept tor state over the private Tor network', () => {
  let pair: { alice: { home: string; code: string }; bob: { home: string; code: string } };

  test('three sessions: the same entry guard each time (state file and first hops), and the tor folder holds nothing of them', async () => {
    clientTorrc = (await sharedTestnet()).clientTorrc;
    pair = await fx.pair();
    const { alice, bob } = pair;
    const stores = [await homeSnapshot(alice.home), await homeSnapshot(bob.home)];
    const seen: { primary: string | null; sampled: string }[][] = [];
    for (let i = 0; i < 3; i += 1) {
      const { a, b } = await session(alice.home, bob.home);
      // The guard of each built circuit was compared with the kept one (sessions 2 and 3): the same.
      assert.deepEqual([...a.of('notice'), ...b.of('notice')], [], `session ${i + 1}: no guard change`);
      const states = await Promise.all([alice.home, bob.home].map((h) => readFile(join(h, 'tor', 'state'), 'utf8')));
      seen.push(states.map((s) => ({
        primary: primaryGuard(s),
        sampled: parseStateGuards(s).map((g) => `${g.fingerprint} ${g.sampledOn ?? ''}`).join('|'),
      })));
      for (const side of seen[i] ?? []) assert.notEqual(side.primary, null, 'tor confirmed a guard');
    }
    assert.deepEqual(seen[1], seen[0], 'the second session kept the guards of the first');
    assert.deepEqual(seen[2], seen[0], 'the third session kept the guards of the first');
    await assertKeptFolderClean(alice.home, bob.code);
    await assertKeptFolderClean(bob.home, alice.code);
    assert.deepEqual([await homeSnapshot(alice.home), await homeSnapshot(bob.home)], stores, 'the stores are byte-identical');
  });

  test('a second talk of the same identity while one runs → TOR_STATE_LOCKED (exit 6); the first goes on', async () => {
    const { alice } = pair;
    const ta = await fx.home();
    const first = fx.talk(alice.home, ['bob', '--tor-config', clientTorrc, '--window', '60'], { TMPDIR: ta });
    await first.waitFor((e) => e.event === 'window', 60_000);
    const second = fx.talk(alice.home, ['bob', '--tor-config', clientTorrc, '--window', '60'], { TMPDIR: await fx.home() });
    try {
      await exitsWith(second, 6);
    } catch (e) {
      first.child.kill('SIGINT');
      throw e;
    }
    assert.deepEqual(second.of('closed').map((e) => e.code), ['TOR_STATE_LOCKED']);
    assert.equal(first.child.exitCode, null, 'the first talk still runs');
    first.child.kill('SIGINT');
    await exitsWith(first, 4);
    assert.deepEqual((await readdir(join(alice.home, 'tor'))).filter((n) => n.startsWith('entrechat.lock')), [], 'the lock is gone');
  });

  test('a guard other than the kept one → a TOR_GUARD_CHANGED notice; the session goes on', async () => {
    const { alice, bob } = pair;
    const file = join(alice.home, 'tor', 'state');
    const state = await readFile(file, 'utf8');
    const kept = primaryGuard(state);
    assert.ok(kept !== null);
    // As if the guard kept last time had left the network: tor moves to another one.
    await writeFile(file, state.split(kept).join('F'.repeat(40)));
    const { a, b } = await session(alice.home, bob.home);
    assert.deepEqual(a.of('notice').map((e) => e.code), ['TOR_GUARD_CHANGED']);
    assert.deepEqual(b.of('notice'), []);
    assert.ok(!JSON.stringify(a.events).includes(kept.slice(0, 8)), 'no guard fingerprint is printed');
  });

  test('talk --amnesic, and an identity made amnesic (settings), keep no tor folder', async () => {
    const { alice, bob } = await fx.pair();
    assert.equal((await run(bob.home, ['settings', 'amnesic', 'on', '--json'])).code, 0);
    await session(alice.home, bob.home, { a: ['--amnesic'] });
    for (const home of [alice.home, bob.home]) {
      assert.deepEqual((await readdir(home)).filter((n) => n !== 'store'), [], 'only the store in the home folder');
    }
  });
});
