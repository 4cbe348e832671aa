/**
 * The interactive chat through real terminals (tmux panes): two `entrechat talk` side by side over the
 * private Tor network, the demo with its bot, and the keys, colours and redraws on loopback. What is
 * checked is what a person sees: the status line's phases and countdown, messages on the other side,
 * delivered marks, a paste kept as one message, the words at the end, and a screen left clean.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Fixture, freePort, run } from '../helpers/cli.ts';
import { processesMentioning, snapshot } from '../helpers/procs.ts';
import { sharedTestnet } from '../helpers/testnet.ts';
import { entrechatCommand, Tmux, type PaneId } from '../helpers/tmux.ts';

const exec = promisify(execFile);
const fx = new Fixture();
const dirs: string[] = [];
let alice: { home: string; code: string };
let bob: { home: string; code: string };

before(async () => {
  ({ alice, bob } = await fx.pair());
  assert.equal((await run(alice.home, ['contacts', 'verify', 'bob', '--yes'])).code, 0);
});

after(async () => {
  await fx.cleanup();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'entrechat-term-'));
  dirs.push(d);
  return d;
}

/** A paste as a terminal delivers it: bracketed (the chat turned that mode on) when asked. */
async function paste(tmux: Tmux, pane: PaneId, text: string): Promise<void> {
  const t = (args: string[]): Promise<unknown> => exec('tmux', ['-u', '-S', tmux.socket, ...args]);
  await t(['set-buffer', '-b', 'entrechat-test', '--', text]);
  await t(['paste-buffer', '-p', '-d', '-b', 'entrechat-test', '-t', pane]);
}

/** Every screen `pane` showed until `what` appeared (so that short phases are seen, not guessed). */
async function watch(tmux: Tmux, pane: PaneId, what: RegExp, timeoutMs: number): Promise<string[]> {
  const seen: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const screen = await tmux.capture(pane);
    if (seen.at(-1) !== screen) seen.push(screen);
    if (what.test(screen)) return seen;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(what)}; last screen:\n${screen}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const statusOf = (screen: string): string => screen.split('\n')[0] ?? '';

