/**
 * The server of `entrechat ui` in a real browser (Debian's chromium-headless-shell through
 * playwright-core, a fixture page): the one-time URL signs in and leaves the address bar, the cookie
 * is HttpOnly and SameSite=Strict, the page's WebSocket connects under the CSP, a second tab is told
 * UI_PAGE_BUSY, the URL works once, and a page served from another port of 127.0.0.1 cannot drive ours
 * although the browser sends it our cookie (another port is the same site).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startUiServer, type UiServer } from '../../src/web/index.ts';
import { fixtureAssets } from '../helpers/ui.ts';

const CHROMIUM = '/usr/bin/chromium-headless-shell';
let work = '';
let browser: Browser | null = null;
let server: UiServer | null = null;
let evil: Server | null = null;

/** The fixture page's script: connects and shows the first frame, or how the connection closed. */
const PAGE_JS = `addEventListener('DOMContentLoaded', () => {
  const out = document.getElementById('s');
  const ws = new WebSocket('ws://' + location.host + '/ws');
  ws.onmessage = (m) => { out.textContent = m.data; };
  ws.onclose = (e) => { out.textContent = 'closed ' + e.code + ' ' + e.reason; };
});`;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'entrechat-ui-browser-'));
  const assets = await fixtureAssets(join(work, 'assets'));
  await writeFile(join(assets, 'index.html'), '<!doctype html><title>Entrechat</title><link rel="stylesheet" href="/app.css"><script src="/app.js"></script><p id="s">…</p>\n');
  await writeFile(join(assets, 'app.js'), PAGE_JS);
  server = await startUiServer({ home: join(work, 'home'), assets, route: { kind: 'loopback', listenPort: 1, peerPort: 1 }, onExit: () => undefined });
});

after(async () => {
  await browser?.close();
  await server?.close();
  await new Promise<void>((resolve) => { if (evil === null) resolve(); else evil.close(() => { resolve(); }); });
  await rm(work, { recursive: true, force: true });
});

const shown = (page: import('playwright-core').Page): Promise<string> =>
  page.waitForFunction("document.getElementById('s')?.textContent !== '…'", null, { timeout: 10_000 })
    .then(() => page.textContent('#s')).then((t) => t ?? '');

describe('the server in a real browser', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium-headless-shell)` }, () => {
  test('sign in once, the address bar cleared, the WebSocket under the CSP, one page, another port refused', async () => {
    assert.ok(server !== null);
    const ui = server;
    browser = await chromium.launch({ executablePath: CHROMIUM });
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const violations: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') violations.push(m.text()); });
    await page.goto(ui.url);
    assert.equal(page.url(), `http://127.0.0.1:${ui.port}/`, 'the secret left the address bar');
    const first = JSON.parse(await shown(page)) as { push: string; state: { identity: string } };
    assert.equal(first.push, 'state');
    assert.equal(first.state.identity, 'none');
    assert.deepEqual(violations, [], 'no CSP or policy error');
    const cookies = await ctx.cookies();
    assert.equal(cookies.length, 1);
    assert.equal(cookies[0]?.name, `entrechat-${ui.port}`);
    assert.equal(cookies[0].httpOnly, true);
    assert.equal(cookies[0].sameSite, 'Strict');
    assert.equal(cookies[0].expires, -1, 'a session cookie');
    assert.equal(await page.evaluate('document.cookie'), '', 'not readable by script');

    const second = await ctx.newPage();
    await second.goto(`http://127.0.0.1:${ui.port}/`);
    assert.equal(await shown(second), 'closed 4001 UI_PAGE_BUSY');
    const again = await ctx.newPage();
    assert.equal((await again.goto(ui.url))?.status(), 403, 'the URL works once');

    // A page on another port of 127.0.0.1 (the same site: the browser sends it our cookie too).
    evil = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<!doctype html><p id="s">…</p><script>
        const out = document.getElementById('s');
        const ws = new WebSocket('ws://127.0.0.1:${ui.port}/ws');
        ws.onopen = () => { out.textContent = 'opened'; };
        ws.onmessage = (m) => { out.textContent = 'message ' + m.data; };
        ws.onerror = () => { out.textContent = 'refused'; };
      </script>`);
    });
    await new Promise<void>((resolve) => { evil?.listen(0, '127.0.0.1', resolve); });
    const address = evil.address();
    const evilPort = typeof address === 'object' && address !== null ? address.port : 0;
    const attacker = await ctx.newPage();
    await attacker.goto(`http://127.0.0.1:${evilPort}/`);
    assert.equal(await shown(attacker), 'refused');
    const fetched = await attacker.evaluate(async (port) => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/`, { credentials: 'include' });
        return `status ${r.status}`;
      } catch {
        return 'blocked';
      }
    }, ui.port);
    assert.equal(fetched, 'blocked', 'no CORS: the response is not readable');
    // The first page is still the one connected.
    assert.match(await page.textContent('#s') ?? '', /"push":"state"/);
  });
});
