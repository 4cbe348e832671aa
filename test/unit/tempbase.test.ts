/** Issue 9 §6: tor's temp folder goes to a memory-backed folder when one is usable (tor/tempbase.ts). */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseTempBase, onMemoryFs } from '../../src/tor/tempbase.ts';

const shmIsTmpfs = await onMemoryFs('/dev/shm');
const diskTmp = !(await onMemoryFs(tmpdir()));
const made: string[] = [];
after(async () => { await Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))); });

async function dirIn(base: string, mode: number): Promise<string> {
  const d = await mkdtemp(join(base, 'entrechat-tempbase-'));
  made.push(d);
  await chmod(d, mode);
  return d;
}

test('an explicit TMPDIR is followed, and said whether it is memory', async () => {
  const d = await dirIn(tmpdir(), 0o700);
  const base = await chooseTempBase({ TMPDIR: d });
  assert.deepEqual(base, { path: d, memory: await onMemoryFs(d), source: 'TMPDIR' });
});

test('XDG_RUNTIME_DIR on tmpfs, ours, 0700: chosen, in memory', { skip: !shmIsTmpfs }, async () => {
  const runtime = await dirIn('/dev/shm', 0o700);
  assert.deepEqual(await chooseTempBase({ XDG_RUNTIME_DIR: runtime }), { path: runtime, memory: true, source: 'XDG_RUNTIME_DIR' });
});

test('XDG_RUNTIME_DIR open to others, a link, relative, or on a disk: not chosen', { skip: !shmIsTmpfs || process.platform !== 'linux' }, async () => {
  const open = await dirIn('/dev/shm', 0o755);
  const good = await dirIn('/dev/shm', 0o700);
  const link = join(await dirIn('/dev/shm', 0o700), 'link');
  await symlink(good, link);
  const candidates = [open, link, 'relative/dir', join(good, 'missing')];
  if (diskTmp) candidates.push(await dirIn(tmpdir(), 0o700));
  for (const runtime of candidates) {
    const base = await chooseTempBase({ XDG_RUNTIME_DIR: runtime });
    assert.notEqual(base.path, runtime, runtime);
    assert.equal(base.source, '/dev/shm', runtime);
    assert.equal(base.memory, true);
  }
});

test('nothing set: /dev/shm when it is a tmpfs, else the OS temp folder', async () => {
  const base = await chooseTempBase({});
  if (shmIsTmpfs) assert.deepEqual(base, { path: '/dev/shm', memory: true, source: '/dev/shm' });
  else assert.deepEqual(base, { path: tmpdir(), memory: await onMemoryFs(tmpdir()), source: 'tmpdir' });
});

test('onMemoryFs: a disk folder is not memory; a missing path is not memory', async () => {
  assert.equal(await onMemoryFs(join(tmpdir(), 'no-such-entrechat-path')), false);
  if (process.platform === 'linux') assert.equal(await onMemoryFs('/proc/self'), false, 'procfs is not tmpfs');
});
