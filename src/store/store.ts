/**
 * The encrypted store: one file `<home>/store` holding the identity secret and the contacts, nothing
 * else (ARCHITECTURE.md "Identity, contacts, safety numbers"; format in docs/protocol.md).
 *
 * The home folder is always passed in (no module state). Opening never writes anything. Every write
 * draws a fresh salt and nonce, derives fresh keys and replaces the file atomically (atomic.ts).
 */
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { wipe } from '../core/bytes.ts';
import { StoreError } from '../core/errors.ts';
import { checkHome, ensureHome, pathExists, readPrivateFile, removeStaleTemps, writeFileAtomic } from './atomic.ts';
import {
  STORE_KDF_DEFAULT,
  STORE_MAX_FILE_SIZE,
  STORE_NONCE_SIZE,
  STORE_SALT_SIZE,
  kdfParamsInBounds,
  openStoreFile,
  parseStoreHeader,
  sealStoreFile,
  type HeaderFields,
  type KdfParams,
  type StoreContent,
} from './format.ts';
import { deriveStoreKeys, wipeKeys } from './kdf.ts';

export type { StoreContact, StoreContent, KdfParams } from './format.ts';

/** Name of the store file inside the home folder. */
export const STORE_FILE_NAME = 'store';
/** Age after which a temp file is a crashed writer's leftover: a live write takes milliseconds. */
export const STORE_TEMP_STALE_AFTER = 60 * 1000;

/**
 * How the store is (to be) protected: a passphrase (a string, NFC-normalised then UTF-8, or raw bytes
 * used as given), or explicitly none (tests and demos: no protection at all).
 */
export type StoreAuth =
  | { readonly passphrase: string | Uint8Array }
  | { readonly noPassphrase: true };

export interface StoreWriteOptions {
  /** scrypt cost; each missing field takes its default (N = 2^17, r = 8, p = 1). Lower only in tests. */
  readonly kdf?: Partial<KdfParams>;
}

/** `env.ENTRECHAT_HOME` when set and non-empty, else `~/.entrechat`; made absolute. */
export function defaultHome(env: Readonly<Record<string, string | undefined>>, userHome: string = homedir()): string {
  const fromEnv = env.ENTRECHAT_HOME;
  return resolve(fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(userHome, '.entrechat'));
}

/** Path of the store file in `home`. */
export function storePath(home: string): string {
  return join(home, STORE_FILE_NAME);
}

/**
 * Whether something exists where the store would be (it may still fail to open).
 * @throws StoreError STORE_IO when the folder cannot be searched
 */
export function storeExists(home: string): Promise<boolean> {
  return pathExists(storePath(home));
}

// --- boundary checks ---
function assertAuth(auth: unknown): asserts auth is StoreAuth {
  if (typeof auth !== 'object' || auth === null) throw new TypeError('auth must be an object');
  const hasPass = 'passphrase' in auth;
  const hasNone = 'noPassphrase' in auth;
  if (hasPass === hasNone) throw new TypeError('auth must have exactly one of passphrase, noPassphrase');
  if (hasNone && auth.noPassphrase !== true) throw new TypeError('auth.noPassphrase must be true');
  if (hasPass && typeof auth.passphrase !== 'string' && !(auth.passphrase instanceof Uint8Array)) {
    throw new TypeError('auth.passphrase must be a string or a Uint8Array');
  }
}

/** The passphrase as bytes the caller does not own (so they can be wiped), or null for no passphrase. */
function passphraseBytes(auth: StoreAuth): Uint8Array | null {
  if (!('passphrase' in auth)) return null;
  const p = auth.passphrase;
  // NFC: the same passphrase typed on systems that compose differently gives the same bytes.
  return typeof p === 'string' ? new TextEncoder().encode(p.normalize('NFC')) : new Uint8Array(p);
}

function resolveKdf(options: StoreWriteOptions | undefined): KdfParams {
  const kdf = { ...STORE_KDF_DEFAULT, ...options?.kdf };
  if (!kdfParamsInBounds(kdf)) throw new RangeError('options.kdf is out of bounds');
  return kdf;
}

// --- in memory ---
/**
 * Encrypts `content` into the bytes of a store file (fresh salt and nonce). No file is touched.
 * @throws TypeError / RangeError on malformed content, auth or options, or an empty passphrase
 */
export async function encodeStore(content: StoreContent, auth: StoreAuth, options?: StoreWriteOptions): Promise<Uint8Array> {
  assertAuth(auth);
  const kdf = resolveKdf(options);
  const passphrase = passphraseBytes(auth);
  try {
    if (passphrase?.length === 0) throw new RangeError('auth.passphrase must not be empty');
    const fields: HeaderFields = {
      mode: passphrase === null ? 'no-passphrase' : 'passphrase',
      kdf,
      salt: new Uint8Array(randomBytes(STORE_SALT_SIZE)),
      nonce: new Uint8Array(randomBytes(STORE_NONCE_SIZE)),
    };
    const keys = await deriveStoreKeys(fields, passphrase);
    try {
      return sealStoreFile(content, fields, keys);
    } finally {
      wipeKeys(keys);
    }
  } finally {
    wipe(passphrase);
  }
}

/**
 * Decrypts the bytes of a store file. The header is parsed and bounded before any key is derived.
 * @throws StoreError STORE_BAD_MAGIC, STORE_BAD_VERSION, STORE_TRUNCATED, STORE_CORRUPT,
 *   STORE_PASSPHRASE_REQUIRED (passphrase store, no passphrase given),
 *   STORE_PASSPHRASE_UNEXPECTED (no-passphrase store, a passphrase given), STORE_WRONG_PASSPHRASE
 * @throws TypeError on a malformed `auth`
 */
