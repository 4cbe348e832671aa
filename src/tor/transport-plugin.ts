/**
 * The pluggable-transport programs a `--tor-config` file names (`ClientTransportPlugin obfs4 exec
 * /usr/bin/obfs4proxy`): tor runs them itself, without a shell, as our user. Before tor is started we
 * check that each is an absolute path to an existing regular file we may execute, and that no other
 * user could have put another program there: the file, and every folder on its way (the link's and
 * the target's), is owned by root or by us and writable by neither group nor others.
 *
 * Debian 12 ships the obfs4 transport as `obfs4proxy` (package obfs4proxy); its new upstream name is
 * `lyrebird`, the same program: either is accepted, and the private test network's bridge uses
 * whichever is installed.
 */
import { accessSync, constants, lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { TorError } from '../core/errors.ts';

/** How to install the obfs4 transport on Debian (and so on Tails and Whonix). */
export const OBFS4_INSTALL = 'sudo apt-get install obfs4proxy';

/** Program names of Debian's obfs4 transport, in the order they are looked for. */
export const OBFS4_PROGRAMS = ['obfs4proxy', 'lyrebird'] as const;

function missing(path: string, why: string): TorError {
  return new TorError('TOR_TRANSPORT_MISSING', `the transport program ${path} ${why}: install it (${OBFS4_INSTALL}) or correct the ClientTransportPlugin line`);
}

function unsafe(path: string, why: string): TorError {
  return new TorError('TOR_CONFIG_INVALID', `the transport program ${path} is not safe to run: ${why}`);
}

/** Owned by root or by us, and writable by neither group nor others. */
function trusted(st: Stats, uid: number): boolean {
  return (st.uid === 0 || st.uid === uid) && (st.mode & 0o022) === 0;
}

/** Every folder from `path`'s parent up to `/`. */
function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let d = dirname(path); ; d = dirname(d)) {
    out.push(d);
    if (d === dirname(d)) return out;
  }
}

/**
 * Checks one transport program as described in the module comment.
 * @throws TorError TOR_TRANSPORT_MISSING when it does not exist, is not a regular file or is not
 *   executable; TOR_CONFIG_INVALID when it is not an absolute path, or when it or a folder on its way
 *   is writable by another user (or owned by one)
 */
export function checkTransportProgram(path: string, uid: number = process.getuid?.() ?? 0): void {
  if (!isAbsolute(path)) throw new TorError('TOR_CONFIG_INVALID', `ClientTransportPlugin: ${path} is not an absolute path`);
  let real: string;
  let st: Stats;
  try {
    real = realpathSync(path);
    st = statSync(real);
  } catch {
    throw missing(path, 'does not exist');
  }
  if (!st.isFile()) throw missing(path, 'is not a regular file');
  try {
    accessSync(real, constants.X_OK);
  } catch {
    throw missing(path, 'is not executable');
  }
  if (!trusted(st, uid)) throw unsafe(path, 'another user can replace it (it must belong to root or you and be writable by neither group nor others)');
  const folders = new Set([...ancestors(path), ...ancestors(real)]);
  for (const folder of folders) {
    let fst: Stats;
    try {
      fst = lstatSync(folder);
    } catch {
      throw missing(path, 'does not exist');
    }
    // A symbolic link on the way (e.g. /bin → usr/bin) is followed by realpath: its target is checked.
    if (fst.isSymbolicLink()) continue;
    if (!trusted(fst, uid)) throw unsafe(path, `another user can write in ${folder}`);
  }
}

/** The obfs4 transport installed here (an absolute path), or null. */
export function findObfs4Binary(env: NodeJS.ProcessEnv = process.env): string | null {
  const dirs = [...(env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'].filter((d) => isAbsolute(d));
  for (const name of OBFS4_PROGRAMS) {
    for (const dir of dirs) {
      const path = join(dir, name);
      try {
        if (statSync(path).isFile()) {
          accessSync(path, constants.X_OK);
          return path;
        }
      } catch {
        // not here
      }
    }
  }
  return null;
}
