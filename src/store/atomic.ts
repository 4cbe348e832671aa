/**
 * File-system side of the store: private folder and file checks, and the atomic write.
 *
 * Atomic write (the classic POSIX recipe): a temp file with a random name in the same folder, created
 * O_EXCL with mode 0600, written, fsynced and closed; then renamed over the target (or hard-linked to it,
 * which fails if the target exists, when the target must not be replaced); then the folder is fsynced so
 * the new name survives a power loss. A reader sees the old file or the new one, never a mix.
 */
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { chmod, link, lstat, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '../core/errors.ts';

/** Folder and file modes: only the owner may read, write or list. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
/** Mode bits that give the group or others any access. */
const NOT_PRIVATE = 0o077;

const POSIX = process.platform !== 'win32';
/* O_NOFOLLOW: a symlink in place of the store is refused, never followed (0 where the OS lacks it). */
const O_NOFOLLOW = 'O_NOFOLLOW' in constants ? constants.O_NOFOLLOW : 0;
/*
 * O_NONBLOCK: opening a FIFO for reading blocks until a writer comes (forever, if an attacker put one in
 * place of the store); with it the open returns at once and the regular-file check below refuses it.
 * It has no effect on a regular file.
 */
const O_NONBLOCK = 'O_NONBLOCK' in constants ? constants.O_NONBLOCK : 0;

/** The Node error code of a file-system failure, if any. */
export function errnoCode(e: unknown): string | undefined {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

/**
 * What the system says when a write finds no room: the file system is full (ENOSPC), the user's quota is
 * used up (EDQUOT), or the process's file-size limit (RLIMIT_FSIZE, `ulimit -f`) is reached (EFBIG).
 */
const NO_ROOM: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** A typed store error for a file-system failure: STORE_DISK_FULL when there is no room, else STORE_IO. */
export function ioError(what: string, cause: unknown): StoreError {
  const code = errnoCode(cause);
  if (code !== undefined && NO_ROOM.has(code)) {
    return new StoreError('STORE_DISK_FULL', `${what}: no room left on the disk (${code}); the store is unchanged`, { cause });
  }
  return new StoreError('STORE_IO', `${what}: ${code ?? 'failed'}`, { cause });
}

/**
 * Refuses a folder or file that the group or others may access, or that another user owns. Modes and
 * owners are not checked on Windows, where they do not describe access.
 * @throws StoreError STORE_BAD_PERMISSIONS
 */
export function assertPrivate(st: Stats, what: string): void {
  if (!POSIX) return;
  if ((st.mode & NOT_PRIVATE) !== 0) {
    throw new StoreError('STORE_BAD_PERMISSIONS',
      `the ${what} is accessible to other users (mode ${(st.mode & 0o777).toString(8)}); it must be ${what === 'folder' ? '700' : '600'}`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new StoreError('STORE_BAD_PERMISSIONS', `the ${what} belongs to another user`);
}

/**
 * Checks an existing home folder: a folder (a symlink to one is fine), private, ours.
 * @returns false when it does not exist
 * @throws StoreError STORE_BAD_PERMISSIONS, STORE_IO
 */
export async function checkHome(dir: string): Promise<boolean> {
  let st: Stats;
  try {
    st = await stat(dir);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return false;
    throw ioError('cannot read the store folder', e);
  }
  if (!st.isDirectory()) throw new StoreError('STORE_IO', 'the store folder is not a folder');
  assertPrivate(st, 'folder');
  return true;
}

/**
 * Makes sure the home folder exists and is private: creates it 0700 (parents included) when missing,
 * refuses an existing one that is not private (it is never chmod-ed: it may be a folder the user shares).
 * @throws StoreError STORE_BAD_PERMISSIONS, STORE_IO
 */
export async function ensureHome(dir: string): Promise<void> {
  if (await checkHome(dir)) return;
  try {
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    // mkdir's mode passes through the umask; a restrictive umask must not leave us an unusable folder.
    if (POSIX) await chmod(dir, PRIVATE_DIR_MODE);
  } catch (e) {
    throw ioError('cannot create the store folder', e);
  }
  await checkHome(dir);
}

/**
 * Reads a private regular file: no symlink (O_NOFOLLOW), not a FIFO or device (opened non-blocking, then
 * checked on the open handle, so nothing can be swapped in between), mode without group/other bits,
 * owned by us, at most `maxSize` bytes (checked before reading). Never writes.
 * @returns null when the file does not exist
 * @throws StoreError STORE_BAD_PERMISSIONS, STORE_CORRUPT (over maxSize), STORE_IO
 */
export async function readPrivateFile(path: string, maxSize: number): Promise<Uint8Array | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new StoreError('STORE_BAD_PERMISSIONS', 'the store is a symbolic link', { cause: e });
    throw ioError('cannot open the store', e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new StoreError('STORE_BAD_PERMISSIONS', 'the store is not a regular file');
    assertPrivate(st, 'file');
    if (st.size > maxSize) throw new StoreError('STORE_CORRUPT', 'the store file is larger than any store can be');
    const out = new Uint8Array(st.size);
    let at = 0;
    while (at < out.length) {
      const { bytesRead } = await fh.read(out, at, out.length - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    // A file that shrank while we read it yields a short buffer: the format check reports it truncated.
    return at === out.length ? out : out.subarray(0, at);
  } catch (e) {
    if (e instanceof StoreError) throw e;
    throw ioError('cannot read the store', e);
  } finally {
    await fh.close();
  }
}

/** Whether anything (file, link, folder) exists at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw ioError('cannot look for the store', e);
  }
}

const TEMP_INFIX = '.tmp-';
const TEMP_SUFFIX = /^[0-9a-f]{16}$/;

function tempName(name: string): string {
  return `${name}${TEMP_INFIX}${randomBytes(8).toString('hex')}`;
}

async function fsyncDir(dir: string): Promise<void> {
  // Windows cannot open a folder for fsync; NTFS journals the rename itself.
  if (!POSIX) return;
  const fh = await open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes `bytes` to `dir/name` atomically with mode 0600. With `replace: false` an existing target is
 * never replaced (hard link, which fails atomically if the name exists).
 * @throws StoreError STORE_EXISTS (replace: false and the target exists), STORE_DISK_FULL (no room: the
 *   target is untouched and the temp file removed), STORE_IO
 */
export async function writeFileAtomic(dir: string, name: string, bytes: Uint8Array, replace: boolean): Promise<void> {
  const target = join(dir, name);
  const temp = join(dir, tempName(name));
  let created = false;
  try {
    const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, PRIVATE_FILE_MODE);
    created = true;
    try {
      // The create mode passed through the umask: set it exactly.
      if (POSIX) await fh.chmod(PRIVATE_FILE_MODE);
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (replace) {
      await rename(temp, target);
      created = false;
    } else {
      try {
        await link(temp, target);
      } catch (e) {
        if (errnoCode(e) === 'EEXIST') throw new StoreError('STORE_EXISTS', 'a store already exists here', { cause: e });
        throw e;
      }
      await unlink(temp);
      created = false;
    }
    await fsyncDir(dir);
  } catch (e) {
    if (created) {
      // The first failure is the one to report; a temp left behind is removed by a later save.
      await unlink(temp).catch(() => undefined);
    }
    if (e instanceof StoreError) throw e;
    throw ioError('cannot write the store', e);
  }
}

/**
 * Removes temp files of `name` older than `staleAfter` ms (writers killed mid-write). Younger ones may
 * belong to a writer still at work. Best effort: a failure here never fails the save that called it.
 * @returns how many were removed
 */
export async function removeStaleTemps(dir: string, name: string, now: number, staleAfter: number): Promise<number> {
  let removed = 0;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return 0; // the save succeeded; an unreadable folder listing only delays the cleanup
  }
  const prefix = `${name}${TEMP_INFIX}`;
  for (const entry of entries) {
    if (!entry.startsWith(prefix) || !TEMP_SUFFIX.test(entry.slice(prefix.length))) continue;
    try {
      const path = join(dir, entry);
      const st = await lstat(path);
      if (st.isFile() && now - st.mtimeMs > staleAfter) {
        await unlink(path);
        removed++;
      }
    } catch {
      continue; // gone already or not ours to remove: the next save tries again
    }
  }
  return removed;
}
