/**
 * A hostile contact floods a real `talk --json` process over loopback TCP and never reads
 * (docs/protocol.md "Flow control"): the victim's memory stays bounded, the session goes on or ends
 * with PEER_NOT_READING, and nothing is left behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleArgs, CLI_NODE_FLAGS, ESBUILD } from '../../scripts/build.ts';
import { decodeContactCode } from '../../src/core/codes.ts';
import { Fixture, freePort, run } from '../helpers/cli.ts';
import { HostilePeer, type FloodResult } from '../helpers/hostile-peer.ts';
import { processesMentioning, snapshot } from '../helpers/procs.ts';

/** How long each flood lasts (the issue's measurement: 60 s took a victim to 1.1 GB). */
const FLOOD_MS = Number(process.env.ENTRECHAT_FLOOD_MS ?? 60_000);
/** The victim's peak resident memory must stay under this. */
const RSS_LIMIT = 100 * 1024 * 1024;
/** How often the victim's peak RSS is read. */
const SAMPLE_MS = 500;

const fx = new Fixture();
const children = new Set<ChildProcessWithoutNullStreams>();
/** The victim runs as users run it: the esbuild bundle with the launcher's node options (bin/entrechat.js). */
let bundle = '';

before(async () => {
  bundle = join(await fx.home(), 'entrechat.mjs');
  execFileSync(ESBUILD, bundleArgs(bundle), { stdio: 'ignore' });
});

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await fx.cleanup();
});

type Event = Record<string, unknown> & { event: string };

/**
 * `talk --json` for the victim, read as it goes: message texts are counted and dropped (a flood of
 * them would fill the test's memory instead), every other event is kept.
 */
function victimTalk(home: string, args: string[], tmp: string) {
  const child = spawn(process.execPath, [...CLI_NODE_FLAGS, bundle, 'talk', ...args, '--json'], {
    env: { ...process.env, ENTRECHAT_HOME: home, TMPDIR: tmp },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  const events: Event[] = [];
  let messages = 0;
  let rest = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    rest += chunk.toString();
    let nl: number;
    while ((nl = rest.indexOf('\n')) !== -1) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (line.startsWith('{"event":"message"')) messages += 1;
      else if (line.trim() !== '') events.push(JSON.parse(line) as Event);
    }
    for (const w of waiters) w();
  });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => {
      children.delete(child);
      for (const w of waiters) w();
      resolve(code);
    });
  });
  const waitFor = async (pred: (e: Event) => boolean, ms: number): Promise<Event> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = events.find(pred);
      if (hit !== undefined) return hit;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`victim exited; events ${JSON.stringify(events)} ${stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out; events ${JSON.stringify(events)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(1000, Math.max(0, deadline - Date.now())));
        function done(): void {
          clearTimeout(t);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  };
  return { child, events, exited, waitFor, messages: () => messages };
}

/** The peak resident set (VmHWM) of a live process, in bytes; null once it is gone. */
async function peakRss(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    return m?.[1] !== undefined ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

async function floodTest(kind: 'PING' | 'TEXT'): Promise<void> {
  const victim = await fx.identity();
  const mallory = new HostilePeer();
  assert.equal((await run(victim.home, ['contacts', 'add', 'mallory', mallory.code])).code, 0);
  const tmp = await fx.home();
  const storeBefore = await snapshot(victim.home);
  const [listen, nobody] = [await freePort(), await freePort()];
  const v = victimTalk(victim.home, ['mallory', '--loopback-listen', `${listen}`, '--loopback-peer', `${nobody}`, '--window', '60'], tmp);
  const pid = v.child.pid ?? -1;
  await v.waitFor((e) => e.event === 'progress' && e.step === 'published', 30_000);
  let peak = 0;
  let result: FloodResult = { records: 0 };
  let closedDuring: (typeof v.events)[number] | undefined;
  // The hostile socket (and its slow reader) go on every way out.
  try {
    await mallory.open(listen, decodeContactCode(victim.code));
    await v.waitFor((e) => e.event === 'active', 10_000);
    // The TEXT flooder reads one byte a second: no better than not reading.
    if (kind === 'TEXT') mallory.readSlowly();

    const sampler = setInterval(() => {
      void peakRss(pid).then((rss) => { if (rss !== null) peak = Math.max(peak, rss); });
    }, SAMPLE_MS);
    try {
      result = kind === 'PING' ? await mallory.floodPings(FLOOD_MS) : await mallory.floodTexts(FLOOD_MS);
    } finally {
      clearInterval(sampler);
    }
    const last = await peakRss(pid);
    if (last !== null) peak = Math.max(peak, last);
    closedDuring = v.events.find((e) => e.event === 'closed');
  } finally {
    mallory.hangUp();
  }
  assert.ok(result.records > 0, 'the flood wrote something');
  // Process statistics, not a timing assertion: the issue's figure of merit.
  process.stderr.write(`# ${kind} flood: ${result.records} records, ${v.messages()} messages shown, victim peak RSS ${(peak / 2 ** 20).toFixed(1)} MB, ${closedDuring !== undefined ? `ended with ${String(closedDuring.code)}` : 'session went on'}\n`);
  assert.ok(peak > 0, 'the victim was sampled');
  assert.ok(peak < RSS_LIMIT, `victim peak RSS ${(peak / 2 ** 20).toFixed(1)} MB under ${RSS_LIMIT / 2 ** 20} MB`);

  await v.exited;
  const closed = v.events.find((e) => e.event === 'closed');
  assert.ok(closed !== undefined, 'the victim reported the end');
  if (closedDuring !== undefined) {
    // Ended during the flood: only with the code of its own.
    assert.equal(closedDuring.code, 'PEER_NOT_READING');
    assert.equal(closedDuring.hadSession, true);
  } else {
    // Went on until the flooder hung up.
    assert.equal(closed.reason, 'connection_lost');
  }
  const storeAfter = await snapshot(victim.home);
  assert.deepEqual([...storeAfter.keys()], [...storeBefore.keys()], 'no file added or removed (no tor folder either)');
  for (const [path, bytes] of storeBefore) assert.ok(storeAfter.get(path)?.equals(bytes), `${path} byte-identical`);
  assert.equal((await snapshot(tmp)).size, 0, 'nothing left in TMPDIR');
  assert.deepEqual(await processesMentioning(victim.home), [], 'no process of the victim left (no tor)');
}

describe('a contact who floods and never reads', () => {
  test('60 s of PINGs: the victim stays under 100 MB; the session goes on or ends with PEER_NOT_READING', { timeout: FLOOD_MS + 60_000 }, async () => {
    await floodTest('PING');
  });

  test('60 s of full 16 KiB TEXT messages, reading one byte a second: the same', { timeout: FLOOD_MS + 60_000 }, async () => {
    await floodTest('TEXT');
  });
});
