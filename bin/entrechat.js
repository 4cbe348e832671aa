#!/usr/bin/env -S node --max-semi-space-size=1
// The `entrechat` command. It runs the bundle `npm run build` makes (dist/entrechat.mjs, built by
// `npm ci` / `npm install` through the `prepare` script) when that bundle is at least as new as every
// source file; otherwise, in a checkout being edited, the TypeScript sources through tsx. tsx's
// compile cache would be a file left in the temp folder after every run: Entrechat leaves nothing
// behind, so it is off. The node option on the first line keeps a session's memory flat (see
// scripts/build.ts).
import { readdirSync, statSync } from 'node:fs';

const bundle = new URL('../dist/entrechat.mjs', import.meta.url);

/** The newest modification time of the files under `dir`, recursively. */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

function bundleIsFresh() {
  try {
    return statSync(bundle).mtimeMs >= newest(new URL('../src/', import.meta.url));
  } catch {
    return false;
  }
}

if (bundleIsFresh()) {
  await import(bundle.href);
} else {
  process.env.TSX_DISABLE_CACHE = '1';
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/entrechat.ts');
}
