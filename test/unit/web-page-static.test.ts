/**
 * What the page must never contain, checked in its files: index.html with no inline script or style
 * (the CSP allows none) and a fixed title; a bundle that never parses HTML, never touches the
 * browser's storage, cookies, history or service workers; page sources importing only what they may.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildPage, PAGE_FILES } from '../../scripts/build.ts';

const PAGE = join(import.meta.dirname, '../../src/web/page');

test('index.html loads only /app.js and /app.css, with no inline script or style, a fixed title, no referrer, a viewport that resizes for the keyboard', () => {
  const html = readFileSync(join(PAGE, 'index.html'), 'utf8');
  assert.deepEqual([...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].map((m) => [m[0].match(/src="([^"]*)"/)?.[1], m[1]]), [['/app.js', '']]);
  assert.deepEqual([...html.matchAll(/\b(?:href|src)="([^"]*)"/g)].map((m) => m[1]), ['/app.css', '/app.js']);
  assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=|javascript:/i);
  assert.match(html, /<title>Entrechat<\/title>/);
  assert.match(html, /<meta name="referrer" content="no-referrer">/);
  assert.match(html, /<meta name="viewport" content="[^"]*width=device-width[^"]*interactive-widget=resizes-content/);
});

test('the bundle never parses HTML, evaluates strings, or uses the browser\'s storage, cookies, history or service workers; it fits the 100 KB budget', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec-page-static-'));
  try {
    buildPage(dir);
    const js = readFileSync(join(dir, 'app.js'), 'utf8');
    const forbidden = /innerHTML|outerHTML|insertAdjacentHTML|DOMParser|createContextualFragment|document\.write|\beval\(|new Function|localStorage|sessionStorage|indexedDB|document\.cookie|serviceWorker|caches\.|pushState|replaceState|document\.title|location\.hash/g;
    assert.deepEqual(js.match(forbidden), null);
    const gz = PAGE_FILES.reduce((n, f) => n + gzipSync(readFileSync(join(dir, f)), { level: 9 }).length, 0);
    assert.ok(gz <= 100_000, `${String(gz)} bytes gzipped`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the page imports only its own modules, the protocol\'s types, the error words and its two libraries', () => {
  const allowed = /^(\.\/[a-z0-9-]+\.ts|\.\.\/protocol\.ts|\.\.\/\.\.\/app\/error-words(-fr)?\.ts|uqr|jsqr)$/;
  for (const file of readdirSync(PAGE).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(PAGE, file), 'utf8');
    for (const m of source.matchAll(/^import\b[^'"]*['"]([^'"]+)['"]/gm)) assert.match(m[1]!, allowed, `${file} imports ${m[1]!}`);
  }
  for (const file of ['error-words.ts', 'error-words-fr.ts']) {
    const source = readFileSync(join(import.meta.dirname, '../../src/app', file), 'utf8');
    assert.deepEqual([...source.matchAll(/^import (?!type\b).*$/gm)].map((m) => m[0]), [], `${file}: type-only imports (the page bundles it)`);
  }
});
