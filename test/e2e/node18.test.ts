/**
 * The bundle on Node 18.20, the runtime of nodejs-mobile (docs/mobile.md): Debian 12's `nodejs`
 * 18.20.4, unpacked into .cache/node18 by scripts/lib/ensure.sh (ensure_node18, which this file calls
 * when it is missing) without installing it. The bundle is built as `npm run build` builds it and laid
 * out as an installed package (bin/, dist/), then run there with that node: its imports all exist on
 * Node 18; `demo --script` runs its private Tor network, two peers and the whole scripted session; and
 * two passphrase-protected identities talk through the bundle over the run's private Tor network.
 * Skipped, saying why, only when that node is absent and cannot be fetched, and never under CI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI_NODE_FLAGS, ESBUILD, ROOT, bundleArgs } from '../../scripts/build.ts';
import { assertDemoTranscript, TalkProcess, type JsonEvent } from '../helpers/cli.ts';
import { NODE18_MISSING_EXPORTS } from '../helpers/node18.ts';
import { hasUiCommand, probeUiServer } from '../helpers/ui-probe.ts';
import { filesContaining, processesMentioning, snapshot } from '../helpers/procs.ts';
import { sharedTestnet } from '../helpers/testnet.ts';

const exec = promisify(execFile);
/** The wrapper ensure_node18 writes: it starts Debian's node in the unpacked tree (paths must be absolute). */
const NODE18 = join(ROOT, '.cache/node18/node');

/** The unpacked Node 18, fetched now if missing; null (with why) when it cannot be had here. */
async function node18(): Promise<{ node: string } | { skip: string }> {
  if (!existsSync(NODE18)) {
    try {
      await exec('bash', ['-c', '. scripts/lib/ensure.sh && ensure_node18'], { cwd: ROOT, timeout: 300_000 });
    } catch (e) {
      const why = `Debian's Node 18 is not in .cache/node18 and could not be fetched: ${((e as { stderr?: string }).stderr ?? String(e)).trim()}`;
      if (process.env.CI !== undefined && process.env.CI !== '') throw new Error(`${why} (under CI this test must run)`);
      return { skip: `${why}; run scripts/test (or: bash -c '. scripts/lib/ensure.sh && ensure_node18') on a Debian machine with apt` };
    }
  }
  return { node: NODE18 };
}

const found = await node18();
const skip = 'skip' in found ? found.skip : false;
if (skip !== false) process.stderr.write(`# node18: skipped: ${skip}\n`);

const dirs: string[] = [];
const children = new Set<ChildProcessWithoutNullStreams>();
/** The package as installed: package.json, bin/entrechat.js, dist/entrechat.mjs, an empty src/ (no sources newer than the bundle). */
let pkg = '';

async function privateDir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `entrechat-node18-${prefix}-`));
  dirs.push(d);
  return d;
}

before(async () => {
  if (skip !== false) return;
  pkg = await privateDir('pkg');
  await mkdir(join(pkg, 'bin'));
  await mkdir(join(pkg, 'src'));
  await copyFile(join(ROOT, 'bin/entrechat.js'), join(pkg, 'bin/entrechat.js'));
  await copyFile(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  await exec(ESBUILD, bundleArgs(join(pkg, 'dist/entrechat.mjs')));
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all([...children].map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve();
    else c.once('close', () => { resolve(); });
  })));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Spawns the installed command under Node 18, as its launcher line runs it. */
