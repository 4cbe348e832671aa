/** The command line's own rejections: each shows its code and exits with the documented status. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Fixture, freePort, run } from '../helpers/cli.ts';
import { COMMAND_HELP } from '../../src/cli/help.ts';
import { onMemoryFs } from '../../src/tor/tempbase.ts';

const fx = new Fixture();
after(async () => { await fx.cleanup(); });

const codeOf = (stderr: string) => /\[([A-Z_]+)\]/.exec(stderr)?.[1];

test('help and unknown commands', async () => {
  const home = await fx.home();
  const help = await run(home, ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /entrechat init/);
  const bare = await run(home, []);
  assert.equal(bare.code, 2);
  const unknown = await run(home, ['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.equal(codeOf(unknown.stderr), 'BAD_ARGUMENT');
  const badFlag = await run(home, ['whoami', '--nope']);
  assert.equal(badFlag.code, 2);
  assert.equal(codeOf(badFlag.stderr), 'BAD_ARGUMENT');
});

test('every command has its own --help (also as `help COMMAND`), listed in the overview', async () => {
  const home = await fx.home();
  const overview = (await run(home, ['--help'])).stdout;
  for (const command of Object.keys(COMMAND_HELP)) {
    const own = await run(home, [command, '--help']);
    assert.equal(own.code, 0, command);
    assert.ok(own.stdout.startsWith(`entrechat ${command} `), `${command}: ${own.stdout.slice(0, 40)}`);
    assert.match(own.stdout, /Exit codes: 0 /, command);
    assert.notEqual(own.stdout, overview, command);
    assert.equal((await run(home, ['help', command])).stdout, own.stdout);
    assert.match(overview, new RegExp(`entrechat ${command} `), `the overview lists ${command}`);
  }
});

test('whoami before init: STORE_NOT_FOUND, exit 3', async () => {
  const r = await run(await fx.home(), ['whoami']);
  assert.equal(r.code, 3);
  assert.equal(codeOf(r.stderr), 'STORE_NOT_FOUND');
});

test('a passphrase store: the passphrase comes from a file, a wrong one is STORE_WRONG_PASSPHRASE', async () => {
  const home = await fx.home();
  const good = join(await fx.home(), 'pass');
  await writeFile(good, 'a long passphrase\n', { mode: 0o600 });
  const init = await run(home, ['init', '--passphrase-file', good, '--json']);
  assert.equal(init.code, 0, init.stderr);
  const code = (JSON.parse(init.stdout) as { code: string }).code;
  const who = await run(home, ['whoami', '--passphrase-file', good]);
  assert.equal(who.stdout.trim(), code);
  const bad = join(home, 'wrong');
  await writeFile(bad, 'not it\n', { mode: 0o600 });
  const wrong = await run(home, ['whoami', '--passphrase-file', bad]);
  assert.equal(wrong.code, 3);
  assert.equal(codeOf(wrong.stderr), 'STORE_WRONG_PASSPHRASE');
  const noTty = await run(home, ['whoami']);
  assert.equal(noTty.code, 2);
  assert.equal(codeOf(noTty.stderr), 'BAD_ARGUMENT');
  const again = await run(home, ['init', '--no-passphrase']);
  assert.equal(again.code, 3);
  assert.equal(codeOf(again.stderr), 'STORE_EXISTS');
});

test('contacts: bad code, duplicate name, unknown contact for talk', async () => {
  const me = await fx.identity();
  const other = await fx.identity();
  const typo = other.code.slice(0, 10) + (other.code[10] === 'q' ? 'p' : 'q') + other.code.slice(11);
  const bad = await run(me.home, ['contacts', 'add', 'bob', typo]);
  assert.equal(bad.code, 2);
  assert.equal(codeOf(bad.stderr), 'CODE_BAD_CHECKSUM');
  assert.equal((await run(me.home, ['contacts', 'add', 'bob', other.code])).code, 0);
  const dup = await run(me.home, ['contacts', 'add', 'bob', other.code]);
  assert.equal(dup.code, 2);
  assert.equal(codeOf(dup.stderr), 'CONTACT_DUPLICATE_NAME');
  const list = await run(me.home, ['contacts', 'list', '--json']);
  assert.deepEqual(JSON.parse(list.stdout), [{ name: 'bob', code: other.code, verified: false }]);
  const talk = await run(me.home, ['talk', 'carol', '--json', '--loopback-listen', '1', '--loopback-peer', '2']);
  assert.equal(talk.code, 2);
  assert.deepEqual(JSON.parse(talk.stdout.trim()), { event: 'error', code: 'CONTACT_UNKNOWN' });
  const window = await run(me.home, ['talk', 'bob', '--json', '--loopback-listen', '1', '--loopback-peer', '2', '--window', '5']);
  assert.equal(window.code, 2);
  assert.equal(codeOf(window.stderr), 'LIMIT_OUT_OF_RANGE');
  // Each bound of the idle and session limits, checked before anything starts.
  for (const extra of [['--idle-limit', '59'], ['--idle-limit', '7201'], ['--session-limit', '59'], ['--session-limit', '86401']]) {
    const r = await run(me.home, ['talk', 'bob', '--json', '--loopback-listen', '1', '--loopback-peer', '2', ...extra]);
    assert.equal(r.code, 2, extra.join(' '));
    assert.equal(codeOf(r.stderr), 'LIMIT_OUT_OF_RANGE', extra.join(' '));
  }
  const notNumber = await run(me.home, ['talk', 'bob', '--json', '--loopback-listen', '1', '--loopback-peer', '2', '--idle-limit', '1.5']);
  assert.equal(codeOf(notNumber.stderr), 'BAD_ARGUMENT');
});

test('talk: Tor options that cannot go together are BAD_ARGUMENT (exit 2)', async () => {
  const me = await fx.identity();
  const other = await fx.identity();
  assert.equal((await run(me.home, ['contacts', 'add', 'bob', other.code])).code, 0);
  const cases: string[][] = [
    ['--tor-config', '/dev/null', '--tor-control', '127.0.0.1:9051'],
    ['--tor-control-password-file', '/dev/null'],
    ['--tor-control-cookie-file', '/dev/null'],
    ['--loopback-listen', '1', '--loopback-peer', '2', '--tor-control-cookie-file', '/dev/null'],
    ['--loopback-listen', '1', '--loopback-peer', '2', '--tor-config', '/dev/null'],
    ['--loopback-listen', '1'],
    ['--tor-control', '127.0.0.1:9051', '--tor-control-password-file', '/no/such/file'],
  ];
  for (const extra of cases) {
    const r = await run(me.home, ['talk', 'bob', '--json', ...extra]);
    assert.equal(r.code, 2, extra.join(' '));
    assert.equal(codeOf(r.stderr), 'BAD_ARGUMENT', extra.join(' '));
  }
});

test('talk --tor-config with an option Entrechat sets itself: TOR_CONFIG_INVALID, exit 6', async () => {
  const me = await fx.identity();
  const other = await fx.identity();
  assert.equal((await run(me.home, ['contacts', 'add', 'bob', other.code])).code, 0);
  const torrc = join(me.home, 'bad.torrc');
  await writeFile(torrc, 'SocksPort 9050\n');
  const r = await run(me.home, ['talk', 'bob', '--json', '--tor-config', torrc]);
  assert.equal(r.code, 6);
  assert.equal(codeOf(r.stderr), 'TOR_CONFIG_INVALID');
});

test('talk --tor-config: every spelling tor would read as a refused option is TOR_CONFIG_INVALID, exit 6, and nothing is left in TMPDIR', async () => {
  const me = await fx.identity();
  const other = await fx.identity();
  assert.equal((await run(me.home, ['contacts', 'add', 'bob', other.code])).code, 0);
  const tmp = await fx.home();
  const elsewhere = await fx.home();
  const cases = [
    `DataDir ${elsewhere}`, `CacheDir ${elsewhere}`, `PidF ${join(elsewhere, 'tor.pid')}`, `+Log notice file ${join(elsewhere, 'log')}`,
    `l notice file ${join(elsewhere, 'log')}`, `c ${elsewhere}`, `/SocksPort`, `%include ${elsewhere}`,
  ];
  for (const [i, line] of cases.entries()) {
    const torrc = join(me.home, `bad-${i}.torrc`);
    await writeFile(torrc, `TestingTorNetwork 1\n${line}\n`);
    const t = fx.talk(me.home, ['bob', '--tor-config', torrc], { TMPDIR: tmp });
    assert.equal(await t.exited, 6, line);
    assert.equal(codeOf(t.stderr) ?? t.of('error')[0]?.code, 'TOR_CONFIG_INVALID', line);
  }
  assert.deepEqual(await readdir(tmp), [], 'no tor folder was made');
  assert.deepEqual(await readdir(elsewhere), [], 'nothing written where the lines pointed');
});

test('talk --tor-control-password-file readable by others, or not a file: PASSWORD_FILE_EXPOSED, exit 2', async () => {
  const me = await fx.identity();
  const other = await fx.identity();
  assert.equal((await run(me.home, ['contacts', 'add', 'bob', other.code])).code, 0);
  const open = join(me.home, 'open-password');
  await writeFile(open, 'secret\n', { mode: 0o644 });
  await chmod(open, 0o644);
  const group = join(me.home, 'group-password');
  await writeFile(group, 'secret\n');
  await chmod(group, 0o640);
  for (const file of [open, group, me.home]) {
    const r = await run(me.home, ['talk', 'bob', '--json', '--tor-control', '127.0.0.1:9', '--tor-control-password-file', file]);
    assert.equal(r.code, 2, file);
    assert.equal(codeOf(r.stderr), 'PASSWORD_FILE_EXPOSED', file);
  }
  // A private one passes the check (and the attempt then fails on the address: nothing listens there).
  const mine = join(me.home, 'password');
  await writeFile(mine, 'secret\n', { mode: 0o600 });
  const r = await run(me.home, ['talk', 'bob', '--json', '--window', '10', '--tor-control', '127.0.0.1:9', '--tor-control-password-file', mine]);
  assert.notEqual(codeOf(r.stderr) ?? '', 'PASSWORD_FILE_EXPOSED');
  assert.equal(r.code, 6, r.stderr);
});

test('contacts rename, remove and verify; their rejections by code', async () => {
  const me = await fx.identity();
  const bob = await fx.identity();
  const carol = await fx.identity();
  assert.equal((await run(me.home, ['contacts', 'add', 'bob', bob.code])).code, 0);
  assert.equal((await run(me.home, ['contacts', 'add', 'carol', carol.code])).code, 0);
  const list = async () => JSON.parse((await run(me.home, ['contacts', 'list', '--json'])).stdout) as { name: string; verified: boolean }[];

  assert.equal((await run(me.home, ['contacts', 'rename', 'bob', 'robert'])).code, 0);
  assert.deepEqual((await list()).map((c) => c.name), ['robert', 'carol']);
  const dup = await run(me.home, ['contacts', 'rename', 'robert', 'carol']);
  assert.equal(dup.code, 2);
  assert.equal(codeOf(dup.stderr), 'CONTACT_DUPLICATE_NAME');
  const unknown = await run(me.home, ['contacts', 'rename', 'nobody', 'x']);
  assert.equal(codeOf(unknown.stderr), 'CONTACT_UNKNOWN');
  const badName = await run(me.home, ['contacts', 'rename', 'robert', ' ']);
  assert.equal(codeOf(badName.stderr), 'CONTACT_BAD_NAME');

  // verify: the safety number in 12 groups of 5 digits; without a terminal, only with --yes.
  const noTty = await run(me.home, ['contacts', 'verify', 'robert']);
  assert.equal(noTty.code, 2);
  assert.equal(codeOf(noTty.stderr), 'BAD_ARGUMENT');
  assert.equal((await list())[0]?.verified, false);
  const yes = await run(me.home, ['contacts', 'verify', 'robert', '--yes']);
  assert.equal(yes.code, 0);
  assert.equal((yes.stdout.match(/\b\d{5}\b/g) ?? []).length, 12);
  // Bob sees the same number from his side.
  assert.equal((await run(bob.home, ['contacts', 'add', 'me', me.code])).code, 0);
  const theirs = await run(bob.home, ['contacts', 'verify', 'me', '--yes']);
  assert.deepEqual(theirs.stdout.match(/\b\d{5}\b/g), yes.stdout.match(/\b\d{5}\b/g));
  assert.deepEqual((await list()).map((c) => c.verified), [true, false]);

  assert.equal((await run(me.home, ['contacts', 'remove', 'carol'])).code, 0);
  assert.deepEqual((await list()).map((c) => c.name), ['robert']);
  const gone = await run(me.home, ['contacts', 'remove', 'carol']);
  assert.equal(gone.code, 2);
  assert.equal(codeOf(gone.stderr), 'CONTACT_UNKNOWN');
});

test('passphrase: changed from files; the old one no longer opens the store; removing it needs --yes', async () => {
  const home = await fx.home();
  const oldFile = join(home, 'old.txt');
  const newFile = join(home, 'new.txt');
  await writeFile(oldFile, 'correct horse\n', { mode: 0o600 });
  await writeFile(newFile, 'battery staple\n', { mode: 0o600 });
  assert.equal((await run(home, ['init', '--passphrase-file', oldFile])).code, 0);
  const before = (await run(home, ['whoami', '--passphrase-file', oldFile])).stdout;
  assert.equal((await run(home, ['passphrase', '--passphrase-file', oldFile, '--new-passphrase-file', newFile])).code, 0);
  assert.equal((await run(home, ['whoami', '--passphrase-file', newFile])).stdout, before, 'same identity');
  const old = await run(home, ['whoami', '--passphrase-file', oldFile]);
  assert.equal(old.code, 3);
  assert.equal(codeOf(old.stderr), 'STORE_WRONG_PASSPHRASE');
  const wrong = await run(home, ['passphrase', '--passphrase-file', oldFile, '--new-passphrase-file', newFile]);
  assert.equal(codeOf(wrong.stderr), 'STORE_WRONG_PASSPHRASE');
  const noTty = await run(home, ['passphrase', '--passphrase-file', newFile]);
  assert.equal(codeOf(noTty.stderr), 'BAD_ARGUMENT', 'without a terminal, the new passphrase comes from a file');
  const unconfirmed = await run(home, ['passphrase', '--passphrase-file', newFile, '--no-passphrase']);
  assert.equal(codeOf(unconfirmed.stderr), 'BAD_ARGUMENT', 'removing the passphrase needs --yes');
  const both = await run(home, ['passphrase', '--passphrase-file', newFile, '--no-passphrase', '--yes', '--new-passphrase-file', oldFile]);
  assert.equal(codeOf(both.stderr), 'BAD_ARGUMENT');
  assert.equal((await run(home, ['whoami', '--passphrase-file', newFile])).stdout, before, 'still the new passphrase');
  assert.equal((await run(home, ['passphrase', '--passphrase-file', newFile, '--no-passphrase', '--yes'])).code, 0);
  assert.equal((await run(home, ['whoami'])).stdout, before, 'now without one');
});

test('whoami --qr: the code, then its QR code; --json never has one', async () => {
  const me = await fx.identity();
  const qr = await run(me.home, ['whoami', '--qr']);
  assert.equal(qr.code, 0);
  const lines = qr.stdout.split('\n');
  assert.equal(lines[0], me.code);
  assert.ok(lines.filter((l) => /^[ █▀▄]{37}$/u.test(l)).length >= 18, 'a QR code of 37 modules');
  const json = await run(me.home, ['whoami', '--json']);
  assert.deepEqual(JSON.parse(json.stdout), { code: me.code });
});

test('doctor: every check with its fix; exit 0 when all is well, 3 for the store, 6 for tor', async () => {
  const home = await fx.home();
  type Check = { name: string; ok: boolean; code?: string; fix?: string };
  const checks = async (): Promise<{ code: number | null; list: Check[] }> => {
    const r = await run(home, ['doctor', '--json']);
    return { code: r.code, list: JSON.parse(r.stdout) as Check[] };
  };
  let r = await checks();
  assert.equal(r.code, 3);
  assert.deepEqual(r.list.map((c) => [c.name, c.ok]), [['tor', true], ['tor-config', true], ['core-dumps', true], ['temp-folder', true], ['tor-state', true], ['store', false]]);
  const store = r.list.find((c) => c.name === 'store');
  assert.equal(store?.code, 'STORE_NOT_FOUND');
  assert.match(store.fix ?? '', /entrechat init/);

  assert.equal((await run(home, ['init', '--no-passphrase'])).code, 0);
  r = await checks();
  assert.equal(r.code, 0);
  assert.ok(r.list.every((c) => c.ok));

  await chmod(home, 0o755);
  r = await checks();
  assert.equal(r.code, 3);
  assert.equal(r.list.find((c) => c.name === 'store')?.code, 'STORE_BAD_PERMISSIONS');
  await chmod(home, 0o700);

  const saved = process.env.ENTRECHAT_TOR;
  process.env.ENTRECHAT_TOR = join(home, 'no-tor-here');
  try {
    r = await checks();
  } finally {
    if (saved === undefined) delete process.env.ENTRECHAT_TOR;
    else process.env.ENTRECHAT_TOR = saved;
  }
  assert.equal(r.code, 6);
  const tor = r.list.find((c) => c.name === 'tor');
  assert.equal(tor?.code, 'TOR_NOT_FOUND');
  assert.match(tor.fix ?? '', /apt-get install tor/);
});

test('a store swapped for one without passphrase: --passphrase-file is refused with STORE_PASSPHRASE_UNEXPECTED, exit 3', async () => {
  const victim = await fx.home();
  const pass = join(await fx.home(), 'pass');
  await writeFile(pass, 'plinth-ocarina-mudflat-zestful-quiver\n', { mode: 0o600 });
  assert.equal((await run(victim, ['init', '--passphrase-file', pass])).code, 0);
  const attacker = await fx.identity();
  // Someone with write access to the folder puts their own unprotected store in its place.
  await copyFile(join(attacker.home, 'store'), join(victim, 'store'));
  for (const args of [['whoami'], ['contacts', 'list'], ['talk', 'bob', '--loopback-listen', '1', '--loopback-peer', '2']]) {
    const r = await run(victim, [...args, '--passphrase-file', pass]);
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(codeOf(r.stderr), 'STORE_PASSPHRASE_UNEXPECTED', args.join(' '));
    assert.ok(!r.stdout.includes(attacker.code), 'the swapped store was not opened');
  }
});

test('passphrase files readable by others are refused (PASSPHRASE_FILE_EXPOSED, exit 2); weak passphrases are warned about', async () => {
  const home = await fx.home();
  const dir = await fx.home();
  const open = join(dir, 'open');
  await writeFile(open, 'plinth-ocarina-mudflat-zestful-quiver\n', { mode: 0o644 });
  await chmod(open, 0o644);
  const refused = await run(home, ['init', '--passphrase-file', open]);
  assert.equal(refused.code, 2);
  assert.equal(codeOf(refused.stderr), 'PASSPHRASE_FILE_EXPOSED');
  assert.equal((await run(home, ['whoami'])).code, 3, 'no store was made');

  const weak = join(dir, 'weak');
  await writeFile(weak, 'a\n', { mode: 0o600 });
  const made = await run(home, ['init', '--passphrase-file', weak]);
  assert.equal(made.code, 0, 'a warning, not a refusal');
  assert.match(made.stderr, /weak: about \d+ bits/);
  const strong = join(dir, 'strong');
  await writeFile(strong, 'plinth-ocarina-mudflat-zestful-quiver\n', { mode: 0o600 });
  const changed = await run(home, ['passphrase', '--passphrase-file', weak, '--new-passphrase-file', strong]);
  assert.equal(changed.code, 0, changed.stderr);
  assert.doesNotMatch(changed.stderr, /weak/);
  const back = await run(home, ['passphrase', '--passphrase-file', strong, '--new-passphrase-file', weak]);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stderr, /weak: about \d+ bits/);
  await chmod(strong, 0o640);
  const exposedOld = await run(home, ['whoami', '--passphrase-file', strong]);
  assert.equal(codeOf(exposedOld.stderr), 'PASSPHRASE_FILE_EXPOSED');
});

test('talk --json: a peer\'s C1 controls, DEL and bidi controls arrive escaped (\\u009b), and parse back unchanged', async () => {
  const { alice, bob } = await fx.pair();
  const [pa, pb] = [await freePort(), await freePort()];
  const a = fx.talk(alice.home, ['bob', '--loopback-listen', `${pa}`, '--loopback-peer', `${pb}`, '--window', '20']);
  const b = fx.talk(bob.home, ['alice', '--loopback-listen', `${pb}`, '--loopback-peer', `${pa}`, '--window', '20']);
  await Promise.all([a.waitFor((e) => e.event === 'active'), b.waitFor((e) => e.event === 'active')]);
  const hostile = 'red \u009b31m CSI \u0090 DCS \u009d OSC \u007f DEL \u202e evil \u2066 isolate \u200b zw \u2028 ls';
  a.send(hostile);
  const got = await b.waitFor((e) => e.event === 'message');
  assert.equal(got.text, hostile, 'the text is the same once parsed');
  const line = b.lines.find((l) => l.includes('"message"')) ?? '';
  assert.doesNotMatch(line, /[\u007f-\u009f\u202e\u2066\u200b\u2028]/u, 'no raw C1, DEL, bidi or zero-width character on stdout');
  for (const esc of ['\\u009b', '\\u0090', '\\u009d', '\\u007f', '\\u202e', '\\u2066', '\\u200b', '\\u2028']) assert.ok(line.includes(esc), esc);
  a.endInput();
  b.endInput();
  await Promise.all([a.exited, b.exited]);
});

test('unknown command or option: escape sequences from the command line are shown escaped, never raw', async () => {
  const home = await fx.home();
  const cmd = await run(home, ['\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202eevil']);
  assert.equal(cmd.code, 2);
  assert.equal(codeOf(cmd.stderr), 'BAD_ARGUMENT');
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(cmd.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/u, JSON.stringify(cmd.stderr));
  assert.ok(cmd.stderr.includes('\\u001b]0;pwned\\u0007'), cmd.stderr);
  const opt = await run(home, ['whoami', '--\u001b[31mred']);
  assert.equal(codeOf(opt.stderr), 'BAD_ARGUMENT');
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(opt.stderr, /\u001b/u);
  const json = await run(home, ['contacts', 'add', '\u009b31m', 'ec1x', '--json']);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(json.stdout + json.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/u);
});

test('doctor: core files off; tor\'s temp folder in memory, or a warning with its fix when only a disk is left', { skip: process.platform !== 'linux' }, async () => {
  type Check = { name: string; ok: boolean; warn?: true; fix?: string; detail: string };
  const home = await fx.home();
  const doctor = async (env: Record<string, string | undefined>): Promise<Check[]> => {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    for (const [k, v] of Object.entries(env)) if (v === undefined) Reflect.deleteProperty(process.env, k);
    try {
      return JSON.parse((await run(home, ['doctor', '--json'])).stdout) as Check[];
    } finally {
      for (const k of Object.keys(env)) Reflect.deleteProperty(process.env, k);
      Object.assign(process.env, saved);
    }
  };
  const onDisk = await fx.home();
  const disk = await doctor({ TMPDIR: onDisk });
  const core = disk.find((c) => c.name === 'core-dumps');
  assert.equal(core?.ok, true);
  assert.equal(core.warn, undefined, `prlimit is on this machine: ${core.detail}`);
  const temp = disk.find((c) => c.name === 'temp-folder');
  if (!(await onMemoryFs(onDisk))) {
    assert.equal(temp?.warn, true, 'a disk-backed folder is said');
    assert.match(temp.fix ?? '', /TMPDIR/);
  }
  const shm = await doctor({ TMPDIR: undefined, XDG_RUNTIME_DIR: undefined });
  if (await onMemoryFs('/dev/shm')) assert.equal(shm.find((c) => c.name === 'temp-folder')?.warn, undefined);
});
