/**
 * The bundle on a Node without ICU, as nodejs-mobile builds it (docs/mobile.md): with
 * {@link NO_ICU} preloaded (no Intl, no fatal TextDecoder, no normalization), the bundle
 * loads, makes identities and contacts with non-ASCII names, and two processes talk over loopback
 * with non-ASCII text both ways.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI_NODE_FLAGS, ESBUILD, bundleArgs } from '../../scripts/build.ts';
import { TalkProcess, freePort } from '../helpers/cli.ts';
import { hasUiCommand, probeUiServer } from '../helpers/ui-probe.ts';

const exec = promisify(execFile);
const NO_ICU_SOURCE = `// Preloaded (node --import) to make this Node behave as one built without ICU, as nodejs-mobile's
// Android and iOS builds are (docs/mobile.md): no Intl, no fatal TextDecoder (ERR_NO_ICU), and
// String.prototype.normalize returning its input (V8 without ICU does not normalize).
const Plain = globalThis.TextDecoder;
class TextDecoderWithoutIcu extends Plain {
  constructor(encoding, options) {
    if (options !== undefined && options !== null && options.fatal) {
      const e = new TypeError('"fatal" option is not supported on Node.js compiled without ICU');
      e.code = 'ERR_NO_ICU';
      throw e;
    }
    super(encoding, options);
  }
}
globalThis.TextDecoder = TextDecoderWithoutIcu;
delete globalThis.Intl;
String.prototype.normalize = function normalize() { return String(this); };
`;
/** A module for `node --import`: the preload above, as a data: URL. */
const NO_ICU = `data:text/javascript,${encodeURIComponent(NO_ICU_SOURCE)}`;
const dirs: string[] = [];
const talks: TalkProcess[] = [];
after(async () => {
  for (const t of talks) if (t.child.exitCode === null && t.child.signalCode === null) t.child.kill('SIGKILL');
  await Promise.all(talks.map((t) => t.exited));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function dir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `entrechat-no-icu-${prefix}-`));
  dirs.push(d);
  return d;
}

const built = (async () => {
  const out = join(await dir('bundle'), 'entrechat.mjs');
  await exec(ESBUILD, bundleArgs(out));
  return out;
})();

function nodeArgs(bundle: string, args: readonly string[]): string[] {
  return [...CLI_NODE_FLAGS, '--import', NO_ICU, bundle, ...args];
}

async function run(home: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, nodeArgs(await built, args), { env: { ...process.env, ENTRECHAT_HOME: home }, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const f = e as { code?: number; stdout?: string; stderr?: string };
    return { code: f.code ?? -1, stdout: f.stdout ?? '', stderr: f.stderr ?? '' };
  }
}

test('the simulation bites: no Intl, and a fatal TextDecoder throws ERR_NO_ICU', async () => {
  const probe = "let code = 'none'; try { new TextDecoder('utf-8', { fatal: true }); } catch (e) { code = e.code; } console.log(typeof Intl, code, 'e\\u0301'.normalize('NFC').length);";
  const { stdout } = await exec(process.execPath, ['--import', NO_ICU, '-e', probe]);
  assert.equal(stdout.trim(), 'undefined ERR_NO_ICU 2');
});

test('without ICU the bundle loads, stores non-ASCII names, and two peers talk over loopback', { timeout: 120_000 }, async () => {
  const help = await run(await dir('help'), ['--help']);
  assert.equal(help.code, 0, help.stderr);
  const [alice, bob] = [await dir('alice'), await dir('bob')];
  const codes: string[] = [];
  for (const home of [alice, bob]) {
    const init = await run(home, ['init', '--no-passphrase', '--json']);
    assert.equal(init.code, 0, init.stderr);
    codes.push((JSON.parse(init.stdout) as { code: string }).code);
  }
  const [aliceName, bobName] = ['Zoë 👩‍💻', 'Bénédicte'];
  assert.equal((await run(alice, ['contacts', 'add', bobName, codes[1] ?? ''])).code, 0);
  assert.equal((await run(bob, ['contacts', 'add', aliceName, codes[0] ?? ''])).code, 0);
  const listed = await run(alice, ['contacts', 'list', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /Bénédicte/);

  const [pa, pb] = [await freePort(), await freePort()];
  const bundle = await built;
  const talk = (home: string, peer: string, listen: number, dial: number): TalkProcess => {
    const t = new TalkProcess(spawn(process.execPath, nodeArgs(bundle, ['talk', peer, '--loopback-listen', `${listen}`, '--loopback-peer', `${dial}`, '--window', '30', '--json']), {
      env: { ...process.env, ENTRECHAT_HOME: home },
      stdio: ['pipe', 'pipe', 'pipe'],
    }));
    talks.push(t);
    return t;
  };
  const a = talk(alice, bobName, pa, pb);
  const b = talk(bob, aliceName, pb, pa);
  await Promise.all([a.waitFor((e) => e.event === 'active', 60_000), b.waitFor((e) => e.event === 'active', 60_000)]);
  a.send('héllo 🙂 — ça va ?');
  b.send('très bien ✓ 𝄞');
  await b.waitFor((e) => e.event === 'message' && e.text === 'héllo 🙂 — ça va ?');
  await a.waitFor((e) => e.event === 'message' && e.text === 'très bien ✓ 𝄞');
  a.endInput();
  assert.equal(await a.exited, 0, a.stderr);
  assert.equal(await b.exited, 0, b.stderr);
});

test('without ICU, ui\'s server answers (secret for a cookie, then the WebSocket)', { timeout: 60_000 }, async (t) => {
  const help = await run(await dir('ui-help'), ['--help']);
  if (!hasUiCommand(help.stdout)) {
    t.skip('this bundle has no ui command yet');
    return;
  }
  const [home, assets, bundle] = [await dir('ui-home'), await dir('ui-assets'), await built];
  await probeUiServer((env) => spawn(process.execPath, nodeArgs(bundle, ['ui']), {
    env: { ...process.env, ENTRECHAT_HOME: home, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  }), assets);
});
