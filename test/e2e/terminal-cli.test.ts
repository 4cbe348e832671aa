/**
 * The `entrechat` command line in a real terminal (panes of a tmux server of each test's own): the
 * prompts appear, what is typed at a passphrase prompt is never shown, and each wrong input gets its
 * message, its error code and its exit code (src/cli/exit.ts: 2 for the user's mistakes, 3 for the
 * store). No Tor.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bech32m } from '@scure/base';
import { contactQr } from '../../src/cli/qr.ts';
import { Fixture, run } from '../helpers/cli.ts';
import { processesMentioning, snapshot } from '../helpers/procs.ts';
import { Tmux, entrechatCommand, key, type PaneId } from '../helpers/tmux.ts';

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const CONTACT_CODE = /\bec1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{59}\b/;

interface Setup {
  readonly tmux: Tmux;
  readonly fx: Fixture;
  /** A pane running `entrechat ARGS` with $ENTRECHAT_HOME = `home`. */
  readonly entrechat: (home: string, args: string[]) => Promise<PaneId>;
  /** Waits for the pane's exit: its code and its whole screen. */
  readonly finished: (pane: PaneId) => Promise<{ code: number; screen: string }>;
  /** Runs `entrechat ARGS` without input to its end. */
  readonly runIn: (home: string, args: string[]) => Promise<{ code: number; screen: string }>;
}

/** A tmux server and a fixture of the test's own, both stopped and removed when it ends, failed or not. */
async function setup(t: TestContext): Promise<Setup> {
  const fx = new Fixture();
  let tmux: Tmux | null = null;
  t.after(async () => {
    try {
      await tmux?.stop();
    } finally {
      await fx.cleanup();
    }
  });
  const server = await Tmux.start({ width: 100, height: 30 });
  tmux = server;
  const env = (home: string): Record<string, string> => ({ ENTRECHAT_HOME: home, NO_COLOR: '1' });
  const entrechat = (home: string, args: string[]): Promise<PaneId> => server.newPane(entrechatCommand(args), { env: env(home) });
  const finished = async (pane: PaneId): Promise<{ code: number; screen: string }> => {
    const code = await server.waitExit(pane);
    return { code, screen: await server.capture(pane, { history: true }) };
  };
  const runIn = async (home: string, args: string[]): Promise<{ code: number; screen: string }> => finished(await entrechat(home, args));
  return { tmux: server, fx, entrechat, finished, runIn };
}

/**
 * Types `passphrase` at each of the `prompts` in turn: once the program has written the prompt to the
 * terminal and turned its echo off (text typed earlier would be shown), as a person would.
 */
async function answerPrompts(tmux: Tmux, pane: PaneId, prompts: readonly string[], passphrase: string): Promise<void> {
  let seen = 0;
  for (const prompt of prompts) {
    const out = await tmux.waitForOutput(pane, (o) => o.indexOf(prompt, seen) >= 0);
    seen = out.indexOf(prompt, seen) + prompt.length;
    await tmux.waitEchoOff(pane);
    await tmux.typeLine(pane, passphrase);
  }
}

const NEW_PASSPHRASE = 'New passphrase: ';
const REPEAT_IT = 'Repeat it: ';
const PASSPHRASE = 'Passphrase: ';

/** `code` with one data character changed: a typo. */
function typo(code: string, at = 20): string {
  const c = code.charAt(at);
  const other = BECH32.charAt((BECH32.indexOf(c) + 1) % BECH32.length);
  return code.slice(0, at) + other + code.slice(at + 1);
}

/** The same key under another prefix, with a valid checksum. */
function withPrefix(code: string, prefix: string): string {
  return bech32m.encode(prefix, bech32m.decode(code as `${string}1${string}`).words);
}

/** Two identities, each in the other's contacts (not verified). */
/** The safety-number groups a screen shows (lines of 5-digit groups). */
function safetyGroups(screen: string): string[] {
  const lines = screen.split('\n').filter((l) => /^\s+\d{5}(\s+\d{5})*\s*$/.test(l));
  return lines.flatMap((l) => l.trim().split(/\s+/));
}

