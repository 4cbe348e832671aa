/**
 * A walk through every screen of the page against a FakeUi, calling `visit(name)` on each: the page
 * tests check each screen there (layout, accessibility, keyboard), and scripts/screenshots.ts takes
 * its pictures there. Screens are found by their headings and buttons, as a person would.
 */
import type { Page } from 'playwright-core';
import type { FakeUi } from './fake-ui.ts';

export type Visit = (name: string, page: Page) => Promise<void>;

/** Every message of the tour's conversation: none may be left in the page once the session ends. */
export const TOUR_MESSAGES: readonly string[] = [
  'Salut ! On se voit à 18 h ? 🙂',
  'Oui 👍🏽 — devant la bibliothèque. Here is a long one: ' + 'donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichen'.repeat(3),
  'مرحبا، هذا نص عربي يُكتب من اليمين إلى اليسار',
  '<img src=x onerror="window.__pwned=1"> and \u202Eevil\u202C',
];

export async function heading(page: Page, text: string | RegExp): Promise<void> {
  await page.getByRole('heading', { level: 1, name: text }).waitFor({ timeout: 10_000 });
}

const settle = (page: Page): Promise<void> => page.waitForTimeout(100);

/** From a page not loaded yet to the end of a session and back; the fake's state is set up here. */
export async function tour(page: Page, ui: FakeUi, visit: Visit): Promise<void> {
  ui.state = { ...ui.state, identity: 'none', session: null };
  await page.goto(ui.url);
  await heading(page, 'Create your identity');
  await page.getByLabel('Passphrase', { exact: true }).fill('correct horse battery staple');
  await page.getByText(/Strong enough/).waitFor();
  await page.getByLabel('Passphrase again').fill('correct horse battery staple');
  await visit('create', page);
  await page.getByRole('button', { name: 'Create' }).click();

  await heading(page, 'My contact code');
  await page.locator('svg.qr').waitFor();
  await visit('code', page);

  await page.getByRole('button', { name: 'Contacts' }).click();
  await heading(page, 'Contacts');
  await page.getByRole('button', { name: /bob/ }).first().waitFor();
  await visit('contacts', page);

  await page.locator('button.contact', { hasText: 'bob' }).click();
  await heading(page, 'bob');
  await visit('contact', page);
  await page.getByRole('button', { name: 'Rename' }).click();
  await page.getByLabel('New name').fill('Robert');
  await visit('rename', page);
  await page.getByRole('button', { name: 'Save' }).click();
  await heading(page, 'Robert');
  await page.getByRole('button', { name: 'Remove' }).click();
  await page.getByText(/Their key is deleted from this device/).waitFor();
  await visit('remove', page);
  await page.getByRole('button', { name: 'Keep' }).click();
  await page.getByRole('button', { name: 'Verify' }).click();
  await heading(page, 'Verify Robert');
  await page.getByText('12345').waitFor();
  await visit('verify', page);
  await page.getByRole('button', { name: 'They match: verified' }).click();
  await heading(page, 'Contacts');

  await page.getByRole('button', { name: 'Add', exact: true }).last().click();
  await heading(page, 'Add a contact');
  await page.getByLabel('Their contact code').fill('ec1qxzjpuqf3yc2w4r53d7aedp77adqm0e6p5nrsxh5awj2nr42nd8x5uvdfgs');
  await page.getByLabel('Name (only you see it)').fill('Camille');
  await visit('add', page);

  await page.getByRole('button', { name: 'Doctor' }).click();
  await heading(page, 'Doctor');
  await page.getByText('sudo apt-get install tor', { exact: true }).waitFor();
  await visit('doctor', page);

  await page.getByRole('button', { name: 'Contacts' }).click();
  await heading(page, 'Contacts');
  await page.getByRole('button', { name: 'Talk alice' }).click();
  await heading(page, 'alice');
  ui.event({ type: 'state', state: 'starting_tor' });
  ui.event({ type: 'tor_progress', percent: 45, summary: 'Loading relay descriptors' });
  await page.getByText('starting Tor 45%').waitFor();
  await visit('talk-tor', page);

  ui.event({ type: 'tor_progress', percent: 100, summary: 'Done' });
  ui.event({ type: 'state', state: 'rendezvous' });
  ui.event({ type: 'published' });
  ui.event({ type: 'window', ms: 180_000 });
  await page.getByText(/waiting for alice · \d:\d\d left/).waitFor();
  await page.getByText(/Nothing is queued/).waitFor();
  await visit('talk-waiting', page);
  // Exit asks first; cancelling comes back to the session.
  await page.getByRole('button', { name: 'Exit' }).click();
  await heading(page, 'Exit');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByText(/waiting for alice · \d:\d\d left/).waitFor();

  ui.event({ type: 'state', state: 'handshaking' });
  await page.getByText('alice is here · authenticating…').waitFor();
  await visit('talk-handshaking', page);
  ui.event({ type: 'active', tag: '3f9a1c0e5b7d2468', idle: 15 * 60_000, maxSession: 2 * 3600_000, initiator: true });
  await page.getByText(/connected to alice: session 3f9a1c0e5b7d2468/).waitFor();
  for (const [i, text] of TOUR_MESSAGES.entries()) {
    if (i % 2 === 0) ui.message(text);
    else {
      await page.getByLabel('Message').fill(text);
      await page.getByRole('button', { name: 'Send' }).click();
      await page.locator('li.msg.own').nth(Math.floor(i / 2)).waitFor();
      ui.event({ type: 'sent', id: Math.ceil(i / 2) });
      ui.event({ type: 'delivered', id: Math.ceil(i / 2) });
    }
  }
  await page.locator('li.msg').nth(TOUR_MESSAGES.length - 1).waitFor();
  await page.locator('li.msg.own .mark.delivered').nth(1).waitFor();
  await page.getByLabel('Message').fill('Je pars maintenant');
  await settle(page);
  await visit('talk-connected', page);

  ui.event({ type: 'state', state: 'closing' });
  await page.getByText('closing…').waitFor();
  await page.getByText(/Ending: telling the peer/).waitFor();
  await visit('talk-closing', page);
  await page.getByRole('button', { name: 'Quit' }).click();
  await page.getByText('You ended the session with alice.').waitFor();
  await visit('talk-ended', page);
  await page.getByRole('button', { name: 'Back' }).click();
  await heading(page, 'Contacts');

  await page.getByRole('button', { name: 'Exit' }).click();
  await heading(page, 'Exit');
  await visit('exit', page);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await heading(page, 'Contacts');

  ui.setState({ identity: 'locked' });
  await heading(page, 'Unlock your identity');
  await page.getByLabel('Passphrase').fill('wrong');
  await page.getByRole('button', { name: 'Unlock' }).click();
  await page.getByText('Wrong passphrase. [STORE_WRONG_PASSPHRASE]').waitFor();
  await visit('unlock', page);
  await page.getByLabel('Passphrase').fill('right horse battery');
  await page.getByRole('button', { name: 'Unlock' }).click();
  await heading(page, 'Contacts');

  const second = await page.context().newPage();
  await second.goto(ui.url);
  await heading(second, 'Already open in another page');
  await visit('second-page', second);
  await second.close();

  ui.drop();
  await heading(page, 'Connection lost');
  await visit('lost', page);
}
