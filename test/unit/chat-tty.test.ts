/**
 * The terminal chat's key handling and terminal state, on fake streams and a fake session: pastes
 * (bracketed or not) are one message and never commands, nothing is sent before the peer is there,
 * and every way out restores the terminal.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { ReadStream, WriteStream } from 'node:tty';
import { UsageError, type ClosedEvent, type ContactTalkHandle, type TalkEvent } from '../../src/app/index.ts';
import { runTerminalChat } from '../../src/cli/chat/tty.ts';
import { quietTerminal } from '../../src/cli/quiet.ts';

class FakeTerminal {
  readonly input = Object.assign(new PassThrough(), { isTTY: true, rawModes: [] as boolean[], setRawMode(mode: boolean) { this.rawModes.push(mode); return this; } });
  readonly output = Object.assign(new PassThrough(), { isTTY: true, columns: 80, rows: 20 });
  written = '';

  constructor() {
    this.output.on('data', (d: Buffer) => { this.written += d.toString(); });
  }

  type(s: string): void {
    this.input.write(s);
  }
}

class FakeSession {
  readonly sent: string[] = [];
  quits = 0;
  emit: (e: TalkEvent) => void = () => undefined;
  #end!: (e: ClosedEvent) => void;
  readonly done = new Promise<ClosedEvent>((resolve) => { this.#end = resolve; });

  handle(): ContactTalkHandle {
    return {
      verified: true,
      done: this.done,
      send: (text) => {
        if (this.sent.length >= 100) throw new UsageError('TOO_MANY_UNACKED', 'too many');
        this.sent.push(text);
        return this.sent.length;
      },
      quit: () => {
        this.quits += 1;
        this.end({ type: 'closed', reason: 'quit', hadSession: true });
      },
    };
  }

  end(e: ClosedEvent): void {
    this.emit(e);
    this.#end(e);
  }
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

/** Sessions still open: a failed test ends its own, so that the run goes on. */
const open = new Set<FakeSession>();
after(() => { for (const s of open) s.end({ type: 'closed', reason: 'quit', hadSession: false }); });

function start(term: FakeTerminal, session: FakeSession, startFails = false): Promise<ClosedEvent> {
  open.add(session);
  void session.done.then(() => open.delete(session));
  return runTerminalChat({
    peer: 'bob',
    tor: 'none',
    linger: 50,
    input: term.input as unknown as ReadStream,
    output: term.output as unknown as WriteStream,
    style: { color: false },
    start: (onEvent) => {
      if (startFails) return Promise.reject(new UsageError('CONTACT_UNKNOWN', 'no such contact'));
      session.emit = onEvent;
      return Promise.resolve(session.handle());
    },
  });
}

const ACTIVE: TalkEvent = { type: 'active', tag: '0123456789abcdef', idle: 900_000, maxSession: 7_200_000, initiator: true };

function assertRestored(term: FakeTerminal): void {
  assert.equal(term.input.rawModes.at(-1), false, 'raw mode off');
  assert.ok(term.written.includes('\x1b[?2004l'), 'bracketed paste off');
  assert.ok(term.written.includes('\x1b[?1049l'), 'alternate screen left');
  assert.ok(term.written.lastIndexOf('\x1b[?25h') > term.written.lastIndexOf('\x1b[?25l'), 'cursor shown');
}

test('a bracketed paste is one message, and a Ctrl-C or arrow inside it is not a key', async () => {
  const term = new FakeTerminal();
  const session = new FakeSession();
  const done = start(term, session);
  await tick();
  session.emit(ACTIVE);
  term.type('\x1b[200~first\x03 line\rsecond\x1b[A line\x1b[201~');
  await tick();
  assert.equal(session.quits, 0, 'a pasted Ctrl-C does not end the session');
  term.type('\r');
  await tick();
  assert.deepEqual(session.sent, ['first line\nsecond line'], 'the arrow inside the paste is dropped, its line break kept');
  term.type('\x03');
  await done;
  assert.equal(session.quits, 1);
  assertRestored(term);
});

test('an unbracketed paste: line breaks inside one chunk join the lines, the Enter after them sends', async () => {
  const term = new FakeTerminal();
  const session = new FakeSession();
  const done = start(term, session);
  await tick();
  session.emit(ACTIVE);
  term.type('one\rtwo\rthree');
  await tick();
  term.type('\r');
  await tick();
  term.type('typed\r');
  await tick();
  assert.deepEqual(session.sent, ['one\ntwo\nthree', 'typed']);
  term.type('/quit\r');
  await done;
  assertRestored(term);
});

