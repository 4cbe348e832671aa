/** Tells, from the store header alone, whether opening the store needs a passphrase. */
import { StoreError, isEntrechatError } from '../core/errors.ts';
import { inspectStore, storeExists } from '../store/store.ts';

/**
 * Reads only the header (no KDF runs), so the user is asked for a passphrase only when one exists. The
 * header is read through the same checked path as the store itself (store.ts inspectStore): the folder
 * and file must be private and ours, the file a regular file (no symlink, FIFO or device) and no larger
 * than a store can be, all checked before a byte is read. A store swapped for /dev/zero or a FIFO is
 * refused at once, not read until memory runs out or forever.
 * @throws StoreError STORE_NOT_FOUND, STORE_BAD_PERMISSIONS, STORE_IO, and the header errors of parseStoreHeader
 */
export async function storeNeedsPassphrase(home: string): Promise<boolean> {
  try {
    return (await inspectStore(home)).needsPassphrase;
  } catch (e) {
    if (isEntrechatError(e) && e.code === 'STORE_NOT_FOUND') {
      throw new StoreError('STORE_NOT_FOUND', 'no identity here yet: run `entrechat init` first', { cause: e });
    }
    throw e;
  }
}

/**
 * Refuses a store that needs no passphrase when the user gave one (a passphrase file, or one typed at a
 * prompt): the user believes the store is protected, so it was replaced or changed since (someone who
 * can write to the folder can swap in a store of their own, with their key under a contact's name).
 * Opening it anyway would hand the user the attacker's contacts as "verified".
 * @throws StoreError STORE_PASSPHRASE_UNEXPECTED
 */
export function refuseUnprotectedStore(needsPassphrase: boolean): void {
  if (!needsPassphrase) {
    throw new StoreError('STORE_PASSPHRASE_UNEXPECTED',
      'you gave a passphrase, but this store has none: it was changed or replaced (or made with --no-passphrase); nothing was opened');
  }
}

/**
 * Refuses at once when an identity exists already, so that `init` does not ask for a passphrase it
 * will not use. (`initIdentity` checks again when it writes.)
 * @throws StoreError STORE_EXISTS
 */
export async function refuseExistingIdentity(home: string): Promise<void> {
  if (await storeExists(home)) throw new StoreError('STORE_EXISTS', 'an identity exists here already: it is never overwritten');
}
