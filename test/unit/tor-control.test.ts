/**
 * The Tor control-port client against what a real tor sends: the transcripts in
 * test/fixtures/tor-control/ were captured from tor 0.4.9.11 (see each file's header). The parser is fed
 * their bytes whole, line by line, byte by byte and in random chunks; each command runs against an
 * in-memory stream that answers with the captured reply, and the line it sent is compared with the
 * line the real tor accepted. Rejections are asserted by code (and status), never by message.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { MAX_CONTROL_LINE, MAX_CONTROL_REPLY } from '../../src/core/limits.ts';
import { parseKeyValues, quoteString, ReplyParser, unescapeQuoted, type Reply } from '../../src/tor/control/reply.ts';
import { ControlConnection, parseControlAddress, sanitizeTorText, TorCommandError } from '../../src/tor/control/connection.ts';
import { protocolInfo } from '../../src/tor/commands/protocolinfo.ts';
import { authenticate, authenticateAuto, safeCookieHashes } from '../../src/tor/commands/authenticate.ts';
import { getInfo } from '../../src/tor/commands/getinfo.ts';
import { setEvents } from '../../src/tor/commands/setevents.ts';
import { addOnion, addOnionCommand, type AddOnionOptions } from '../../src/tor/commands/add-onion.ts';
import { delOnion } from '../../src/tor/commands/del-onion.ts';
import { onionClientAuthAdd, onionClientAuthRemove } from '../../src/tor/commands/client-auth.ts';
import { signal, type TorSignal } from '../../src/tor/commands/signal.ts';
import { parseBootstrapPhase, parseHsDesc, parseStatusClientBootstrap } from '../../src/tor/commands/events.ts';
import { circuitPurposes, closeCircuitsOf, parseCircuitLine } from '../../src/tor/commands/circuits.ts';

// --- fixtures ---

interface Entry { readonly kind: 'C' | 'S'; readonly line: string }

const FIXTURE_DIR = new URL('../fixtures/tor-control/', import.meta.url);
const FIXTURES = [
  'session', 'pipelined', 'safecookie', 'auth-fail-cookie', 'auth-required', 'auth-password', 'auth-password-ok',
  'auth-null', 'collision-bug-events', 'bootstrap-warn', 'testnet-onion',
] as const;
type Fixture = (typeof FIXTURES)[number];

function transcript(name: Fixture): Entry[] {
  const text = readFileSync(new URL(`${name}.txt`, FIXTURE_DIR), 'utf8');
  return text.split('\n').filter((l) => l.startsWith('C: ') || l.startsWith('S: ')).map((l) => ({ kind: l[0] as 'C' | 'S', line: l.slice(3) }));
}

/** The bytes tor sent in a transcript: every S: line with its CRLF. */
function serverBytes(name: Fixture): Buffer {
  return Buffer.from(transcript(name).filter((e) => e.kind === 'S').map((e) => `${e.line}\r\n`).join(''), 'utf8');
}

/** The C: lines of a transcript. */
function commands(name: Fixture): string[] {
  return transcript(name).filter((e) => e.kind === 'C').map((e) => e.line);
}

/** What tor sent after the first command of `name` that starts with `prefix` (up to the next command). */
function replyTo(name: Fixture, prefix: string, nth = 0): string {
  const entries = transcript(name);
  let seen = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.kind !== 'C' || !e.line.startsWith(prefix)) continue;
    if (seen++ < nth) continue;
    const out: string[] = [];
    for (let j = i + 1; j < entries.length && entries[j]!.kind === 'S'; j++) out.push(`${entries[j]!.line}\r\n`);
    return out.join('');
  }
  throw new Error(`no command ${prefix} in ${name}`);
}

/** The full command line of `name` that starts with `prefix`. */
function commandLine(name: Fixture, prefix: string, nth = 0): string {
  const found = commands(name).filter((c) => c.startsWith(prefix))[nth];
  if (found === undefined) throw new Error(`no command ${prefix} in ${name}`);
  return found;
}

// --- helpers ---

interface Parsed { readonly replies: Reply[]; readonly events: Reply[]; readonly order: string[] }

function parseAll(chunks: readonly Uint8Array[]): Parsed {
  const replies: Reply[] = [];
  const events: Reply[] = [];
  const order: string[] = [];
  const p = new ReplyParser((r) => { replies.push(r); order.push(`R${r.status}`); }, (e) => { events.push(e); order.push(`E${e.lines[0]?.text.split(' ')[0] ?? ''}`); });
  for (const c of chunks) p.push(c);
  return { replies, events, order };
}

function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

function throwsCode(fn: () => unknown, code: string, note = ''): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, code, note);
    return true;
  });
}

async function rejectsCode(p: Promise<unknown>, code: string, status?: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, code);
    if (status !== undefined) {
      assert.ok(e instanceof TorCommandError, 'a TorCommandError');
      assert.equal(e.status, status);
    }
    return true;
  });
}

/**
 * An in-memory control port: records each command line written to it and answers with `answer(line)`
 * (bytes as tor would send them; null: no answer), asynchronously as a socket would.
 */
class FakeTor {
  readonly sent: string[] = [];
  readonly stream: Duplex;
  readonly conn: ControlConnection;
  #partial = '';

  constructor(answer: (line: string, index: number) => string | Buffer | null) {
    const stream: Duplex = new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _enc, done) => {
        this.#partial += chunk.toString('utf8');
        let nl: number;
        while ((nl = this.#partial.indexOf('\r\n')) >= 0) {
          const line = this.#partial.slice(0, nl);
          this.#partial = this.#partial.slice(nl + 2);
          const index = this.sent.length;
          this.sent.push(line);
          const reply = answer(line, index);
          if (reply !== null) setImmediate(() => { if (!stream.destroyed) stream.push(typeof reply === 'string' ? Buffer.from(reply, 'utf8') : reply); });
        }
        done();
      },
    });
    this.stream = stream;
    this.conn = ControlConnection.fromStream(stream);
  }

  /** Answers the commands in order with these replies. */
  static scripted(replies: readonly string[]): FakeTor {
    return new FakeTor((_line, i) => replies[i] ?? null);
  }

  /** Pushes bytes as tor would, unasked. */
  feed(bytes: string | Buffer): void {
    this.stream.push(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
  }
}

