/**
 * What the bundle loads at start. Under the launcher's V8 flag (scripts/build.ts CLI_NODE_FLAGS) node
 * compiles each built-in module it loads afresh, and making an Intl.Segmenter takes about 10 ms, so
 * `entrechat --help` must load neither node:http (nor ws's zlib and tls) nor make a segmenter; `ui`
 * loads node:http when it starts, and a contact's name makes a segmenter on first use (these two show
 * the probe sees what it looks for). The probe is a module preloaded with `--import` that writes, at
 * exit, the built-ins loaded and the segmenters made.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI_NODE_FLAGS, ESBUILD, bundleArgs } from '../../scripts/build.ts';

const exec = promisify(execFile);
const PROBE_SOURCE = `import { writeFileSync } from 'node:fs';
const Plain = Intl.Segmenter;
let made = 0;
Intl.Segmenter = class extends Plain { constructor(...args) { super(...args); made += 1; } };
process.on('exit', () => {
  const loaded = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13));
  writeFileSync(process.env.STARTUP_REPORT, JSON.stringify({ loaded, segmenters: made }));
});
`;
const PROBE = `data:text/javascript,${encodeURIComponent(PROBE_SOURCE)}`;
const dirs: string[] = [];
after(async () => { await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))); });

async function dir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `entrechat-startup-${prefix}-`));
  dirs.push(d);
  return d;
}

const built = (async () => {
  const out = join(await dir('bundle'), 'entrechat.mjs');
  await exec(ESBUILD, bundleArgs(out));
  return out;
})();

interface Report { readonly loaded: readonly string[]; readonly segmenters: number }

/** Runs the bundle with the probe; the report it wrote at exit, and the command's output. */
async function probed(home: string, args: readonly string[]): Promise<Report & { stdout: string }> {
  const report = join(home, 'report.json');
  const r = await exec(process.execPath, [...CLI_NODE_FLAGS, '--import', PROBE, await built, ...args], {
    env: { ...process.env, ENTRECHAT_HOME: join(home, 'home'), STARTUP_REPORT: report },
    timeout: 60_000,
  });
  return { ...JSON.parse(await readFile(report, 'utf8')) as Report, stdout: r.stdout };
}

const NOT_AT_START = ['http', 'https', 'zlib', 'tls'];

test('--help loads no node:http, zlib or tls, and makes no segmenter', async () => {
  const r = await probed(await dir('help'), ['--help']);
  assert.match(r.stdout, /entrechat/);
  assert.ok(r.loaded.includes('net'), 'the probe sees the built-ins loaded');
  assert.deepEqual(NOT_AT_START.filter((m) => r.loaded.includes(m)), []);
  assert.equal(r.segmenters, 0);
});

test('a contact\'s name makes one segmenter, on first use', async () => {
  const [a, b] = [await dir('a'), await dir('b')];
  const code = (JSON.parse((await probed(a, ['init', '--no-passphrase', '--json'])).stdout) as { code: string }).code;
  assert.equal((await probed(b, ['init', '--no-passphrase', '--json'])).segmenters, 0);
  const added = await probed(b, ['contacts', 'add', 'Zoë 👩‍💻', code]);
  assert.equal(added.segmenters, 1);
});

test('ui loads node:http once it starts', { timeout: 60_000 }, async () => {
  const d = await dir('ui');
  const report = join(d, 'report.json');
  // A stand-in page: its files do not matter here.
  const assets = join(d, 'page');
  await mkdir(assets, { mode: 0o700 });
  for (const f of ['index.html', 'app.js', 'app.css']) await writeFile(join(assets, f), '');
  const ui = spawn(process.execPath, [...CLI_NODE_FLAGS, '--import', PROBE, await built, 'ui'], {
    env: { ...process.env, ENTRECHAT_HOME: join(d, 'home'), ENTRECHAT_UI_ASSETS: assets, STARTUP_REPORT: report },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => ui.on('close', resolve));
  try {
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no address printed: ${out}`)); }, 30_000);
      const seen = (chunk: Buffer): void => {
        out += chunk.toString();
        if (/http:\/\/127\.0\.0\.1:\d+\//.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      ui.stdout.on('data', seen);
      ui.stderr.on('data', seen);
      ui.on('close', () => { clearTimeout(timer); reject(new Error(`ui ended: ${out}`)); });
    });
  } finally {
    ui.kill('SIGTERM');
    await exited;
  }
  const r = JSON.parse(await readFile(report, 'utf8')) as Report;
  assert.ok(r.loaded.includes('http'));
});
