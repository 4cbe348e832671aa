/**
 * The chat's model and screen, without a terminal: the status line through every phase, messages
 * with times, marks and wrapping, what a peer's bytes can do to the screen (nothing), colour only
 * when asked, scrolling, and the words at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ERROR_CODES, type ClosedEvent, type TalkEvent } from '../../src/app/index.ts';
import { ERROR_WORDS } from '../../src/app/error-words.ts';
import { addInfo, addOwnMessage, applyEvent, CHAT_SCREEN_ENTRIES, clockText, createModel, readInput, wipeEntries, type ChatModel, type Clock } from '../../src/cli/chat/model.ts';
import { localTime, renderFrame, statusRow, WrapCache, type Frame } from '../../src/cli/chat/screen.ts';
import { displayWidth } from '../../src/cli/chat/text.ts';
import { endHeadline, progressBar, wipedWords } from '../../src/cli/chat/words.ts';

const SIZE = { cols: 60, rows: 12 };
const PLAIN = { style: { color: false } };
const NO_INPUT = { text: '', cursorColumn: 0 };
const WALL = Date.UTC(2026, 10, 26, 14, 5);

function at(mono: number): Clock {
  return { mono, wall: WALL + mono };
}

function feed(model: ChatModel, events: readonly TalkEvent[], mono = 0): ChatModel {
  for (const e of events) applyEvent(model, e, at(mono));
  return model;
}

// eslint-disable-next-line no-control-regex
const strip = (s: string): string => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

function frame(model: ChatModel, now = 0, options = PLAIN, size = SIZE): Frame {
  return renderFrame(model, NO_INPUT, size, now, options);
}

function status(model: ChatModel, now = 0): string {
  return strip(statusRow(model, now, 100, { color: false }));
}

const ACTIVE: TalkEvent = { type: 'active', tag: '0123456789abcdef', idle: 15 * 60_000, maxSession: 2 * 3600_000, initiator: true };

test('status line: opening, starting Tor with a bar from the bootstrap percentage, publishing, waiting with a countdown, connected with time left', () => {
  const m = createModel('bob', 'own');
  assert.match(status(m), /opening your store/);
  feed(m, [{ type: 'state', state: 'starting_tor' }, { type: 'tor_progress', percent: 40, summary: 'Loading' }]);
  assert.match(status(m), /starting Tor ████░░░░░░ 40%/);
  feed(m, [{ type: 'tor_progress', percent: 100, summary: 'Done' }]);
  assert.match(status(m), /publishing your onion/);
  feed(m, [{ type: 'state', state: 'rendezvous' }, { type: 'published' }, { type: 'window', ms: 180_000 }], 1000);
  assert.match(status(m, 1000), /waiting for bob · 3:00 left/);
  assert.match(status(m, 1000 + 61_500), /waiting for bob · 1:59 left/);
  feed(m, [{ type: 'state', state: 'handshaking' }]);
  assert.match(status(m), /bob is here · authenticating/);
  feed(m, [{ type: 'state', state: 'active' }, ACTIVE], 5000);
  assert.match(status(m, 5000), /· connected · 2:00:00 left/);
  assert.match(status(m, 5000 + 60_000), /· connected · 1:59:00 left/);
  feed(m, [{ type: 'state', state: 'closing' }]);
  assert.match(status(m), /closing…/);
  feed(m, [{ type: 'closed', reason: 'quit', hadSession: true }]);
  assert.match(status(m), /session over: you ended it/);
});

test('status line: the verified flag, unknown until the store is open', () => {
  const m = createModel('bob', 'own');
  assert.doesNotMatch(status(m), /verified/);
  m.verified = false;
  assert.match(status(m), /! not verified/);
  m.verified = true;
  assert.match(status(m), /✓ verified/);
});

test('status line: the idle limit shows once it is under two minutes away', () => {
  const m = feed(createModel('bob', 'own'), [ACTIVE], 0);
  assert.doesNotMatch(status(m, 10 * 60_000), /idle/);
  assert.match(status(m, 14 * 60_000), /idle: ends in 1:00/);
  applyEvent(m, { type: 'message', id: 0, text: 'hi' }, at(14 * 60_000));
  assert.doesNotMatch(status(m, 14 * 60_000 + 1000), /idle/);
});

test('borrowed tor and loopback: the phases say what is really happening', () => {
  const borrowed = feed(createModel('bob', 'borrowed'), [{ type: 'state', state: 'starting_tor' }, { type: 'tor_progress', percent: 100, summary: '' }]);
  assert.doesNotMatch(status(borrowed), /starting Tor/);
  const loop = feed(createModel('bob', 'none'), [{ type: 'state', state: 'starting_tor' }]);
  assert.match(status(loop), /listening on loopback/);
  assert.doesNotMatch(status(loop), /onion|Tor/);
  feed(loop, [ACTIVE]);
  assert.ok(loop.entries.some((e) => e.kind === 'info' && e.text.includes('no Tor')));
});

test('a notice (TOR_GUARD_CHANGED) is a line of the conversation in plain words, not a failure', () => {
  const m = feed(createModel('bob', 'own'), [{ type: 'state', state: 'starting_tor' }, { type: 'notice', code: 'TOR_GUARD_CHANGED' }]);
  assert.ok(m.entries.some((e) => e.kind === 'info' && e.text === `${ERROR_WORDS.TOR_GUARD_CHANGED} [TOR_GUARD_CHANGED]`));
  assert.equal(m.notice, null);
  assert.equal(m.phase, 'starting_tor');
});

test('every row is exactly the width of the terminal, the status first, the input last', () => {
  const m = feed(createModel('bob', 'own'), [ACTIVE]);
  addOwnMessage(m, 0, 'a '.repeat(100), at(0));
  applyEvent(m, { type: 'message', id: 0, text: '漢字と絵文字 😀 '.repeat(10) }, at(0));
  for (const size of [SIZE, { cols: 30, rows: 6 }, { cols: 133, rows: 40 }]) {
    const f = frame(m, 0, PLAIN, size);
    assert.equal(f.rows.length, size.rows);
    for (const row of f.rows) assert.equal(displayWidth(strip(row)), size.cols, JSON.stringify(row));
    assert.match(f.rows[0] ?? '', /entrechat/);
    assert.equal(f.cursor?.row, size.rows - 1);
  }
});

test('messages: local time, own and peer told apart, delivered marks from the ACKs, long lines wrapped under the text', () => {
  const m = feed(createModel('bob', 'own'), [ACTIVE]);
  addOwnMessage(m, 7, 'hello there', at(0));
  let rows = frame(m).rows.map(strip);
  const own = rows.find((r) => r.includes('hello there')) ?? '';
  assert.match(own, new RegExp(`^${localTime(WALL)} you +… hello there`));
  applyEvent(m, { type: 'delivered', id: 7 }, at(0));
  rows = frame(m).rows.map(strip);
  assert.match(rows.find((r) => r.includes('hello there')) ?? '', / you +✓ hello there/);
  applyEvent(m, { type: 'message', id: 7, text: `${'word '.repeat(30)}end` }, at(0));
  rows = frame(m).rows.map(strip);
  const first = rows.findIndex((r) => /^\d\d:\d\d bob /.test(r));
  assert.ok(first > 0);
  const indent = (rows[first] ?? '').indexOf('word');
  assert.ok((rows[first + 1] ?? '').startsWith(' '.repeat(indent) + 'word'), 'continuation lines sit under the text');
  assert.ok(rows.some((r) => r.trimEnd().endsWith('end')));
});

test('a delivered mark goes only to our own message of that id', () => {
  const m = feed(createModel('bob', 'own'), [ACTIVE, { type: 'message', id: 3, text: 'theirs' }]);
  addOwnMessage(m, 3, 'mine', at(0));
  addOwnMessage(m, 4, 'other', at(0));
  applyEvent(m, { type: 'delivered', id: 3 }, at(0));
  const rows = frame(m).rows.map(strip);
  assert.match(rows.find((r) => r.includes('mine')) ?? '', /✓ mine/);
  assert.match(rows.find((r) => r.includes('other')) ?? '', /… other/);
});

test("a peer's escape sequences and bidi controls never reach the terminal", () => {
  const m = feed(createModel('bob', 'own'), [ACTIVE, { type: 'message', id: 0, text: '\x1b[2J\x1b]0;pwned\x07\u202Eevil\r\x9b31m' }]);
  const coloured = frame(m, 0, { style: { color: true } });
  for (const row of coloured.rows) {
    // Only our own SGR sequences remain: ESC followed by '[' digits ';' 'm'.
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(row.replace(/\x1b\[[0-9;]*m/g, ''), /[\x00-\x1f\x7f-\x9f\u202a-\u202e]/);
  }
});

test('colour only when asked: no escape at all in a plain frame, SGR in a coloured one', () => {
  const m = feed(createModel('bob', 'own'), [ACTIVE, { type: 'message', id: 0, text: 'hi' }]);
  m.verified = true;
  assert.ok(frame(m).rows.every((r) => !r.includes('\x1b')));
  assert.ok(frame(m, 0, { style: { color: true } }).rows.some((r) => r.includes('\x1b[')));
});

test('scrolling: PgUp moves back through the conversation, clamped, with a notice of what is below', () => {
  const m = feed(createModel('bob', 'own'), [ACTIVE]);
  for (let i = 0; i < 30; i += 1) applyEvent(m, { type: 'message', id: i, text: `line ${String(i)}` }, at(0));
  const bottom = frame(m).rows.map(strip);
  assert.ok(bottom.some((r) => r.includes('line 29')));
  const up = renderFrame(m, NO_INPUT, SIZE, 0, { ...PLAIN, scroll: 5 });
  assert.equal(up.scroll, 5);
  assert.ok(up.rows.some((r) => r.includes('line 24')) && !up.rows.some((r) => r.includes('line 29')));
  assert.match(up.rows[SIZE.rows - 2] ?? '', /5 more lines below/);
  const top = renderFrame(m, NO_INPUT, SIZE, 0, { ...PLAIN, scroll: 1000 });
  assert.ok(top.scroll < 1000 && top.rows.some((r) => r.includes('connected to bob')));
});

test('before the peer is there the hint says nothing is queued; a terminal too small says so', () => {
  const m = createModel('bob', 'own');
  const rows = frame(m).rows;
  assert.match(rows.slice(-3, -1).join(' '), /Nothing is queued: you can send only while bob is connected/);
  assert.match(rows.at(-1) ?? '', /^›/);
  assert.match(frame(m, 0, PLAIN, { cols: 20, rows: 4 }).rows[0] ?? '', /too small/i);
});

test('after the end: a countdown to the screen clearing itself, and no input line', () => {
  const m = feed(createModel('bob', 'own'), [ACTIVE, { type: 'message', id: 0, text: 'bye' }, { type: 'closed', reason: 'peer_quit', hadSession: true }]);
  const f = renderFrame(m, NO_INPUT, SIZE, 0, { ...PLAIN, lingerUntil: 60_000 });
  assert.match(f.rows[SIZE.rows - 2] ?? '', /by itself in 1:00/);
  assert.equal(f.cursor, null);
  assert.match(f.rows[0] ?? '', /bob ended it/);
});

test('the words at the end: each way a session ends, and what was wiped', () => {
  const m = createModel('bob', 'own');
  m.windowMs = 180_000;
  m.idleMs = 900_000;
  const cases: [ClosedEvent, RegExp][] = [
    [{ type: 'closed', reason: 'quit', hadSession: true }, /You ended the session with bob/],
    [{ type: 'closed', reason: 'quit', hadSession: false }, /stopped waiting for bob/],
    [{ type: 'closed', reason: 'peer_quit', hadSession: true }, /bob ended the session/],
    [{ type: 'closed', reason: 'idle', hadSession: true }, /nothing was said for 15 min/],
    [{ type: 'closed', reason: 'max_duration', hadSession: true }, /time limit/],
    [{ type: 'closed', reason: 'window_expired', code: 'PEER_ABSENT', hadSession: false }, /^bob did not come within 3 min\.$/],
    [{ type: 'closed', reason: 'window_expired', code: 'TOR_HS_DESC_NOT_FOUND', hadSession: false }, /compare safety numbers\)\. \[TOR_HS_DESC_NOT_FOUND\]$/],
    [{ type: 'closed', reason: 'peer_gone', hadSession: true }, /stopped answering/],
    [{ type: 'closed', reason: 'connection_lost', hadSession: true }, /connection to bob was lost/],
    [{ type: 'closed', reason: 'error', code: 'DECRYPT_FAILED', hadSession: true }, /failed: .*\[DECRYPT_FAILED\]/],
  ];
  for (const [closed, words] of cases) {
    m.closed = closed;
    assert.match(endHeadline(m), words);
  }
  addOwnMessage(m, 0, 'x', at(0));
  addOwnMessage(m, 1, 'y', at(0));
  assert.match(wipedWords(m, 'screen'), /^Wiped: the screen \(2 messages shown this session\), the session keys and your input history\./);
  assert.match(wipedWords(m, 'screen'), /Your tor was stopped and its temp folder deleted\. Nothing of the session was written to disk\./);
  assert.match(wipedWords(m, 'plain'), /^Wiped: the session keys\..*lines printed above are the only copy/);
  assert.doesNotMatch(wipedWords(m, 'plain'), /input history/, 'plain lines have no input history');
  const borrowed = wipedWords(createModel('bob', 'borrowed'), 'screen');
  assert.match(borrowed, /^Wiped: the screen, .*removed from your tor/);
  assert.doesNotMatch(borrowed, /message|folder deleted/);
  assert.doesNotMatch(wipedWords(createModel('bob', 'none'), 'screen'), /\btor\b/i);
  wipeEntries(m);
  assert.equal(m.entries.length, 0);
});

test('the progress bar and the clock', () => {
  assert.equal(progressBar(0), '░░░░░░░░░░ 0%');
  assert.equal(progressBar(55), '██████░░░░ 55%');
  assert.equal(progressBar(100), '██████████ 100%');
  assert.equal(clockText(0), '0:00');
  assert.equal(clockText(75), '1:15');
  assert.equal(clockText(3725), '1:02:05');
});

test('the words for every error code are the ones docs/errors.md gives', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map([...doc.matchAll(/^\| `([A-Z0-9_]+)` \| (.*) \|$/gm)].map((r) => [r[1], (r[2] ?? '').replace(/`/g, '')]));
  for (const code of Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]) {
    assert.equal(ERROR_WORDS[code], rows.get(code), code);
  }
});

test('an entered line: blank is nothing, /word a command (any case), //text the message "/text", a paste\'s final line breaks dropped', () => {
  assert.deepEqual(readInput('  \n'), { kind: 'nothing' });
  assert.deepEqual(readInput('hello\nworld\n\n'), { kind: 'message', text: 'hello\nworld' });
  for (const q of ['/quit', '/Q', ' /exit'.trim()]) assert.deepEqual(readInput(q), { kind: 'command', name: 'quit' });
  assert.deepEqual(readInput('/help'), { kind: 'command', name: 'help' });
  assert.deepEqual(readInput('/clear '), { kind: 'command', name: 'clear' });
  assert.deepEqual(readInput('//quit'), { kind: 'message', text: '/quit' });
  assert.deepEqual(readInput('/nope now'), { kind: 'unknown', name: '/nope' });
  assert.deepEqual(readInput('/\x1b[2J'), { kind: 'unknown', name: '/␛[2J' }, 'an unknown name is made safe to show');
});

/** Text of `n` words, for messages of mixed length (1 to 400 words). */
function words(seed: number): string {
  const n = [1, 7, 30, 120, 400][seed % 5] ?? 1;
  return Array.from({ length: n }, (_, k) => `w${String(seed)}.${String(k)}`).join(' ');
}

