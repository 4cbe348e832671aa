/**
 * `node --import tsx scripts/screenshots.ts`: pictures of every screen of the page at phone size
 * (412×915, light), into docs/screenshots/NAME.png, and of the conversation in the dark and in French
 * (talk-connected-dark-fr.png), for the README. The page runs against the tests'
 * scripted process (test/helpers/fake-ui.ts): the names, codes and messages are made up.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPage, ROOT } from './build.ts';
import { openBrowser, SCREENS } from '../test/helpers/browser.ts';
import { FakeUi } from '../test/helpers/fake-ui.ts';
import { tour } from '../test/helpers/page-tour.ts';

const out = join(ROOT, 'docs/screenshots');
const dir = await mkdtemp(join(tmpdir(), 'ec-shots-'));
try {
  buildPage(dir);
  await mkdir(out, { recursive: true });
  // Every screen in the light; then the conversation in the dark and in French.
  for (const dark of [false, true]) {
    const ui = await new FakeUi(dir).start();
    const run = await openBrowser({ ...SCREENS[0]!, scale: 1 }, { colorScheme: dark ? 'dark' : 'light' });
    try {
      await tour(run.page, ui, async (name, page) => {
        if (dark && name !== 'talk-connected') return;
        if (dark) await page.getByRole('button', { name: 'Lire en français' }).click();
        const file = `${name}${dark ? '-dark-fr' : ''}.png`;
        await page.screenshot({ path: join(out, file) });
        if (dark) await page.getByRole('button', { name: 'Read in English' }).click();
        console.log(`docs/screenshots/${file}`);
      });
    } finally {
      await run.close();
      await ui.close();
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
