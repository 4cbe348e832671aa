/**
 * The server of `entrechat ui`, in process, against a real store in a temp $ENTRECHAT_HOME and a real
 * `ws` client: every security rule refused (by status and code), every call end to end, the limits.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bech32m } from '@scure/base';
import { startUiServer, type UiServer } from '../../src/web/index.ts';
import { UI_MAX_FRAME, UI_MAX_HEADER_BYTES, UI_MAX_PENDING_CALLS } from '../../src/core/limits.ts';
import { run } from '../helpers/cli.ts';
import { SMALL_ORDER_KEYS } from '../helpers/small-order.ts';
import { codeIn, fixtureAssets, http, Page, signIn, type Reply } from '../helpers/ui.ts';

const EXPECTED_HEADERS: Record<string, RegExp> = {
  'cache-control': /^no-store$/,
  'content-security-policy': /^default-src 'none'; script-src 'self'; style-src 'self'; .*frame-ancestors 'none'$/,
  'x-content-type-options': /^nosniff$/,
  'referrer-policy': /^no-referrer$/,
  'cross-origin-opener-policy': /^same-origin$/,
  'cross-origin-resource-policy': /^same-origin$/,
  'permissions-policy': /^camera=\(self\), microphone=\(\)/,
};

/** Every response: the security headers, and no CORS header at all. */
function assertHeaders(r: { headers: Record<string, string | string[] | undefined> }, what: string): void {
  for (const [name, re] of Object.entries(EXPECTED_HEADERS)) assert.match(String(r.headers[name]), re, `${what}: ${name}`);
  assert.deepEqual(Object.keys(r.headers).filter((h) => h.startsWith('access-control-')), [], `${what}: no CORS header`);
}

function refused(r: Reply, status: number, code: string, what: string): void {
  assert.equal(r.status, status, `${what}: status`);
  assert.equal(codeIn(r.body), code, `${what}: code`);
  assertHeaders(r, what);
}

let work = '';
let assets = '';
const servers: UiServer[] = [];
const pages: Page[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'entrechat-ui-test-'));
  assets = await fixtureAssets(join(work, 'assets'));
});

after(async () => {
  for (const p of pages) p.ws.terminate();
  await Promise.all(servers.map((s) => s.close()));
  await rm(work, { recursive: true, force: true });
});

interface Started {
  readonly server: UiServer;
  readonly port: number;
  readonly home: string;
  readonly exits: string[];
}

async function start(options: { idleExit?: number; pageGrace?: number; pingInterval?: number; home?: string } = {}): Promise<Started> {
  const home = options.home ?? await mkdtemp(join(work, 'home-'));
  const exits: string[] = [];
  const server = await startUiServer({
    home, assets, route: { kind: 'loopback', listenPort: 1, peerPort: 1 },
    ...(options.idleExit !== undefined ? { idleExit: options.idleExit } : {}),
    ...(options.pageGrace !== undefined ? { pageGrace: options.pageGrace } : {}),
    ...(options.pingInterval !== undefined ? { pingInterval: options.pingInterval } : {}),
    onExit: (why) => { exits.push(why); },
  });
  servers.push(server);
  return { server, port: server.port, home, exits };
}

async function page(port: number, cookie: string): Promise<Page> {
  const p = await Page.open(port, cookie);
  pages.push(p);
  return p;
}

/** The refusal of an upgrade: its status and code. */
async function upgradeRefused(open: Promise<Page>): Promise<{ status: number; code: string | null; headers: Record<string, string | string[] | undefined> }> {
  try {
    pages.push(await open);
  } catch (e) {
    const err = e as { status?: number; body?: string; headers?: Record<string, string | string[] | undefined> };
    return { status: err.status ?? 0, code: codeIn(err.body ?? ''), headers: err.headers ?? {} };
  }
  assert.fail('the upgrade was accepted');
}

