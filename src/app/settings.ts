/**
 * The identity's settings (kept in its store) and the tor folder they govern.
 *
 * `amnesic` off (the default): a tor spawned for a session keeps its guards and directory cache in
 * `$ENTRECHAT_HOME/tor` (tor/state-dir.ts), so the entry guard stays the same across sessions and a
 * start is warm. On: every session's tor starts in a fresh temp folder, deleted at the end; turning it
 * on also removes the kept folder.
 */
import { lstat, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore, saveStore, type StoreAuth, type StoreWriteOptions } from '../store/store.ts';
import { wipe } from '../core/bytes.ts';
import { lockStateDir, STATE_DIR_NAME } from '../tor/state-dir.ts';

export interface Settings {
  /** Each session's tor starts fresh, its folder deleted at the end; no guard kept. */
  readonly amnesic: boolean;
}

/** Where a spawned tor keeps its network state for the identity in `home`. */
export function torStateDir(home: string): string {
  return join(home, STATE_DIR_NAME);
}

/** The identity's settings. @throws StoreError (opening the store) */
export async function readSettings(home: string, auth: StoreAuth): Promise<Settings> {
  const content = await openStore(home, auth);
  wipe(content.identitySecret);
  return { amnesic: content.amnesic === true };
}

/**
 * Removes the kept tor folder, if there is one: locked first (a session using it is not pulled out
 * from under its tor), a link only unlinked.
 * @returns whether there was something to remove
 * @throws TorError TOR_STATE_LOCKED (a session is using it), TOR_STATE_UNSAFE (it cannot be locked)
 */
export async function removeTorState(home: string): Promise<boolean> {
  const dir = torStateDir(home);
  const st = await lstat(dir).catch(() => null);
  if (st === null) return false;
  if (!st.isDirectory()) {
    await unlink(dir);
    return true;
  }
  const lock = lockStateDir(dir);
  try {
    await rm(dir, { recursive: true, force: true });
  } finally {
    lock.release();
  }
  return true;
}

/**
 * Turns `amnesic` on or off, in the store. Turning it on also removes the kept tor folder (first: if a
 * session is using it, nothing is changed).
 * @returns the settings now, and whether a kept tor folder was removed
 * @throws StoreError (opening or writing the store); TorError TOR_STATE_LOCKED, TOR_STATE_UNSAFE
 */
export async function setAmnesic(home: string, auth: StoreAuth, on: boolean, options?: StoreWriteOptions): Promise<Settings & { readonly removedTorState: boolean }> {
  const content = await openStore(home, auth);
  try {
    const removedTorState = on ? await removeTorState(home) : false;
    if ((content.amnesic === true) !== on) await saveStore(home, { ...content, amnesic: on }, auth, options);
    return { amnesic: on, removedTorState };
  } finally {
    wipe(content.identitySecret);
  }
}
