/**
 * The amnesic setting from the command line, without Tor: `init --amnesic` remembers it in the store,
 * `settings` shows and changes it (turning it on removes the kept tor folder, unless a session holds
 * it), `talk --amnesic` is refused where no tor is started, and `doctor` checks the tor folder.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Fixture, run } from '../helpers/cli.ts';
import { STORE_FILE_NAME } from '../../src/store/store.ts';
import { STATE_LOCK_NAME } from '../../src/tor/state-dir.ts';

const fx = new Fixture();
after(async () => { await fx.cleanup(); });

const codeOf = (stderr: string) => /\[([A-Z_]+)\]/.exec(stderr)?.[1];
const settings = async (home: string): Promise<{ amnesic: boolean; torState: string }> => {
  const r = await run(home, ['settings', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { amnesic: boolean; torState: string };
};

test('init --amnesic is remembered; settings amnesic off / on change it; a plain init is not amnesic', async () => {
  const plain = await fx.identity();
  assert.equal((await settings(plain.home)).amnesic, false);
  const storeBefore = await readFile(join(plain.home, STORE_FILE_NAME));

  const home = await fx.home();
  const init = await run(home, ['init', '--no-passphrase', '--amnesic']);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /Amnesic/);
  assert.deepEqual(await settings(home), { amnesic: true, torState: join(home, 'tor') });
  assert.match((await run(home, ['settings'])).stdout, /^amnesic: on/);

  const off = await run(home, ['settings', 'amnesic', 'off', '--json']);
  assert.equal(off.code, 0, off.stderr);
  assert.deepEqual(JSON.parse(off.stdout), { amnesic: false, removedTorState: false });
  assert.equal((await settings(home)).amnesic, false);
  // Contacts added keep the setting; the setting survives a contact change.
  assert.equal((await run(home, ['settings', 'amnesic', 'on'])).code, 0);
  assert.equal((await run(home, ['contacts', 'add', 'p', plain.code])).code, 0);
  assert.equal((await settings(home)).amnesic, true);
  // Showing the settings wrote nothing.
  assert.deepEqual(await readFile(join(plain.home, STORE_FILE_NAME)), storeBefore);
});

test('settings amnesic on removes the kept tor folder, but not while a session holds it (TOR_STATE_LOCKED)', async () => {
  const { home } = await fx.identity();
  const tor = join(home, 'tor');
  await mkdir(tor, { mode: 0o700 });
  await writeFile(join(tor, 'state'), 'Guard in=default\n');
  // A live process holds the lock: ours (the test runner), as a running talk would.
  const stat = await readFile(`/proc/${process.pid}/stat`, 'latin1');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  await writeFile(join(tor, STATE_LOCK_NAME), `${process.pid} ${start}\n`);
  const held = await run(home, ['settings', 'amnesic', 'on']);
  assert.equal(held.code, 6);
  assert.equal(codeOf(held.stderr), 'TOR_STATE_LOCKED');
  assert.equal((await settings(home)).amnesic, false, 'nothing changed');
  assert.deepEqual((await readdir(tor)).sort(), [STATE_LOCK_NAME, 'state']);
  // Its holder gone: removed.
  await writeFile(join(tor, STATE_LOCK_NAME), '1 1\n');
  const on = await run(home, ['settings', 'amnesic', 'on', '--json']);
  assert.equal(on.code, 0, on.stderr);
  assert.deepEqual(JSON.parse(on.stdout), { amnesic: true, removedTorState: true });
  assert.deepEqual(await readdir(home), [STORE_FILE_NAME]);
});

test('settings and --amnesic: bad uses → BAD_ARGUMENT (exit 2)', async () => {
  const { home } = await fx.identity();
  for (const args of [
    ['settings', 'amnesic'], ['settings', 'amnesic', 'maybe'], ['settings', 'colour', 'on'], ['settings', 'amnesic', 'on', 'extra'],
    ['talk', 'bob', '--amnesic', '--tor-control', '127.0.0.1:9051'],
    ['talk', 'bob', '--amnesic', '--loopback-listen', '1', '--loopback-peer', '2'],
  ]) {
    const r = await run(home, args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(codeOf(r.stderr), 'BAD_ARGUMENT', args.join(' '));
  }
});

test('doctor tor-state: absent, amnesic, private, or unsafe (TOR_STATE_UNSAFE, exit 6)', async () => {
  const { home } = await fx.identity();
  type Check = { name: string; ok: boolean; warn?: boolean; code?: string; detail: string; fix?: string };
  const check = async (): Promise<{ code: number | null; state: Check | undefined }> => {
    const r = await run(home, ['doctor', '--json']);
    return { code: r.code, state: (JSON.parse(r.stdout) as Check[]).find((c) => c.name === 'tor-state') };
  };
  let r = await check();
  assert.equal(r.state?.ok, true);
  assert.match(r.state.detail, /does not exist yet/);
  const tor = join(home, 'tor');
  await mkdir(tor, { mode: 0o700 });
  r = await check();
  assert.equal(r.code, 0);
  assert.match(r.state?.detail ?? '', /private/);
  await chmod(tor, 0o755);
  r = await check();
  assert.equal(r.code, 6);
  assert.equal(r.state?.ok, false);
  assert.equal(r.state.code, 'TOR_STATE_UNSAFE');
  assert.match(r.state.fix ?? '', /chmod 700/);
  await chmod(tor, 0o700);
  // Amnesic, with a folder left from before: a warning.
  const amnesic = await fx.identity();
  assert.equal((await run(amnesic.home, ['settings', 'amnesic', 'on'])).code, 0);
  await mkdir(join(amnesic.home, 'tor'), { mode: 0o700 });
  const w = JSON.parse((await run(amnesic.home, ['doctor', '--json'])).stdout) as Check[];
  assert.equal(w.find((c) => c.name === 'tor-state')?.warn, true);
  // A link in its place.
  const linked = await fx.identity();
  await symlink(tor, join(linked.home, 'tor'));
  const l = JSON.parse((await run(linked.home, ['doctor', '--json'])).stdout) as Check[];
  assert.equal(l.find((c) => c.name === 'tor-state')?.code, 'TOR_STATE_UNSAFE');
});
