/**
 * The bundle runs on Node 18.20 (nodejs-mobile's runtime): built as `npm run build` builds it, it uses
 * no API Node 18.20 lacks (test/helpers/node18.ts), and the scanner does find each kind of such use.
 * test/e2e/node18.test.ts runs the bundle on Debian's real Node 18.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ESBUILD, bundleArgs } from '../../scripts/build.ts';
import { node18Problems } from '../helpers/node18.ts';

const exec = promisify(execFile);
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('the bundle is built for Node 18', () => {
  assert.ok(bundleArgs('/x.mjs').includes('--target=node18'), bundleArgs('/x.mjs').join(' '));
});

test('the bundle uses no API that Node 18.20 lacks', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'entrechat-node18-bundle-'));
  dirs.push(dir);
  const out = join(dir, 'entrechat.mjs');
  await exec(ESBUILD, bundleArgs(out));
  const text = await readFile(out, 'utf8');
  assert.ok(text.length > 100_000, 'a whole bundle was built');
  const problems = node18Problems(text);
  assert.deepEqual(problems, [], problems.map((p) => `line ${p.line}: ${p.what}: ${p.text}`).join('\n'));
});

const uses: readonly [string, string][] = [
  ['import { createHash, hash as hashOnce } from "node:crypto";', 'crypto.hash'],
  ['import { openAsBlob } from "node:fs";', 'fs.openAsBlob'],
  ['import { styleText, inspect } from "util";', 'util.styleText'],
  ['import * as c from "node:crypto";\nconst d = c.hash("sha256", x);', 'crypto.hash'],
  ['import zlib from "node:zlib";\nzlib.crc32(b);', 'zlib.crc32'],
  ['import { run } from "node:test";', 'node:test'],
  ['const here = import.meta.dirname;', 'import.meta.dirname'],
  ['const fs = process.getBuiltinModule("fs");', 'process.getBuiltinModule'],
  ['const { promise, resolve } = Promise.withResolvers();', 'Promise.withResolvers'],
  ['if (s.isWellFormed()) f();', 'isWellFormed'],
  ['const sorted = list.toSorted();', 'toSorted'],
  ['const id = crypto.randomUUID();', 'global crypto'],
  ['const u = URL.parse(s);', 'URL.parse'],
  ['parseArgs({ args, options, allowNegative: true });', 'allowNegative'],
  ['var d = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });', 'a fatal TextDecoder'],
];

for (const [code, name] of uses) {
  test(`the scanner finds ${name}`, () => {
    const problems = node18Problems(`// bundle\n${code}\n`);
    assert.ok(problems.length >= 1, `nothing found in: ${code}`);
    assert.ok(problems.every((p) => p.line >= 2), 'lines are counted');
  });
}

test('the scanner lets feature detection and look-alikes be', () => {
  const text = [
    'import nodeCrypto, { createHash } from "node:crypto";',
    'import { randomUUID as crypto_uuid } from "node:crypto";',
    'const oneShot = nodeCrypto.hash;',
    'const h = typeof oneShot === "function" ? oneShot("sha256", d, "buffer") : createHash("sha256").update(d).digest();',
    'const last = list.findLast((x) => x > 1);',
    'const signal = AbortSignal.any([a, b]);',
    'const dir = fileURLToPath(new URL(".", import.meta.url));',
    'obj.sorted = other.toSortedList;',
  ].join('\n');
  assert.deepEqual(node18Problems(text), []);
  assert.deepEqual(node18Problems('import * as crypto from "node:crypto";\nconst id = crypto.randomUUID();'), [], 'a crypto of its own');
});
