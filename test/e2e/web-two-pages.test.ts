/**
 * The whole app through two real pages over the private Tor network: two `entrechat ui` processes
 * (fresh homes; Bob's with --amnesic), each driven through its own Chromium page (its own profile
 * folder, phone emulation: a Pixel 7 and a 360 px phone). In the pages: create the identities
 * (passphrase twice), Alice adds Bob by pasting the code text Bob's page shows, Bob adds Alice by
 * scanning: Chromium's fake camera plays a video of the QR code of the code Alice's page shows. Both
 * compare the safety numbers their pages show (equal) and confirm; both press Talk; messages both ways
 * with delivered marks (long text, emoji, markup and a bidi override shown as text, never acting);
 * Alice quits; both pages say how it ended and hold no message text any more. Then nothing is left:
 * the processes end by the page's Exit, the stores hold the verified contacts and no message text, no
 * tor runs (by pid), the processes' TMPDIRs are empty, Alice's tor kept its guard state in her home and
 * Bob's (amnesic) none, and the browser profiles (the browsers closed) hold none of the texts, in UTF-8
 * or UTF-16LE, and no storage of our origin (localStorage, IndexedDB, service worker, cache).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { buildPage } from '../../scripts/build.ts';
import { CHROMIUM, openBrowser, SCREENS, type BrowserRun } from '../helpers/browser.ts';
import { run } from '../helpers/cli.ts';
import { fakeCameraArgs, y4m } from '../helpers/fake-camera.ts';
import { heading } from '../helpers/page-tour.ts';
import { eventually, snapshot, torsMentioning } from '../helpers/procs.ts';
import { sharedTestnet } from '../helpers/testnet.ts';
import { startUiProcess, type UiProcess } from '../helpers/ui.ts';

/** The whole walk, tor start and rendezvous included, is bounded by this. */
const TEST_TIMEOUT_MS = 8 * 60_000;
/** Two tors starting at once on the shared network, then the rendezvous. */
const CONNECT_MS = 180_000;
const STEP_MS = 30_000;

let root = '';
let assets = '';
let clientTorrc = '';
const children: ChildProcessWithoutNullStreams[] = [];
const browsers: BrowserRun[] = [];
/** Every tor seen running for the ui processes (each must be gone at the end). */
const torPids = new Set<number>();

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ec-two-pages-'));
  assets = join(root, 'assets');
  buildPage(assets);
  clientTorrc = (await sharedTestnet()).clientTorrc;
});

after(async () => {
  for (const b of browsers) await b.close().catch(() => undefined);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  // Tors still running for the ui processes (a failure): ours by their folder under root, each
  // checked live just now so that no reused pid is hit.
  for (const pid of root !== '' ? await torsMentioning(root) : []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (root !== '') await rm(root, { recursive: true, force: true });
});

type Ui = UiProcess;

function startUi(home: string, tmp: string, extra: readonly string[]): Promise<Ui> {
  return startUiProcess({ home, assets, children, args: ['--tor-config', clientTorrc, '--window', '150', ...extra], env: { TMPDIR: tmp }, waitMs: STEP_MS });
}

async function createIdentity(page: Page, passphrase: string): Promise<string> {
  await heading(page, 'Create your identity');
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase);
  await page.getByText(/Strong enough/).waitFor({ timeout: STEP_MS });
  await page.getByLabel('Passphrase again').fill(passphrase);
  await page.getByRole('button', { name: 'Create' }).click();
  await heading(page, 'My contact code');
  await page.locator('svg.qr').waitFor({ timeout: STEP_MS });
  const code = (await page.locator('#my-code').textContent())?.trim() ?? '';
  assert.match(code, /^ec1[a-z0-9]+$/);
  return code;
}

async function openAdd(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Contacts' }).click();
  await heading(page, 'Contacts');
  await page.getByRole('button', { name: 'Add' }).last().click();
  await heading(page, 'Add a contact');
}

/** The safety number groups the verify screen shows. */
async function safetyGroups(page: Page, name: string): Promise<string[]> {
  await heading(page, `Verify ${name}`);
  await page.locator('ol.safety li').nth(11).waitFor({ timeout: STEP_MS });
  return page.locator('ol.safety li').allTextContents();
}