/** A connected model with `n` peer messages of mixed length, numbered 0…n−1. */
function history(n: number, screenEntries?: number): ChatModel {
  const m = feed(createModel('bob', 'own', screenEntries), [ACTIVE]);
  for (let i = 0; i < n; i += 1) applyEvent(m, { type: 'message', id: i, text: words(i) }, at(i));
  return m;
}

test('a frame wraps only what it shows: with 10,000 messages as few entries as with 10, and none again on the next frame', () => {
  const small = history(10);
  const large = history(10_000);
  const wrapsFor = (m: ChatModel): number => {
    const cache = new WrapCache();
    frame(m, 0, { ...PLAIN, cache } as typeof PLAIN);
    return cache.wraps;
  };
  // 9 conversation rows: at most 9 entries can show (the last ones are long: fewer).
  assert.ok(wrapsFor(large) <= SIZE.rows, `wrapped ${String(wrapsFor(large))} entries`);
  assert.ok(wrapsFor(large) <= wrapsFor(small));
  const cache = new WrapCache();
  frame(large, 0, { ...PLAIN, cache } as typeof PLAIN);
  const after = cache.wraps;
  frame(large, 0, { ...PLAIN, cache } as typeof PLAIN);
  assert.equal(cache.wraps, after, 'a second frame wraps nothing');
  applyEvent(large, { type: 'message', id: 10_000, text: 'one more' }, at(10_000));
  frame(large, 0, { ...PLAIN, cache } as typeof PLAIN);
  assert.equal(cache.wraps, after + 1, 'a new message is the only entry wrapped');
});

