/**
 * The page of `entrechat ui` in a real browser (Debian's chromium-headless-shell through
 * playwright-core), against a scripted stand-in for the process (test/helpers/fake-ui.ts): every
 * screen at phone and desktop sizes, its layout, accessibility (axe-core), keyboard, the peer's text
 * shown as text, error words in English and French, nothing kept by the browser, and the
 * conversation gone from the page once the session ends.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { buildPage } from '../../scripts/build.ts';
import { ERROR_WORDS } from '../../src/app/error-words.ts';
import { ERROR_WORDS_FR } from '../../src/app/error-words-fr.ts';
import { openBrowser, SCREENS, type Screen } from '../helpers/browser.ts';
import { FakeUi } from '../helpers/fake-ui.ts';
import { heading, tour, TOUR_MESSAGES } from '../helpers/page-tour.ts';

const AXE = join(import.meta.dirname, '../../node_modules/axe-core/axe.min.js');
let dir = '';

/** Runs `source` in the page (through the DevTools protocol, as the CSP allows) and gives its value. */
function js<T>(page: Page, source: string): Promise<T> {
  return page.evaluate<T, undefined>(source, undefined);
}
let axeSource = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ec-page-'));
  buildPage(dir);
  axeSource = await readFile(AXE, 'utf8');
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

async function withPage(screen: Screen, fn: (page: Page, ui: FakeUi) => Promise<void>, options: { locale?: string; colorScheme?: 'light' | 'dark' } = {}): Promise<void> {
  const ui = await new FakeUi(dir).start();
  const run = await openBrowser(screen, options);
  const problems: string[] = [];
  run.page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  run.page.on('pageerror', (e) => { problems.push(e.message); });
  try {
    await fn(run.page, ui);
    // The strict CSP refused nothing, and the page threw nothing.
    assert.deepEqual(problems.filter((p) => !/WebSocket|ERR_CONNECTION|net::/.test(p)), []);
    assert.deepEqual(ui.protocolErrors, []);
  } finally {
    await run.close();
    await ui.close();
  }
}

/** Nothing wider than the screen: no horizontal scrolling anywhere. */
async function assertNoHorizontalScroll(page: Page, name: string): Promise<void> {
  const wide = await js<string[]>(page, `(() => {
    const out = [];
    for (const el of [document.documentElement, document.body, ...document.querySelectorAll('main, .log, .screen, li, p, form')]) {
      if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).display !== 'inline') out.push(el.tagName + '.' + el.className + ' ' + el.scrollWidth + '>' + el.clientWidth);
    }
    return out;
  })()`);
  assert.deepEqual(wide, [], `${name}: horizontal overflow`);
}

/** Every control a finger uses is at least 44 × 44 CSS pixels. */
async function assertTouchTargets(page: Page, name: string): Promise<void> {
  const small = await js<string[]>(page, `[...document.querySelectorAll('button, input, textarea, select')]
    .filter((el) => el.getClientRects().length > 0)
    .map((el) => [el, el.getBoundingClientRect()])
    .filter(([, r]) => r.width < 44 || r.height < 44)
    .map(([el, r]) => el.tagName + ' "' + (el.textContent || el.getAttribute('aria-label') || '') + '" ' + Math.round(r.width) + '×' + Math.round(r.height))`);
  assert.deepEqual(small, [], `${name}: touch targets under 44 px`);
}

/** axe-core on the screen: no serious or critical violation. Injected through the DevTools protocol, which the CSP does not apply to. */
async function assertAccessible(page: Page, name: string): Promise<void> {
  if (await page.evaluate('typeof axe') === 'undefined') await page.evaluate(axeSource);
  const violations = await js<string[]>(page, `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`);
  assert.deepEqual(violations, [], `${name}: axe violations`);
}

