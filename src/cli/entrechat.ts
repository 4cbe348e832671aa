/** Process entry point of the `entrechat` command. */
import { disableCoreDumps } from '../app/index.ts';
import { main } from './main.ts';
// The composition root: the one file of the command line that may reach the page's server (a leaf).
import { openInBrowser, startUi } from '../web/index.ts';

// Before anything else, and so before any secret exists: no core file (app/hardening.ts).
disableCoreDumps();

process.exitCode = await main(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  sink: process.stdout,
  ui: { start: startUi, open: openInBrowser },
});
