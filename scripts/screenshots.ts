/**
 * `node --import tsx scripts/screenshots.ts`: pictures of every screen of the page at phone size
 * (412×915, light), into docs/screenshots/NAME.png, for the README. The page runs against the tests'
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
  const ui = await new FakeUi(dir).start();
  const run = await openBrowser({ ...SCREENS[0]!, scale: 1 });
  try {
    await tour(run.page, ui, async (name, page) => {
      await page.screenshot({ path: join(out, `${name}.png`) });
      console.log(`docs/screenshots/${name}.png`);
    });
  } finally {
    await run.close();
    await ui.close();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