/** Tab reaches every visible control of the screen, in order, without getting stuck. */
async function assertKeyboardReachable(page: Page, name: string): Promise<void> {
  const count = await js<number>(page, `(() => {
    const els = [...document.querySelectorAll('button, input, textarea, select, a[href], [tabindex]:not([tabindex="-1"])')]
      .filter((el) => !el.disabled && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden');
    els.forEach((el, i) => el.setAttribute('data-kb', String(i)));
    document.activeElement?.blur?.();
    return els.length;
  })()`);
  const seen = new Set<string>();
  for (let i = 0; i < count + 2; i++) {
    await page.keyboard.press('Tab');
    const id = await js<string>(page, `document.activeElement?.getAttribute('data-kb') ?? ''`);
    if (id !== '') seen.add(id);
  }
  await page.evaluate(`document.querySelectorAll('[data-kb]').forEach((el) => el.removeAttribute('data-kb'))`);
  assert.equal(seen.size, count, `${name}: ${String(count - seen.size)} control(s) not reachable by Tab`);
}

async function assertNothingStored(page: Page): Promise<void> {
  const stored = await page.evaluate(`(async () => ({
    local: localStorage.length,
    session: sessionStorage.length,
    cookie: document.cookie,
    idb: (await indexedDB.databases()).length,
    sw: navigator.serviceWorker ? (await navigator.serviceWorker.getRegistrations()).length : 0,
    caches: typeof caches === 'undefined' ? 0 : (await caches.keys()).length,
  }))()`);
  assert.deepEqual(stored, { local: 0, session: 0, cookie: '', idb: 0, sw: 0, caches: 0 });
}

for (const screen of SCREENS) {
  test(`every screen at ${screen.name} size (${String(screen.width)}×${String(screen.height)}): no horizontal scroll, no serious axe violation, ${screen.mobile ? 'touch targets of 44 px' : 'all reachable by keyboard'}`, { timeout: 240_000 }, async () => {
    const seen: string[] = [];
    await withPage(screen, async (page, ui) => {
      await tour(page, ui, async (name, p) => {
        seen.push(name);
        await assertNoHorizontalScroll(p, name);
        await assertAccessible(p, name);
        if (!screen.mobile) await assertKeyboardReachable(p, name);
        else await assertTouchTargets(p, name);
        assert.equal(await p.title(), 'Entrechat', `${name}: title`);
        // In French too (at the small size, where longer words are hardest to fit), on the screens
        // where switching loses nothing typed or opened.
        if (screen.name === 'small' && !['create', 'add', 'unlock', 'rename', 'remove'].includes(name)) {
          await p.getByRole('button', { name: 'Lire en français' }).click();
          assert.equal(await js<string>(p, 'document.documentElement.lang'), 'fr');
          await assertNoHorizontalScroll(p, `${name} (fr)`);
          await assertAccessible(p, `${name} (fr)`);
          await assertTouchTargets(p, `${name} (fr)`);
          await p.getByRole('button', { name: 'Read in English' }).click();
        }
      });
    }, screen.name === 'small' ? { colorScheme: 'dark' } : {});
    assert.equal(seen.length, 19);
  });
}

