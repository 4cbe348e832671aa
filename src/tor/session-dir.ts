/**
 * Where a session's private folder goes: tor's data, its SOCKS socket and our rendezvous listeners'
 * sockets live in one 0700 folder, deleted at the end.
 *
 * Unix socket paths are short (sun_path: 108 bytes on Linux) and tor's `SocksPort unix:PATH` takes no
 * whitespace on its command line, so the folder goes in the first base folder whose socket paths fit:
 * the temp folder given (`$TMPDIR` by default), then `$XDG_RUNTIME_DIR`, then `/tmp`; when none does,
 * the session is refused (TOR_SOCKET_PATH) rather than quietly falling back to TCP sockets that any
 * local process can reach. One small function, so that other rules (say, preferring a tmpfs) can be
 * added in one place.
 */
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TorError } from '../core/errors.ts';
import { UNIX_SOCKET_PATH_MAX } from '../core/limits.ts';

/** mkdtemp's name for a session folder: this prefix and six random characters. */
export const SESSION_DIR_PREFIX = 'entrechat-';
/** The longest name of a socket inside the session folder (see net/tor.ts, owner.ts). */
export const LONGEST_SOCKET_NAME = 'rendezvous-9.sock';

/** Whether unix sockets in a session folder made under `base` have usable paths. */
export function socketBaseFits(base: string): boolean {
  const longest = join(base, `${SESSION_DIR_PREFIX}XXXXXX`, LONGEST_SOCKET_NAME);
  return base.startsWith('/') && Buffer.byteLength(longest, 'utf8') <= UNIX_SOCKET_PATH_MAX && !/[\s"\\]/.test(longest);
}

/** The base folders to try, in order: `tmp` (default `$TMPDIR`), `$XDG_RUNTIME_DIR`, `/tmp`. */
export function sessionDirCandidates(tmp: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  const runtime = env.XDG_RUNTIME_DIR;
  return [tmp ?? tmpdir(), ...(runtime !== undefined && runtime !== '' ? [runtime] : []), '/tmp'];
}

/**
 * Makes a session's private folder (0700) in the first candidate where socket paths fit and that is
 * a folder.
 * @throws TorError TOR_SOCKET_PATH when no candidate fits; the folder's creation errors otherwise
 */
export async function makeSessionDir(candidates: readonly string[]): Promise<string> {
  for (const base of candidates) {
    if (!socketBaseFits(base)) continue;
    const info = await stat(base).catch(() => null);
    if (info?.isDirectory() !== true) continue;
    return mkdtemp(join(base, SESSION_DIR_PREFIX));
  }
  throw new TorError('TOR_SOCKET_PATH', `no temp folder gives unix socket paths under ${UNIX_SOCKET_PATH_MAX} bytes without spaces: set TMPDIR to a short path`);
}