describe('who may use the server', () => {
  test('the URL: 127.0.0.1, a random port, a 256-bit secret', async () => {
    const { server, port } = await start();
    const u = new URL(server.url);
    assert.equal(u.hostname, '127.0.0.1');
    assert.equal(Number(u.port), port);
    assert.ok(port > 0);
    assert.equal(u.pathname, '/open');
    const k = u.searchParams.get('k') ?? '';
    assert.equal(Buffer.from(k, 'base64url').length, 32, '256 bits');
    const other = await start();
    assert.notEqual(new URL(other.server.url).searchParams.get('k'), k);
  });

  test('a wrong, a missing, or a used secret is refused; the right one once gives a different cookie and a redirect', async () => {
    const { server, port } = await start();
    const k = new URL(server.url).searchParams.get('k') ?? '';
    refused(await http(port, '/open'), 403, 'UI_BAD_SECRET', 'no secret');
    refused(await http(port, `/open?k=${'A'.repeat(k.length)}`), 403, 'UI_BAD_SECRET', 'wrong secret, same length');
    refused(await http(port, `/open?k=${k}x`), 403, 'UI_BAD_SECRET', 'wrong length');
    refused(await http(port, `/open?k=${k}`, { origin: 'http://127.0.0.1:1' }), 403, 'UI_BAD_ORIGIN', 'the secret from another origin');
    refused(await http(port, `/open?k=${k}`, { 'sec-fetch-site': 'same-site' }), 403, 'UI_BAD_ORIGIN', 'the secret from another port of 127.0.0.1');
    const ok = await http(port, `/open?k=${k}`);
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.location, '/');
    assertHeaders(ok, 'the redirect');
    const setCookie = ok.headers['set-cookie']?.[0] ?? '';
    assert.match(setCookie, /; HttpOnly/);
    assert.match(setCookie, /; SameSite=Strict/);
    assert.match(setCookie, /; Path=\//);
    const value = setCookie.split(';')[0]?.split('=')[1] ?? '';
    assert.equal(Buffer.from(value, 'base64url').length, 32);
    assert.notEqual(value, k, 'the cookie is not the secret');
    refused(await http(port, `/open?k=${k}`), 403, 'UI_BAD_SECRET', 'the secret used again');
  });

  test('the page needs the cookie; the files have their types; HEAD has no body', async () => {
    const { server, port } = await start();
    refused(await http(port, '/'), 403, 'UI_NOT_SIGNED_IN', 'no cookie');
    const cookie = await signIn(server.url);
    refused(await http(port, '/', { cookie: `${cookie}x` }), 403, 'UI_NOT_SIGNED_IN', 'a wrong cookie');
    refused(await http(port, '/', { cookie: cookie.replace(/^entrechat-\d+/, 'entrechat-1') }), 403, 'UI_NOT_SIGNED_IN', 'another port’s cookie name');
    for (const [path, type] of [['/', 'text/html'], ['/app.js', 'text/javascript'], ['/app.css', 'text/css']] as const) {
      const r = await http(port, path, { cookie });
      assert.equal(r.status, 200, path);
      assert.match(String(r.headers['content-type']), new RegExp(`^${type}; charset=utf-8$`));
      assertHeaders(r, path);
      const head = await http(port, path, { cookie }, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
    }
    refused(await http(port, '/index.html', { cookie }), 404, 'UI_NOT_FOUND', 'an unknown path');
    refused(await http(port, '/app.js?v=1', { cookie }), 404, 'UI_NOT_FOUND', 'a query');
    refused(await http(port, '/../package.json', { cookie }), 404, 'UI_NOT_FOUND', 'dot-dot');
    refused(await http(port, '/favicon.ico'), 404, 'UI_NOT_FOUND', 'a 404 without cookie');
    refused(await http(port, '/', { cookie }, 'POST', 'x=1'), 405, 'UI_BAD_METHOD', 'POST');
    refused(await http(port, '/app.js', { cookie }, 'PUT', 'x'), 405, 'UI_BAD_METHOD', 'PUT');
    refused(await http(port, '/', { cookie, origin: 'http://evil.example' }, 'POST', 'x=1'), 403, 'UI_BAD_ORIGIN', 'POST from another origin');
    refused(await http(port, '/', { cookie, origin: 'null' }), 403, 'UI_BAD_ORIGIN', 'origin null');
    refused(await http(port, '/', { cookie, 'sec-fetch-site': 'cross-site' }), 403, 'UI_BAD_ORIGIN', 'cross-site fetch');
    const opts = await http(port, '/', { cookie, origin: 'http://evil.example', 'access-control-request-method': 'POST' }, 'OPTIONS');
    refused(opts, 403, 'UI_BAD_ORIGIN', 'a CORS preflight');
  });

  test('bounded requests: headers over UI_MAX_HEADER_BYTES get 431, garbage 400, both with the headers', async () => {
    const { port } = await start();
    const big = await rawRequest(port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${'a'.repeat(UI_MAX_HEADER_BYTES + 10)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431 /);
    assert.match(big, /\r\nContent-Security-Policy: default-src 'none'/);
    assert.match(big, /\r\nCache-Control: no-store\r\n/);
    const junk = await rawRequest(port, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(junk, /^HTTP\/1\.1 400 /);
    assert.match(junk, /\r\nX-Content-Type-Options: nosniff\r\n/);
  });

  test('the Host must be 127.0.0.1:PORT exactly (DNS rebinding)', async () => {
    const { server, port } = await start();
    const cookie = await signIn(server.url);
    for (const host of [`localhost:${port}`, `evil.example:${port}`, '127.0.0.1', `127.0.0.1:${port + 1}`, `127.0.0.1:${port}.evil`, `[::1]:${port}`]) {
      refused(await http(port, '/', { cookie, host }), 421, 'UI_BAD_HOST', host);
    }
    const k = new URL((await start()).server.url);
    refused(await http(Number(k.port), `${k.pathname}${k.search}`, { host: `rebound.example:${k.port}` }), 421, 'UI_BAD_HOST', 'the secret through another name');
  });

  test('the WebSocket: Origin required and ours, cookie, Host, path; a second page is told why', async () => {
    const { server, port } = await start();
    const cookie = await signIn(server.url);
    const cases: [string, Promise<Page>, number, string][] = [
      ['no cookie', Page.open(port, ''), 403, 'UI_NOT_SIGNED_IN'],
      ['another origin', Page.open(port, cookie, 'http://evil.example'), 403, 'UI_BAD_ORIGIN'],
      ['another port of 127.0.0.1', Page.open(port, cookie, 'http://127.0.0.1:1'), 403, 'UI_BAD_ORIGIN'],
      ['another path', Page.open(port, cookie, undefined, '/socket'), 404, 'UI_NOT_FOUND'],
    ];
    for (const [what, open, status, code] of cases) {
      const r = await upgradeRefused(open);
      assert.equal(r.status, status, what);
      assert.equal(r.code, code, what);
      assertHeaders(r, what);
    }
    // No Origin at all (a non-browser client): refused too.
    const noOrigin = await rawUpgrade(port, { cookie, host: `127.0.0.1:${port}` });
    assert.match(noOrigin, /^HTTP\/1\.1 403 /);
    assert.equal(codeIn(noOrigin), 'UI_BAD_ORIGIN');
    const badHost = await rawUpgrade(port, { cookie, host: `localhost:${port}`, origin: `http://127.0.0.1:${port}` });
    assert.match(badHost, /^HTTP\/1\.1 421 /);
    assert.equal(codeIn(badHost), 'UI_BAD_HOST');

    const first = await page(port, cookie);
    await first.waitState(() => true);
    const second = await page(port, cookie);
    assert.deepEqual(await second.waitClosed(), { code: 4001, reason: 'UI_PAGE_BUSY' });
    // The first page is untouched; once it leaves, a page may connect again (a reload).
    assert.equal((await first.call('strength', { passphrase: 'x' })).ok, true);
    first.close();
    await first.waitClosed();
    const again = await page(port, cookie);
    await again.waitState(() => true);
  });
});

/** A WebSocket upgrade written by hand (headers as given), and the server's whole answer. */
function rawUpgrade(port: number, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.on('data', (d: Buffer) => { text += d.toString('utf8'); });
    s.on('close', () => { resolve(text); });
    s.on('error', reject);
    const lines = ['GET /ws HTTP/1.1', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    s.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

/** Raw bytes to the server; its whole answer. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    s.on('close', () => { resolve(got); });
    s.on('error', () => { resolve(got); });
    s.once('connect', () => { s.write(text); });
  });
}

/** A masked client text frame. */
function frame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  assert.ok(payload.length < 126);
  const mask = randomBytes(4);
  const out = Buffer.alloc(6 + payload.length);
  out[0] = 0x81;
  out[1] = 0x80 | payload.length;
  mask.copy(out, 2);
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i]! ^ mask[i % 4]!;
  return out;
}

describe('hostile frames', () => {
  test('malformed JSON, wrong shapes, unknown calls, binary: typed answers, the page stays connected', async () => {
    const { server, port } = await start();
    const p = await page(port, await signIn(server.url));
    await p.waitState(() => true);
    const answerTo = async (raw: string | Buffer, re: number): Promise<string> => {
      if (typeof raw === 'string') p.raw(raw); else p.ws.send(raw);
      const a = await p.until(() => p.answers.get(re));
      p.answers.delete(re);
      return String(a.code);
    };
    assert.equal(await answerTo('{not json', 0), 'UI_BAD_CALL');
    assert.equal(await answerTo('[1,2]', 0), 'UI_BAD_CALL');
    assert.equal(await answerTo('"strength"', 0), 'UI_BAD_CALL');
    assert.equal(await answerTo('{"call":"whoami"}', 0), 'UI_BAD_CALL');
    assert.equal(await answerTo('{"id":-1,"call":"whoami"}', 0), 'UI_BAD_CALL');
    assert.equal(await answerTo('{"id":1.5,"call":"whoami"}', 0), 'UI_BAD_CALL');
    assert.equal(await answerTo(Buffer.from('{"id":7,"call":"whoami"}'), 0), 'UI_BAD_CALL');
    assert.equal(await answerTo('{"id":1,"call":"format_disk"}', 1), 'UI_UNKNOWN_CALL');
    assert.equal(await answerTo('{"id":2,"call":"__proto__"}', 2), 'UI_UNKNOWN_CALL');
    assert.equal(await answerTo('{"id":3,"call":"toString"}', 3), 'UI_UNKNOWN_CALL');
    assert.equal(await answerTo('{"id":4,"call":7}', 4), 'UI_BAD_CALL');
    assert.equal(await answerTo('{"id":5,"call":"unlock"}', 5), 'UI_BAD_CALL', 'a missing argument');
    assert.equal(await answerTo('{"id":6,"call":"unlock","passphrase":42}', 6), 'UI_BAD_CALL', 'a wrong type');
    assert.equal(await answerTo('{"id":7,"call":"whoami","extra":1}', 7), 'UI_BAD_CALL', 'an unknown argument');
    assert.equal(await answerTo(JSON.stringify({ id: 8, call: 'strength', passphrase: 'x'.repeat(5000) }), 8), 'UI_BAD_CALL', 'an argument over its bound');
    assert.equal(await answerTo(JSON.stringify({ id: 9, call: 'verify', name: 'a', groups: 'nope' }), 9), 'UI_BAD_CALL');
    assert.equal(await answerTo('{"id":10,"call":"add","name":"a","code":"b","__proto__":{"x":1}}', 10), 'UI_BAD_CALL');
    // Still connected and answering.
    assert.equal((await p.call('strength', { passphrase: 'correct horse battery staple' })).ok, true);
  });

  test('a frame over UI_MAX_FRAME closes the connection (1009)', async () => {
    const { server, port } = await start();
    const p = await page(port, await signIn(server.url));
    await p.waitState(() => true);
    p.raw(JSON.stringify({ id: 1, call: 'send', text: 'x'.repeat(UI_MAX_FRAME) }));
    assert.equal((await p.waitClosed()).code, 1009);
  });

  test('more than UI_MAX_PENDING_CALLS calls at once: the rest are refused with UI_TOO_MANY_CALLS', async () => {
    const { server, port } = await start();
    const cookie = await signIn(server.url);
    const s = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    s.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
    const lines = ['GET /ws HTTP/1.1', `Host: 127.0.0.1:${port}`, `Origin: http://127.0.0.1:${port}`, `Cookie: ${cookie}`, 'Upgrade: websocket',
      'Connection: Upgrade', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13'];
    s.write(`${lines.join('\r\n')}\r\n\r\n`);
    while (!got.includes('\r\n\r\n')) await new Promise((r) => setTimeout(r, 10));
    assert.match(got.toString('latin1'), /^HTTP\/1\.1 101 /);
    assertHeaders({ headers: Object.fromEntries(got.toString('latin1').split('\r\n\r\n')[0]!.split('\r\n').slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()])) }, 'the 101');
    const n = UI_MAX_PENDING_CALLS + 8;
    // All in one write: read together, before the first is answered.
    s.write(Buffer.concat(Array.from({ length: n }, (_, i) => frame(JSON.stringify({ id: i + 1, call: 'whoami' })))));
    const deadline = Date.now() + 10_000;
    const count = (code: string): number => got.toString('latin1').split(`"code":"${code}"`).length - 1;
    while (count('UI_LOCKED') + count('UI_TOO_MANY_CALLS') < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(count('UI_TOO_MANY_CALLS'), n - UI_MAX_PENDING_CALLS);
    assert.equal(count('UI_LOCKED'), UI_MAX_PENDING_CALLS);
    s.destroy();
  });
});

/** A bech32m string with the prefix "ec" (or another) over arbitrary bytes. */
const codeOver = (data: Uint8Array, prefix = 'ec'): string => bech32m.encode(prefix, bech32m.toWords(data));
const v1 = (key: Uint8Array): Uint8Array => Uint8Array.from([1, ...key]);

describe('the calls, end to end on a real store', () => {
  test('create, lock, unlock, whoami, contacts, safety, verify, doctor, session calls without a session, exit', async () => {
    const { server, port, home, exits } = await start();
    const other = await mkdtemp(join(work, 'other-'));
    const r = await run(other, ['init', '--no-passphrase', '--json']);
    const otherCode = (JSON.parse(r.stdout) as { code: string }).code;
    const p = await page(port, await signIn(server.url));
    const first = await p.waitState(() => true);
    assert.deepEqual(first, { identity: 'none', needsPassphrase: true, session: null, limits: { maxMessageBytes: 16384, maxUnacked: 64, contactNameMax: 64 } });

    assert.deepEqual(await p.ok('strength', { passphrase: 'abc' }), { bits: (await p.ok('strength', { passphrase: 'abc' }) as { bits: number }).bits, weak: true });
    assert.equal((await p.ok('strength', { passphrase: 'gravel orbit lantern mosaic thistle' }) as { weak: boolean }).weak, false);
    assert.equal(await p.code('whoami'), 'UI_LOCKED');
    assert.equal(await p.code('unlock', { passphrase: 'x' }), 'STORE_NOT_FOUND');
    assert.equal(await p.code('create', { passphrase: '' }), 'BAD_ARGUMENT');
    const passphrase = `pass ${randomBytes(6).toString('hex')}`;
    const { code } = await p.ok('create', { passphrase }) as { code: string };
    assert.match(code, /^ec1/);
    await p.waitState((s) => s.identity === 'unlocked');
    assert.equal(await p.code('create', { passphrase }), 'STORE_EXISTS');
    assert.equal(await p.ok('lock'), null);
    await p.waitState((s) => s.identity === 'locked');
    assert.equal(await p.code('contacts'), 'UI_LOCKED');
    assert.equal(await p.code('unlock', { passphrase: 'wrong' }), 'STORE_WRONG_PASSPHRASE');
    assert.equal(await p.code('unlock', { passphrase: '' }), 'BAD_ARGUMENT');
    assert.deepEqual(await p.ok('unlock', { passphrase }), { code });
    assert.deepEqual(await p.ok('whoami'), { code });

    // Each mistake in a code: the CLI's code.
    const good = otherCode;
    const typo = good.slice(0, -1) + (good.endsWith('q') ? 'p' : 'q');
    const bad: [string, string][] = [
      ['not a code', 'CODE_MALFORMED'],
      [typo, 'CODE_BAD_CHECKSUM'],
      [codeOver(v1(new Uint8Array(32).fill(9)), 'xc'), 'CODE_BAD_PREFIX'],
      [codeOver(new Uint8Array(20).fill(1)), 'CODE_BAD_LENGTH'],
      [codeOver(Uint8Array.from([2, ...new Uint8Array(32).fill(9)])), 'CODE_BAD_VERSION'],
      [codeOver(v1(Buffer.from(SMALL_ORDER_KEYS[0], 'hex'))), 'CODE_LOW_ORDER_KEY'],
      [code, 'CONTACT_IS_SELF'],
    ];
    for (const [c, expected] of bad) assert.equal(await p.code('add', { name: 'x', code: c }), expected, expected);
    assert.equal(await p.code('add', { name: 'a\u202Eb', code: good }), 'CONTACT_NAME_FORMAT_CHAR');
    assert.equal(await p.code('add', { name: '', code: good }), 'CONTACT_BAD_NAME');
    assert.deepEqual(await p.ok('add', { name: 'bob', code: good }), { name: 'bob', verified: false });
    assert.equal(await p.code('add', { name: 'bob', code: good }), 'CONTACT_DUPLICATE_NAME');
    assert.equal(await p.code('add', { name: 'bobby', code: good }), 'CONTACT_DUPLICATE_KEY');
    assert.deepEqual(await p.ok('rename', { name: 'bob', newName: 'robert' }), { name: 'robert', verified: false });
    assert.equal(await p.code('rename', { name: 'bob', newName: 'x' }), 'CONTACT_UNKNOWN');
    const { groups } = await p.ok('safety', { name: 'robert' }) as { groups: string[] };
    assert.equal(groups.length, 12);
    assert.equal(await p.code('verify', { name: 'robert', groups: groups.map((g, i) => (i === 0 ? '00000' : g)) }), 'CONTACT_UNKNOWN', 'groups that are not the safety number');
    assert.deepEqual(await p.ok('verify', { name: 'robert', groups }), { name: 'robert', verified: true });
    assert.deepEqual(await p.ok('contacts'), [{ name: 'robert', verified: true }]);
    // The CLI sees what the page did.
    const passFile = join(work, 'pass');
    await writeFile(passFile, `${passphrase}\n`, { mode: 0o600 });
    const listed = await run(home, ['contacts', 'list', '--json', '--passphrase-file', passFile]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal((JSON.parse(listed.stdout) as { name: string; verified: boolean }[])[0]?.verified, true);
    assert.equal(await p.ok('remove', { name: 'robert' }), null);
    assert.equal(await p.code('remove', { name: 'robert' }), 'CONTACT_UNKNOWN');
    assert.deepEqual(await p.ok('contacts'), []);

    const checks = await p.ok('doctor') as { name: string; ok: boolean }[];
    assert.ok(checks.some((c) => c.name === 'store' && c.ok));
    assert.equal(await p.code('send', { text: 'hello' }), 'SESSION_NOT_ACTIVE');
    assert.equal(await p.code('quit'), 'SESSION_NOT_ACTIVE');
    assert.equal(await p.code('talk', { name: 'nobody' }), 'CONTACT_UNKNOWN');
    assert.equal(p.state()?.session, null);

    // No answer ever carries a message: only codes.
    for (const a of p.answers.values()) if (a.ok === false) assert.deepEqual(Object.keys(a).sort(), ['code', 'ok', 're']);

    assert.equal(await p.ok('exit'), null);
    assert.deepEqual(exits, ['exit']);
  });
});

describe('limits of the process', () => {
  test('no page for the idle limit: the process is told to exit; a page connected holds it', async () => {
    const { server, port, exits } = await start({ idleExit: 300 });
    const p = await page(port, await signIn(server.url));
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(exits, [], 'a page is connected');
    p.close();
    await p.waitClosed();
    await new Promise((r) => setTimeout(r, 800));
    assert.deepEqual(exits, ['idle']);
  });

  test('a page that stops answering pings is dropped (then a new page may connect); one that answers stays', async () => {
    const { server, port } = await start({ pingInterval: 200 });
    const cookie = await signIn(server.url);
    const mute = await Page.open(port, cookie, undefined, undefined, false);
    pages.push(mute);
    const closed = await mute.waitClosed(5_000);
    assert.equal(closed.code, 1006, 'cut, not closed');
    const alive = await page(port, cookie);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(alive.closed, null);
    assert.equal((await alive.call('strength', { passphrase: 'x' })).ok, true);
  });

  test('HEAD does not use the secret up', async () => {
    const { server, port } = await start();
    const u = new URL(server.url);
    const head = await http(port, `${u.pathname}${u.search}`, {}, 'HEAD');
    assert.equal(head.status, 405, 'HEAD /open: UI_BAD_METHOD (no body to name it)');
    assertHeaders(head, 'HEAD /open');
    assert.equal((await http(port, `${u.pathname}${u.search}`)).status, 303);
  });

  test('the UI_ASSETS_MISSING error names the build', async () => {
    await assert.rejects(startUiServer({ home: work, assets: join(work, 'nothing-here'), route: { kind: 'loopback', listenPort: 1, peerPort: 1 }, onExit: () => undefined }),
      { code: 'UI_ASSETS_MISSING' });
  });
});
