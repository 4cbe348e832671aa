/** Process entry point of the `entrechat` command. */
import { disableCoreDumps } from '../app/index.ts';
import { main } from './main.ts';

// The composition root: the one file of the command line that may reach the page's server (a leaf).
// It is loaded by `entrechat ui` only: with it, ws and node:http (about 4 MiB and some milliseconds)
// would load for every command, a session's `talk` included.
let opener: ((url: string) => boolean) | null = null;
const ui = {
  start: async (options: Parameters<typeof import('../web/index.ts').startUi>[0]) => {
    const web = await import('../web/index.ts');
    opener = web.openInBrowser;
    return web.startUi(options);
  },
  open: (url: string): boolean => opener?.(url) ?? false,
};

// Before anything else, and so before any secret exists: no core file (app/hardening.ts).
disableCoreDumps();

process.exitCode = await main(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  sink: process.stdout,
  ui,
});
