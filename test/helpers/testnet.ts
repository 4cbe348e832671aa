/**
 * The private Tor network of a test run. `npm test` (test/run.ts) starts one network for the whole run
 * and names its folder in $ENTRECHAT_TESTNET_DIR; a test file run on its own (node --test FILE) gets a
 * network of its own instead, started on first use and stopped, its folder removed, after the file's
 * last test (a root `after` hook registered when this module is imported), or when the process exits.
 */
import { after } from 'node:test';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeUp, readBridge, testnetDown, testnetDownSync, testnetUp, type TestnetBridge } from '../../src/tor/testnet.ts';

export const TESTNET_DIR_ENV = 'ENTRECHAT_TESTNET_DIR';

export interface SharedTestnet {
  readonly dir: string;
  /** DIR/client.torrc: the lines a client tor needs to join (see src/tor/testnet.ts). */
  readonly clientTorrc: string;
}

/** Something to register a teardown on: a test or suite context (`t.after`). */
interface AfterHost {
  readonly after: (fn: () => Promise<void>) => void;
}

let own: Promise<SharedTestnet> | null = null;
let ownDir: string | null = null;

async function stopOwn(): Promise<void> {
  const dir = ownDir;
  ownDir = null;
  own = null;
  if (dir === null) return;
  await testnetDown(dir).catch(() => rm(dir, { recursive: true, force: true }));
}

let ownBridge: Promise<TestnetBridge> | null = null;
let ownBridgeDir: string | null = null;

async function stopOwnBridge(): Promise<void> {
  const dir = ownBridgeDir;
  ownBridgeDir = null;
  ownBridge = null;
  if (dir === null) return;
  await testnetDown(dir).catch(() => rm(dir, { recursive: true, force: true }));
}

// Registered at import, i.e. at the top level of the test file: runs after the file's last test (the
// bridge first: it is a tor of that network).
after(async () => {
  await stopOwnBridge();
  await stopOwn();
});
// An interrupted run (the test runner exits on SIGINT/SIGTERM without running `after` hooks).
process.on('exit', () => {
  if (ownBridgeDir !== null) testnetDownSync(ownBridgeDir);
  if (ownDir !== null) testnetDownSync(ownDir);
});

/**
 * The run's network, or (a file run on its own) one started for this file and stopped after it.
 * `t`, if given, also gets the teardown (for a file whose tests run in a suite that should stop it first).
 */
export async function sharedTestnet(t?: AfterHost): Promise<SharedTestnet> {
  const fromRun = process.env[TESTNET_DIR_ENV];
  if (fromRun !== undefined && fromRun !== '') {
    const clientTorrc = join(fromRun, 'client.torrc');
    await readFile(clientTorrc).catch((cause: unknown) => {
      throw new Error(`$${TESTNET_DIR_ENV} names ${fromRun}, which holds no client.torrc`, { cause });
    });
    return { dir: fromRun, clientTorrc };
  }
  if (own === null) {
    own = (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'entrechat-testnet-'));
      ownDir = dir;
      const t0 = Date.now();
      const net = await testnetUp({ dir, ownerPid: process.pid });
      process.stderr.write(`# private Tor network for this file ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      return { dir: net.dir, clientTorrc: net.clientTorrc };
    })();
    // A failed start has removed its folder already; the next call may try again.
    own.catch(() => { own = null; ownDir = null; });
  }
  t?.after(stopOwn);
  return own;
}

/**
 * An obfs4 bridge of the run's network: the network's own if it was made with `testnet up --bridge`,
 * else one started for this file (bridgeUp, in a folder of its own; about 3 s) and stopped after it.
 */
export async function sharedBridge(): Promise<TestnetBridge> {
  const net = await sharedTestnet();
  const built = await readBridge(net.dir);
  if (built !== null) return built;
  if (ownBridge === null) {
    ownBridge = (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'entrechat-bridge-'));
      ownBridgeDir = dir;
      // bridgeUp wants a folder that does not exist or is empty: it is.
      const bridge = await bridgeUp({ network: net.dir, dir, ownerPid: process.pid });
      process.stderr.write(`# obfs4 bridge for this file ready in ${(bridge.readyMs / 1000).toFixed(1)} s\n`);
      return bridge;
    })();
    ownBridge.catch(() => { ownBridge = null; ownBridgeDir = null; });
  }
  return ownBridge;
}
