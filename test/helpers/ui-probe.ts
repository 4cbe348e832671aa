/**
 * Starts `entrechat ui` through a caller's spawner and checks its server from outside: the printed
 * address trades its one-time secret for an HttpOnly cookie (303), and the WebSocket opened with that
 * cookie and our Origin pushes the state first. For the bundle on runtimes other than the
 * development one (test/e2e/node18.test.ts, test/integration/no-icu.test.ts). The page's files do not
 * matter here: a stand-in folder is named by ENTRECHAT_UI_ASSETS.
 */
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Whether a bundle's `--help` text lists the ui command (it came with the page's branch). */
export function hasUiCommand(helpText: string): boolean {
  return /entrechat ui\b/.test(helpText);
}

/**
 * Runs the probe. `spawnUi(env)` starts `entrechat ui` with `env` added (a fresh ENTRECHAT_HOME is the
 * caller's); `assets` is an empty private folder for the stand-in page. The process is ended (SIGTERM)
 * and awaited on every path.
 */
export async function probeUiServer(spawnUi: (env: Record<string, string>) => ChildProcessWithoutNullStreams, assets: string): Promise<void> {
  await writeFile(join(assets, 'index.html'), '<!doctype html><title>stand-in</title>');
  await writeFile(join(assets, 'app.js'), '');
  await writeFile(join(assets, 'app.css'), '');
  const ui = spawnUi({ ENTRECHAT_UI_ASSETS: assets });
  let out = '';
  ui.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  ui.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => ui.on('close', resolve));
  try {
    const deadline = Date.now() + 20_000;
    let url: string | undefined;
    while ((url = /http:\/\/127\.0\.0\.1:\d+\/\S+/.exec(out)?.[0]) === undefined) {
      if (Date.now() > deadline || ui.exitCode !== null) throw new Error(`no address printed: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const origin = new URL(url).origin;
    const signIn = await fetch(url, { redirect: 'manual' });
    assert.equal(signIn.status, 303);
    const setCookie = signIn.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/);
    const cookie = /^[^;]+/.exec(setCookie)?.[0] ?? '';
    const { WebSocket } = await import('ws');
    const first = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`${origin.replace('http:', 'ws:')}/ws`, { headers: { Cookie: cookie, Origin: origin } });
      ws.once('message', (m: Buffer) => { resolve(m.toString()); ws.close(); });
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => { reject(new Error(`WebSocket refused: ${String(res.statusCode)}`)); });
    });
    assert.match(first, /"push"\s*:\s*"state"/);
  } finally {
    if (ui.exitCode === null && ui.signalCode === null) ui.kill('SIGTERM');
  }
  await exited;
}