export async function decodeStore(file: Uint8Array, auth: StoreAuth): Promise<StoreContent> {
  assertAuth(auth);
  const header = parseStoreHeader(file);
  const given = 'passphrase' in auth;
  if (header.mode === 'passphrase' && !given) {
    throw new StoreError('STORE_PASSPHRASE_REQUIRED', 'this store is protected by a passphrase');
  }
  if (header.mode === 'no-passphrase' && given) {
    // The user believes a passphrase protects it: it was changed or replaced (a store without a
    // passphrase, swapped in by someone who can write to the folder, would open silently otherwise).
    throw new StoreError('STORE_PASSPHRASE_UNEXPECTED', 'you gave a passphrase, but this store has none: it was changed or replaced; nothing was opened');
  }
  const passphrase = passphraseBytes(auth);
  try {
    const keys = await deriveStoreKeys(header, passphrase);
    try {
      return openStoreFile(file, header, keys);
    } finally {
      wipeKeys(keys);
    }
  } finally {
    wipe(passphrase);
  }
}

// --- on disk ---
/**
 * Opens the store in `home`. Never writes anything (not even to remove a crashed writer's temp files).
 * The caller wipes `identitySecret` when done.
 * @throws StoreError STORE_NOT_FOUND (no folder or no file), STORE_BAD_PERMISSIONS (folder or file
 *   accessible to others, owned by another user, or the store is a symlink or not a regular file),
 *   STORE_IO, and everything {@link decodeStore} throws
 * @throws TypeError on a malformed `auth`
 */
export async function openStore(home: string, auth: StoreAuth): Promise<StoreContent> {
  assertAuth(auth);
  if (!(await checkHome(home))) throw new StoreError('STORE_NOT_FOUND', 'there is no store folder');
  const file = await readPrivateFile(storePath(home), STORE_MAX_FILE_SIZE);
  if (file === null) throw new StoreError('STORE_NOT_FOUND', 'there is no store');
  return decodeStore(file, auth);
}

/**
 * Checks the store as far as it can be checked without the passphrase: the folder and file (private,
 * ours, not links), the size and the header. Runs no KDF.
 * @returns whether opening it needs a passphrase
 * @throws StoreError STORE_NOT_FOUND, STORE_BAD_PERMISSIONS, STORE_IO and the header errors
 */
export async function inspectStore(home: string): Promise<{ readonly needsPassphrase: boolean }> {
  if (!(await checkHome(home))) throw new StoreError('STORE_NOT_FOUND', 'there is no store folder');
  const file = await readPrivateFile(storePath(home), STORE_MAX_FILE_SIZE);
  if (file === null) throw new StoreError('STORE_NOT_FOUND', 'there is no store');
  return { needsPassphrase: parseStoreHeader(file).mode === 'passphrase' };
}

/**
 * Creates the store in `home` (the folder is created 0700 if missing). Never replaces an existing store:
 * that would destroy an identity.
 * @throws StoreError STORE_EXISTS, STORE_BAD_PERMISSIONS (existing folder not private), STORE_DISK_FULL, STORE_IO
 * @throws TypeError / RangeError on malformed content, auth or options, or an empty passphrase
 */
export async function createStore(home: string, content: StoreContent, auth: StoreAuth, options?: StoreWriteOptions): Promise<void> {
  if ((await checkHome(home)) && (await storeExists(home))) throw new StoreError('STORE_EXISTS', 'a store already exists here');
  const bytes = await encodeStore(content, auth, options);
  await ensureHome(home);
  // The hard link in writeFileAtomic refuses a store that appeared in the meantime.
  await writeFileAtomic(home, STORE_FILE_NAME, bytes, false);
}

/**
 * Replaces the existing store in `home` atomically with `content` under `auth` (which may differ from
 * the current one). After a successful write, removes temp files left by writers that crashed more than
 * {@link STORE_TEMP_STALE_AFTER} ago.
 * @throws StoreError STORE_NOT_FOUND (no store to replace: use createStore), STORE_BAD_PERMISSIONS,
 *   STORE_DISK_FULL (the old store is untouched), STORE_IO
 * @throws TypeError / RangeError on malformed content, auth or options, or an empty passphrase
 */
export async function saveStore(home: string, content: StoreContent, auth: StoreAuth, options?: StoreWriteOptions): Promise<void> {
  if (!(await checkHome(home))) throw new StoreError('STORE_NOT_FOUND', 'there is no store folder');
  if (!(await storeExists(home))) throw new StoreError('STORE_NOT_FOUND', 'there is no store to replace');
  const bytes = await encodeStore(content, auth, options);
  await writeFileAtomic(home, STORE_FILE_NAME, bytes, true);
  await removeStaleTemps(home, STORE_FILE_NAME, Date.now(), STORE_TEMP_STALE_AFTER);
}

/**
 * Re-encrypts the store under a new passphrase (or none, or from none to one): open with `oldAuth`,
 * save with `newAuth`.
 * @throws StoreError everything {@link openStore} and {@link saveStore} throw
 */
export async function changePassphrase(home: string, oldAuth: StoreAuth, newAuth: StoreAuth, options?: StoreWriteOptions): Promise<void> {
  const content = await openStore(home, oldAuth);
  try {
    await saveStore(home, content, newAuth, options);
  } finally {
    wipe(content.identitySecret);
  }
}
