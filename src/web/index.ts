/**
 * `entrechat ui`: the page served by this process on 127.0.0.1 (docs/web.md). The command line starts
 * it through {@link startUi} and prints its URL; `--open` hands that URL to the system's opener.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Route } from '../app/index.ts';
import type { SessionLimits } from './bridge.ts';
import { startUiServer } from './server.ts';

export { startUiServer, securityHeaders, type UiServer, type UiServerOptions } from './server.ts';
export { PAGE_BUSY_CLOSE, PAGE_BUSY_REASON } from './protocol.ts';

export interface UiOptions {
  readonly home: string;
  readonly route: Route;
  readonly limits?: SessionLimits;
  /** The page's folder; by default dist/web next to the bundle, or of the checkout. */
  readonly assets?: string;
  readonly idleExit?: number;
  readonly pageGrace?: number;
}

export interface UiHandle {
  /** The one-time URL (a secret): for the person only. */
  readonly url: string;
  /** Ends cleanly: the session as /quit, the identity locked, the server closed. */
  stop(): Promise<void>;
  /** Resolves with the exit code once the server is closed (Exit in the page, idle, or stop()). */
  readonly done: Promise<number>;
}

/** $ENTRECHAT_UI_ASSETS if set; else dist/web beside the bundle (dist/entrechat.mjs), else the checkout's (running from src/). */
export function defaultAssets(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.ENTRECHAT_UI_ASSETS;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const candidates = [fileURLToPath(new URL('./web/', import.meta.url)), fileURLToPath(new URL('../../dist/web/', import.meta.url))];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[candidates.length - 1] ?? 'dist/web';
}

/** @throws UsageError UI_ASSETS_MISSING */
export async function startUi(options: UiOptions): Promise<UiHandle> {
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => { resolveDone = resolve; });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= server.close().then(() => { resolveDone(0); });
    return stopping;
  };
  const server = await startUiServer({
    home: options.home,
    route: options.route,
    ...(options.limits !== undefined ? { limits: options.limits } : {}),
    ...(options.idleExit !== undefined ? { idleExit: options.idleExit } : {}),
    ...(options.pageGrace !== undefined ? { pageGrace: options.pageGrace } : {}),
    assets: options.assets ?? defaultAssets(),
    onExit: () => { void stop(); },
  });
  return { url: server.url, stop, done };
}

/** The first of these on PATH opens a URL in the browser: Linux desktops, Termux, macOS (on Debian `open` is openvt). */
const OPENERS = ['xdg-open', 'termux-open-url', ...(process.platform === 'darwin' ? ['open'] : [])];

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  return null;
}

/** Opens `url` with the system's opener (detached, no shell); false when there is none. */
export function openInBrowser(url: string): boolean {
  for (const name of OPENERS) {
    const path = onPath(name);
    if (path === null) continue;
    const child = spawn(path, [url], { detached: true, stdio: 'ignore', shell: false });
    child.on('error', () => undefined);
    child.unref();
    return true;
  }
  return false;
}
