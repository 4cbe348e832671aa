/**
 * Where a spawned tor's temp folder (its DataDirectory for the session, control-port file, cookie,
 * sockets) is made: in memory when possible, so that nothing of a session reaches a disk.
 *
 * Order: `$TMPDIR` when the user set it (their explicit choice is followed; `doctor` says when it is on
 * a disk); else `$XDG_RUNTIME_DIR` when it is a tmpfs folder of ours with mode 0700 (systemd's
 * /run/user/UID); else /dev/shm when it is a tmpfs (world-writable and sticky: the folder made there
 * by mkdtemp is 0700 with a random name, so nobody can take it first); else the OS temp folder.
 *
 * This only chooses the base folder. The socket path (short enough for sun_path) is chosen apart, by
 * the owner of the sockets.
 */
import * as fsp from 'node:fs/promises';
import { lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute } from 'node:path';

/** statfs f_type of tmpfs and ramfs (linux/magic.h): file systems that live in memory (and swap). */
const MEMORY_FS_TYPES = new Set([0x01021994, 0x858458f6]);

export interface TempBase {
  readonly path: string;
  /** True when the folder is on tmpfs/ramfs (memory, and swap unless swap is off or encrypted). */
  readonly memory: boolean;
  readonly source: 'TMPDIR' | 'XDG_RUNTIME_DIR' | '/dev/shm' | 'tmpdir';
}

/** Whether `path` is on a memory file system; false where that cannot be told (no statfs, not Linux). */
export async function onMemoryFs(path: string): Promise<boolean> {
  // statfs came in Node 18.15: looked up at run time, so an older Node only loses this check.
  const statfs = (fsp as Partial<typeof fsp>).statfs;
  if (process.platform !== 'linux' || statfs === undefined) return false;
  try {
    return MEMORY_FS_TYPES.has((await statfs(path)).type);
  } catch {
    return false; // gone or unreadable: not a folder to count on
  }
}

/** A real folder (not a link), ours, with no access for group or others. */
async function privateDirOfOurs(path: string): Promise<boolean> {
  try {
    const st = await lstat(path);
    const uid = process.getuid?.();
    return st.isDirectory() && (st.mode & 0o077) === 0 && (uid === undefined || st.uid === uid);
  } catch {
    return false; // missing or unreadable: not usable
  }
}

/**
 * Chooses the base folder for a tor's temp folder (see the module comment for the order).
 * @param env the process environment (injected for tests)
 */
export async function chooseTempBase(env: Readonly<Record<string, string | undefined>> = process.env): Promise<TempBase> {
  const explicit = env.TMPDIR;
  if (explicit !== undefined && explicit !== '' && isAbsolute(explicit)) {
    return { path: explicit, memory: await onMemoryFs(explicit), source: 'TMPDIR' };
  }
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && isAbsolute(runtime) && (await privateDirOfOurs(runtime)) && (await onMemoryFs(runtime))) {
    return { path: runtime, memory: true, source: 'XDG_RUNTIME_DIR' };
  }
  if (await onMemoryFs('/dev/shm')) {
    try {
      const st = await lstat('/dev/shm');
      // Only the usual shared /dev/shm: a real folder, sticky, so nobody can remove or rename our folder.
      if (st.isDirectory() && (st.mode & 0o1000) !== 0) return { path: '/dev/shm', memory: true, source: '/dev/shm' };
    } catch {
      // fall through to the OS temp folder
    }
  }
  const os = tmpdir();
  return { path: os, memory: await onMemoryFs(os), source: 'tmpdir' };
}
