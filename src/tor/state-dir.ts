/**
 * The folder where a spawned tor keeps its network state between sessions: `$ENTRECHAT_HOME/tor`.
 *
 * Tor picks an entry guard and keeps it for months (guard-spec §1) so that someone who runs relays gets
 * one chance, not one per session, to be the first hop of a user's circuits; and a tor that finds its
 * directory cache starts without downloading the whole consensus again. Both live in tor's
 * DataDirectory, which for a client holds only `state` (guards, circuit build times), `cached-certs`,
 * `cached-microdesc-consensus`, `cached-microdescs(.new)`, `lock` and an empty `keys/`. Nothing of a
 * session goes there: onions come from `ADD_ONION` with a key we give (tor writes no key), client
 * authorisation from `ONION_CLIENT_AUTH_ADD` without `Permanent` (memory only), and the control port
 * file, cookie, sockets and torrc stay in the session's temp folder, deleted at the end.
 *
 * Before tor is given the folder: it must be a real folder (not a link), ours, with no access for group
 * or others (TOR_STATE_UNSAFE otherwise; it is made 0700 when missing); and it is locked for this
 * process (an exclusive file holding our pid and start time), since two tors cannot share one
 * DataDirectory (TOR_STATE_LOCKED; a lock left by a process that is gone is taken over).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, linkSync, openSync, readSync, unlinkSync, writeFileSync } from 'node:fs';
import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TorError } from '../core/errors.ts';
import { TOR_STATE_FILE_MAX } from '../core/limits.ts';
import { processStartTime } from './proc.ts';

/** The folder's name inside $ENTRECHAT_HOME. */
export const STATE_DIR_NAME = 'tor';
/** Our lock file inside it (tor's own is `lock`, held with fcntl while it runs). */
export const STATE_LOCK_NAME = 'entrechat.lock';
/** Bound on the lock file's contents ("pid starttime\n"). */
const LOCK_MAX = 64;

function unsafe(path: string, why: string): TorError {
  return new TorError('TOR_STATE_UNSAFE', `${path} ${why}: chmod 700 it if it is yours, or remove it (it is made again), or use --amnesic`);
}

/**
 * Makes the folder (0700) if it is missing, then checks it: a real folder, owned by us, no access for
 * group or others. Its parent ($ENTRECHAT_HOME) must exist.
 * @throws TorError TOR_STATE_UNSAFE
 */
