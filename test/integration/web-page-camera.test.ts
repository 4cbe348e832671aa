/**
 * Adding a contact by scanning their QR code: Chromium's fake camera plays a video of a contact
 * code's QR code (made here, as Y4M frames), the page reads it (jsQR: Chromium on Linux has no
 * BarcodeDetector) and stops the camera; leaving the screen while scanning stops the camera too.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { buildPage } from '../../scripts/build.ts';
import { openBrowser, SCREENS } from '../helpers/browser.ts';
import { fakeCameraArgs, y4m } from '../helpers/fake-camera.ts';
import { FAKE_CODE, FakeUi } from '../helpers/fake-ui.ts';
import { heading } from '../helpers/page-tour.ts';

let dir = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ec-camera-'));
  buildPage(dir);
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

/** Records every camera stream the page opens, to see whether it was stopped. */
const TRACK_STREAMS = `(() => {
  const get = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  window.__streams = [];
  navigator.mediaDevices.getUserMedia = async (c) => { const s = await get(c); window.__streams.push(s); return s; };
})()`;

async function withCamera(video: Buffer, fn: (page: Page, ui: FakeUi) => Promise<void>): Promise<void> {
  const file = join(dir, `camera-${String(Date.now())}.y4m`);
  await writeFile(file, video);
  const ui = await new FakeUi(dir).start();
  const run = await openBrowser(SCREENS[1]!, {
    args: fakeCameraArgs(file),
    permissions: ['camera'],
  });
  try {
    await run.page.addInitScript(TRACK_STREAMS);
    await run.page.goto(ui.url);
    await heading(run.page, 'Contacts');
    await run.page.getByRole('button', { name: 'Add' }).last().click();
    await heading(run.page, 'Add a contact');
    await fn(run.page, ui);
  } finally {
    await run.close();
    await ui.close();
  }
}

const allStopped = (page: Page): Promise<unknown> =>
  page.evaluate(`window.__streams.length > 0 && window.__streams.every((s) => s.getTracks().every((t) => t.readyState === 'ended'))`);

test('a contact code read from the camera fills the code field, and the camera stops', { timeout: 60_000 }, async () => {
  await withCamera(y4m(FAKE_CODE.toUpperCase()), async (page, ui) => {
    await page.getByRole('button', { name: 'Scan a QR code' }).click();
    await page.getByText('Code read from the QR code').waitFor({ timeout: 20_000 });
    assert.equal(await page.getByLabel('Their contact code').inputValue(), FAKE_CODE.toUpperCase());
    assert.equal(await allStopped(page), true, 'the camera is stopped once the code is read');
    await page.getByLabel('Name (only you see it)').fill('Dominique');
    await page.getByRole('button', { name: 'Add', exact: true }).first().click();
    await heading(page, 'Verify Dominique');
    const add = ui.calls.find((c) => c.call === 'add');
    assert.deepEqual(add?.call === 'add' ? { name: add.name, code: add.code } : null, { name: 'Dominique', code: FAKE_CODE.toUpperCase() });
  });
});

test('leaving the screen while the camera looks for a code stops the camera', { timeout: 60_000 }, async () => {
  await withCamera(y4m(null), async (page) => {
    await page.getByRole('button', { name: 'Scan a QR code' }).click();
    await page.getByRole('button', { name: 'Stop the camera' }).waitFor();
    await page.waitForFunction(() => (globalThis as unknown as { __streams: unknown[] }).__streams.length === 1);
    assert.equal(await allStopped(page), false, 'the camera runs while scanning');
    await page.getByRole('button', { name: 'Doctor' }).click();
    await heading(page, 'Doctor');
    assert.equal(await allStopped(page), true);
  });
});
