/**
 * A full disk while the store is written, through the real command line: `init`, `contacts add` and
 * `passphrase` fail with STORE_DISK_FULL (exit 3), the old store is byte-identical (or, for `init`, there
 * is none) and no temp file is left. Then, with room again, the same command succeeds: the failure was
 * the missing room, and the store is still writable.
 *
 * Two ways to run out of room, both real:
 * - RLIMIT_FSIZE in the child (`prlimit --fsize=N`): a write past N bytes fails with EFBIG (Node ignores
 *   SIGXFSZ). Needs no root; the temp file is really written part-way first.
 * - a 64 KiB tmpfs filled to the last page: ENOSPC. Needs root (CI runs as root); skipped otherwise.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeContactCode } from '../../src/core/codes.ts';
import { x25519FromSecret } from '../../src/core/x25519.ts';
import { ENTRY, Fixture, run, type RunResult } from '../helpers/cli.ts';
import { snapshot } from '../helpers/procs.ts';

const fx = new Fixture();
after(async () => { await fx.cleanup(); });

const codeOf = (stderr: string): string | undefined => /\[([A-Z_]+)\]/.exec(stderr)?.[1];

/** Bytes a child may write to any one file: well under the smallest store, over zero so a temp is written part-way. */
const FSIZE_LIMIT = 100;
/** The tmpfs: a few pages, enough for a store and its temp file when there is room. */
const TMPFS_SIZE = '64k';

const hasPrlimit = spawnSync('prlimit', ['--version'], { stdio: 'ignore' }).status === 0;

/** Runs the command line with RLIMIT_FSIZE set to `limit` bytes. */
function runLimited(home: string, args: string[], limit: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('prlimit', [`--fsize=${limit}`, process.execPath, '--import', 'tsx', ENTRY, ...args], {
      env: { ...process.env, ENTRECHAT_HOME: home, TSX_DISABLE_CACHE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => { resolve({ code, stdout, stderr }); });
  });
}

/** A disk-full failure: STORE_DISK_FULL, exit 3 (a store error), the folder exactly as before. */
async function assertFullAndUnchanged(r: RunResult, home: string, before: Map<string, Buffer>): Promise<void> {
  assert.equal(codeOf(r.stderr), 'STORE_DISK_FULL', r.stderr);
  assert.equal(r.code, 3);
  assert.deepEqual(await snapshot(home), before, 'the store folder is byte-identical: old store intact, no temp file');
}

/** A passphrase file outside the store folder (it is only read). */
async function passFile(text: string): Promise<string> {
  const path = join(await fx.home(), 'pass');
  await writeFile(path, `${text}\n`, { mode: 0o600 });
  return path;
}

/**
 * The three writing commands against one way of running out of room: `limited` runs a command without
 * room in `home`, `takeRoom` / `makeRoom` take the room away and give it back. Each command fails
 * first, leaving the folder as it was; then, with room, it succeeds (which it could not had the failed
 * one changed anything: a second `init` or the same contact added twice are refused).
 */
async function threeCommands(
  home: string,
  limited: (args: string[]) => Promise<RunResult>,
  makeRoom: () => Promise<void>,
  takeRoom: () => Promise<void>,
): Promise<void> {
  const newPass = await passFile('the new passphrase');
  const bob = encodeContactCode(x25519FromSecret(randomBytes(32)).publicKey);

  // init: no store before, none after, nothing else either.
  await takeRoom();
  await assertFullAndUnchanged(await limited(['init', '--no-passphrase']), home, await snapshot(home));
  await makeRoom();
  const init = await run(home, ['init', '--no-passphrase', '--json']);
  assert.equal(init.code, 0, init.stderr);
  const code = (JSON.parse(init.stdout) as { code: string }).code;

  // contacts add: the store before it, byte for byte.
  await takeRoom();
  const withoutBob = await snapshot(home);
  assert.equal(withoutBob.size, 1, 'one file: the store');
  await assertFullAndUnchanged(await limited(['contacts', 'add', 'bob', bob]), home, withoutBob);
  await makeRoom();
  const added = await run(home, ['contacts', 'add', 'bob', bob]);
  assert.equal(added.code, 0, `bob was not added by the failed command: ${added.stderr}`);

  // passphrase (none → one): the unprotected store, byte for byte; the change works once there is room.
  await takeRoom();
  await assertFullAndUnchanged(await limited(['passphrase', '--new-passphrase-file', newPass]), home, await snapshot(home));
  await makeRoom();
  assert.equal((await run(home, ['passphrase', '--new-passphrase-file', newPass])).code, 0);
  const who = await run(home, ['contacts', 'list', '--json', '--passphrase-file', newPass]);
  assert.equal(who.code, 0, who.stderr);
  assert.match(who.stdout, /bob/);
  assert.equal((await run(home, ['whoami', '--passphrase-file', newPass])).stdout.trim(), code);
}

describe('disk full while writing the store', { concurrency: true }, () => {
  test('RLIMIT_FSIZE (EFBIG): init, contacts add, passphrase fail with STORE_DISK_FULL; the old store is intact, no temp left', { skip: !hasPrlimit && 'prlimit (util-linux) is not installed' }, async () => {
    const home = await fx.home();
    await threeCommands(home, (args) => runLimited(home, args, FSIZE_LIMIT), () => Promise.resolve(), () => Promise.resolve());
  });

  test('a full tmpfs (ENOSPC): the same three commands, the same outcome', { skip: process.getuid?.() !== 0 && 'mounting a tmpfs needs root' }, async (t) => {
    const mount = await mkdtemp(join(tmpdir(), 'entrechat-tmpfs-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', mount], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      await rm(mount, { recursive: true, force: true });
      t.skip(`cannot mount a tmpfs here: ${mounted.stderr.trim()}`);
      return;
    }
    try {
      const home = join(mount, 'home');
      await mkdir(home, { mode: 0o700 });
      const filler = join(mount, 'filler');
      // Fills every free page of the tmpfs, then writes on until the system says ENOSPC.
      const takeRoom = async (): Promise<void> => {
        const fh = await open(filler, 'a');
        try {
          const chunk = Buffer.alloc(1024);
          for (;;) {
            try {
              await fh.write(chunk);
            } catch (e) {
              if ((e as { code?: string }).code === 'ENOSPC') break;
              throw e;
            }
          }
        } finally {
          await fh.close();
        }
      };
      const makeRoom = (): Promise<void> => rm(filler, { force: true });
      await threeCommands(home, (args) => run(home, args), makeRoom, takeRoom);
    } finally {
      spawnSync('umount', [mount]);
      await rm(mount, { recursive: true, force: true });
    }
  });
});