test('a session: the peer\'s text shown as text (no HTML, bidi controls visible), delivered marks, then the conversation cleared from the page; nothing stored, nothing in the URL or history', { timeout: 120_000 }, async () => {
  await withPage(SCREENS[0]!, async (page, ui) => {
    const startUrl = ui.url;
    let historyAtStart = 0;
    await tour(page, ui, async (name, p) => {
      if (name === 'code') historyAtStart = await js<number>(p, 'history.length');
      if (name === 'talk-connected') {
        assert.equal(await p.locator('.log img').count(), 0, 'no element made of a message');
        assert.equal(await p.evaluate('window.__pwned'), undefined);
        const texts = await p.locator('li.msg .text').allTextContents();
        assert.equal(texts[3], '<img src=x onerror="window.__pwned=1"> and \ufffdevil\ufffd', 'the markup shows as text, the bidi override as a placeholder');
        assert.equal(texts[0], TOUR_MESSAGES[0]);
        for (const tag of await js<string[]>(p, "[...document.querySelectorAll('li.msg .text')].map((e) => e.tagName + ' ' + e.getAttribute('dir'))")) {
          assert.equal(tag, 'BDI auto');
        }
        assert.equal(await p.locator('[role=log][aria-live=polite] li.msg').count(), TOUR_MESSAGES.length, 'messages are in a live region');
        assert.equal(await p.locator('li.msg.own .mark.delivered').count(), 2);
        const input = p.getByLabel('Message');
        for (const [attr, value] of [['autocomplete', 'off'], ['autocorrect', 'off'], ['autocapitalize', 'off'], ['spellcheck', 'false']]) {
          assert.equal(await input.getAttribute(attr!), value, attr);
        }
        // A notice (not a failure) is a line of the conversation, in the code's words.
        ui.event({ type: 'notice', code: 'TOR_GUARD_CHANGED' });
        await p.locator('.log li.info', { hasText: ERROR_WORDS.TOR_GUARD_CHANGED.slice(0, 40) }).waitFor({ timeout: 10_000 });
        assert.equal(await p.locator('.log li.msg').count(), TOUR_MESSAGES.length, 'a notice is not a message');
      }
      if (name === 'talk-ended') {
        assert.equal(await p.locator('li.msg').count(), 0);
        const body = await js<string>(p, 'document.body.innerText');
        for (const m of [...TOUR_MESSAGES, 'Je pars maintenant']) assert.ok(!body.includes(m.slice(0, 12)), 'a message left in the page');
        assert.match(body, /Wiped: this page's conversation \(4 messages shown this session\) and the session keys\. Your tor was stopped/);
        await assertNothingStored(p);
        assert.equal(p.url(), startUrl);
        assert.equal(await p.evaluate('history.length'), historyAtStart, 'no history entry');
      }
    });
  });
});

test('error codes show their words in English, and in French once the page is switched; the language follows the browser\'s', { timeout: 60_000 }, async () => {
  await withPage(SCREENS[0]!, async (page, ui) => {
    await page.goto(ui.url);
    await heading(page, 'Contacts');
    await page.getByRole('button', { name: 'Add' }).last().click();
    await page.getByLabel('Their contact code').fill('xx1abc');
    await page.getByLabel('Name (only you see it)').fill('x');
    await page.locator('form button[type=submit]').click();
    await page.getByText(`${ERROR_WORDS.CODE_BAD_PREFIX} [CODE_BAD_PREFIX]`).waitFor();
    await page.getByRole('button', { name: 'Lire en français' }).click();
    await heading(page, 'Ajouter un contact');
    await page.getByLabel('Son code de contact').fill('xx1abc');
    await page.getByLabel('Nom (vous seul le voyez)').fill('x');
    await page.locator('form button[type=submit]').click();
    await page.getByText(`${ERROR_WORDS_FR.CODE_BAD_PREFIX} [CODE_BAD_PREFIX]`).waitFor();
    assert.equal(await page.evaluate('document.documentElement.lang'), 'fr');
    // A session that fails says why, in the page's language.
    await page.getByRole('button', { name: 'Contacts' }).click();
    await page.getByRole('button', { name: 'Parler alice' }).click();
    ui.event({ type: 'closed', reason: 'error', code: 'TOR_BOOTSTRAP_TIMEOUT', hadSession: false });
    await page.getByText(`La session a échoué : ${ERROR_WORDS_FR.TOR_BOOTSTRAP_TIMEOUT} [TOR_BOOTSTRAP_TIMEOUT]`).waitFor();
    await assertNothingStored(page);
  });
  await withPage(SCREENS[1]!, async (page, ui) => {
    ui.state = { ...ui.state, identity: 'locked' };
    await page.goto(ui.url);
    await heading(page, 'Déverrouiller votre identité');
    await page.getByLabel('Phrase de passe').fill('non');
    await page.getByRole('button', { name: 'Déverrouiller' }).click();
    await page.getByText(`${ERROR_WORDS_FR.STORE_WRONG_PASSPHRASE} [STORE_WRONG_PASSPHRASE]`).waitFor();
  }, { locale: 'fr-FR' });
});

test('a message over the limit is refused by the page with its words; nothing can be sent before the peer is connected', { timeout: 60_000 }, async () => {
  await withPage(SCREENS[2]!, async (page, ui) => {
    ui.state = { ...ui.state, limits: { ...ui.state.limits, maxMessageBytes: 10 } };
    await page.goto(ui.url);
    await heading(page, 'Contacts');
    await page.getByRole('button', { name: 'Talk bob' }).click();
    ui.event({ type: 'window', ms: 60_000 });
    await page.getByText(/waiting for bob/).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Send' }).isDisabled(), true);
    ui.event({ type: 'active', tag: 'aa', idle: 60_000, maxSession: 60_000, initiator: false });
    await page.getByLabel('Message').fill('ééééééé');
    await page.getByLabel('Message').press('Enter');
    await page.getByText(`Not sent: ${ERROR_WORDS.MESSAGE_TOO_LONG} [MESSAGE_TOO_LONG]`).waitFor();
    assert.equal(await page.getByLabel('Message').inputValue(), 'ééééééé', 'the text stays with the user');
    assert.equal(ui.calls.filter((c) => c.call === 'send').length, 0);
    await page.getByText('1:00 left').or(page.getByText('0:59 left')).waitFor();
  });
});

test('a connection lost during a session: the conversation leaves the page at once; a reconnect shows the session still running, or that it ended meanwhile', { timeout: 60_000 }, async () => {
  await withPage(SCREENS[1]!, async (page, ui) => {
    await page.goto(ui.url);
    await heading(page, 'Contacts');
    await page.getByRole('button', { name: 'Talk alice' }).click();
    ui.event({ type: 'active', tag: 'bb', idle: 600_000, maxSession: 3600_000, initiator: true });
    ui.message('un secret');
    await page.getByText('un secret').waitFor();
    ui.drop();
    await heading(page, 'Connection lost');
    assert.ok(!(await js<string>(page, 'document.body.innerText')).includes('un secret'));
    await page.getByRole('button', { name: 'Reconnect' }).click();
    await heading(page, 'alice');
    await page.getByText('connected', { exact: true }).waitFor();
    assert.equal(await page.locator('li.msg').count(), 0, 'what was shown before is gone');
    ui.message('encore là');
    await page.getByText('encore là').waitFor();
    ui.drop();
    await heading(page, 'Connection lost');
    ui.state = { ...ui.state, session: null };
    await page.getByRole('button', { name: 'Reconnect' }).click();
    await page.getByText('The session ended.').waitFor();
    assert.equal(await page.locator('li.msg').count(), 0);
  });
});

test('removing a contact asks first, then the list no longer has them', { timeout: 60_000 }, async () => {
  await withPage(SCREENS[0]!, async (page, ui) => {
    await page.goto(ui.url);
    await heading(page, 'Contacts');
    await page.locator('button.contact', { hasText: 'bob' }).click();
    await page.getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('button', { name: 'Keep' }).click();
    assert.equal(ui.calls.filter((c) => c.call === 'remove').length, 0);
    await page.getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('group').getByRole('button', { name: 'Remove' }).click();
    await heading(page, 'Contacts');
    await page.locator('button.contact', { hasText: 'alice' }).waitFor();
    assert.equal(await page.locator('button.contact', { hasText: 'bob' }).count(), 0);
    assert.ok(!ui.contacts.some((c) => c.name === 'bob'));
    assert.equal(ui.contacts.length, 3);
  });
});

test('a page loaded during a session shows it running, with nothing of what was said before', { timeout: 60_000 }, async () => {
  await withPage(SCREENS[0]!, async (page, ui) => {
    ui.state = { ...ui.state, session: 'alice' };
    await page.goto(ui.url);
    await heading(page, 'alice');
    await page.getByText(/session running \(this page was reloaded/).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Send' }).isDisabled(), false);
    ui.message('toujours là ?');
    await page.getByText('toujours là ?').waitFor();
    await page.getByRole('button', { name: 'Quit' }).click();
    await page.getByText('You ended the session with alice.').waitFor();
    assert.equal(await page.locator('li.msg').count(), 0);
  });
});