test('the rows with 10,000 messages are the rows of the visible tail alone', () => {
  const large = history(10_000);
  const tail = feed(createModel('bob', 'own'), [ACTIVE]);
  tail.entries.length = 0;
  for (let i = 10_000 - 20; i < 10_000; i += 1) applyEvent(tail, { type: 'message', id: i, text: words(i) }, at(i));
  for (const size of [SIZE, { cols: 30, rows: 6 }, { cols: 133, rows: 40 }]) {
    assert.deepEqual(frame(large, 0, PLAIN, size).rows, frame(tail, 0, PLAIN, size).rows);
    const up = { ...PLAIN, scroll: 7 };
    assert.deepEqual(renderFrame(large, NO_INPUT, size, 0, up).rows, renderFrame(tail, NO_INPUT, size, 0, up).rows, 'scrolled up as well');
  }
});

test(`the screen keeps the last ${String(CHAT_SCREEN_ENTRIES)} entries; at the top a line says older messages were dropped`, () => {
  const m = history(10_000);
  assert.equal(m.entries.length, CHAT_SCREEN_ENTRIES);
  assert.equal(m.droppedEntries, 10_000 - CHAT_SCREEN_ENTRIES + 1, 'the "connected" note went first, then the oldest messages');
  assert.equal(m.droppedMessages, 10_000 - CHAT_SCREEN_ENTRIES);
  const first = m.entries[0];
  assert.ok(first?.kind === 'message' && first.message.id === 10_000 - CHAT_SCREEN_ENTRIES);
  assert.equal(m.messageCount, 10_000, 'the words at the end still count every message shown');
  assert.match(wipedWords(m, 'screen'), /\(10000 messages shown this session\)/);
  const dropped = new RegExp(`↑ ${String(m.droppedMessages)} older messages were dropped from this screen`);
  assert.ok(!frame(m).rows.some((r) => dropped.test(r)), 'not at the bottom');
  const top = renderFrame(m, NO_INPUT, SIZE, 0, { ...PLAIN, scroll: Number.MAX_SAFE_INTEGER });
  const body = top.rows.slice(1, -2).join('\n');
  assert.match(body, dropped);
  assert.match(body, new RegExp(`w${String(10_000 - CHAT_SCREEN_ENTRIES)}\\.0`), 'the oldest message kept comes right under it');
  wipeEntries(m);
  const cleared = renderFrame(m, NO_INPUT, SIZE, 0, { ...PLAIN, scroll: 100 });
  assert.ok(!cleared.rows.some((r) => r.includes('dropped')), '/clear starts afresh');
});

