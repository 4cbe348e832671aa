/**
 * `npm test`: starts one private Tor network for the whole run, runs the test files with Node's test
 * runner (which has no global setup), then stops the network and removes its folder, whether the
 * tests passed, failed, or the run was interrupted. The exit code is the test runner's.
 *
 *   node --import tsx test/run.ts [FILE | WORD | --runner-flag]…
 *
 * Arguments naming files run those files; other words keep the test files whose path contains one of
 * them; arguments starting with `-` go to `node --test` (e.g. --test-name-pattern=…). The network is
 * started only when a selected file uses it (imports helpers/testnet.ts). With $ENTRECHAT_TESTNET_DIR
 * already set (a network made by `entrechat testnet up`), that network is used and left running.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testnetDown, testnetUp } from '../src/tor/testnet.ts';

/** Names the run's network for test/helpers/testnet.ts (not imported here: it registers node:test hooks). */
const TESTNET_DIR_ENV = 'ENTRECHAT_TESTNET_DIR';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TEST_DIR = join(ROOT, 'test');
const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
type Sig = keyof typeof SIGNALS;

const log = (line: string): void => { process.stderr.write(`# ${line}\n`); };
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** test/<folder>/*.test.ts, sorted. */
async function allTestFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(TEST_DIR, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const f of await readdir(join(TEST_DIR, entry.name))) {
      if (f.endsWith('.test.ts')) files.push(join('test', entry.name, f));
    }
  }
  return files.sort();
}

async function select(args: readonly string[]): Promise<{ files: string[]; flags: string[] }> {
  const flags = args.filter((a) => a.startsWith('-'));
  const words = args.filter((a) => !a.startsWith('-'));
  const all = await allTestFiles();
  if (words.length === 0) return { files: all, flags };
  const files = new Set<string>();
  for (const w of words) {
    const asPath = resolve(process.cwd(), w);
    if (existsSync(asPath) && asPath.endsWith('.ts')) files.add(relative(ROOT, asPath));
    else for (const f of all.filter((f) => f.includes(w))) files.add(f);
  }
  return { files: [...files], flags };
}

async function usesTestnet(files: readonly string[]): Promise<boolean> {
  for (const f of files) {
    if ((await readFile(join(ROOT, f), 'utf8')).includes('helpers/testnet')) return true;
  }
  return false;
}

async function main(): Promise<number> {
  const { files, flags } = await select(process.argv.slice(2));
  if (files.length === 0) {
    log('no test file matches');
    return 1;
  }
  const ac = new AbortController();
  const run: { interrupted: Sig | null; child: ReturnType<typeof spawn> | null } = { interrupted: null, child: null };
  const onSignal = (sig: Sig): void => {
    if (run.interrupted !== null) return;
    run.interrupted = sig;
    log(`${sig}: stopping the tests and the network`);
    ac.abort(new Error(`interrupted by ${sig}`));
    const child = run.child;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  const handlers = (Object.keys(SIGNALS) as Sig[]).map((sig) => {
    const h = (): void => { onSignal(sig); };
    process.on(sig, h);
    return [sig, h] as const;
  });
  let dir: string | null = null;
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, TSX_DISABLE_CACHE: '1' };
    const given = process.env[TESTNET_DIR_ENV];
    if (given !== undefined && given !== '') {
      log(`using the private Tor network in ${given} ($${TESTNET_DIR_ENV}); it is left running`);
    } else if (await usesTestnet(files)) {
      dir = await mkdtemp(join(tmpdir(), 'entrechat-testnet-'));
      const t0 = Date.now();
      try {
        const net = await testnetUp({ dir, signal: ac.signal, ownerPid: process.pid });
        log(`private Tor network ready in ${seconds(Date.now() - t0)} (${net.dir}, ports ${net.basePort}+)`);
      } catch (e) {
        dir = null; // testnetUp removed it
        if (run.interrupted !== null) return 128 + SIGNALS[run.interrupted];
        log(`the private Tor network did not start: ${e instanceof Error ? e.message : String(e)}`);
        return 1;
      }
      env[TESTNET_DIR_ENV] = dir;
    }
    const args = ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...files];
    const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
    run.child = proc;
    const code = await new Promise<number>((resolveRun) => {
      proc.on('error', () => { resolveRun(1); });
      proc.on('exit', (c, s) => { resolveRun(c ?? 128 + (s !== null && s in SIGNALS ? SIGNALS[s as Sig] : 9)); });
    });
    return run.interrupted !== null ? 128 + SIGNALS[run.interrupted] : code;
  } finally {
    if (dir !== null) {
      const t1 = Date.now();
      try {
        await testnetDown(dir);
        log(`private Tor network stopped and removed in ${seconds(Date.now() - t1)}`);
      } catch (e) {
        log(`could not stop the private Tor network in ${dir}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

process.exitCode = await main();
