/**
 * A real browser for the page's tests: Debian's chromium-headless-shell driven by playwright-core
 * (which never downloads a browser), each run with a fresh profile folder removed afterwards, never
 * reaching outside loopback (no background networking, no updates, no sync, no QUIC).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.ENTRECHAT_CHROMIUM ?? '/usr/bin/chromium-headless-shell';

export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];

export interface Screen {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly mobile: boolean;
  readonly scale: number;
}

/** Pixel 7, a small 360 px phone, and a desktop window. */
export const SCREENS: readonly Screen[] = [
  { name: 'pixel7', width: 412, height: 915, mobile: true, scale: 2.625 },
  { name: 'small', width: 360, height: 740, mobile: true, scale: 2 },
  { name: 'desktop', width: 1280, height: 800, mobile: false, scale: 1 },
];

const MOBILE_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36';

export interface BrowserRun {
  readonly context: BrowserContext;
  readonly page: Page;
  /** The profile folder (removed by close, unless the caller gave it). */
  readonly profile: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  readonly locale?: string;
  /** Extra Chromium flags (e.g. a fake camera). */
  readonly args?: readonly string[];
  readonly permissions?: readonly string[];
  readonly colorScheme?: 'light' | 'dark';
  /** A profile folder of the caller's (made if missing): kept by close, for the caller to inspect and remove. */
  readonly profile?: string;
  /** The browser's environment (e.g. a TMPDIR of its own); the test process's by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A browser with its own profile folder, emulating `screen`. */
export async function openBrowser(screen: Screen, options: OpenOptions = {}): Promise<BrowserRun> {
  const own = options.profile === undefined;
  const profile = options.profile ?? await mkdtemp(join(tmpdir(), 'ec-browser-'));
  if (!own) await mkdir(profile, { recursive: true });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
      viewport: { width: screen.width, height: screen.height },
      deviceScaleFactor: screen.scale,
      isMobile: screen.mobile,
      hasTouch: screen.mobile,
      ...(screen.mobile ? { userAgent: MOBILE_UA } : {}),
      locale: options.locale ?? 'en-US',
      colorScheme: options.colorScheme ?? 'light',
      ...(options.permissions !== undefined ? { permissions: [...options.permissions] } : {}),
      ...(options.env !== undefined ? { env: { ...options.env } } : {}),
      timeout: 30_000,
    });
  } catch (e) {
    if (own) await rm(profile, { recursive: true, force: true });
    throw e;
  }
  const page = context.pages()[0] ?? await context.newPage();
  return {
    context, page, profile,
    close: async () => {
      try {
        await context.close();
      } finally {
        if (own) await rm(profile, { recursive: true, force: true });
      }
    },
  };
}