/** Whether `pid` runs (a zombie waiting for tmux to reap it has ended). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'latin1');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

test('two panes over the private Tor network: phases, countdown, nothing queued, messages with delivered marks, a paste, resize, /quit ends both', { timeout: 240_000 }, async (t) => {
  const { clientTorrc } = await sharedTestnet();
  const tmux = await Tmux.start({ width: 90, height: 24 });
  t.after(() => tmux.stop());
  const [ta, tb] = [await tempDir(), await tempDir()];
  // Alice's pane takes the whole window until bob's opens beside it.
  const pa = await tmux.newPane(entrechatCommand(['talk', 'bob', '--tor-config', clientTorrc, '--window', '120']), {
    env: { ENTRECHAT_HOME: alice.home, TMPDIR: ta },
    width: 181,
  });

  // Alice alone: Tor starts with a progress bar, then she waits for bob with a countdown.
  const phases = await watch(tmux, pa, /waiting for bob · \d:\d\d left/, 60_000);
  assert.ok(phases.some((s) => /starting Tor [█░]{10} \d+%/.test(statusOf(s))), `a progress bar was shown:\n${phases.map(statusOf).join('\n')}`);
  const first = statusOf(phases.at(-1) ?? '');
  assert.match(first, /bob · ✓ verified · waiting for bob/);
  assert.match(phases.at(-1) ?? '', /Nothing is queued/);
  const countdown = (s: string): number => {
    const m = /(\d+):(\d\d) left/.exec(statusOf(s));
    return m === null ? NaN : Number(m[1]) * 60 + Number(m[2]);
  };
  const later = await tmux.waitFor(pa, (s) => countdown(s) < countdown(phases.at(-1) ?? ''), { timeoutMs: 5000 });
  assert.ok(countdown(later) <= 120 && countdown(later) > 60);

  // Text typed before bob is there is not sent, and not queued: it stays in the input line.
  await tmux.type(pa, 'too early');
  await tmux.press(pa, 'Enter');
  await tmux.waitFor(pa, /Not sent: bob is not connected, and nothing is queued/);
  assert.match(await tmux.capture(pa), /› too early/);
  await tmux.press(pa, 'C-u');

  // Bob arrives (in the right pane, not verified).
  const bobPane = await tmux.splitPane(pa, entrechatCommand(['talk', 'alice', '--tor-config', clientTorrc, '--window', '120']), { env: { ENTRECHAT_HOME: bob.home, TMPDIR: tb }, size: 90 });
  await tmux.waitFor(pa, /· connected · 1:59:\d\d left/, { timeoutMs: 90_000 });
  await tmux.waitFor(bobPane, /alice · ! not verified · connected/, { timeoutMs: 30_000 });
  assert.match(await tmux.capture(bobPane), /alice is not verified: compare your safety number/);

  // A message each way, with the delivered mark on the sender's side.
  await tmux.typeLine(pa, 'Hello Bob, over Tor');
  await tmux.waitFor(bobPane, /\d\d:\d\d alice +Hello Bob, over Tor/);
  await tmux.waitFor(pa, /\d\d:\d\d you ✓ Hello Bob, over Tor/);
  await tmux.typeLine(bobPane, 'Hi Alice');
  await tmux.waitFor(pa, /\d\d:\d\d bob +Hi Alice/);
  await tmux.waitFor(bobPane, /you +✓ Hi Alice/);

  // A paste of several lines is one message (one header, the lines under it).
  await paste(tmux, bobPane, 'first pasted line\nsecond pasted line');
  await tmux.press(bobPane, 'Enter');
  const pasted = await tmux.waitFor(pa, /second pasted line/);
  assert.match(pasted, /\d\d:\d\d bob +first pasted line\n +second pasted line/);

  // A long line wraps; narrowing the pane redraws it for the new width.
  const words = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango omega';
  await tmux.typeLine(pa, words);
  await tmux.waitFor(bobPane, /tango omega/);
  await tmux.resizePane(pa, { width: 44 });
  const narrow = await tmux.waitFor(pa, (s) => /omega/.test(s) && (s.split('\n')[0] ?? '').startsWith(' entrechat'));
  for (const line of narrow.split('\n')) assert.ok(line.trimEnd().length <= 44, `fits the narrowed pane: ${line}`);

  // Up brings back her last line of this session.
  await tmux.press(pa, 'Up');
  await tmux.waitFor(pa, /› .*omega/);
  await tmux.press(pa, 'C-u');

  // /quit on one side ends both, each with the right words; the screens are cleared.
  await tmux.typeLine(pa, '/quit');
  const aliceEnd = await tmux.waitFor(pa, /You ended the session with bob\./, { timeoutMs: 30_000 });
  assert.match(aliceEnd, /Wiped: the screen \(4 messages shown\s+this\s+session\),\s+the session/);
  assert.equal(await tmux.waitExit(pa, 30_000), 0);
  await tmux.waitFor(bobPane, /session over: alice ended it/, { timeoutMs: 30_000 });
  assert.match(await tmux.capture(bobPane), /Any key clears the screen and leaves \(by itself in \d:\d\d\)/);
  await tmux.press(bobPane, 'Space');
  await tmux.waitFor(bobPane, /alice ended the session\./, { timeoutMs: 10_000, history: true });
  assert.equal(await tmux.waitExit(bobPane, 30_000), 0);
  for (const pane of [pa, bobPane]) {
    const all = await tmux.capture(pane, { history: true });
    assert.doesNotMatch(all, /Hello Bob|Hi Alice|pasted line|omega/, 'no message is left on the terminal, scrollback included');
  }
  for (const tmp of [ta, tb]) {
    assert.deepEqual([...(await snapshot(tmp)).keys()], [], 'the tor folder is gone');
    assert.deepEqual(await processesMentioning(tmp), [], 'no tor of ours runs on');
  }
});

test('the demo: the private network, a verified bot that answers, Ctrl-C ends it, nothing left', { timeout: 240_000 }, async (t) => {
  const tmux = await Tmux.start({ width: 100, height: 26 });
  t.after(() => tmux.stop());
  const tmp = await tempDir();
  const pane = await tmux.newPane(entrechatCommand(['demo']), { env: { TMPDIR: tmp } });
  // A new user types while the network starts: the terminal does not echo it onto the normal screen
  // (where it would stay in the scrollback), and the chat does not get it either.
  await tmux.waitFor(pane, /starting a private Tor network/, { timeoutMs: 30_000 });
  assert.equal((await tmux.ttyMode(pane)).echo, false, 'echo is off while the network starts');
  await tmux.type(pane, 'typed while starting');
  await tmux.press(pane, 'Enter');
  await tmux.waitFor(pane, /bot · ✓ verified · connected/, { timeoutMs: 120_000 });
  assert.doesNotMatch(await tmux.capture(pane, { history: true }), /typed while starting/, 'nothing typed early is shown');
  await tmux.typeLine(pane, 'Hello bot');
  await tmux.waitFor(pane, /you ✓ Hello bot/);
  await tmux.waitFor(pane, /bot +Hello, I am the demo bot[\s\S]*I got “Hello bot” \(9 characters\)/);
  await tmux.press(pane, 'C-c');
  const end = await tmux.waitFor(pane, /private network and both throw-away identities are removed/, { timeoutMs: 60_000, history: true });
  assert.match(end, /You ended the session with bot\./);
  assert.equal(await tmux.waitExit(pane, 30_000), 0);
  const all = await tmux.capture(pane, { history: true });
  assert.doesNotMatch(all, /Hello bot/);
  assert.doesNotMatch(all, /typed while starting/, 'nothing typed before the chat stays in the scrollback');
  assert.deepEqual([...(await snapshot(tmp)).keys()], [], 'the network, the identities and the tors’ folders are gone');
  assert.deepEqual(await processesMentioning(tmp), [], 'no tor of the demo runs on');
});

async function loopbackPair(tmux: Tmux, env: Record<string, string> = {}): Promise<[PaneId, PaneId]> {
  const [p1, p2] = [await freePort(), await freePort()];
  return tmux.sideBySide(
    { command: entrechatCommand(['talk', 'bob', '--loopback-listen', String(p1), '--loopback-peer', String(p2)]), env: { ENTRECHAT_HOME: alice.home, ...env } },
    { command: entrechatCommand(['talk', 'alice', '--loopback-listen', String(p2), '--loopback-peer', String(p1)]), env: { ENTRECHAT_HOME: bob.home, ...env } },
    { width: 80, height: 20 },
  );
}

test('colours on a terminal, none with NO_COLOR; Ctrl-D on an empty line ends the session', async (t) => {
  const tmux = await Tmux.start();
  t.after(() => tmux.stop());
  const [a, b] = await loopbackPair(tmux);
  await tmux.waitFor(a, /· connected ·/);
  await tmux.typeLine(a, 'in colour');
  await tmux.waitFor(b, /alice +in colour/);
  // eslint-disable-next-line no-control-regex
  assert.match(await tmux.capture(b, { escapes: true }), /\x1b\[[0-9;]*3[1-6][0-9;]*m/, 'coloured names and marks');
  await tmux.press(a, 'C-d');
  await tmux.waitFor(a, /You ended the session with bob\./, { history: true });
  assert.equal(await tmux.waitExit(a), 0);

  const plain = await Tmux.start();
  t.after(() => plain.stop());
  const [c, d] = await loopbackPair(plain, { NO_COLOR: '1' });
  await plain.waitFor(c, /· connected ·/);
  await plain.typeLine(c, 'no colour');
  await plain.waitFor(d, /alice +no colour/);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(await plain.capture(d, { escapes: true }), /\x1b\[[0-9;]*3[0-7][0-9;]*m/, 'NO_COLOR: no colour at all');
  await plain.typeLine(d, '/quit');
  assert.equal(await plain.waitExit(d), 0);
  assert.equal(await plain.waitExit(c, 5000).catch(() => null), null, 'the other side waits for a key before clearing');
  await plain.press(c, 'Enter');
  assert.equal(await plain.waitExit(c), 0);
});

test('a closed terminal (hangup) still ends the session cleanly: the other side hears a quit', async (t) => {
  const tmux = await Tmux.start();
  t.after(() => tmux.stop());
  const [a, b] = await loopbackPair(tmux);
  await tmux.waitFor(a, /· connected ·/);
  await tmux.waitFor(b, /· connected ·/);
  const pid = await tmux.panePid(a);
  await tmux.killPane(a);
  // Nothing was said: bob's screen is cleared at once, with the words of the end.
  await tmux.waitFor(b, /^alice ended the session\.$/m, { timeoutMs: 15_000, history: true });
  assert.equal(await tmux.waitExit(b), 0);
  const deadline = Date.now() + 10_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(isAlive(pid), false, 'the hung-up side exited');
});

test('the demo interrupted while its network starts: exit 130, nothing left', { timeout: 120_000 }, async (t) => {
  const tmux = await Tmux.start();
  t.after(() => tmux.stop());
  const tmp = await tempDir();
  const pane = await tmux.newPane(entrechatCommand(['demo']), { env: { TMPDIR: tmp } });
  await tmux.waitFor(pane, /starting a private Tor network/, { timeoutMs: 30_000 });
  await tmux.press(pane, 'C-c');
  assert.equal(await tmux.waitExit(pane, 60_000), 130);
  assert.deepEqual([...(await snapshot(tmp)).keys()], [], 'the network folder is gone');
  assert.deepEqual(await processesMentioning(tmp), [], 'no tor of the demo runs on');
});

test('/help lists the commands, an unknown command is named, //text sends "/text"', async (t) => {
  const tmux = await Tmux.start();
  t.after(() => tmux.stop());
  const [a, b] = await loopbackPair(tmux);
  await tmux.waitFor(a, /· connected ·/);
  await tmux.typeLine(a, '/help');
  await tmux.waitFor(a, /\/quit \(or Ctrl-C, or Ctrl-D on an empty line\)/);
  await tmux.typeLine(a, '/nope');
  await tmux.waitFor(a, /Unknown command \/nope: \/help lists them\./);
  await tmux.typeLine(a, '//slash');
  await tmux.waitFor(b, /alice +\/slash/);
  // Wide characters (emoji, CJK) are measured as the terminal draws them: no row spills over.
  await tmux.typeLine(a, `${'🚀☕⚡字'.repeat(12)} end`);
  const wide = await tmux.waitFor(b, / end\s*\n/);
  const rows = wide.split('\n');
  assert.match(rows[0] ?? '', /^ entrechat · alice/, 'the status line is still the first row');
  assert.match(rows.at(-1) === '' ? rows.at(-2) ?? '' : rows.at(-1) ?? '', /^›/, 'the input line is still the last row');
  // A paste from a terminal without bracketed paste: one chunk with a line break inside.
  await tmux.typeLine(a, 'one\ntwo');
  await tmux.waitFor(b, /alice +one\n +two/);
  await tmux.press(b, 'C-c');
  assert.equal(await tmux.waitExit(b), 0);
  await tmux.type(a, 'q');
  assert.equal(await tmux.waitExit(a), 0);
});

test('the words at the end are wrapped at word boundaries in a narrow terminal', async (t) => {
  const tmux = await Tmux.start();
  t.after(() => tmux.stop());
  const [p1, p2] = [await freePort(), await freePort()];
  const [a, b] = await tmux.sideBySide(
    { command: entrechatCommand(['talk', 'bob', '--loopback-listen', String(p1), '--loopback-peer', String(p2)]), env: { ENTRECHAT_HOME: alice.home } },
    { command: entrechatCommand(['talk', 'alice', '--loopback-listen', String(p2), '--loopback-peer', String(p1)]), env: { ENTRECHAT_HOME: bob.home } },
    { width: 34, height: 20 },
  );
  assert.ok((await tmux.size(a)).width <= 34, 'a narrow pane');
  // The status line is cut at this width: the note in the conversation says it.
  await tmux.waitFor(a, /connected to bob: session/);
  await tmux.typeLine(a, 'narrow');
  await tmux.waitFor(b, /alice +narrow/);
  await tmux.typeLine(a, '/quit');
  assert.equal(await tmux.waitExit(a), 0);
  const screen = await tmux.capture(a, { history: true });
  const lines = screen.split('\n').map((l) => l.trimEnd());
  const from = lines.findIndex((l) => l.startsWith('You ended the session'));
  const to = lines.findIndex((l) => l.endsWith('to disk.'));
  assert.ok(from >= 0 && to > from, screen);
  assert.equal(lines.slice(from, to + 1).join(' '),
    'You ended the session with bob. Wiped: the screen (1 message shown this session), the session keys and your input history. Nothing was written to disk.',
    'every line break falls between words');
  await tmux.press(b, 'Enter');
  assert.equal(await tmux.waitExit(b), 0);
});
