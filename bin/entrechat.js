#!/usr/bin/env -S node --max-semi-space-size=1
// The `entrechat` command. It runs the bundle `npm run build` makes (dist/entrechat.mjs, built by
// `npm ci` / `npm install` through the `prepare` script) when that bundle is at least as new as every
// source file; otherwise, in a checkout being edited, the TypeScript sources through tsx. tsx's
// compile cache would be a file left in the temp folder after every run: Entrechat leaves nothing
// behind, so it is off. The node option on the first line keeps a session's memory flat (see
// scripts/build.ts).
import { readdirSync, statSync } from 'node:fs';

const bundle = new URL('../dist/entrechat.mjs', import.meta.url);

/** The newest modification time of the files under `dir`, recursively (entries that vanish or dangle are skipped). */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
    try {
      latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
    } catch {
      // an editor's lock link, a file removed meanwhile
    }
  }
  return latest;
}

/** Whether the sources (or what the bundle is built with) changed after the bundle was made. */
function bundleIsFresh() {
  try {
    const built = statSync(bundle).mtimeMs;
    const inputs = ['../scripts/build.ts', '../package-lock.json'].map((f) => {
      try {
        return statSync(new URL(f, import.meta.url)).mtimeMs;
      } catch {
        return 0;
      }
    });
    return built >= Math.max(newest(new URL('../src/', import.meta.url)), ...inputs);
  } catch {
    return false;
  }
}

/** A checkout being edited has tsx (a development dependency); an installed package may not. */
async function tsxRegister() {
  try {
    return (await import('tsx/esm/api')).register;
  } catch {
    return null;
  }
}

const register = bundleIsFresh() ? null : await tsxRegister();
if (register === null) {
  await import(bundle.href);
} else {
  process.env.TSX_DISABLE_CACHE = '1';
  register();
  await import('../src/cli/entrechat.ts');
}