describe('entrechat in a real terminal (tmux): wrong input, its message and its exit code', () => {
  test('the harness: only the given environment reaches a pane, exit codes and keys work, stop() leaves nothing', async (t) => {
    const saved = { home: process.env.ENTRECHAT_HOME, leak: process.env.ENTRECHAT_LEAK_CHECK };
    process.env.ENTRECHAT_HOME = '/nonexistent/runner-home';
    process.env.ENTRECHAT_LEAK_CHECK = 'leaked';
    let tmux: Tmux;
    try {
      ({ tmux } = await setup(t));
    } finally {
      if (saved.home === undefined) delete process.env.ENTRECHAT_HOME;
      else process.env.ENTRECHAT_HOME = saved.home;
      if (saved.leak === undefined) delete process.env.ENTRECHAT_LEAK_CHECK;
      else process.env.ENTRECHAT_LEAK_CHECK = saved.leak;
    }
    const envRun = await tmux.run('env | sort', { env: { GIVEN: 'yes;', ENTRECHAT_HOME: '/given' } });
    assert.equal(envRun.code, 0);
    const vars = envRun.screen.split('\n').filter((l) => /^[A-Z_]+=/.test(l));
    assert.ok(vars.includes('GIVEN=yes;'), envRun.screen);
    assert.ok(vars.includes('ENTRECHAT_HOME=/given'), envRun.screen);
    assert.ok(vars.includes('TERM=xterm-256color'), envRun.screen);
    assert.deepEqual(vars.filter((v) => v.startsWith('ENTRECHAT_LEAK') || v.startsWith('TMUX')), []);

    assert.equal((await tmux.run('exit 7')).code, 7);
    assert.equal((await tmux.run('kill -TERM $$')).code, 128 + 15);

    // Literal text that looks like an option or ends a tmux command, then named keys.
    const echo = await tmux.newPane('read a; read b; echo "[$a|$b]"');
    await tmux.sendKeys(echo, '-n x;', key('Enter'), ';', key('Enter'));
    await tmux.waitFor(echo, '[-n x;|;]');

    // Sizes: the default, a resized window, and two panes side by side; the program sees its terminal's size.
    const sized = await tmux.newPane('read a; stty size');
    assert.deepEqual(await tmux.size(sized), { width: 100, height: 30 });
    await tmux.resizeWindow(sized, 120, 40);
    await tmux.typeLine(sized, '');
    await tmux.waitFor(sized, /^40 120$/m);
    const [left, right] = await tmux.sideBySide({ command: 'sleep 600' }, { command: 'sleep 600' }, { width: 80, height: 24 });
    assert.deepEqual([await tmux.size(left), await tmux.size(right)], [{ width: 80, height: 24 }, { width: 80, height: 24 }]);

    const quiet = await tmux.newPane('echo hello; exit 3');
    await assert.rejects(tmux.waitFor(quiet, 'never shown'), /exited \(code 3\)[\s\S]*hello/);

    const sleeper = await tmux.newPane('exec sleep 600');
    const pid = await tmux.panePid(sleeper);
    assert.ok(pid > 0);
    await tmux.stop();
    await tmux.stop();
    assert.deepEqual(await processesMentioning(tmux.socket), []);
    assert.equal(await alive(pid), false, 'the pane\'s process is ended');
    assert.equal((await snapshot(tmux.dir)).size, 0, 'the folder is removed');
  });

  test('init: two different passphrases are refused (BAD_ARGUMENT, exit 2, no store); typed twice alike, the identity is made; nothing typed is shown', async (t) => {
    const { tmux, fx, entrechat, finished } = await setup(t);
    const home = await fx.home();
    const passphrase = 'Quokka-Lantern-7319';
    const different = 'Mango-Trellis-4802';

    const refused = await entrechat(home, ['init']);
    await answerPrompts(tmux, refused, [NEW_PASSPHRASE], passphrase);
    await answerPrompts(tmux, refused, [REPEAT_IT], different);
    const r1 = await finished(refused);
    assert.equal(r1.code, 2, r1.screen);
    assert.match(r1.screen, /^entrechat: .*two passphrases differ.* \[BAD_ARGUMENT\]$/m);
    assert.doesNotMatch(r1.screen, /Identity created|ec1/);
    for (const secret of [passphrase, different, 'Quokka', 'Trellis']) assert.ok(!r1.screen.includes(secret), `"${secret}" is on the screen:\n${r1.screen}`);
    assert.deepEqual([...(await snapshot(home)).keys()], [], 'no store is created');

    const made = await entrechat(home, ['init']);
    await answerPrompts(tmux, made, [NEW_PASSPHRASE, REPEAT_IT], passphrase);
    const r2 = await finished(made);
    assert.equal(r2.code, 0, r2.screen);
    assert.match(r2.screen, /Identity created/);
    const shown = CONTACT_CODE.exec(r2.screen)?.[0];
    assert.ok(shown !== undefined, `a contact code on the screen:\n${r2.screen}`);
    for (const secret of [passphrase, 'Quokka', 'Lantern']) assert.ok(!r2.screen.includes(secret), `"${secret}" is on the screen:\n${r2.screen}`);
    assert.ok((await snapshot(home)).has(join(home, 'store')), 'the store is written');

    // The code shown is the identity's, and the store opens with the passphrase typed.
    const dir = await fx.home();
    const file = join(dir, 'pass');
    await writeFile(file, `${passphrase}\n`, { mode: 0o600 });
    const who = await run(home, ['whoami', '--json', '--passphrase-file', file]);
    assert.equal(who.code, 0, who.stderr);
    assert.equal((JSON.parse(who.stdout) as { code: string }).code, shown);
  });

  test('init on an existing identity: refused with STORE_EXISTS before any passphrase is asked, exit 3, the store untouched', async (t) => {
    const { fx, entrechat, finished } = await setup(t);
    const { home } = await fx.identity();
    const before = await snapshot(home);
    const pane = await entrechat(home, ['init']);
    const r = await finished(pane);
    assert.equal(r.code, 3, r.screen);
    assert.match(r.screen, /^entrechat: .*exists.* \[STORE_EXISTS\]$/m);
    assert.doesNotMatch(r.screen, /Identity created|passphrase:/i);
    assert.deepEqual(await snapshot(home), before);
  });

  test('whoami: a wrong passphrase at the prompt is STORE_WRONG_PASSPHRASE, exit 3; the right one shows the code', async (t) => {
    const { tmux, fx, entrechat, finished } = await setup(t);
    const home = await fx.home();
    const dir = await fx.home();
    const file = join(dir, 'pass');
    await writeFile(file, 'Heron-Cobalt-6604\n', { mode: 0o600 });
    const init = await run(home, ['init', '--json', '--passphrase-file', file]);
    assert.equal(init.code, 0, init.stderr);
    const code = (JSON.parse(init.stdout) as { code: string }).code;

    const wrong = await entrechat(home, ['whoami']);
    await answerPrompts(tmux, wrong, [PASSPHRASE], 'Heron-Cobalt-6605');
    const r1 = await finished(wrong);
    assert.equal(r1.code, 3, r1.screen);
    assert.match(r1.screen, /^entrechat: .*wrong passphrase.* \[STORE_WRONG_PASSPHRASE\]$/im);
    assert.ok(!r1.screen.includes(code), 'no code without the passphrase');
    assert.ok(!r1.screen.includes('Heron'), r1.screen);

    const right = await entrechat(home, ['whoami']);
    await answerPrompts(tmux, right, [PASSPHRASE], 'Heron-Cobalt-6604');
    const r2 = await finished(right);
    assert.equal(r2.code, 0, r2.screen);
    assert.ok(r2.screen.includes(code), r2.screen);
    assert.ok(!r2.screen.includes('Heron'), r2.screen);
  });

  test('contacts add: a typo is CODE_BAD_CHECKSUM, another prefix CODE_BAD_PREFIX, a name taken CONTACT_DUPLICATE_NAME, each exit 2', async (t) => {
    const { fx, runIn } = await setup(t);
    const [alice, bob, carol] = await Promise.all([fx.identity(), fx.identity(), fx.identity()]);

    const [typoRun, prefixRun] = await Promise.all([
      runIn(alice.home, ['contacts', 'add', 'bob', typo(bob.code)]),
      runIn(alice.home, ['contacts', 'add', 'bob', withPrefix(bob.code, 'ed')]),
    ]);
    assert.equal(typoRun.code, 2, typoRun.screen);
    assert.match(typoRun.screen, /^entrechat: .*typo.* \[CODE_BAD_CHECKSUM\]$/m);
    assert.equal(prefixRun.code, 2, prefixRun.screen);
    assert.match(prefixRun.screen, /^entrechat: .*prefix.* \[CODE_BAD_PREFIX\]$/m);
    const none = await runIn(alice.home, ['contacts', 'list']);
    assert.equal(none.code, 0, none.screen);
    assert.match(none.screen, /No contacts yet\./);

    const added = await runIn(alice.home, ['contacts', 'add', 'bob', bob.code]);
    assert.equal(added.code, 0, added.screen);
    assert.match(added.screen, /Added bob \(not verified yet\)\./);

    const again = await runIn(alice.home, ['contacts', 'add', 'bob', carol.code]);
    assert.equal(again.code, 2, again.screen);
    assert.match(again.screen, /^entrechat: .*name.* \[CONTACT_DUPLICATE_NAME\]$/m);

    const list = await runIn(alice.home, ['contacts', 'list']);
    assert.equal(list.code, 0, list.screen);
    assert.match(list.screen, new RegExp(`^bob\\s+not verified\\s+${bob.code}$`, 'm'));
    assert.ok(!list.screen.includes(carol.code), list.screen);
  });

  test('contacts verify: the same safety number in groups on both screens; n (or just Enter) → not verified, exit 2', async (t) => {
    const { tmux, fx, runIn } = await setup(t);
    const { alice, bob } = await fx.pair();

    // Side by side, as two people comparing their screens.
    const [left, right] = await tmux.sideBySide(
      { command: entrechatCommand(['contacts', 'verify', 'bob']), env: { ENTRECHAT_HOME: alice.home, NO_COLOR: '1' } },
      { command: entrechatCommand(['contacts', 'verify', 'alice']), env: { ENTRECHAT_HOME: bob.home, NO_COLOR: '1' } },
    );
    const aliceScreen = await tmux.waitFor(left, /Are they the same on bob's screen\? \[y\/N\]/);
    const bobScreen = await tmux.waitFor(right, /Are they the same on alice's screen\? \[y\/N\]/);
    assert.match(aliceScreen, /Safety number with bob: compare all 12 groups/);
    const groups = safetyGroups(aliceScreen);
    assert.equal(groups.length, 12, aliceScreen);
    for (const g of groups) assert.match(g, /^\d{5}$/);
    assert.deepEqual(safetyGroups(bobScreen), groups, `the two screens differ:\n${aliceScreen}\n---\n${bobScreen}`);

    await tmux.typeLine(left, 'n');
    await tmux.press(right, 'Enter');
    const [codeA, codeB] = [await tmux.waitExit(left), await tmux.waitExit(right)];
    const [endA, endB] = [await tmux.capture(left, { history: true }), await tmux.capture(right, { history: true })];
    assert.equal(codeA, 2, endA);
    assert.equal(codeB, 2, endB);
    assert.match(endA, /^Not marked verified\.$/m);
    assert.match(endB, /^Not marked verified\.$/m);

    const [listA, listB] = await Promise.all([runIn(alice.home, ['contacts', 'list']), runIn(bob.home, ['contacts', 'list'])]);
    assert.match(listA.screen, new RegExp(`^bob\\s+not verified\\s+${bob.code}$`, 'm'));
    assert.match(listB.screen, new RegExp(`^alice\\s+not verified\\s+${alice.code}$`, 'm'));
  });

  test('contacts verify: y → "NAME is verified.", exit 0, and contacts list says verified', async (t) => {
    const { tmux, fx, entrechat, finished, runIn } = await setup(t);
    const { alice, bob } = await fx.pair();
    const pane = await entrechat(alice.home, ['contacts', 'verify', 'bob']);
    await tmux.waitFor(pane, /Are they the same on bob's screen\? \[y\/N\]/);
    await tmux.typeLine(pane, 'y');
    const r = await finished(pane);
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /^bob is verified\.$/m);
    const list = await runIn(alice.home, ['contacts', 'list']);
    assert.match(list.screen, new RegExp(`^bob\\s+verified\\s+${bob.code}$`, 'm'));
  });

  test('the passphrase prompts stay on the screen while the passphrase is typed', async (t) => {
    const { tmux, fx, entrechat } = await setup(t);
    const home = await fx.home();
    const pane = await entrechat(home, ['init']);
    await tmux.waitForOutput(pane, NEW_PASSPHRASE);
    await tmux.waitEchoOff(pane);
    await tmux.waitFor(pane, /^New passphrase: ?$/m, { timeoutMs: 2000 });
    await tmux.type(pane, 'Otter-Pebble-1177');
    await tmux.waitFor(pane, /^New passphrase: ?$/m, { timeoutMs: 2000 });
    await tmux.press(pane, 'Enter');
    await tmux.waitForOutput(pane, REPEAT_IT);
    await tmux.waitEchoOff(pane);
    await tmux.waitFor(pane, /^Repeat it: ?$/m, { timeoutMs: 2000 });
  });

  test('whoami on a terminal: the code, and under it the same code as a QR code in block characters', async (t) => {
    const { fx, runIn } = await setup(t);
    const { home, code } = await fx.identity();
    const r = await runIn(home, ['whoami']);
    assert.equal(r.code, 0, r.screen);
    const lines = r.screen.split('\n');
    const at = lines.indexOf(code);
    assert.ok(at >= 0, `the code on a line of its own:\n${r.screen}`);
    const qr = contactQr(code).map((l) => l.trimEnd());
    assert.ok(qr.length >= 15 && qr.every((l) => /^[█▀▄ ]+$/.test(l)), 'the expected QR is drawn in blocks');
    const start = lines.indexOf(qr[0] ?? '', at + 1);
    assert.ok(start > at, `a QR code under the code:\n${r.screen}`);
    assert.deepEqual(lines.slice(start, start + qr.length), qr, r.screen);

    // Not on a terminal: no QR code.
    const piped = await run(home, ['whoami']);
    assert.equal(piped.code, 0, piped.stderr);
    assert.doesNotMatch(piped.stdout, /[█▀▄]/);
  });

  test('a store swapped for one without passphrase while the prompt waits: the passphrase typed is refused (STORE_PASSPHRASE_UNEXPECTED, exit 3); afterwards every command says the store has no passphrase', async (t) => {
    const { tmux, fx, entrechat, finished } = await setup(t);
    const home = await fx.home();
    const dir = await fx.home();
    const file = join(dir, 'pass');
    await writeFile(file, 'Heron-Cobalt-6604-Lantern\n', { mode: 0o600 });
    assert.equal((await run(home, ['init', '--passphrase-file', file])).code, 0);
    const attacker = await fx.identity();

    const pane = await entrechat(home, ['whoami']);
    await tmux.waitForOutput(pane, (o) => o.includes(PASSPHRASE));
    // The header said "passphrase"; the store is replaced before the passphrase is typed.
    await writeFile(join(home, 'store'), await readFile(join(attacker.home, 'store')), { mode: 0o600 });
    await answerPrompts(tmux, pane, [PASSPHRASE], 'Heron-Cobalt-6604-Lantern');
    const r = await finished(pane);
    assert.equal(r.code, 3, r.screen);
    assert.match(r.screen, /\[STORE_PASSPHRASE_UNEXPECTED\]$/m);
    assert.ok(!r.screen.includes(attacker.code), 'the swapped store was not opened');

    // Without a passphrase file nothing can be refused, but the terminal says it every time.
    const later = await finished(await entrechat(home, ['whoami']));
    assert.equal(later.code, 0, later.screen);
    assert.match(later.screen, /this store has NO passphrase/);
  });
});

/** Whether `pid` is a live (not zombie) process. */
async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${String(pid)}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