test('notes count against the bound too, and their dropping is said without a message count', () => {
  const m = createModel('bob', 'own', 3);
  for (let i = 0; i < 5; i += 1) addInfo(m, `note ${String(i)}`, at(0));
  assert.deepEqual(m.entries.map((e) => (e.kind === 'info' ? e.text : '')), ['note 2', 'note 3', 'note 4']);
  assert.equal(m.droppedMessages, 0);
  const top = renderFrame(m, NO_INPUT, SIZE, 0, PLAIN).rows.map((r) => r.trimEnd()).join(' ');
  assert.match(top, /↑ Older notes were dropped from this screen: it keeps only the latest 3 messages and notes\./);
  assert.throws(() => createModel('bob', 'own', 0), RangeError);
});

test('a resize wraps again for the new width (the cache is per width), and the rows match a fresh render', () => {
  const m = history(50);
  const cache = new WrapCache();
  const cached = { ...PLAIN, cache } as typeof PLAIN;
  frame(m, 0, cached, SIZE);
  const before = cache.wraps;
  const narrow = { cols: 40, rows: SIZE.rows };
  const f = frame(m, 0, cached, narrow);
  assert.ok(cache.wraps > before, 'wrapped again at 40 columns');
  assert.deepEqual(f.rows, frame(m, 0, PLAIN, narrow).rows);
  for (const row of f.rows) assert.equal(displayWidth(row), 40);
  const again = cache.wraps;
  assert.deepEqual(frame(m, 0, cached, SIZE).rows, frame(m, 0, PLAIN, SIZE).rows);
  assert.ok(cache.wraps > again, 'and again back at 60');
});

