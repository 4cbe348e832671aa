/**
 * `entrechat testnet up --dir DIR [--base-port N]` and `entrechat testnet down --dir DIR`: the private
 * Tor test network on 127.0.0.1 (for tests, benchmarks and the demo). `up` prints its progress on stderr
 * and, once the network is ready, the path of the client torrc on stdout; the network keeps running
 * after `up` exits, until `down`. A SIGINT, SIGTERM or SIGHUP during `up` stops what was started and
 * removes DIR.
 */
import { parseArgs } from 'node:util';
import { testnetDown, testnetUp, UsageError } from '../app/index.ts';
import { EXIT } from './exit.ts';

interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export const TESTNET_HELP = `Usage:
  entrechat testnet up --dir DIR [--base-port N] [--bridge]
      Starts a private Tor network (3 authorities + 2 relays) on 127.0.0.1 in DIR (new or empty),
      prints progress on stderr and, once ready, DIR/client.torrc on stdout: give that file to
      \`entrechat talk --tor-config\`. N is the first of 15 consecutive ports (default: a free range).
      --bridge: also an obfs4 bridge of that network (3 more ports; needs obfs4proxy or lyrebird), and
      DIR/bridge.torrc, printed on stdout too: the lines to reach the network only through it.
  entrechat testnet down --dir DIR
      Stops the network in DIR (only the tors it started) and removes DIR.

Exit codes: 0 ok, 2 usage, 6 Tor (TESTNET_* codes, see docs/errors.md), 128 + signal number when
interrupted (the network being started is stopped and DIR removed).
`;

const OPTIONS = {
  'help': { type: 'boolean', short: 'h' },
  'dir': { type: 'string' },
  'base-port': { type: 'string' },
  'bridge': { type: 'boolean' },
} as const;

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type CaughtSignal = keyof typeof SIGNAL_NUMBERS;

function parse(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new UsageError('BAD_ARGUMENT', cause instanceof Error ? cause.message : 'bad arguments', { cause });
  }
}

/** Runs `entrechat testnet …` (argv after the word `testnet`); resolves with the exit code. */
export async function cmdTestnet(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv);
  const [sub, ...extra] = positionals;
  if (values.help === true || sub === 'help') {
    io.out(TESTNET_HELP);
    return EXIT.OK;
  }
  if (sub === undefined) throw new UsageError('BAD_ARGUMENT', 'missing testnet subcommand: up or down (see entrechat testnet --help)');
  if (extra.length > 0) throw new UsageError('BAD_ARGUMENT', `unexpected argument "${extra[0] ?? ''}" (see entrechat testnet --help)`);
  const dir = values.dir;
  if (dir === undefined || dir === '') throw new UsageError('BAD_ARGUMENT', 'missing --dir DIR (see entrechat testnet --help)');
  switch (sub) {
    case 'up':
      return up(dir, values['base-port'], values.bridge === true, io);
    case 'down':
      if (values['base-port'] !== undefined || values.bridge !== undefined) throw new UsageError('BAD_ARGUMENT', '--base-port and --bridge go with testnet up');
      await testnetDown(dir);
      io.err(`entrechat: test network stopped, ${dir} removed`);
      return EXIT.OK;
    default:
      throw new UsageError('BAD_ARGUMENT', `unknown testnet subcommand "${sub}": up or down`);
  }
}

async function up(dir: string, basePortText: string | undefined, bridge: boolean, io: Io): Promise<number> {
  let basePort: number | undefined;
  if (basePortText !== undefined) {
    if (!/^\d{1,5}$/.test(basePortText)) throw new UsageError('BAD_ARGUMENT', '--base-port must be a port number');
    basePort = Number(basePortText);
  }
  const ac = new AbortController();
  const interrupted: { by: CaughtSignal | null } = { by: null };
  const handlers = (Object.keys(SIGNAL_NUMBERS) as CaughtSignal[]).map((sig) => {
    const handler = (): void => {
      // Later signals are ignored: the teardown is bounded (SIGKILL after 5 s) and must finish.
      if (interrupted.by !== null) return;
      interrupted.by = sig;
      io.err(`entrechat: ${sig}: stopping the test network and removing ${dir}…`);
      ac.abort(new Error(`interrupted by ${sig}`));
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  // A reader that went away (a killed parent) must not crash `up` halfway: the teardown has to run.
  const ignoreBrokenPipe = (): void => undefined;
  process.stdout.on('error', ignoreBrokenPipe);
  process.stderr.on('error', ignoreBrokenPipe);
  try {
    const net = await testnetUp({
      dir,
      ...(basePort !== undefined ? { basePort } : {}),
      signal: ac.signal,
      ...(bridge ? { bridge: true } : {}),
      onProgress: (line) => { io.err(line); },
    });
    io.out(net.clientTorrc);
    if (net.bridgeTorrc !== undefined) io.out(net.bridgeTorrc);
    return EXIT.OK;
  } catch (e) {
    if (interrupted.by !== null) return 128 + SIGNAL_NUMBERS[interrupted.by];
    throw e;
  } finally {
    for (const [sig, handler] of handlers) process.off(sig, handler);
    process.stdout.off('error', ignoreBrokenPipe);
    process.stderr.off('error', ignoreBrokenPipe);
  }
}