test('Enter before the peer is there sends nothing and keeps the text; Ctrl-D on an empty line quits', async () => {
  const term = new FakeTerminal();
  const session = new FakeSession();
  const done = start(term, session);
  await tick();
  term.type('too early\r');
  await tick();
  assert.deepEqual(session.sent, []);
  assert.match(term.written, /Not sent: bob is not connected, and nothing is queued/);
  session.emit(ACTIVE);
  term.type('\r');
  await tick();
  assert.deepEqual(session.sent, ['too early'], 'sent only when Enter is pressed again, once connected');
  term.type('\x04');
  await done;
  assert.equal(session.quits, 1);
  assertRestored(term);
  assert.match(term.written, /You ended the session with bob\.\nWiped: the screen \(1 message shown this session\)/);
});

test('a refused message stays in the input line with the reason in plain words', async () => {
  const term = new FakeTerminal();
  const session = new FakeSession();
  const done = start(term, session);
  await tick();
  session.emit(ACTIVE);
  for (let i = 0; i < 100; i += 1) session.sent.push('x');
  term.type('one more\r');
  await tick();
  assert.match(term.written, /Not sent: .*\[TOO_MANY_UNACKED\]/);
  assert.match(term.written, /› one more/);
  term.type('\x03');
  await done;
});

test('the peer ends it: the screen stays for the linger, then clears itself; a key clears it sooner', async () => {
  const term = new FakeTerminal();
  const session = new FakeSession();
  const done = start(term, session);
  await tick();
  session.emit(ACTIVE);
  session.emit({ type: 'message', id: 1, text: 'bye' });
  session.end({ type: 'closed', reason: 'peer_quit', hadSession: true });
  const closed = await done;
  assert.equal(closed.reason, 'peer_quit');
  assert.match(term.written, /Any key clears the screen/);
  assert.match(term.written, /bob ended the session\./);
  assertRestored(term);
});

test('a start that fails restores the terminal and throws its error', async () => {
  const term = new FakeTerminal();
  await assert.rejects(start(term, new FakeSession(), true), { code: 'CONTACT_UNKNOWN' });
  assertRestored(term);
});

test('a terminal that fails to write ends the session instead of the process', async () => {
  const term = new FakeTerminal();
  const session = new FakeSession();
  const done = start(term, session);
  await tick();
  session.emit(ACTIVE);
  term.output.emit('error', Object.assign(new Error('write EIO'), { code: 'EIO' }));
  await done;
  assert.equal(session.quits, 1);
});

test('the words at the end are wrapped at word boundaries to the terminal width, never cut mid-word', async () => {
  const term = new FakeTerminal();
  term.output.columns = 34;
  const session = new FakeSession();
  const done = start(term, session);
  await tick();
  session.emit(ACTIVE);
  term.type('hello\r');
  await tick();
  term.type('/quit\r');
  await done;
  const end = term.written.slice(term.written.lastIndexOf('\x1b[?1049l') + '\x1b[?1049l'.length);
  const lines = end.split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 2, 'wrapped onto several lines');
  for (const line of lines) assert.ok(line.length <= 34, `fits 34 columns: ${line}`);
  assert.equal(lines.join(' '), 'You ended the session with bob. Wiped: the screen (1 message shown this session), the session keys and your input history. Nothing was written to disk.',
    'only spaces were turned into line breaks');
});

test('before and after the chat the terminal is kept quiet: raw (no echo) from the start, keys dropped, Ctrl-C interrupts, restored at release', async () => {
  const term = new FakeTerminal();
  let interrupts = 0;
  const exitHooks = process.listenerCount('exit');
  const quiet = quietTerminal(term.input as unknown as ReadStream, () => { interrupts += 1; });
  assert.deepEqual(term.input.rawModes, [true], 'echo off at once');
  assert.equal(process.listenerCount('exit'), exitHooks + 1, 'restored at exit too');
  term.type('typed early');
  await tick();
  assert.equal(interrupts, 0);
  assert.equal(term.input.read(), null, 'what was typed was read and dropped');
  term.type('\x03');
  await tick();
  assert.equal(interrupts, 1, 'Ctrl-C still interrupts');
  quiet.suspend();
  assert.equal(term.input.listenerCount('data'), 0, 'the chat gets the keys');
  assert.equal(term.input.rawModes.at(-1), true, 'and echo is still off');
  term.type('\x03');
  await tick();
  assert.equal(interrupts, 1, 'the chat handles Ctrl-C itself');
  term.input.read();
  quiet.resume();
  assert.equal(term.input.rawModes.at(-1), true);
  quiet.release();
  quiet.release();
  assert.deepEqual(term.input.rawModes.slice(-2), [true, false], 'restored once');
  assert.equal(process.listenerCount('exit'), exitHooks);
  assert.equal(term.input.listenerCount('data'), 0);
});