export async function prepareStateDir(path: string): Promise<void> {
  try {
    // Not recursive: the home folder is the store's, checked by the store; only this one is made here.
    await mkdir(path, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw unsafe(path, `cannot be made (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    throw unsafe(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (st.isSymbolicLink()) throw unsafe(path, 'is a link');
  if (!st.isDirectory()) throw unsafe(path, 'is not a folder');
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw unsafe(path, 'belongs to another user');
  if ((st.mode & 0o077) !== 0) throw unsafe(path, 'can be read or written by other users');
}

/** Reads a small file whole, at most `max` bytes, without following a link at its name. */
function readSmall(file: string, max: number): Buffer | null {
  let fd: number | null = null;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) return null;
    const buf = Buffer.alloc(max + 1);
    let at = 0;
    for (let n = 1; n > 0 && at < buf.length; at += n) n = readSync(fd, buf, at, buf.length - at, at);
    return at > max ? null : buf.subarray(0, at);
  } catch {
    return null;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/**
 * Whether a lock file's text names a live process: same pid and start time; where /proc cannot give
 * the start time (written as 0), any live process with that pid (a reused pid then keeps the lock
 * until it exits: refused, never shared).
 */
function holderAlive(text: string): boolean {
  const m = /^(\d{1,10}) (\d{1,20})\n$/.exec(text);
  if (m?.[1] === undefined || m[2] === undefined) return false;
  const pid = Number(m[1]);
  if (m[2] !== '0') return processStartTime(pid) === m[2];
  if (pid <= 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A held lock: release it once tor has exited. */
export interface StateLock {
  /** Removes the lock file if it is still ours. Synchronous (also used at process exit); idempotent. */
  readonly release: () => void;
}

/**
 * Takes the folder's lock for this process: an exclusive create of {@link STATE_LOCK_NAME} holding our
 * pid and start time. A lock whose process is gone (a crash, a reboot) is taken over.
 * @throws TorError TOR_STATE_LOCKED (another live process, or another session of this process, holds
 *   it), TOR_STATE_UNSAFE (the lock cannot be written)
 */
export function lockStateDir(path: string): StateLock {
  const file = join(path, STATE_LOCK_NAME);
  const mine = `${process.pid} ${processStartTime(process.pid) ?? '0'}\n`;
  // Written whole under a name of our own, then linked into place: link() fails if the lock exists, and
  // the lock is never seen half written.
  const temp = join(path, `${STATE_LOCK_NAME}.${process.pid}.${randomBytes(6).toString('hex')}`);
  try {
    writeFileSync(temp, mine, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    throw unsafe(path, `cannot be locked (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        linkSync(temp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw unsafe(path, `cannot be locked (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
        const held = readSmall(file, LOCK_MAX);
        // Unreadable (not a file, too big) or held by a live process: refused. Else the holder is gone.
        if (held === null || holderAlive(held.toString('latin1'))) throw locked();
        // Two processes taking over the same stale lock at the same instant could both succeed here;
        // tor's own lock (fcntl on `lock`) still stops the second tor, reported as TOR_STATE_LOCKED too.
        try {
          unlinkSync(file);
        } catch {
          // someone else removed it first: try again
        }
        continue;
      }
      return { release: releaser(file, mine) };
    }
    throw locked();
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // nothing to remove
    }
  }
}

function releaser(file: string, mine: string): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    // Only ours: a lock that is not (it was taken over as stale, which cannot happen while we live) stays.
    if (readSmall(file, LOCK_MAX)?.toString('latin1') !== mine) return;
    try {
      unlinkSync(file);
    } catch {
      // gone already
    }
  };
}

function locked(): TorError {
  return new TorError('TOR_STATE_LOCKED', 'another talk of this identity is using its Tor folder: wait until it ends, or use --amnesic for this one');
}

/** What tor says when a second tor is given a DataDirectory another one holds (tor's `lock` file). */
export function isTorLockMessage(log: string): boolean {
  return /another Tor process is running with the same data directory/i.test(log);
}

/** One `Guard` line of tor's state file (guard-spec, entrynodes.c `entry_guard_encode_for_state`). */
export interface KeptGuard {
  /** 40 hex digits, upper case. Never shown in full. */
  readonly fingerprint: string;
  /** Its place in the order it was confirmed, or null if never confirmed (not used yet). */
  readonly confirmedIdx: number | null;
  /** Its place in the sample; null if missing (then the file's order stands in). */
  readonly sampledIdx: number | null;
  readonly sampledOn: string | null;
}

/**
 * The `Guard` lines of the default guard selection in tor's `state` file, in file order. Pure.
 * Unknown or malformed lines are skipped.
 */
export function parseStateGuards(text: string): KeptGuard[] {
  const out: KeptGuard[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('Guard ')) continue;
    const fields = new Map<string, string>();
    for (const part of line.slice('Guard '.length).trim().split(/\s+/)) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
    }
    if (fields.get('in') !== 'default') continue;
    const fingerprint = (fields.get('rsa_id') ?? '').toUpperCase();
    if (!/^[0-9A-F]{40}$/.test(fingerprint)) continue;
    const index = (key: string): number | null => {
      const v = fields.get(key);
      return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : null;
    };
    out.push({
      fingerprint,
      confirmedIdx: index('confirmed_idx'),
      sampledIdx: index('sampled_idx'),
      sampledOn: fields.get('sampled_on') ?? null,
    });
  }
  return out;
}

/**
 * The guard tor tries first, from its state file's text: the first confirmed guard in sample order
 * (guard-spec §4.6: primary guards come from the confirmed guards, which tor 0.4.5 and later keeps in
 * the order they were sampled, sampled_idx, not the order they were confirmed: a tor seen here used
 * the guard with sampled_idx 0 and confirmed_idx 1 before the one with confirmed_idx 0). Pure.
 */
export function primaryGuard(text: string): string | null {
  let best: { guard: KeptGuard; order: number } | null = null;
  for (const [i, g] of parseStateGuards(text).entries()) {
    if (g.confirmedIdx === null) continue;
    const order = g.sampledIdx ?? i;
    if (best === null || order < best.order) best = { guard: g, order };
  }
  return best?.guard.fingerprint ?? null;
}

/** The primary guard kept in the folder's `state` file, or null (no file, no confirmed guard, too big). */
export function keptPrimaryGuard(path: string): string | null {
  const data = readSmall(join(path, 'state'), TOR_STATE_FILE_MAX);
  return data === null ? null : primaryGuard(data.toString('utf8'));
}

/**
 * The first hops of the built circuits in a `GETINFO circuit-status` answer (control-spec §4.1.1:
 * `ID STATUS PATH …`, PATH as `$FP~nick,…`): the guards this tor uses now. Pure.
 */
export function builtFirstHops(circuitStatus: string): string[] {
  const hops = new Set<string>();
  for (const line of circuitStatus.split('\n')) {
    const [, status, path] = line.trim().split(/\s+/);
    if (status !== 'BUILT' || path === undefined) continue;
    const m = /^\$([0-9A-Fa-f]{40})/.exec(path);
    if (m?.[1] !== undefined) hops.add(m[1].toUpperCase());
  }
  return [...hops];
}
