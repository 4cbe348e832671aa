/**
 * Crash atomicity of saveStore: children save the contents A and B alternately and are SIGKILLed at random
 * moments, hundreds of times; after every kill the store opens and holds exactly A or exactly B.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createStore, openStore, saveStore, type StoreContent } from '../../src/store/store.ts';
import { CRASH_KDF, crashAuth, crashContents } from '../fixtures/store-crash-child.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/store-crash-child.ts', import.meta.url));
/** Kills per lane; two lanes (no passphrase, passphrase) run side by side: 2 × 100 = 200 kills. */
const KILLS_PER_LANE = 100;
/** Longest wait for a child to start and finish its first save. */
const CHILD_START_TIMEOUT = 15_000;
/** One kill in this many is made without waiting for the first save, to land during start-up and the first write too. */
const EARLY_KILL_EVERY = 5;

let root = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'entrechat-store-crash-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

function fingerprint(c: StoreContent): string {
  return JSON.stringify({
    s: Buffer.from(c.identitySecret).toString('hex'),
    c: c.contacts.map((x) => [x.name, Buffer.from(x.publicKey).toString('hex'), x.verified]),
  });
}

/** Resolves when the child prints "saved"; rejects if it exits first or takes too long. */
function firstSave(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => { reject(new Error(`child did not save within ${CHILD_START_TIMEOUT} ms: ${err}`)); }, CHILD_START_TIMEOUT);
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('saved\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`child exited before its first save: ${err}`));
    });
  });
}

async function lane(kind: 'none' | 'pass', rand: () => number): Promise<{ a: number; b: number; temps: number }> {
  const home = join(root, kind);
  const auth = crashAuth(kind);
  const { a, b } = crashContents();
  const fa = fingerprint(a);
  const fb = fingerprint(b);
  await createStore(home, a, auth, CRASH_KDF);
  const seen = { a: 0, b: 0 };
  for (let k = 0; k < KILLS_PER_LANE; k++) {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, home, kind], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
    try {
      if (k % EARLY_KILL_EVERY === EARLY_KILL_EVERY - 1) {
        await sleep(Math.floor(rand() * 400));
      } else {
        await firstSave(child, exited);
        await sleep(Math.floor(rand() * 31));
      }
    } finally {
      // Only this child's pid, and only while it still runs.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
    const got = fingerprint(await openStore(home, auth));
    if (got === fa) seen.a++;
    else if (got === fb) seen.b++;
    else assert.fail(`kill ${k} (${kind}): the store holds neither A nor B`);
  }
  const temps = readdirSync(home).filter((f) => f !== 'store').length;
  // The store is still writable after all this.
  await saveStore(home, b, auth, CRASH_KDF);
  assert.equal(fingerprint(await openStore(home, auth)), fb);
  return { ...seen, temps };
}

/** Small seeded PRNG (mulberry32) so that a failing run can be replayed with the printed seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test(`SIGKILL at random moments, ${2 * KILLS_PER_LANE} times: the store always opens, holding exactly A or B`, { timeout: 120_000 }, async (t) => {
  const seed = Number(process.env.STORE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 32));
  t.diagnostic(`seed ${seed} (replay with STORE_CRASH_SEED=${seed})`);
  const rand = prng(seed);
  const started = performance.now();
  // allSettled: a failing lane must not leave the other one spawning writers after cleanup.
  const settled = await Promise.allSettled([lane('none', rand), lane('pass', rand)]);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  const results = settled.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof lane>>>).value);
  for (const [kind, r] of [['no passphrase', results[0]!], ['passphrase', results[1]!]] as const) {
    t.diagnostic(`${kind}: A ${r.a}, B ${r.b}, temp files left by killed writers ${r.temps}`);
    // Both contents seen: the children really were saving when killed (else the test proves nothing).
    assert.ok(r.a > 0 && r.b > 0, `${kind}: saw A ${r.a} times and B ${r.b} times`);
  }
  t.diagnostic(`${Math.round(performance.now() - started)} ms`);
});