function entrechat18(args: readonly string[], env: Record<string, string>): ChildProcessWithoutNullStreams {
  const child = spawn(NODE18, [...CLI_NODE_FLAGS, join(pkg, 'bin/entrechat.js'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('close', () => children.delete(child));
  return child;
}

/** Runs a command to its end: exit code and output. */
function run18(args: readonly string[], env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = entrechat18(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the bundle on Debian’s Node 18.20', { skip }, () => {
  test('it is Node 18.20, and every export the bundle imports from a built-in module exists there', async () => {
    const { stdout: version } = await exec(NODE18, ['-p', 'process.versions.node']);
    assert.match(version.trim(), /^18\.20\./);
    const text = await readFile(join(pkg, 'dist/entrechat.mjs'), 'utf8');
    const wanted: Record<string, string[]> = {};
    for (const m of text.matchAll(/^import\s*\{([^}]*)\}\s*from\s*"(node:[^"]+)"/gm)) {
      const names = (m[1] ?? '').split(',').map((p) => p.trim().split(/\s+as\s+/)[0]?.trim() ?? '').filter((n) => n !== '');
      (wanted[m[2] ?? ''] ??= []).push(...names);
    }
    assert.ok(Object.keys(wanted).length >= 5, 'the bundle imports built-in modules');
    // And the list the unit test scans for is right: none of it exists on Node 18.
    const probe = `const want = ${JSON.stringify(wanted)}; const gone = ${JSON.stringify(NODE18_MISSING_EXPORTS)};
      const out = { missing: [], present: [] };
      for (const [mod, names] of Object.entries(want)) { const m = require(mod); for (const n of names) if (!(n in m)) out.missing.push(mod + '.' + n); }
      for (const [mod, names] of Object.entries(gone)) { let m; try { m = require('node:' + mod); } catch { continue; } for (const n of names) if (n in m) out.present.push(mod + '.' + n); }
      console.log(JSON.stringify(out));`;
    const { stdout } = await exec(NODE18, ['-e', probe]);
    const out = JSON.parse(stdout) as { missing: string[]; present: string[] };
    assert.deepEqual(out.missing, [], 'imports Node 18 does not have');
    assert.deepEqual(out.present, [], 'test/helpers/node18.ts lists exports Node 18 has');
  });

  test('--help and doctor run', async () => {
    const home = await privateDir('home');
    const help = await run18(['--help'], { ENTRECHAT_HOME: home });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /entrechat demo/);
    const doctor = await run18(['doctor', '--json'], { ENTRECHAT_HOME: home });
    assert.match(doctor.stdout, /"tor"/, doctor.stdout + doctor.stderr);
  });

  test('ui: the page\'s server answers on 127.0.0.1 (secret for a cookie, then the WebSocket) under Node 18', { timeout: 60_000 }, async (t) => {
    if (!hasUiCommand((await run18(['--help'], {})).stdout)) {
      t.skip('this bundle has no ui command yet');
      return;
    }
    const home = await privateDir('ui-home');
    await probeUiServer((env) => entrechat18(['ui'], { ENTRECHAT_HOME: home, ...env }), await privateDir('assets'));
  });

  test('demo --script: the private Tor network, both peers and the whole scripted session; nothing left', { timeout: 240_000 }, async () => {
    const tmp = await privateDir('demo');
    const r = await run18(['demo', '--script'], { TMPDIR: tmp }, 200_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await assertDemoTranscript(r.stdout, tmp);
  });

  test('two passphrase-protected identities talk over the private Tor network; nothing left', { timeout: 240_000 }, async () => {
    const { clientTorrc } = await sharedTestnet();
    const secrets = await privateDir('secrets');
    const passFile = join(secrets, 'passphrase');
    await writeFile(passFile, 'correct horse battery staple node eighteen\n', { mode: 0o600 });
    const peers = await Promise.all(['alice', 'bob'].map(async (name) => {
      const home = await privateDir(`${name}-home`);
      const tmp = await privateDir(`${name}-tmp`);
      const init = await run18(['init', '--passphrase-file', passFile, '--json'], { ENTRECHAT_HOME: home });
      assert.equal(init.code, 0, init.stderr);
      return { name, home, tmp, code: (JSON.parse(init.stdout) as { code: string }).code };
    }));
    const [alice, bob] = peers as [typeof peers[0], typeof peers[0]];
    for (const [me, other] of [[alice, bob], [bob, alice]] as const) {
      const added = await run18(['contacts', 'add', other.name, other.code, '--passphrase-file', passFile], { ENTRECHAT_HOME: me.home });
      assert.equal(added.code, 0, added.stderr);
    }
    const talk = (me: typeof alice, other: typeof alice): TalkProcess => new TalkProcess(entrechat18(
      ['talk', other.name, '--tor-config', clientTorrc, '--window', '120', '--passphrase-file', passFile, '--json'],
      { ENTRECHAT_HOME: me.home, TMPDIR: me.tmp },
    ));
    const a = talk(alice, bob);
    const b = talk(bob, alice);
    const isActive = (e: JsonEvent): boolean => e.event === 'active';
    const [ea, eb] = await Promise.all([a.waitFor(isActive, 150_000), b.waitFor(isActive, 150_000)]);
    assert.equal(ea.session, eb.session, 'one session, the same on both sides');
    const secret = 'a line through Node 18 ✓ 𝄞';
    a.send(secret);
    b.send('and one back 👋');
    await b.waitFor((e) => e.event === 'message' && e.text === secret, 30_000);
    await a.waitFor((e) => e.event === 'message' && e.text === 'and one back 👋', 30_000);
    await a.waitFor((e) => e.event === 'delivered' && e.id === 1, 30_000);
    a.endInput();
    assert.equal(await a.exited, 0, a.stderr);
    assert.equal(await b.exited, 0, b.stderr);
    assert.equal((await a.waitFor((e) => e.event === 'closed')).reason, 'quit');
    assert.equal((await b.waitFor((e) => e.event === 'closed')).reason, 'peer_quit');
    for (const p of [alice, bob]) {
      assert.deepEqual([...(await snapshot(p.tmp)).keys()], [], `nothing is left in ${p.name}'s TMPDIR`);
      assert.deepEqual(await filesContaining(p.home, 'Node 18'), [], `the text is not in ${p.name}'s store`);
      assert.deepEqual(await processesMentioning(p.tmp), [], `no tor of ${p.name}'s runs on`);
    }
  });
});
