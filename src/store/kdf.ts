/**
 * Key derivation for the store: scrypt (RFC 7914) of the passphrase in mode 'passphrase', a fixed public
 * label in mode 'no-passphrase'; then HKDF-SHA256 (RFC 5869) splits the result into the AEAD key and the
 * key-check key. The caller has bounded the scrypt parameters (format.ts kdfParamsInBounds) before this
 * runs; scrypt runs on libuv's thread pool so an open does not freeze the event loop.
 */
import { hkdfSync, scrypt } from 'node:crypto';
import { wipe } from '../core/bytes.ts';
import { InternalError } from '../core/errors.ts';
import { MODE_NO_PASSPHRASE, MODE_PASSPHRASE, kdfParamsInBounds, type KdfParams, type StoreKeys, type StoreMode } from './format.ts';

const encoder = new TextEncoder();
/**
 * The "passphrase" of a no-passphrase store. It is public (it is in this source file), so such a store
 * is merely obfuscated: anyone who can read the file can read the identity secret and the contacts.
 */
const NO_PASSPHRASE_LABEL = encoder.encode('entrechat store v1: no passphrase, this label is public');
const SCRYPT_KEY_SIZE = 32;
const KEY_SIZE = 32;

function scryptAsync(passphrase: Uint8Array, salt: Uint8Array, kdf: KdfParams): Promise<Buffer> {
  const N = 2 ** kdf.logN;
  // OpenSSL needs 128·r·(N + p + 2) bytes; the default maxmem (32 MiB) is below the default cost.
  const maxmem = 128 * kdf.r * (N + kdf.p + 2) + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(passphrase, salt, SCRYPT_KEY_SIZE, { N, r: kdf.r, p: kdf.p, maxmem }, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

/** What a derivation needs from a header (parsed or about to be written). */
export interface KeySource {
  readonly mode: StoreMode;
  /** Required in mode 'passphrase'. */
  readonly kdf: KdfParams | null;
  readonly salt: Uint8Array;
}

/**
 * Derives the keys of one store file. `passphrase` is the UTF-8 passphrase in mode 'passphrase' and
 * ignored in mode 'no-passphrase'; it is not wiped here (the caller owns it).
 * @throws InternalError when mode 'passphrase' comes without a passphrase or bounded parameters
 */
export async function deriveStoreKeys(source: KeySource, passphrase: Uint8Array | null): Promise<StoreKeys> {
  let ikm: Uint8Array;
  if (source.mode === 'passphrase') {
    if (passphrase === null || source.kdf === null || !kdfParamsInBounds(source.kdf)) {
      throw new InternalError('passphrase key derivation without a passphrase or bounded parameters');
    }
    ikm = await scryptAsync(passphrase, source.salt, source.kdf);
  } else {
    ikm = NO_PASSPHRASE_LABEL.slice();
  }
  const modeByte = source.mode === 'passphrase' ? MODE_PASSPHRASE : MODE_NO_PASSPHRASE;
  const info = new Uint8Array([...encoder.encode('entrechat store v1 keys '), modeByte]);
  const okm = new Uint8Array(hkdfSync('sha256', ikm, source.salt, info, 2 * KEY_SIZE));
  wipe(ikm);
  const keys = { aeadKey: okm.slice(0, KEY_SIZE), checkKey: okm.slice(KEY_SIZE) };
  wipe(okm);
  return keys;
}

export function wipeKeys(keys: StoreKeys): void {
  wipe(keys.aeadKey, keys.checkKey);
}