const tmpRoot = mkdtempSync(join(tmpdir(), 'entrechat-torctl-'));
after(() => { rmSync(tmpRoot, { recursive: true, force: true }); });
let tmpCount = 0;
function tmpFile(content: Uint8Array): string {
  const file = join(tmpRoot, `f${tmpCount++}`);
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

// --- the parser on captured transcripts ---

for (const name of FIXTURES) {
  test(`parser: captured transcript "${name}" gives one reply per command, in order, and every event`, () => {
    const bytes = serverBytes(name);
    const s = transcript(name).filter((e) => e.kind === 'S').map((e) => e.line);
    const { replies, events } = parseAll([bytes]);
    assert.equal(replies.length, commands(name).length, 'one reply per command');
    assert.deepEqual(replies.map((r) => r.status), s.filter((l) => /^[245]\d\d /.test(l)).map((l) => Number(l.slice(0, 3))));
    assert.equal(events.length, s.filter((l) => l.startsWith('650 ')).length, 'events');
    for (const r of [...replies, ...events]) for (const l of r.lines) assert.equal(l.status, r.status);
  });
}

test('parser: PROTOCOLINFO reply lines and texts, exactly', () => {
  const { replies } = parseAll([ascii(replyTo('session', 'PROTOCOLINFO'))]);
  assert.equal(replies.length, 1);
  assert.deepEqual(replies[0]!.lines.map((l) => l.text), [
    'PROTOCOLINFO 1',
    'AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/tmp/torfx-g85xh63d/control_auth_cookie"',
    'VERSION Tor="0.4.9.11"',
    'OK',
  ]);
  assert.equal(replies[0]!.status, 250);
});

test('parser: a 250+ data reply (GETINFO config-text) keeps its lines, without the final "."', () => {
  const { replies } = parseAll([ascii(replyTo('session', 'GETINFO config-text'))]);
  const [data, ok] = replies[0]!.lines;
  assert.equal(data!.text, 'config-text=');
  const lines = data!.data ?? [];
  assert.equal(lines.length, 8);
  assert.equal(lines[0], 'AvoidDiskWrites 1');
  assert.equal(lines[7], 'SocksPort 0');
  assert.deepEqual(ok, { status: 250, text: 'OK' });
});

test('parser: a multi-line 650 event (650-CONF_CHANGED … 650 OK) is one event', () => {
  const { events } = parseAll([serverBytes('pipelined')]);
  assert.deepEqual(events[0], {
    status: 650,
    lines: [{ status: 650, text: 'CONF_CHANGED' }, { status: 650, text: 'MaxCircuitDirtiness=700' }, { status: 650, text: 'OK' }],
  });
  assert.deepEqual(events[1], { status: 650, lines: [{ status: 650, text: 'SIGNAL HEARTBEAT' }] });
});

test('parser: 650+ data events (HS_DESC_CONTENT), with a descriptor and with an empty one', () => {
  const { events } = parseAll([serverBytes('testnet-onion')]);
  const contents = events.filter((e) => e.lines[0]!.text.startsWith('HS_DESC_CONTENT '));
  assert.equal(contents.length, 6);
  const full = contents[0]!;
  assert.equal(full.lines.length, 2);
  const descriptor = full.lines[0]!.data ?? [];
  assert.equal(descriptor[0], 'hs-descriptor 3');
  assert.ok(descriptor.some((l) => l.startsWith('signature ')));
  assert.deepEqual(full.lines[1], { status: 650, text: 'OK' });
  // A failed fetch: "650+HS_DESC_CONTENT …" CRLF, an empty line, "." — one empty data line.
  assert.deepEqual(contents[1]!.lines[0]!.data, ['']);
});

test('parser: events between replies and between a command and its reply are delivered in stream order', () => {
  // Captured pieces, put where the spec allows events: between any two replies.
  const event = '650-CONF_CHANGED\r\n650-MaxCircuitDirtiness=700\r\n650 OK\r\n';
  const warn = transcript('bootstrap-warn').find((e) => e.line.startsWith('650 STATUS_CLIENT'))!.line;
  const stream = `${event}${replyTo('session', 'GETINFO version')}${warn}\r\n${replyTo('session', 'GETINFO config-text')}${event}${replyTo('session', 'SETEVENTS NOPE')}`;
  const { order, replies } = parseAll([ascii(stream)]);
  assert.deepEqual(order, ['ECONF_CHANGED', 'R250', 'ESTATUS_CLIENT', 'R250', 'ECONF_CHANGED', 'R552']);
  assert.equal(replies[1]!.lines[0]!.data?.length, 8);
});

test('parser: bare LF line ends give the same replies and events as CRLF', () => {
  for (const name of FIXTURES) {
    const crlf = serverBytes(name);
    const lf = Buffer.from(crlf.toString('utf8').replace(/\r\n/g, '\n'), 'utf8');
    assert.deepEqual(parseAll([lf]), parseAll([crlf]), name);
  }
});

test('parser: one byte at a time gives the same replies and events', () => {
  for (const name of FIXTURES) {
    const bytes = serverBytes(name);
    const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    assert.deepEqual(parseAll(chunks), parseAll([bytes]), name);
  }
});

test('parser (property): any chunking of the captured streams gives the same replies and events', () => {
  const all = Buffer.concat(FIXTURES.map(serverBytes));
  const whole = parseAll([all]);
  fc.assert(
    fc.property(fc.array(fc.nat({ max: all.length }), { maxLength: 300 }), (cuts) => {
      assert.deepEqual(parseAll(splitAt(all, cuts)), whole);
    }),
    { numRuns: 150 },
  );
  for (const name of ['pipelined', 'collision-bug-events', 'session'] as const) {
    const bytes = serverBytes(name);
    const expected = parseAll([bytes]);
    fc.assert(fc.property(fc.array(fc.nat({ max: bytes.length }), { maxLength: 64 }), (cuts) => {
      assert.deepEqual(parseAll(splitAt(bytes, cuts)), expected);
    }), { numRuns: 300 });
  }
});

test('parser: dot-stuffed data lines are unstuffed (control-spec §2.4)', () => {
  const { replies } = parseAll([ascii('250+x=\r\n..hidden\r\n..\r\n...\r\nplain\r\n.\r\n250 OK\r\n')]);
  assert.deepEqual(replies[0]!.lines[0]!.data, ['.hidden', '.', '..', 'plain']);
});

test('parser: a line of exactly MAX_CONTROL_LINE bytes is accepted', () => {
  const line = `250 ${'x'.repeat(MAX_CONTROL_LINE - 4)}`;
  assert.equal(Buffer.byteLength(line), MAX_CONTROL_LINE);
  assert.equal(parseAll([ascii(`${line}\r\n`)]).replies.length, 1);
});

// --- parser rejections: one test per path ---

function parserRejects(bytes: string | Buffer, note: string): void {
  const p = new ReplyParser(() => undefined, () => undefined);
  throwsCode(() => { p.push(typeof bytes === 'string' ? ascii(bytes) : bytes); }, 'TOR_CONTROL_PROTOCOL', note);
}

test('parser rejects a status that is not three digits', () => {
  parserRejects('25x OK\r\n', 'letter');
  parserRejects('OK\r\n', 'no status');
  parserRejects(Buffer.from('２５０ OK\r\n', 'utf8'), 'non-ASCII digits');
});

test('parser rejects a status class the protocol does not have (0xx, 1xx, 3xx, 7xx-9xx)', () => {
  for (const s of ['050', '150', '350', '750', '999']) parserRejects(`${s} OK\r\n`, s);
});

test('parser rejects a wrong separator after the status', () => {
  parserRejects('250*OK\r\n', '*');
  parserRejects('250\tOK\r\n', 'tab');
  parserRejects(Buffer.concat([ascii('250'), Buffer.from([0xc2, 0xa0]), ascii('OK\r\n')]), 'non-ASCII space');
});

test('parser rejects a line too short to hold a status and separator', () => {
  parserRejects('250\r\n', '250');
  parserRejects('\r\n', 'empty');
});

test('parser rejects a status that changes within a reply', () => {
  parserRejects('250-version=0.4.9.11\r\n251 OK\r\n', 'mid');
  parserRejects('250+config-text=\r\nx\r\n.\r\n552 OK\r\n', 'after data');
});

test('parser rejects an event inside a reply (the spec forbids it)', () => {
  parserRejects('250-version=0.4.9.11\r\n650 SIGNAL HEARTBEAT\r\n250 OK\r\n', 'event inside');
});

test('parser rejects a line over MAX_CONTROL_LINE, whole or still incomplete, in any chunking', () => {
  parserRejects(`250 ${'x'.repeat(MAX_CONTROL_LINE)}\r\n`, 'terminated');
  parserRejects(`250 ${'x'.repeat(MAX_CONTROL_LINE)}`, 'unterminated');
  const p = new ReplyParser(() => undefined, () => undefined);
  const piece = ascii('y'.repeat(1024));
  throwsCode(() => { for (let i = 0; i < 70; i++) p.push(piece); }, 'TOR_CONTROL_PROTOCOL', 'dribbled');
  parserRejects(`250+x=\r\n${'z'.repeat(MAX_CONTROL_LINE + 1)}\r\n.\r\n250 OK\r\n`, 'data line');
});

test('parser rejects a reply over MAX_CONTROL_REPLY (data block included)', () => {
  const line = `${'d'.repeat(1000)}\r\n`;
  const lines = Math.ceil(MAX_CONTROL_REPLY / line.length) + 1;
  parserRejects(`250+ns/all=\r\n${line.repeat(lines)}.\r\n250 OK\r\n`, 'data');
  parserRejects(`250-${'m'.repeat(1000)}\r\n`.repeat(lines), 'mid lines');
});

test('parser rejects NUL and a bare CR inside a line', () => {
  parserRejects('250 O\0K\r\n', 'NUL');
  parserRejects('250 O\rK\r\n', 'CR');
  parserRejects('250+x=\r\na\0b\r\n.\r\n250 OK\r\n', 'NUL in data');
});

test('parser: after a malformation every push throws, even of good bytes', () => {
  const seen: Reply[] = [];
  const p = new ReplyParser((r) => { seen.push(r); }, () => undefined);
  throwsCode(() => { p.push(ascii('250 OK\r\nbad\r\n')); }, 'TOR_CONTROL_PROTOCOL');
  assert.equal(seen.length, 1, 'the reply before the bad line was delivered');
  throwsCode(() => { p.push(ascii('250 OK\r\n')); }, 'TOR_CONTROL_PROTOCOL');
  assert.equal(seen.length, 1);
});

// --- text helpers ---

test('quoteString escapes backslash and quote only; tor accepted the result (fixture: password tor)', () => {
  assert.equal(quoteString('correct "horse"'), '"correct \\"horse\\""');
  assert.equal(quoteString('a\\nb'), '"a\\\\nb"');
  assert.equal(quoteString('é ✓'), '"é ✓"');
  assert.equal(quoteString(''), '""');
});

test('quoteString refuses CR, LF and NUL with InternalError', () => {
  for (const s of ['a\rb', 'a\nb', 'a\0b']) throwsCode(() => quoteString(s), 'INTERNAL', JSON.stringify(s));
});

test('unescapeQuoted reads QuotedString and CString escapes', () => {
  assert.equal(unescapeQuoted('a\\"b\\\\c'), 'a"b\\c');
  assert.equal(unescapeQuoted('tab\\there\\n'), 'tab\there\n');
  assert.equal(unescapeQuoted('/home/ren\\303\\251e/c'), '/home/renée/c');
  assert.equal(unescapeQuoted('\\x'), 'x');
  throwsCode(() => unescapeQuoted('end\\'), 'TOR_CONTROL_PROTOCOL');
  throwsCode(() => unescapeQuoted('\\377'), 'TOR_CONTROL_PROTOCOL', 'not UTF-8');
});

test('unescapeQuoted keeps characters outside the BMP whole (found by npm run fuzz)', () => {
  assert.equal(unescapeQuoted('\\"\u{1f600}\u{10343}'), '"\u{1f600}\u{10343}');
  assert.equal(unescapeQuoted('\u{1f600}\\\\'), '\u{1f600}\\');
});

test('parseKeyValues reads PROTOCOLINFO and event lines as captured', () => {
  const auth = parseKeyValues('AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/tmp/torfx-g85xh63d/control_auth_cookie"');
  assert.deepEqual(auth.positional, ['AUTH']);
  assert.deepEqual([...auth.values], [['METHODS', 'COOKIE,SAFECOOKIE'], ['COOKIEFILE', '/tmp/torfx-g85xh63d/control_auth_cookie']]);
  const warn = transcript('bootstrap-warn').find((e) => e.line.startsWith('650 STATUS_CLIENT'))!.line.slice(4);
  const kv = parseKeyValues(warn);
  assert.deepEqual(kv.positional, ['STATUS_CLIENT', 'WARN', 'BOOTSTRAP']);
  assert.equal(kv.values.get('SUMMARY'), 'Connecting to a relay');
  assert.equal(kv.values.get('HOSTADDR'), '127.0.0.1:1');
  const bug = transcript('collision-bug-events').find((e) => e.line.includes(' BUG '))!.line.slice(4);
  assert.match(parseKeyValues(bug).values.get('REASON') ?? '', /\n$/, 'a CString \\n escape');
});

test('parseKeyValues keeps base64 words with padding positional, and the first of a repeated key', () => {
  const kv = parseKeyValues('HS_DESC X abc/def== K=1 K=2  L=');
  assert.deepEqual(kv.positional, ['HS_DESC', 'X', 'abc/def==']);
  assert.deepEqual([...kv.values], [['K', '1'], ['L', '']]);
});

test('parseKeyValues rejects an unterminated quote', () => {
  throwsCode(() => parseKeyValues('A="open'), 'TOR_CONTROL_PROTOCOL');
  throwsCode(() => parseKeyValues('A="open\\"'), 'TOR_CONTROL_PROTOCOL');
});

test('parseKeyValues rejects text glued to a closing quote', () => {
  throwsCode(() => parseKeyValues('A="x"y'), 'TOR_CONTROL_PROTOCOL');
});

// --- addresses ---

test('parseControlAddress reads host:port, [::1]:port, unix:/path and absolute paths on loopback', () => {
  assert.deepEqual(parseControlAddress('127.0.0.1:9051'), { kind: 'tcp', host: '127.0.0.1', port: 9051 });
  assert.deepEqual(parseControlAddress('127.1.2.3:1'), { kind: 'tcp', host: '127.1.2.3', port: 1 });
  assert.deepEqual(parseControlAddress('[::1]:9051'), { kind: 'tcp', host: '::1', port: 9051 });
  assert.deepEqual(parseControlAddress('localhost:65535'), { kind: 'tcp', host: 'localhost', port: 65535 });
  assert.deepEqual(parseControlAddress('unix:/run/tor/control'), { kind: 'unix', path: '/run/tor/control' });
  assert.deepEqual(parseControlAddress('/run/tor/control'), { kind: 'unix', path: '/run/tor/control' });
});

test('parseControlAddress refuses hosts off this machine', () => {
  for (const s of ['10.0.0.1:9051', '[2001:db8::1]:9051', 'example.org:9051', '0.0.0.0:9051', '[::]:9051', '128.0.0.1:9051']) {
    throwsCode(() => parseControlAddress(s), 'BAD_ADDRESS', s);
  }
});

test('parseControlAddress refuses bad syntax and ports out of range', () => {
  for (const s of ['', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:99999', '::1:9051', '[127.0.0.1]:9051', 'unix:relative', 'relative/path', '127.0.0.1:90 51', '127.0.0.1:9051\nx', '127.0.0.1:9051 127.0.0.1:9052']) {
    throwsCode(() => parseControlAddress(s), 'BAD_ADDRESS', JSON.stringify(s));
  }
});

// --- the connection over an in-memory stream ---

test('connection: pipelined commands resolve in order while events go to listeners', async () => {
  const tor = new FakeTor(() => null);
  const events: Reply[] = [];
  const off = tor.conn.onEvent((e) => { events.push(e); });
  tor.conn.onEvent(() => { throw new Error('a buggy listener'); });
  const lines = commands('pipelined').slice(2);
  const pending = lines.map((l) => tor.conn.send(l));
  tor.feed(serverBytes('pipelined').subarray(Buffer.byteLength('250 OK\r\n250 OK\r\n')));
  const replies = await Promise.all(pending);
  assert.deepEqual(tor.sent, lines);
  assert.equal(replies[0]!.lines[0]!.text, 'version=0.4.9.11');
  assert.match(replies[2]!.lines[0]!.text, /^net\/listeners\/control=/);
  assert.match(replies[4]!.lines[0]!.text, /^status\/bootstrap-phase=/);
  await new Promise((r) => setImmediate(r));
  assert.equal(events.length, 2);
  off();
  tor.feed('650 SIGNAL HEARTBEAT\r\n');
  await new Promise((r) => setImmediate(r));
  assert.equal(events.length, 2, 'unsubscribed');
  tor.conn.close();
});

test('connection: 2xx replies other than 250 resolve (251 from ONION_CLIENT_AUTH_ADD)', async () => {
  const tor = FakeTor.scripted([replyTo('session', 'ONION_CLIENT_AUTH_ADD', 1)]);
  const reply = await tor.conn.send('ONION_CLIENT_AUTH_ADD x');
  assert.equal(reply.status, 251);
  tor.conn.close();
});

const ERROR_REPLIES: [string, Fixture, string, number][] = [
  ['510 Unrecognized command', 'session', 'FROBNICATE', 510],
  ['512 No auth type specified', 'session', 'ADD_ONION NEW', 512],
  ['513 Unacceptable option value', 'session', 'SETCONF SocksPort', 513],
  ['514 Authentication required', 'auth-required', 'GETINFO', 514],
  ['515 Authentication failed', 'auth-fail-cookie', 'AUTHENTICATE', 515],
  ['551 Address unknown', 'session', 'GETINFO address', 551],
  ['552 Unrecognized key', 'session', 'GETINFO no-such-key', 552],
  ['553 Unable to store creds', 'session', 'ONION_CLIENT_AUTH_ADD', 553],
];
for (const [what, fixture, prefix, status] of ERROR_REPLIES) {
  test(`connection: captured "${what}" rejects TOR_COMMAND_FAILED with status ${status}`, async () => {
    const nth = prefix === 'ONION_CLIENT_AUTH_ADD' ? 2 : 0;
    const tor = FakeTor.scripted([replyTo(fixture, prefix, nth)]);
    await rejectsCode(tor.conn.send('ANY'), 'TOR_COMMAND_FAILED', status);
    tor.conn.close();
  });
}

test('connection: error messages never carry a full onion address or a key', async () => {
  const tor = FakeTor.scripted([replyTo('session', 'ONION_CLIENT_AUTH_ADD aaaa'), replyTo('session', 'ONION_CLIENT_AUTH_REMOVE', 1)]);
  await assert.rejects(tor.conn.send('X'), (e: unknown) => {
    assert.ok(e instanceof TorCommandError);
    assert.ok(!/[a-z2-7]{56}/.test(e.message) && !/[a-z2-7]{56}/.test(e.torText));
    return true;
  });
  tor.conn.close();
  const key = 'SE1YaqxpnSIFMUm7qAdJCrV8LqxCW8I7m9WQELGArFT7QOOIHrccZ6pqlgLBrUqgMeN5oPdPduRSKkqK3PkXNA==';
  assert.ok(!sanitizeTorText(`Bad key ${key}`).includes(key.slice(0, 20)));
  assert.ok(sanitizeTorText('x'.repeat(1000)).length < 300);
});

test('connection: a command line with CR, LF or NUL is refused before anything is written', async () => {
  const tor = new FakeTor(() => '250 OK\r\n');
  for (const bad of ['GETINFO version\r\nSIGNAL HALT', 'A\nB', 'A\0', '']) await rejectsCode(tor.conn.send(bad), 'INTERNAL');
  assert.deepEqual(tor.sent, []);
  tor.conn.close();
});

test('connection: the stream closing rejects pending commands with TOR_CONTROL_CLOSED, and later ones too', async () => {
  const tor = new FakeTor(() => null);
  const pending = tor.conn.send('GETINFO version');
  setImmediate(() => { tor.stream.push(null); });
  await rejectsCode(pending, 'TOR_CONTROL_CLOSED');
  await tor.conn.closed;
  await rejectsCode(tor.conn.send('GETINFO version'), 'TOR_CONTROL_CLOSED');
});

test('connection: close() is idempotent and rejects pending with TOR_CONTROL_CLOSED', async () => {
  const tor = new FakeTor(() => null);
  const pending = tor.conn.send('GETINFO version');
  tor.conn.close();
  tor.conn.close();
  await rejectsCode(pending, 'TOR_CONTROL_CLOSED');
  await tor.conn.closed;
  assert.ok(tor.stream.destroyed);
});

test('connection: malformed bytes reject pending with TOR_CONTROL_PROTOCOL and close the stream', async () => {
  const tor = new FakeTor(() => 'HTTP/1.1 400 Bad Request\r\n');
  await rejectsCode(tor.conn.send('GETINFO version'), 'TOR_CONTROL_PROTOCOL');
  await tor.conn.closed;
  assert.ok(tor.stream.destroyed);
  await rejectsCode(tor.conn.send('GETINFO version'), 'TOR_CONTROL_PROTOCOL');
});

test('connection: an over-long line rejects pending with TOR_CONTROL_PROTOCOL', async () => {
  const tor = new FakeTor(() => `250-${'v'.repeat(MAX_CONTROL_LINE)}\r\n250 OK\r\n`);
  await rejectsCode(tor.conn.send('GETINFO version'), 'TOR_CONTROL_PROTOCOL');
});

test('connection: a reply to no command is TOR_CONTROL_PROTOCOL for what is sent next', async () => {
  const tor = new FakeTor(() => null);
  tor.feed('250 OK\r\n');
  await tor.conn.closed;
  await rejectsCode(tor.conn.send('GETINFO version'), 'TOR_CONTROL_PROTOCOL');
});

// --- commands: the exact lines, against captured replies ---

test('protocolInfo: cookie tor, password tor, no-auth tor, cookie+password tor', async () => {
  const cases: [Fixture, string[], string | null][] = [
    ['session', ['COOKIE', 'SAFECOOKIE'], '/tmp/torfx-g85xh63d/control_auth_cookie'],
    ['auth-password', ['HASHEDPASSWORD'], null],
    ['auth-null', ['NULL'], null],
    ['auth-password-ok', ['COOKIE', 'SAFECOOKIE', 'HASHEDPASSWORD'], '/tmp/torfx-bx1kg3ir/control_auth_cookie'],
  ];
  for (const [fixture, methods, cookie] of cases) {
    const tor = FakeTor.scripted([replyTo(fixture, 'PROTOCOLINFO')]);
    assert.deepEqual(await protocolInfo(tor.conn), { authMethods: methods, cookieFile: cookie, torVersion: '0.4.9.11' }, fixture);
    assert.deepEqual(tor.sent, [commandLine(fixture, 'PROTOCOLINFO')]);
    tor.conn.close();
  }
});

test('protocolInfo: a reply without an AUTH line is TOR_CONTROL_PROTOCOL', async () => {
  const tor = FakeTor.scripted(['250-PROTOCOLINFO 1\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n']);
  await rejectsCode(protocolInfo(tor.conn), 'TOR_CONTROL_PROTOCOL');
  tor.conn.close();
});

const COOKIE = Buffer.from('21adeb44bb7a9d469d97cd92544734f3ea4a239eb723d2ee5142473dad73b465', 'hex');

test('authenticate cookie: sends the file in hex', async () => {
  const file = tmpFile(COOKIE);
  const tor = FakeTor.scripted(['250 OK\r\n']);
  await authenticate(tor.conn, { kind: 'cookie', cookieFile: file });
  assert.deepEqual(tor.sent, [`AUTHENTICATE ${COOKIE.toString('hex')}`]);
  tor.conn.close();
});

test('authenticate cookie: tor refusing it (captured 515) is TOR_CONTROL_AUTH_FAILED with status 515', async () => {
  const tor = FakeTor.scripted([replyTo('auth-fail-cookie', 'AUTHENTICATE')]);
  await rejectsCode(authenticate(tor.conn, { kind: 'cookie', cookieFile: tmpFile(COOKIE) }), 'TOR_CONTROL_AUTH_FAILED', 515);
  tor.conn.close();
});

test('authenticate cookie: a missing cookie file is TOR_CONTROL_AUTH_FAILED and nothing is sent', async () => {
  const tor = FakeTor.scripted(['250 OK\r\n']);
  await rejectsCode(authenticate(tor.conn, { kind: 'cookie', cookieFile: join(tmpRoot, 'absent') }), 'TOR_CONTROL_AUTH_FAILED');
  assert.deepEqual(tor.sent, []);
  tor.conn.close();
});

test('authenticate cookie: a file that is not 32 bytes is TOR_CONTROL_AUTH_FAILED and nothing is sent', async () => {
  const tor = FakeTor.scripted(['250 OK\r\n']);
  await rejectsCode(authenticate(tor.conn, { kind: 'cookie', cookieFile: tmpFile(new Uint8Array(33)) }), 'TOR_CONTROL_AUTH_FAILED');
  await rejectsCode(authenticate(tor.conn, { kind: 'cookie', cookieFile: tmpRoot }), 'TOR_CONTROL_AUTH_FAILED', undefined);
  assert.deepEqual(tor.sent, []);
  tor.conn.close();
});

test('authenticate password: hex of the UTF-8 password, as captured; a wrong one is 515 TOR_CONTROL_AUTH_FAILED', async () => {
  const ok = FakeTor.scripted([replyTo('auth-password-ok', 'AUTHENTICATE')]);
  await authenticate(ok.conn, { kind: 'password', password: 'correct horse' });
  assert.deepEqual(ok.sent, [commandLine('auth-password-ok', 'AUTHENTICATE')]);
  ok.conn.close();
  const bad = FakeTor.scripted([replyTo('auth-password', 'AUTHENTICATE')]);
  await rejectsCode(authenticate(bad.conn, { kind: 'password', password: 'wrong password' }), 'TOR_CONTROL_AUTH_FAILED', 515);
  assert.deepEqual(bad.sent, [commandLine('auth-password', 'AUTHENTICATE')]);
  bad.conn.close();
  const odd = FakeTor.scripted(['250 OK\r\n']);
  await authenticate(odd.conn, { kind: 'password', password: 'a "q"\\ é\nx' });
  assert.deepEqual(odd.sent, [`AUTHENTICATE ${Buffer.from('a "q"\\ é\nx').toString('hex')}`]);
  odd.conn.close();
});

test('authenticate none: a bare AUTHENTICATE, as captured', async () => {
  const tor = FakeTor.scripted([replyTo('auth-null', 'AUTHENTICATE')]);
  await authenticate(tor.conn, { kind: 'none' });
  assert.deepEqual(tor.sent, ['AUTHENTICATE']);
  tor.conn.close();
});

test('SAFECOOKIE: our HMACs match the captured exchange with a real tor (known answer)', () => {
  const challenge = parseKeyValues(replyTo('safecookie', 'AUTHCHALLENGE').trim().slice(4));
  const clientNonce = Buffer.from(commandLine('safecookie', 'AUTHCHALLENGE').split(' ')[2]!, 'hex');
  const serverNonce = Buffer.from(challenge.values.get('SERVERNONCE')!, 'hex');
  const h = safeCookieHashes(COOKIE, clientNonce, serverNonce);
  assert.equal(h.serverHash.toString('hex').toUpperCase(), challenge.values.get('SERVERHASH'));
  assert.equal(`AUTHENTICATE ${h.controllerHash.toString('hex')}`, commandLine('safecookie', 'AUTHENTICATE'));
});

/** Answers like a real tor doing SAFECOOKIE (the captured reply format), optionally lying about the server hash. */
function safeCookieAnswer(cookie: Buffer, lie = false): (line: string) => string {
  const serverNonce = Buffer.from('D0E3EAA022C81F50DEED33F7C714C506F7CD7FE01E5D0E81332758D490ECDDD6', 'hex');
  let expected = '';
  return (line) => {
    const m = /^AUTHCHALLENGE SAFECOOKIE ([0-9a-f]{64})$/.exec(line);
    if (m !== null) {
      const msg = Buffer.concat([cookie, Buffer.from(m[1]!, 'hex'), serverNonce]);
      const server = createHmac('sha256', 'Tor safe cookie authentication server-to-controller hash').update(msg).digest('hex').toUpperCase();
      expected = createHmac('sha256', 'Tor safe cookie authentication controller-to-server hash').update(msg).digest('hex');
      return `250 AUTHCHALLENGE SERVERHASH=${lie ? server.replace(/^./, (c) => (c === '0' ? '1' : '0')) : server} SERVERNONCE=${serverNonce.toString('hex').toUpperCase()}\r\n`;
    }
    if (line === `AUTHENTICATE ${expected}`) return '250 OK\r\n';
    return replyTo('auth-fail-cookie', 'AUTHENTICATE');
  };
}

function safeCookieTor(cookie: Buffer, lie = false): FakeTor {
  const answer = safeCookieAnswer(cookie, lie);
  return new FakeTor((line) => answer(line));
}

test('authenticate safecookie: challenge, check of the server hash, response', async () => {
  const tor = safeCookieTor(COOKIE);
  await authenticate(tor.conn, { kind: 'safecookie', cookieFile: tmpFile(COOKIE) });
  assert.equal(tor.sent.length, 2);
  assert.match(tor.sent[0]!, /^AUTHCHALLENGE SAFECOOKIE [0-9a-f]{64}$/);
  assert.match(tor.sent[1]!, /^AUTHENTICATE [0-9a-f]{64}$/);
  tor.conn.close();
});

test('authenticate safecookie: a server that does not know the cookie gets no response (TOR_CONTROL_AUTH_SERVER_HASH)', async () => {
  const tor = safeCookieTor(COOKIE, true);
  await rejectsCode(authenticate(tor.conn, { kind: 'safecookie', cookieFile: tmpFile(COOKIE) }), 'TOR_CONTROL_AUTH_SERVER_HASH');
  assert.equal(tor.sent.length, 1, 'no AUTHENTICATE sent');
  tor.conn.close();
});

test('authenticate safecookie: a malformed AUTHCHALLENGE reply is TOR_CONTROL_PROTOCOL', async () => {
  const tor = FakeTor.scripted(['250 AUTHCHALLENGE SERVERHASH=00\r\n']);
  await rejectsCode(authenticate(tor.conn, { kind: 'safecookie', cookieFile: tmpFile(COOKIE) }), 'TOR_CONTROL_PROTOCOL');
  tor.conn.close();
});

function protocolInfoWith(methods: string, cookieFile: string | null): string {
  const cookie = cookieFile === null ? '' : ` COOKIEFILE="${cookieFile}"`;
  return replyTo('session', 'PROTOCOLINFO').replace(/250-AUTH .*\r\n/, `250-AUTH METHODS=${methods}${cookie}\r\n`);
}

test('authenticateAuto: NULL offered → a bare AUTHENTICATE', async () => {
  const tor = FakeTor.scripted([replyTo('auth-null', 'PROTOCOLINFO'), replyTo('auth-null', 'AUTHENTICATE')]);
  await authenticateAuto(tor.conn, {});
  assert.deepEqual(tor.sent, commands('auth-null'));
  tor.conn.close();
});

test('authenticateAuto: COOKIE,SAFECOOKIE offered → SAFECOOKIE with the file tor names', async () => {
  const info = protocolInfoWith('COOKIE,SAFECOOKIE', tmpFile(COOKIE));
  const answer = safeCookieAnswer(COOKIE);
  const tor = new FakeTor((line) => (line === 'PROTOCOLINFO 1' ? info : answer(line)));
  await authenticateAuto(tor.conn, {});
  assert.equal(tor.sent[0], 'PROTOCOLINFO 1');
  assert.match(tor.sent[1]!, /^AUTHCHALLENGE SAFECOOKIE [0-9a-f]{64}$/);
  assert.match(tor.sent[2]!, /^AUTHENTICATE [0-9a-f]{64}$/);
  assert.equal(tor.sent.length, 3);
  tor.conn.close();
});

test('authenticateAuto: only COOKIE offered, with a COOKIEFILE of its choosing → TOR_CONTROL_AUTH_REFUSED, nothing read or sent', async () => {
  // Whatever answers names any 32-byte file: it must never get its content.
  const secret = tmpFile(Buffer.alloc(32, 0x5a));
  const tor = FakeTor.scripted([protocolInfoWith('COOKIE', secret), '250 OK\r\n']);
  await rejectsCode(authenticateAuto(tor.conn, {}), 'TOR_CONTROL_AUTH_REFUSED');
  assert.deepEqual(tor.sent, ['PROTOCOLINFO 1']);
  tor.conn.close();
});

test('authenticateAuto: only COOKIE offered, with a password given but no HASHEDPASSWORD → TOR_CONTROL_AUTH_REFUSED', async () => {
  const tor = FakeTor.scripted([protocolInfoWith('COOKIE', tmpFile(COOKIE)), '250 OK\r\n']);
  await rejectsCode(authenticateAuto(tor.conn, { password: 'correct horse' }), 'TOR_CONTROL_AUTH_REFUSED');
  assert.deepEqual(tor.sent, ['PROTOCOLINFO 1']);
  tor.conn.close();
});

test('authenticateAuto: only COOKIE offered and the user named a cookie file → that file, never the one tor names', async () => {
  const named = tmpFile(COOKIE);
  const tor = FakeTor.scripted([protocolInfoWith('COOKIE', tmpFile(Buffer.alloc(32, 0x5a))), '250 OK\r\n']);
  await authenticateAuto(tor.conn, { cookieFile: named });
  assert.deepEqual(tor.sent, ['PROTOCOLINFO 1', `AUTHENTICATE ${COOKIE.toString('hex')}`]);
  tor.conn.close();
});

test('authenticateAuto: SAFECOOKIE with the user\'s cookie file rather than the one tor names', async () => {
  const info = protocolInfoWith('COOKIE,SAFECOOKIE', join(tmpRoot, 'gone'));
  const answer = safeCookieAnswer(COOKIE);
  const tor = new FakeTor((line) => (line === 'PROTOCOLINFO 1' ? info : answer(line)));
  await authenticateAuto(tor.conn, { cookieFile: tmpFile(COOKIE) });
  assert.equal(tor.sent.length, 3);
  assert.match(tor.sent[2]!, /^AUTHENTICATE [0-9a-f]{64}$/);
  tor.conn.close();
});

test('authenticateAuto: SAFECOOKIE whose server hash is wrong → TOR_CONTROL_AUTH_SERVER_HASH, no AUTHENTICATE, no fallback to the password', async () => {
  const info = protocolInfoWith('COOKIE,SAFECOOKIE,HASHEDPASSWORD', tmpFile(COOKIE));
  const answer = safeCookieAnswer(COOKIE, true);
  const tor = new FakeTor((line) => (line === 'PROTOCOLINFO 1' ? info : answer(line)));
  await rejectsCode(authenticateAuto(tor.conn, { password: 'correct horse' }), 'TOR_CONTROL_AUTH_SERVER_HASH');
  assert.equal(tor.sent.length, 2);
  assert.match(tor.sent[1]!, /^AUTHCHALLENGE SAFECOOKIE [0-9a-f]{64}$/);
  tor.conn.close();
});

test('authenticateAuto: a COOKIEFILE that is a FIFO is refused at once (TOR_CONTROL_AUTH_FAILED), nothing sent', async () => {
  const fifo = join(tmpRoot, `fifo${tmpCount++}`);
  execFileSync('mkfifo', [fifo]);
  const tor = FakeTor.scripted([protocolInfoWith('SAFECOOKIE', fifo)]);
  await rejectsCode(authenticateAuto(tor.conn, {}), 'TOR_CONTROL_AUTH_FAILED');
  assert.deepEqual(tor.sent, ['PROTOCOLINFO 1']);
  tor.conn.close();
});

test('authenticateAuto: HASHEDPASSWORD offered with a password → the password, as captured', async () => {
  const tor = FakeTor.scripted([replyTo('auth-password-ok', 'PROTOCOLINFO').replace('COOKIE,SAFECOOKIE,', ''), replyTo('auth-password-ok', 'AUTHENTICATE')]);
  await authenticateAuto(tor.conn, { password: 'correct horse' });
  assert.deepEqual(tor.sent, commands('auth-password-ok'));
  tor.conn.close();
});

test('authenticateAuto: an unreadable cookie falls back to the password when tor takes one', async () => {
  const tor = FakeTor.scripted([protocolInfoWith('COOKIE,SAFECOOKIE,HASHEDPASSWORD', join(tmpRoot, 'gone')), '250 OK\r\n']);
  await authenticateAuto(tor.conn, { password: 'correct horse' });
  assert.deepEqual(tor.sent, ['PROTOCOLINFO 1', commandLine('auth-password-ok', 'AUTHENTICATE')]);
  tor.conn.close();
});

test('authenticateAuto: an unreadable cookie and no password is TOR_CONTROL_AUTH_FAILED', async () => {
  const tor = FakeTor.scripted([protocolInfoWith('COOKIE,SAFECOOKIE', join(tmpRoot, 'gone'))]);
  await rejectsCode(authenticateAuto(tor.conn, {}), 'TOR_CONTROL_AUTH_FAILED');
  assert.deepEqual(tor.sent, ['PROTOCOLINFO 1']);
  tor.conn.close();
});

test('authenticateAuto: tor wants a password and none was given → TOR_CONTROL_AUTH_FAILED', async () => {
  const tor = FakeTor.scripted([replyTo('auth-password', 'PROTOCOLINFO')]);
  await rejectsCode(authenticateAuto(tor.conn, {}), 'TOR_CONTROL_AUTH_FAILED');
  assert.deepEqual(tor.sent, ['PROTOCOLINFO 1']);
  tor.conn.close();
});

test('authenticateAuto: no method we know → TOR_CONTROL_AUTH_FAILED', async () => {
  const tor = FakeTor.scripted([protocolInfoWith('FUTUREAUTH', null)]);
  await rejectsCode(authenticateAuto(tor.conn, { password: 'x' }), 'TOR_CONTROL_AUTH_FAILED');
  tor.conn.close();
});

test('authenticateAuto: a wrong password (captured 515) is TOR_CONTROL_AUTH_FAILED with status 515', async () => {
  const tor = FakeTor.scripted([replyTo('auth-password', 'PROTOCOLINFO'), replyTo('auth-password', 'AUTHENTICATE')]);
  await rejectsCode(authenticateAuto(tor.conn, { password: 'wrong password' }), 'TOR_CONTROL_AUTH_FAILED', 515);
  assert.deepEqual(tor.sent, commands('auth-password'));
  tor.conn.close();
});

test('getInfo: one key, two keys, and a data value, as captured', async () => {
  const tor = FakeTor.scripted([
    replyTo('session', 'GETINFO version'),
    replyTo('session', 'GETINFO version status/bootstrap-phase'),
    replyTo('session', 'GETINFO config-text'),
  ]);
  assert.deepEqual(await getInfo(tor.conn, ['version']), new Map([['version', '0.4.9.11']]));
  assert.deepEqual(await getInfo(tor.conn, ['version', 'status/bootstrap-phase']), new Map([
    ['version', '0.4.9.11'],
    ['status/bootstrap-phase', 'NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"'],
  ]));
  const text = (await getInfo(tor.conn, ['config-text'])).get('config-text') ?? '';
  assert.equal(text.split('\n').length, 8);
  assert.ok(text.startsWith('AvoidDiskWrites 1\nControlPort auto\n'));
  assert.deepEqual(tor.sent, ['GETINFO version', 'GETINFO version status/bootstrap-phase', 'GETINFO config-text']);
  tor.conn.close();
});

test('getInfo: an unknown key (captured 552) is TOR_COMMAND_FAILED with status 552', async () => {
  const tor = FakeTor.scripted([replyTo('session', 'GETINFO no-such-key')]);
  await rejectsCode(getInfo(tor.conn, ['no-such-key']), 'TOR_COMMAND_FAILED', 552);
  tor.conn.close();
});

test('getInfo: a reply line that is not key=value is TOR_CONTROL_PROTOCOL', async () => {
  const tor = FakeTor.scripted(['250-version\r\n250 OK\r\n']);
  await rejectsCode(getInfo(tor.conn, ['version']), 'TOR_CONTROL_PROTOCOL');
  tor.conn.close();
});

test('getInfo: refuses an empty list and keys that could add arguments (BAD_ARGUMENT), sending nothing', async () => {
  const tor = FakeTor.scripted([]);
  await rejectsCode(getInfo(tor.conn, []), 'BAD_ARGUMENT');
  for (const k of ['a b', 'a=b', 'a"b', '', 'x\r\nSIGNAL HALT', 'é']) await rejectsCode(getInfo(tor.conn, [k]), 'BAD_ARGUMENT');
  assert.deepEqual(tor.sent, []);
  tor.conn.close();
});

test('setEvents: the exact line, as captured; an empty list turns events off', async () => {
  const tor = FakeTor.scripted([replyTo('session', 'SETEVENTS STATUS_CLIENT'), '250 OK\r\n']);
  await setEvents(tor.conn, ['STATUS_CLIENT', 'HS_DESC']);
  await setEvents(tor.conn, []);
  assert.deepEqual(tor.sent, [commandLine('session', 'SETEVENTS STATUS_CLIENT'), 'SETEVENTS']);
  tor.conn.close();
});

test('setEvents: an unknown event (captured 552) is TOR_COMMAND_FAILED with status 552', async () => {
  const tor = FakeTor.scripted([replyTo('session', 'SETEVENTS NOPE')]);
  await rejectsCode(setEvents(tor.conn, ['NOPE']), 'TOR_COMMAND_FAILED', 552);
  tor.conn.close();
});

test('setEvents: refuses names that are not letters and "_" (BAD_ARGUMENT)', async () => {
  const tor = FakeTor.scripted([]);
  for (const n of ['HS DESC', 'A,B', '', 'X\nQUIT', 'CIRC2']) await rejectsCode(setEvents(tor.conn, [n]), 'BAD_ARGUMENT');
  assert.deepEqual(tor.sent, []);
  tor.conn.close();
});

/** The options that make the captured ADD_ONION line. */
function capturedAddOnion(): { line: string; options: AddOnionOptions } {
  const line = commandLine('session', 'ADD_ONION ED25519-V3:', 0);
  const m = /^ADD_ONION ED25519-V3:(\S+) Flags=V3Auth Port=80,127\.0\.0\.1:9 ClientAuthV3=(\S+) ClientAuthV3=(\S+)$/.exec(line)!;
  return { line, options: { keyBase64: m[1]!, ports: [{ virtual: 80, target: '127.0.0.1:9' }], clientAuthV3: [m[2]!, m[3]!] } };
}

test('addOnion: with client auth, the exact line tor accepted, and its ServiceID', async () => {
  const { line, options } = capturedAddOnion();
  const tor = FakeTor.scripted([replyTo('session', 'ADD_ONION ED25519-V3:', 0)]);
  assert.deepEqual(await addOnion(tor.conn, options), { serviceId: '2eqr7cgls22v4v5tzbgzovmiiju5mekis24hrf7mn6ksqeoofmq3xzad' });
  assert.deepEqual(tor.sent, [line]);
  tor.conn.close();
});

test('addOnion: without client auth there is no Flags=V3Auth (captured line)', () => {
  const { options } = capturedAddOnion();
  assert.equal(addOnionCommand({ keyBase64: options.keyBase64, ports: options.ports }), commandLine('session', 'ADD_ONION ED25519-V3:', 1));
  assert.equal(
    addOnionCommand({ keyBase64: options.keyBase64, ports: [{ virtual: 443, target: 'unix:/tmp/x/s.sock' }, { virtual: 1, target: '8080' }, { virtual: 2, target: '[::1]:9' }], detach: false }),
    `ADD_ONION ED25519-V3:${options.keyBase64} Port=443,unix:/tmp/x/s.sock Port=1,8080 Port=2,[::1]:9`,
  );
});

test('addOnion: the same key again (captured 550 Onion address collision) is TOR_ONION_COLLISION with status 550', async () => {
  const { options } = capturedAddOnion();
  const tor = FakeTor.scripted([replyTo('session', 'ADD_ONION ED25519-V3:', 1)]);
  await rejectsCode(addOnion(tor.conn, options), 'TOR_ONION_COLLISION', 550);
  tor.conn.close();
});

test('addOnion: a collision followed by tor\'s BUG events (captured) rejects, and the events reach listeners', async () => {
  const cmds = commands('collision-bug-events');
  const tor = FakeTor.scripted([
    replyTo('collision-bug-events', 'AUTHENTICATE'), replyTo('collision-bug-events', 'SETEVENTS'),
    replyTo('collision-bug-events', 'ADD_ONION', 0), replyTo('collision-bug-events', 'ADD_ONION', 1),
  ]);
  const events: Reply[] = [];
  tor.conn.onEvent((e) => { events.push(e); });
  await tor.conn.send('AUTHENTICATE');
  await setEvents(tor.conn, ['STATUS_GENERAL']);
  const key = /ED25519-V3:(\S+)/.exec(cmds[2]!)![1]!;
  const options = { keyBase64: key, ports: [{ virtual: 80, target: '127.0.0.1:9' }] };
  await addOnion(tor.conn, options);
  await rejectsCode(addOnion(tor.conn, options), 'TOR_ONION_COLLISION', 550);
  assert.deepEqual(tor.sent.slice(2), cmds.slice(2));
  await new Promise((r) => setImmediate(r));
  assert.equal(events.length, 19);
  assert.ok(events.every((e) => e.lines[0]!.text.startsWith('STATUS_GENERAL WARN BUG ')));
  tor.conn.close();
});

test('addOnion: other failures (captured 512) are TOR_COMMAND_FAILED with their status', async () => {
  const { options } = capturedAddOnion();
  const tor = FakeTor.scripted([replyTo('session', 'ADD_ONION NEW')]);
  await rejectsCode(addOnion(tor.conn, options), 'TOR_COMMAND_FAILED', 512);
  tor.conn.close();
});

test('addOnion: a malformed ServiceID from tor is TOR_CONTROL_PROTOCOL', async () => {
  const { options } = capturedAddOnion();
  const tor = FakeTor.scripted(['250-ServiceID=short\r\n250 OK\r\n', '250 OK\r\n']);
  await rejectsCode(addOnion(tor.conn, options), 'TOR_CONTROL_PROTOCOL');
  await rejectsCode(addOnion(tor.conn, options), 'TOR_CONTROL_PROTOCOL');
  tor.conn.close();
});

test('addOnion: refuses malformed keys (BAD_ARGUMENT)', () => {
  const { options } = capturedAddOnion();
  const k = options.keyBase64;
  for (const keyBase64 of ['', 'AAAA', k.slice(0, -2), `${k.slice(0, -3)}B==`, k.replace(/==$/, '=='.replace('=', 'A')), `${k.slice(0, 10)} Flags=Detach${k.slice(23)}`, k.replace(/^./, '-'), `${k}\r\n`]) {
    throwsCode(() => addOnionCommand({ ...options, keyBase64 }), 'BAD_ARGUMENT', keyBase64);
  }
});

test('addOnion: refuses bad ports and targets (BAD_ARGUMENT)', () => {
  const { options } = capturedAddOnion();
  const bad: OnionPortLike[] = [
    { virtual: 0, target: '80' }, { virtual: 65536, target: '80' }, { virtual: 1.5, target: '80' }, { virtual: 80, target: '0' },
    { virtual: 80, target: '70000' }, { virtual: 80, target: '1.2.3.256:80' }, { virtual: 80, target: 'localhost:80' },
    { virtual: 80, target: '127.0.0.1:80 Flags=Detach' }, { virtual: 80, target: 'unix:relative' }, { virtual: 80, target: 'unix:/a b' },
    { virtual: 80, target: 'unix:/a,b' }, { virtual: 80, target: 'unix:"/a"' }, { virtual: 80, target: '' },
  ];
  for (const p of bad) throwsCode(() => addOnionCommand({ ...options, ports: [p] }), 'BAD_ARGUMENT', JSON.stringify(p));
  throwsCode(() => addOnionCommand({ ...options, ports: [] }), 'BAD_ARGUMENT', 'no port');
  throwsCode(() => addOnionCommand({ ...options, ports: Array.from({ length: 17 }, () => ({ virtual: 1, target: '1' })) }), 'BAD_ARGUMENT', 'too many');
});

type OnionPortLike = { virtual: number; target: string };

test('addOnion: refuses malformed client keys (BAD_ARGUMENT)', () => {
  const { options } = capturedAddOnion();
  const c = options.clientAuthV3![0]!;
  for (const key of [c.toUpperCase(), c.slice(1), `${c}a`, `${c.slice(0, -1)}b`, `${c.slice(0, -1)}=`, `${c.slice(0, 20)} ${c.slice(21)}`]) {
    throwsCode(() => addOnionCommand({ ...options, clientAuthV3: [key] }), 'BAD_ARGUMENT', key);
  }
});

test('addOnion: refuses Detach (BAD_ARGUMENT)', () => {
  const { options } = capturedAddOnion();
  throwsCode(() => addOnionCommand({ ...options, detach: true } as unknown as AddOnionOptions), 'BAD_ARGUMENT');
});

const SERVICE = '2eqr7cgls22v4v5tzbgzovmiiju5mekis24hrf7mn6ksqeoofmq3xzad';

test('delOnion: the exact line, as captured; an unknown id (captured 552) is TOR_COMMAND_FAILED 552', async () => {
  const tor = FakeTor.scripted([replyTo('session', 'DEL_ONION', 0), replyTo('session', 'DEL_ONION', 1)]);
  await delOnion(tor.conn, SERVICE);
  await rejectsCode(delOnion(tor.conn, SERVICE), 'TOR_COMMAND_FAILED', 552);
  assert.deepEqual(tor.sent, [commandLine('session', 'DEL_ONION', 0), commandLine('session', 'DEL_ONION', 1)]);
  tor.conn.close();
});

test('service ids are checked before sending (BAD_ARGUMENT)', async () => {
  const tor = FakeTor.scripted([]);
  for (const id of [`${SERVICE}.onion`, SERVICE.toUpperCase(), SERVICE.slice(1), `${SERVICE.slice(0, 55)}1`, `${SERVICE.slice(0, 20)} x`, '']) {
    await rejectsCode(delOnion(tor.conn, id), 'BAD_ARGUMENT');
    await rejectsCode(onionClientAuthRemove(tor.conn, id), 'BAD_ARGUMENT');
    await rejectsCode(onionClientAuthAdd(tor.conn, { serviceId: id, privateKeyBase64: PRIV }), 'BAD_ARGUMENT');
  }
  assert.deepEqual(tor.sent, []);
  tor.conn.close();
});

const PRIV = 'Y+3QtTaJe9P3kblQ8XtAx/mWr3KBhEjoeoydyE690j8=';

test('onionClientAuthAdd: the exact lines, as captured; 250 and 251 resolve, 553 rejects with its status', async () => {
  const tor = FakeTor.scripted([
    replyTo('session', 'ONION_CLIENT_AUTH_ADD', 0), replyTo('session', 'ONION_CLIENT_AUTH_ADD', 1), replyTo('session', 'ONION_CLIENT_AUTH_ADD', 2),
  ]);
  await onionClientAuthAdd(tor.conn, { serviceId: SERVICE, privateKeyBase64: PRIV });
  await onionClientAuthAdd(tor.conn, { serviceId: SERVICE, privateKeyBase64: PRIV, permanent: false });
  await rejectsCode(onionClientAuthAdd(tor.conn, { serviceId: SERVICE, privateKeyBase64: PRIV, permanent: true }), 'TOR_COMMAND_FAILED', 553);
  assert.deepEqual(tor.sent, [0, 1, 2].map((i) => commandLine('session', 'ONION_CLIENT_AUTH_ADD', i)));
  tor.conn.close();
});

test('onionClientAuthAdd: refuses malformed keys (BAD_ARGUMENT)', async () => {
  const tor = FakeTor.scripted([]);
  for (const key of ['', 'AAAA', PRIV.slice(0, -1), PRIV.replace(/=$/, 'A'), `${PRIV.slice(0, -2)}9=`, `${PRIV} Flags=Permanent`]) {
    await rejectsCode(onionClientAuthAdd(tor.conn, { serviceId: SERVICE, privateKeyBase64: key }), 'BAD_ARGUMENT');
  }
  assert.deepEqual(tor.sent, []);
  tor.conn.close();
});

test('onionClientAuthRemove: the exact line, as captured; 250 and 251 (none there) resolve', async () => {
  const tor = FakeTor.scripted([replyTo('session', 'ONION_CLIENT_AUTH_REMOVE', 0), replyTo('session', 'ONION_CLIENT_AUTH_REMOVE', 1)]);
  await onionClientAuthRemove(tor.conn, SERVICE);
  await onionClientAuthRemove(tor.conn, SERVICE);
  assert.deepEqual(tor.sent, [0, 1].map((i) => commandLine('session', 'ONION_CLIENT_AUTH_REMOVE', i)));
  tor.conn.close();
});

test('signal: SIGNAL NEWNYM as captured; an unknown signal name is BAD_ARGUMENT, tor\'s 552 keeps its status', async () => {
  const tor = FakeTor.scripted([replyTo('session', 'SIGNAL NEWNYM'), replyTo('session', 'SIGNAL BOGUS')]);
  await signal(tor.conn, 'NEWNYM');
  await rejectsCode(signal(tor.conn, 'BOGUS' as TorSignal), 'BAD_ARGUMENT');
  await rejectsCode(signal(tor.conn, 'NEWNYM\r\nSIGNAL HALT' as TorSignal), 'BAD_ARGUMENT');
  await rejectsCode(signal(tor.conn, 'DORMANT'), 'TOR_COMMAND_FAILED', 552);
  assert.deepEqual(tor.sent, ['SIGNAL NEWNYM', 'SIGNAL DORMANT']);
  tor.conn.close();
});

test('signal: HALT resolves when tor closes instead of answering', async () => {
  const tor = new FakeTor(() => null);
  const done = signal(tor.conn, 'HALT');
  setImmediate(() => { tor.stream.push(null); });
  await done;
  assert.deepEqual(tor.sent, ['SIGNAL HALT']);
});

// --- events ---

function eventsOf(name: Fixture): Reply[] {
  return parseAll([serverBytes(name)]).events;
}

test('parseStatusClientBootstrap: the captured notices up to 100 % and a captured warning', () => {
  const notices = eventsOf('testnet-onion').map(parseStatusClientBootstrap).filter((b) => b !== null);
  assert.deepEqual(notices.map((b) => b.progress), [90, 95, 100]);
  assert.deepEqual(notices[2], { progress: 100, tag: 'done', summary: 'Done', severity: 'NOTICE' });
  const warn = parseStatusClientBootstrap(eventsOf('bootstrap-warn')[0]!);
  assert.deepEqual(warn, {
    progress: 5, tag: 'conn', summary: 'Connecting to a relay', severity: 'WARN', warning: 'Connection refused', reason: 'CONNECTREFUSED', recommendation: 'ignore',
  });
});

test('parseStatusClientBootstrap: null for other events and for malformed ones', () => {
  const other = eventsOf('testnet-onion').filter((e) => !e.lines[0]!.text.includes(' BOOTSTRAP '));
  assert.ok(other.length > 0);
  for (const e of other) assert.equal(parseStatusClientBootstrap(e), null);
  const mk = (text: string): Reply => ({ status: 650, lines: [{ status: 650, text }] });
  assert.equal(parseStatusClientBootstrap(mk('STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=101 TAG=x SUMMARY="x"')), null);
  assert.equal(parseStatusClientBootstrap(mk('STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=-1')), null);
  assert.equal(parseStatusClientBootstrap(mk('STATUS_CLIENT NOTICE BOOTSTRAP TAG=x')), null);
  assert.equal(parseStatusClientBootstrap(mk('STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 SUMMARY="unterminated')), null);
  assert.equal(parseStatusClientBootstrap({ status: 250, lines: [{ status: 250, text: 'STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5' }] }), null);
});

test('parseBootstrapPhase: the captured GETINFO values', () => {
  assert.deepEqual(parseBootstrapPhase('NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"'), { progress: 0, tag: 'starting', summary: 'Starting', severity: 'NOTICE' });
  const value = /status\/bootstrap-phase=(.*)\r\n/.exec(replyTo('bootstrap-warn', 'GETINFO'))![1]!;
  assert.equal(parseBootstrapPhase(value)?.reason, 'CONNECTREFUSED');
  assert.equal(parseBootstrapPhase(''), null);
  assert.equal(parseBootstrapPhase('NOTICE CIRCUIT_ESTABLISHED'), null);
});

test('parseHsDesc: the captured CREATED, UPLOAD, UPLOADED, REQUESTED, RECEIVED and FAILED events', () => {
  const hs = eventsOf('testnet-onion').map(parseHsDesc).filter((h) => h !== null);
  const ours = 'lcyyv3wlii4vectbpgm37wgob7rmgyjdqehn6s2l2ezmgbqjtvlg77ad';
  const count = (action: string): number => hs.filter((h) => h.action === action).length;
  assert.deepEqual([count('CREATED'), count('UPLOAD'), count('UPLOADED'), count('REQUESTED'), count('RECEIVED'), count('FAILED')], [2, 10, 10, 6, 1, 5]);
  assert.deepEqual(hs.find((h) => h.action === 'UPLOADED'), { action: 'UPLOADED', address: ours, authType: 'UNKNOWN', hsDir: '$6C246085F06F6CEB2D11779AC729124FE852521A~ecrelay0' });
  const failed = hs.find((h) => h.action === 'FAILED')!;
  assert.equal(failed.reason, 'NOT_FOUND');
  assert.equal(failed.address, 'vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd');
});

test('parseHsDesc: null for other events and for malformed ones', () => {
  for (const e of eventsOf('pipelined')) assert.equal(parseHsDesc(e), null);
  const mk = (text: string): Reply => ({ status: 650, lines: [{ status: 650, text }] });
  assert.equal(parseHsDesc(mk('HS_DESC UPLOADED')), null);
  assert.equal(parseHsDesc(mk('HS_DESC UPLOADED notanaddress UNKNOWN $X')), null);
  assert.equal(parseHsDesc(mk('HS_DESC_CONTENT x y z')), null);
  assert.equal(parseHsDesc(mk('HS_DESC FAILED vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd NO_AUTH $X REASON="x')), null);
});

// --- circuit-status and CLOSECIRCUIT: a borrowed tor's circuits of the session are closed after it ---

const OURS = 'a'.repeat(56);
const PEER = 'b'.repeat(56);
const OTHER = 'c'.repeat(56);
const ISOLATION = '0123456789abcdef0123456789abcdef';
const CIRCUITS = [
  `1 BUILT $AA~a,$BB~b BUILD_FLAGS=IS_INTERNAL PURPOSE=GENERAL TIME_CREATED=2026-12-05T07:00:00.000000`,
  `2 BUILT $AA~a PURPOSE=HS_SERVICE_HSDIR HS_STATE=HSSI_CONNECTING TIME_CREATED=2026-12-05T07:00:00.000000`,
  `3 BUILT $AA~a PURPOSE=HS_SERVICE_REND HS_STATE=HSSR_JOINED REND_QUERY=${OURS} TIME_CREATED=2026-12-05T07:00:01.000000`,
  `4 BUILT $AA~a PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_JOINED REND_QUERY=${PEER} SOCKS_USERNAME="${ISOLATION}" SOCKS_PASSWORD="x"`,
  `5 BUILT $AA~a PURPOSE=CIRCUIT_PADDING SOCKS_USERNAME="${ISOLATION}"`,
  `6 BUILT $AA~a PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_JOINED REND_QUERY=${OTHER} SOCKS_USERNAME="someone else"`,
  `7 BUILT $AA~a PURPOSE=HS_CLIENT_HSDIR HS_STATE=HSCI_CONNECTING`,
  `8 BUILT $AA~a PURPOSE=HS_VANGUARDS`,
  `9 EXTENDED $AA~a PURPOSE=HS_SERVICE_INTRO REND_QUERY=${OTHER}`,
  `not-a-circuit line`,
];

test('circuit-status lines: id, purpose, REND_QUERY and SOCKS_USERNAME read; a line that is not a circuit is null', () => {
  assert.deepEqual(parseCircuitLine(CIRCUITS[3] ?? ''), { id: '4', status: 'BUILT', purpose: 'HS_CLIENT_REND', rendQuery: PEER, socksUsername: ISOLATION });
  assert.equal(parseCircuitLine('not-a-circuit line'), null);
  assert.equal(parseCircuitLine(''), null);
  assert.equal(parseCircuitLine('12345678901 BUILT'), null, 'an id over 10 digits');
  assert.equal(parseCircuitLine('7 BUILT PURPOSE=GENERAL SOCKS_USERNAME="a\\" b"')?.socksUsername, null, 'a quoted username with escapes is never ours');
});

test('closing the session\'s circuits: those naming our onions or carrying our streams, and new directory ones only if unused', async () => {
  const reply = `250+circuit-status=\r\n${CIRCUITS.join('\r\n')}\r\n.\r\n250 OK\r\n`;
  const tor = new FakeTor((line) => (line === 'GETINFO circuit-status' ? reply : '250 OK\r\n'));
  // Before the session: circuit 2 was already an upload circuit (another program's), 7 and 8 were not there.
  const before = new Map<string, string | null>([['1', 'GENERAL'], ['2', 'HS_SERVICE_HSDIR']]);
  const closed = await closeCircuitsOf(tor.conn, { onions: new Set([OURS, PEER]), isolation: ISOLATION, before });
  assert.deepEqual(tor.sent.slice(1), ['CLOSECIRCUIT 3', 'CLOSECIRCUIT 4', 'CLOSECIRCUIT 5', 'CLOSECIRCUIT 7 IfUnused', 'CLOSECIRCUIT 8 IfUnused']);
  assert.equal(closed, 5);
  const purposes = await circuitPurposes(FakeTor.scripted([reply]).conn);
  assert.equal(purposes.get('9'), 'HS_SERVICE_INTRO');
  assert.equal(purposes.size, 9);
});

test('closing the session\'s circuits: without the circuits of before, no directory circuit is touched; a 552 (gone meanwhile) does not stop the others', async () => {
  const reply = `250+circuit-status=\r\n${CIRCUITS.join('\r\n')}\r\n.\r\n250 OK\r\n`;
  const tor = new FakeTor((line) => (line === 'GETINFO circuit-status' ? reply : line === 'CLOSECIRCUIT 3' ? '552 Unknown circuit "3"\r\n' : '250 OK\r\n'));
  const closed = await closeCircuitsOf(tor.conn, { onions: new Set([OURS, PEER]), isolation: ISOLATION, before: null });
  assert.deepEqual(tor.sent.slice(1), ['CLOSECIRCUIT 3', 'CLOSECIRCUIT 4', 'CLOSECIRCUIT 5']);
  assert.equal(closed, 2);
});