test('a delivered mark shows on a message already wrapped and cached', () => {
  const m = feed(createModel('bob', 'own'), [ACTIVE]);
  addOwnMessage(m, 1, 'cached line', at(0));
  const cache = new WrapCache();
  const cached = { ...PLAIN, cache } as typeof PLAIN;
  assert.match(frame(m, 0, cached).rows.join('\n'), /you +… cached line/);
  applyEvent(m, { type: 'delivered', id: 1 }, at(0));
  assert.match(frame(m, 0, cached).rows.join('\n'), /you +✓ cached line/);
});

test('messages dropped from the screen are released: nothing, the wrap cache included, keeps them', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const m = feed(createModel('bob', 'own', 5), [ACTIVE]);
  for (let i = 0; i < 5; i += 1) applyEvent(m, { type: 'message', id: i, text: `short ${String(i)}` }, at(i));
  const cache = new WrapCache();
  frame(m, 0, { ...PLAIN, cache } as typeof PLAIN);
  assert.equal(cache.wraps, 5, 'every entry is on screen, and in the cache');
  // Made in a function, so that no variable of the test holds the entry.
  const refs = (): [WeakRef<object>, WeakRef<object>] => {
    const oldest = m.entries[0];
    assert.ok(oldest?.kind === 'message');
    return [new WeakRef(oldest), new WeakRef(oldest.message)];
  };
  const [ref, text] = refs();
  for (let i = 5; i < 20; i += 1) applyEvent(m, { type: 'message', id: i, text: words(i) }, at(i));
  frame(m, 0, { ...PLAIN, cache } as typeof PLAIN);
  assert.equal(m.entries.length, 5);
  // WeakRefs hold their target until the current job ends.
  await new Promise((r) => setImmediate(r));
  gc();
  assert.equal(ref.deref(), undefined, 'the entry was released');
  assert.equal(text.deref(), undefined, 'the message was released');
  // The cache and the model are alive still (else this test would prove nothing about them).
  assert.equal(frame(m, 0, { ...PLAIN, cache } as typeof PLAIN).rows.length, SIZE.rows);
});
