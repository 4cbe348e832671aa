/** Tells, from the store header alone, whether opening the store needs a passphrase. */
import { readFile } from 'node:fs/promises';
import { StoreError } from '../core/errors.ts';
import { parseStoreHeader } from '../store/format.ts';
import { storeExists, storePath } from '../store/store.ts';

/**
 * Reads only the header (no KDF runs), so the user is asked for a passphrase only when one exists.
 * @throws StoreError STORE_NOT_FOUND, STORE_IO, and the header errors of parseStoreHeader
 */
export async function storeNeedsPassphrase(home: string): Promise<boolean> {
  let file: Buffer;
  try {
    file = await readFile(storePath(home));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new StoreError('STORE_NOT_FOUND', 'no identity here yet: run `entrechat init` first', { cause });
    }
    throw new StoreError('STORE_IO', 'the store cannot be read', { cause });
  }
  return parseStoreHeader(new Uint8Array(file.buffer, file.byteOffset, file.byteLength)).mode === 'passphrase';
}

/**
 * Refuses at once when an identity exists already, so that `init` does not ask for a passphrase it
 * will not use. (`initIdentity` checks again when it writes.)
 * @throws StoreError STORE_EXISTS
 */
export async function refuseExistingIdentity(home: string): Promise<void> {
  if (await storeExists(home)) throw new StoreError('STORE_EXISTS', 'an identity exists here already: it is never overwritten');
}