async function confirmVerified(page: Page, name: string): Promise<void> {
  await page.getByRole('button', { name: 'They match: verified' }).click();
  await heading(page, 'Contacts');
  await page.locator('button.contact', { hasText: name }).getByText('✓ verified').waitFor({ timeout: STEP_MS });
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

/** What the page shows of each message (own and the peer's), in order. */
const shownTexts = (page: Page, side: 'own' | 'peer'): Promise<string[]> => page.locator(`li.msg.${side} .text`).allTextContents();

/** The bytes a text may be stored as: UTF-8 and UTF-16LE (V8's and Chromium's strings). */
function forms(text: string): Buffer[] {
  return [Buffer.from(text, 'utf8'), Buffer.from(text, 'utf16le')];
}

/** Paths of files under `dir` holding any form of any needle. */
async function holding(dir: string, needles: readonly string[]): Promise<string[]> {
  const all = needles.flatMap(forms);
  return [...(await snapshot(dir))].filter(([, data]) => all.some((n) => data.includes(n))).map(([path]) => path);
}

/** Chromium's folders for an origin's storage and the HTTP cache, anywhere in a profile. */
const STORAGE = /(^|\/)(Local Storage|Session Storage|IndexedDB|Service Worker|CacheStorage|Cache|File System|blob_storage|Shared Dictionary|shared_proto_db|WebStorage)(\/|$)/;

/**
 * Files of a profile naming our origin (in a path or in their bytes): those in its storage folders,
 * and those of V8's code cache that are anything but the entry of the page's own script (Chromium
 * keeps one for a script it ran, whatever the response's Cache-Control: the script's URL, a time,
 * and later its compiled code; no data of the page).
 */
async function originStorage(profile: string, port: number): Promise<string[]> {
  const origin = [`127.0.0.1:${String(port)}`, `127.0.0.1_${String(port)}`];
  const script = Buffer.from(`http://127.0.0.1:${String(port)}/app.js`);
  const hits: string[] = [];
  for (const [path, data] of await snapshot(profile)) {
    const rel = path.slice(profile.length);
    const named = origin.some((o) => rel.includes(o)) || origin.flatMap(forms).some((b) => data.includes(b));
    if (!named) continue;
    if (STORAGE.test(rel)) hits.push(rel);
    else if (/\/Code Cache\//.test(rel) && !data.includes(script)) hits.push(rel);
  }
  return hits;
}

describe('two pages over the private Tor network', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium-headless-shell)` }, () => {
  test('create, exchange codes (paste and scan), verify, talk both ways, quit: nothing left, in the browsers too', { timeout: TEST_TIMEOUT_MS }, async () => {
    const tag = randomBytes(6).toString('hex');
    const texts = {
      a1: `hello Bob ${tag}a1 🧅👩🏽‍💻 on se voit à 18 h ?`,
      b1: `long reply ${tag}b1 ` + Array.from({ length: 120 }, (_, i) => `word${String(i)} ünïcödé 🙂`).join(' '),
      a2: `<img src=x onerror="window.__pwned=1"> ${tag}a2 and \u202Eevil\u202C <b>bold</b>`,
      b2: `${tag}b2 مرحبا، هذا نص عربي 👍🏽`,
    } as const;
    const needles = [...Object.values(texts), `${tag}a1`, `${tag}b1`, `${tag}a2`, `${tag}b2`];

    const [homeA, homeB, tmpA, tmpB, tmpBrowserA, tmpBrowserB] = ['home-a', 'home-b', 'tmp-a', 'tmp-b', 'tmp-browser-a', 'tmp-browser-b'].map((n) => join(root, n)) as [string, string, string, string, string, string];
    for (const d of [homeA, homeB, tmpA, tmpB, tmpBrowserA, tmpBrowserB]) await mkdir(d, { mode: 0o700 });
    const [profileA, profileB] = [join(root, 'profile-a'), join(root, 'profile-b')];
    const uiA = await startUi(homeA, tmpA, []);
    const uiB = await startUi(homeB, tmpB, ['--amnesic']);
    const [portA, portB] = [Number(new URL(uiA.url).port), Number(new URL(uiB.url).port)];

    // Alice's page: her identity and the code it shows.
    const alice = await openBrowser(SCREENS[0]!, { profile: profileA, env: { ...process.env, TMPDIR: tmpBrowserA } });
    browsers.push(alice);
    const pa = alice.page;
    await pa.goto(uiA.url);
    assert.equal(pa.url(), `http://127.0.0.1:${String(portA)}/`, 'the secret left the address bar');
    const codeA = await createIdentity(pa, 'correct horse battery staple alice');

    // Bob's page, with a camera that sees the QR code of Alice's code.
    const video = join(root, 'alice-code.y4m');
    await writeFile(video, y4m(codeA.toUpperCase()));
    const bob = await openBrowser(SCREENS[1]!, {
      profile: profileB, env: { ...process.env, TMPDIR: tmpBrowserB },
      args: fakeCameraArgs(video),
      permissions: ['camera'],
    });
    browsers.push(bob);
    const pb = bob.page;
    await pb.goto(uiB.url);
    const codeB = await createIdentity(pb, 'purple elephant juggling seven oranges bob');
    assert.notEqual(codeA, codeB);

    // Alice pastes Bob's code.
    await openAdd(pa);
    await pa.getByLabel('Their contact code').fill(codeB);
    await pa.getByLabel('Name (only you see it)').fill('bob');
    await pa.getByRole('button', { name: 'Add', exact: true }).first().click();
    const groupsA = await safetyGroups(pa, 'bob');

    // Bob scans Alice's.
    await openAdd(pb);
    await pb.getByRole('button', { name: 'Scan a QR code' }).click();
    await pb.getByText('Code read from the QR code').waitFor({ timeout: STEP_MS });
    assert.equal((await pb.getByLabel('Their contact code').inputValue()).toLowerCase(), codeA);
    await pb.getByLabel('Name (only you see it)').fill('alice');
    await pb.getByRole('button', { name: 'Add', exact: true }).first().click();
    const groupsB = await safetyGroups(pb, 'alice');

    assert.equal(groupsA.length, 12);
    assert.ok(groupsA.every((g) => /^\d{5}$/.test(g)));
    assert.deepEqual(groupsA, groupsB, 'both screens show the same safety number');
    await confirmVerified(pa, 'bob');
    await confirmVerified(pb, 'alice');
    assert.deepEqual(await torsMentioning(root), [], 'no tor before Talk');

    // Both press Talk.
    await pa.getByRole('button', { name: 'Talk bob' }).click();
    await pb.getByRole('button', { name: 'Talk alice' }).click();
    await Promise.all([
      pa.getByText(/connected to bob: session [0-9a-f]+/).waitFor({ timeout: CONNECT_MS }),
      pb.getByText(/connected to alice: session [0-9a-f]+/).waitFor({ timeout: CONNECT_MS }),
    ]);
    const torsA = await torsMentioning(homeA);
    const torsB = await torsMentioning(tmpB);
    for (const pid of [...torsA, ...torsB]) torPids.add(pid);
    assert.equal(torsA.length, 1, "Alice's session runs one tor, with its state in her home");
    assert.equal(torsB.length, 1, "Bob's (amnesic) session runs one tor, in his TMPDIR");

    await send(pa, texts.a1);
    await pb.locator('li.msg.peer').nth(0).waitFor({ timeout: STEP_MS });
    await send(pb, texts.b1);
    await pa.locator('li.msg.peer').nth(0).waitFor({ timeout: STEP_MS });
    await send(pa, texts.a2);
    await pb.locator('li.msg.peer').nth(1).waitFor({ timeout: STEP_MS });
    await send(pb, texts.b2);
    await pa.locator('li.msg.peer').nth(1).waitFor({ timeout: STEP_MS });
    await pa.locator('li.msg.own .mark.delivered').nth(1).waitFor({ timeout: STEP_MS });
    await pb.locator('li.msg.own .mark.delivered').nth(1).waitFor({ timeout: STEP_MS });

    // The markup and the override arrive as text: shown, never acting.
    const shownA2 = texts.a2.replace('\u202E', '\uFFFD').replace('\u202C', '\uFFFD');
    assert.deepEqual(await shownTexts(pb, 'peer'), [texts.a1, shownA2]);
    assert.deepEqual(await shownTexts(pa, 'peer'), [texts.b1, texts.b2]);
    assert.deepEqual(await shownTexts(pa, 'own'), [texts.a1, shownA2]);
    assert.deepEqual(await shownTexts(pb, 'own'), [texts.b1, texts.b2]);
    for (const p of [pa, pb]) {
      assert.equal(await p.locator('li.msg.own .mark.delivered').count(), 2, 'both own messages marked delivered');
      assert.equal(await p.locator('li.msg .text').count(), await p.locator('li.msg bdi.text[dir="auto"]').count(), 'each text direction-isolated');
      assert.equal(await p.locator('.log img, .log b').count(), 0, 'no element made of a message');
      assert.equal(await p.evaluate('window.__pwned'), undefined);
      assert.equal(await p.title(), 'Entrechat');
      assert.equal(p.url(), `http://127.0.0.1:${String(p === pa ? portA : portB)}/`);
    }

    // Alice quits: both pages say so and clear the conversation.
    await pa.getByRole('button', { name: 'Quit' }).click();
    await pa.getByText('You ended the session with bob.').waitFor({ timeout: STEP_MS });
    await pb.getByText('alice ended the session.').waitFor({ timeout: STEP_MS });
    for (const p of [pa, pb]) {
      await p.getByText(/^Wiped: this page's conversation \(4 messages shown this session\)/).waitFor({ timeout: STEP_MS });
      assert.equal(await p.locator('li.msg').count(), 0);
      const dom = await p.content();
      for (const n of needles) assert.ok(!dom.includes(n), 'no message text left in the page');
    }
    assert.ok(await eventually(async () => (await torsMentioning(root)).length === 0, STEP_MS), 'both sessions’ tors are stopped');

    // Exit from both pages: the processes end.
    for (const p of [pa, pb]) {
      await p.getByRole('button', { name: 'Back' }).click();
      await heading(p, 'Contacts');
      await p.getByRole('button', { name: 'Exit' }).first().click();
      await heading(p, 'Exit');
      await p.locator('section').getByRole('button', { name: 'Exit' }).click();
    }
    assert.equal(await uiA.exited, 0, uiA.stderr());
    assert.equal(await uiB.exited, 0, uiB.stderr());
    for (const ui of [uiA, uiB]) for (const n of needles) assert.ok(!ui.stderr().includes(n), 'no message text on stderr');
    for (const pid of torPids) assert.equal(existsSync(`/proc/${String(pid)}`), false, `tor ${String(pid)} is gone`);

    // The stores: the verified contacts, no message text; Alice's tor state kept, Bob's (amnesic) not.
    const passA = join(root, 'pass-a');
    const passB = join(root, 'pass-b');
    await writeFile(passA, 'correct horse battery staple alice\n', { mode: 0o600 });
    await writeFile(passB, 'purple elephant juggling seven oranges bob\n', { mode: 0o600 });
    const listA = await run(homeA, ['contacts', 'list', '--json', '--passphrase-file', passA]);
    const listB = await run(homeB, ['contacts', 'list', '--json', '--passphrase-file', passB]);
    await rm(passA);
    await rm(passB);
    assert.equal(listA.code, 0, listA.stderr);
    assert.equal(listB.code, 0, listB.stderr);
    const contacts = (out: string): { name: string; verified: boolean }[] =>
      (JSON.parse(out) as { name: string; verified: boolean }[]).map((c) => ({ name: c.name, verified: c.verified }));
    assert.deepEqual(contacts(listA.stdout), [{ name: 'bob', verified: true }]);
    assert.deepEqual(contacts(listB.stdout), [{ name: 'alice', verified: true }]);
    assert.deepEqual(await holding(homeA, needles), []);
    assert.deepEqual(await holding(homeB, needles), []);
    assert.ok(existsSync(join(homeA, 'tor')), "Alice's tor keeps its guards in her home");
    assert.equal(existsSync(join(homeB, 'tor')), false, "Bob's amnesic sessions keep no tor folder");
    assert.deepEqual([...(await snapshot(tmpA)).keys()], [], "nothing left in Alice's TMPDIR");
    assert.deepEqual([...(await snapshot(tmpB)).keys()], [], "nothing left in Bob's TMPDIR");

    // The browsers, closed: their profiles and temp folders hold none of it.
    for (const b of [alice, bob]) await b.close();
    browsers.length = 0;
    for (const profile of [profileA, profileB]) {
      assert.ok((await holding(profile, [`127.0.0.1:${String(profile === profileA ? portA : portB)}`])).length > 0, 'the search sees what the browser kept (its history)');
    }
    for (const dir of [profileA, profileB, tmpBrowserA, tmpBrowserB]) {
      assert.deepEqual(await holding(dir, needles), [], `no message text under ${dir}`);
    }
    assert.deepEqual([...(await snapshot(tmpBrowserA)).keys(), ...(await snapshot(tmpBrowserB)).keys()], [], 'nothing left in the browsers’ TMPDIRs');
    assert.deepEqual(await originStorage(profileA, portA), [], "no storage of Alice's page's origin");
    assert.deepEqual(await originStorage(profileB, portB), [], "no storage of Bob's page's origin");
  });
});
