/**
 * The store file format (docs/protocol.md is the byte-exact description; keep the two in step).
 *
 * Pure: no file system, no randomness (salt and nonce come from the caller), no KDF (the caller derives
 * the keys, see kdf.ts). The header is parsed and bounded by {@link parseStoreHeader} before any key is
 * derived, so a crafted header cannot make scrypt exhaust memory or time.
 *
 * ```
 * header (STORE_HEADER_SIZE = 101 bytes, all of it the AEAD's associated data)
 *   0  16  magic "ENTRECHAT\0STORE\0"
 *  16   1  file format version (1)
 *  17   1  mode: 0x50 'P' passphrase, 0x4E 'N' no passphrase
 *  18   3  scrypt log2(N), r, p (all zero in mode 'N')
 *  21   4  plaintext length L, u32 big-endian
 *  25  32  salt
 *  57  12  nonce
 *  69  16  key check: HMAC-SHA256(checkKey, KEY_CHECK_LABEL)[0..16]
 *  85  16  header checksum: SHA-256(bytes 0..85)[0..16]
 * body
 * 101   L  ChaCha20-Poly1305 ciphertext of the plaintext
 * 101+L 16 Poly1305 tag
 * ```
 */
import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto';
import { assertBytes, concatBytes, equalBytes, wipe } from '../core/bytes.ts';
import { StoreError } from '../core/errors.ts';
import { AEAD_TAG_SIZE } from '../core/limits.ts';
import { decodeUtf8Strict } from '../core/utf8.ts';
import { X25519_KEY_SIZE } from '../core/x25519.ts';

// --- layout ---
/** "ENTRECHAT\0STORE\0": tells a store from any other file before anything else is read. */
export const STORE_MAGIC = new TextEncoder().encode('ENTRECHAT\0STORE\0');
/** The only file format version this code reads and writes. */
export const STORE_VERSION = 1;
/** Mode byte of a store whose key comes from the user's passphrase through scrypt. */
export const MODE_PASSPHRASE = 0x50;
/** Mode byte of a store whose key comes from a public label: no protection (tests and demos). */
export const MODE_NO_PASSPHRASE = 0x4e;
export const STORE_SALT_SIZE = 32;
/** ChaCha20-Poly1305 nonce (RFC 8439 §2.8). */
export const STORE_NONCE_SIZE = 12;
export const STORE_KEY_CHECK_SIZE = 16;
export const STORE_CHECKSUM_SIZE = 16;

export const OFFSET_VERSION = STORE_MAGIC.length;
export const OFFSET_MODE = OFFSET_VERSION + 1;
export const OFFSET_KDF = OFFSET_MODE + 1;
export const OFFSET_LENGTH = OFFSET_KDF + 3;
export const OFFSET_SALT = OFFSET_LENGTH + 4;
export const OFFSET_NONCE = OFFSET_SALT + STORE_SALT_SIZE;
export const OFFSET_KEY_CHECK = OFFSET_NONCE + STORE_NONCE_SIZE;
export const OFFSET_CHECKSUM = OFFSET_KEY_CHECK + STORE_KEY_CHECK_SIZE;
export const STORE_HEADER_SIZE = OFFSET_CHECKSUM + STORE_CHECKSUM_SIZE;

// --- limits (each checked before allocating or deriving) ---
/** Largest scrypt log2(N) accepted: N = 2^20 with r = 8 is already 1 GiB of memory. */
export const STORE_KDF_MAX_LOG_N = 20;
/** Largest scrypt r accepted; the memory bound below is what really limits it. */
export const STORE_KDF_MAX_R = 16;
/** Largest scrypt p accepted: p multiplies the time of an open, not the protection worth having. */
export const STORE_KDF_MAX_P = 4;
/** Memory one scrypt run may take (128·N·r bytes): a crafted header must not exhaust the machine. */
export const STORE_KDF_MAX_MEMORY = 1024 * 1024 * 1024;
/** Default scrypt cost (N = 2^17, r = 8, p = 1): 128 MiB and a few hundred ms per open or save. */
export const STORE_KDF_DEFAULT: KdfParams = { logN: 17, r: 8, p: 1 };
/** Plaintext is zero-padded to a multiple of this so the file size shows the contact count only roughly. */
export const STORE_PAD_BLOCK = 512;
/** More contacts than anyone meets face to face; bounds the allocation when decoding. */
export const STORE_MAX_CONTACTS = 4096;
/** Largest contact name in UTF-8 bytes: far above any name the UI accepts, bounds decoding. */
export const STORE_MAX_NAME_BYTES = 1024;
/** Largest plaintext: every contact at its largest fits, rounded up to the padding block. */
export const STORE_MAX_PLAINTEXT_SIZE = 8 * 1024 * 1024;
/** Largest file that can be a store: checked before the file is read into memory. */
export const STORE_MAX_FILE_SIZE = STORE_HEADER_SIZE + STORE_MAX_PLAINTEXT_SIZE + AEAD_TAG_SIZE;

/** Version byte at the start of the plaintext, so the content can evolve under the same container. */
export const CONTENT_VERSION = 1;
/**
 * Content version 2: version 1 followed, after the contacts, by one settings byte (see
 * {@link SETTING_AMNESIC}). Written only when a setting is on, so a store with default settings stays
 * byte-for-byte what every earlier Entrechat reads (and one that cannot honour a setting refuses the
 * store with STORE_BAD_VERSION rather than quietly ignoring it).
 */
export const CONTENT_VERSION_SETTINGS = 2;
/** Settings bit: every session starts a fresh tor whose folder is deleted at the end (`--amnesic`). */
export const SETTING_AMNESIC = 0x01;
const KNOWN_SETTINGS = SETTING_AMNESIC;
const CONTACT_FIXED_SIZE = 1 + X25519_KEY_SIZE + 2;
const CONTENT_FIXED_SIZE = 1 + X25519_KEY_SIZE + 4;

/** Domain label of the key check value (see {@link keyCheckValue}). */
const KEY_CHECK_LABEL = new TextEncoder().encode('entrechat store v1 key check');

// --- types ---
export interface StoreContact {
  /** The name the user gave this contact (well-formed Unicode, 1 to STORE_MAX_NAME_BYTES UTF-8 bytes). */
  readonly name: string;
  /** The contact's raw 32-byte X25519 public key. */
  readonly publicKey: Uint8Array;
  /** Whether the user compared safety numbers with this contact. */
  readonly verified: boolean;
}

/** Everything the store holds, and nothing else: no message, no session record, no log, no time. */
export interface StoreContent {
  /** The raw 32-byte X25519 identity secret. Wipe it when done. */
  readonly identitySecret: Uint8Array;
  readonly contacts: readonly StoreContact[];
  /**
   * Each session's tor starts fresh and its folder is deleted (no guard kept between sessions). Absent
   * (stores written before the setting existed) means false.
   */
  readonly amnesic?: boolean;
}

/** scrypt cost parameters (RFC 7914 §2): N = 2^logN. */
export interface KdfParams {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
}

export type StoreMode = 'passphrase' | 'no-passphrase';

/** The fields a writer chooses; the key check and checksum are computed from them. */
export interface HeaderFields {
  readonly mode: StoreMode;
  /** scrypt parameters in mode 'passphrase'; ignored (written as zero) in mode 'no-passphrase'. */
  readonly kdf: KdfParams;
  readonly salt: Uint8Array;
  readonly nonce: Uint8Array;
}

/** A parsed, bounded header. */
export interface StoreHeader {
  readonly mode: StoreMode;
  /** Present in mode 'passphrase' only. */
  readonly kdf: KdfParams | null;
  readonly plaintextLength: number;
  readonly salt: Uint8Array;
  readonly nonce: Uint8Array;
  readonly keyCheck: Uint8Array;
  /** The raw header bytes: the AEAD's associated data. */
  readonly bytes: Uint8Array;
}

/** The two keys derived for one file (kdf.ts); wipe both after use. */
export interface StoreKeys {
  /** ChaCha20-Poly1305 key. */
  readonly aeadKey: Uint8Array;
  /** Key of the key check value, separate so the check says nothing about the AEAD key. */
  readonly checkKey: Uint8Array;
}

// --- KDF bounds ---
/** Whether scrypt may be run with these parameters on this machine (bounds above). */
export function kdfParamsInBounds(kdf: KdfParams): boolean {
  const { logN, r, p } = kdf;
  if (!Number.isInteger(logN) || !Number.isInteger(r) || !Number.isInteger(p)) return false;
  if (logN < 1 || logN > STORE_KDF_MAX_LOG_N) return false;
  if (r < 1 || r > STORE_KDF_MAX_R || p < 1 || p > STORE_KDF_MAX_P) return false;
  return 128 * 2 ** logN * r <= STORE_KDF_MAX_MEMORY;
}

// --- header ---
/** SHA-256 of the header up to the checksum, truncated: tells damage from a wrong passphrase. */
function headerChecksum(headerPrefix: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(headerPrefix).digest().subarray(0, STORE_CHECKSUM_SIZE));
}

/**
 * The key check value: a commitment to the derived keys stored in the header, so that a wrong passphrase
 * is recognised before decryption and an AEAD failure under the right key means damage. It gives a
 * guesser nothing the AEAD tag would not: both need one KDF run per guess.
 */
export function keyCheckValue(keys: StoreKeys): Uint8Array {
  const mac = createHmac('sha256', keys.checkKey).update(KEY_CHECK_LABEL).digest();
  const out = new Uint8Array(mac.subarray(0, STORE_KEY_CHECK_SIZE));
  mac.fill(0);
  return out;
}

/**
 * Encodes a header.
 * @throws TypeError / RangeError on a bad salt, nonce or length, or out-of-bounds KDF parameters
 */
export function encodeStoreHeader(fields: HeaderFields, plaintextLength: number, keyCheck: Uint8Array): Uint8Array {
  assertBytes(fields.salt, 'salt', STORE_SALT_SIZE);
  assertBytes(fields.nonce, 'nonce', STORE_NONCE_SIZE);
  assertBytes(keyCheck, 'keyCheck', STORE_KEY_CHECK_SIZE);
  if (!plaintextLengthValid(plaintextLength)) throw new RangeError(`plaintextLength is invalid: ${plaintextLength}`);
  const out = new Uint8Array(STORE_HEADER_SIZE);
  const view = new DataView(out.buffer);
  out.set(STORE_MAGIC, 0);
  out[OFFSET_VERSION] = STORE_VERSION;
  if (fields.mode === 'passphrase') {
    if (!kdfParamsInBounds(fields.kdf)) throw new RangeError('kdf parameters are out of bounds');
    out[OFFSET_MODE] = MODE_PASSPHRASE;
    out[OFFSET_KDF] = fields.kdf.logN;
    out[OFFSET_KDF + 1] = fields.kdf.r;
    out[OFFSET_KDF + 2] = fields.kdf.p;
  } else {
    out[OFFSET_MODE] = MODE_NO_PASSPHRASE;
  }
  view.setUint32(OFFSET_LENGTH, plaintextLength);
  out.set(fields.salt, OFFSET_SALT);
  out.set(fields.nonce, OFFSET_NONCE);
  out.set(keyCheck, OFFSET_KEY_CHECK);
  out.set(headerChecksum(out.subarray(0, OFFSET_CHECKSUM)), OFFSET_CHECKSUM);
  return out;
}

function plaintextLengthValid(n: number): boolean {
  return Number.isInteger(n) && n >= STORE_PAD_BLOCK && n <= STORE_MAX_PLAINTEXT_SIZE && n % STORE_PAD_BLOCK === 0;
}

/**
 * Parses and bounds the header of a whole store file, and checks the file's length against it. Runs no
 * KDF. Order: magic, version, length, checksum, fields, body length.
 * @throws StoreError STORE_BAD_MAGIC, STORE_TRUNCATED, STORE_BAD_VERSION, STORE_CORRUPT
 */
export function parseStoreHeader(file: Uint8Array): StoreHeader {
  const magicSeen = Math.min(file.length, STORE_MAGIC.length);
  if (!equalBytes(file.subarray(0, magicSeen), STORE_MAGIC.subarray(0, magicSeen))) {
    throw new StoreError('STORE_BAD_MAGIC', 'this file is not an Entrechat store');
  }
  const version = file[OFFSET_VERSION];
  if (version === undefined) throw new StoreError('STORE_TRUNCATED', 'the store file is truncated');
  if (version !== STORE_VERSION) {
    throw new StoreError('STORE_BAD_VERSION', `store format version ${version} is not supported`);
  }
  if (file.length < STORE_HEADER_SIZE) throw new StoreError('STORE_TRUNCATED', 'the store file is truncated');
  const bytes = file.subarray(0, STORE_HEADER_SIZE);
  const checksum = headerChecksum(bytes.subarray(0, OFFSET_CHECKSUM));
  if (!equalBytes(checksum, bytes.subarray(OFFSET_CHECKSUM))) {
    throw new StoreError('STORE_CORRUPT', 'the store header is damaged');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const modeByte = view.getUint8(OFFSET_MODE);
  const kdf: KdfParams = {
    logN: view.getUint8(OFFSET_KDF),
    r: view.getUint8(OFFSET_KDF + 1),
    p: view.getUint8(OFFSET_KDF + 2),
  };
  let mode: StoreMode;
  if (modeByte === MODE_PASSPHRASE) {
    if (!kdfParamsInBounds(kdf)) throw new StoreError('STORE_CORRUPT', 'the store KDF parameters are out of bounds');
    mode = 'passphrase';
  } else if (modeByte === MODE_NO_PASSPHRASE) {
    if (kdf.logN !== 0 || kdf.r !== 0 || kdf.p !== 0) {
      throw new StoreError('STORE_CORRUPT', 'a no-passphrase store carries KDF parameters');
    }
    mode = 'no-passphrase';
  } else {
    throw new StoreError('STORE_CORRUPT', 'the store mode is unknown');
  }
  const plaintextLength = view.getUint32(OFFSET_LENGTH);
  if (!plaintextLengthValid(plaintextLength)) throw new StoreError('STORE_CORRUPT', 'the store length field is invalid');
  const expected = STORE_HEADER_SIZE + plaintextLength + AEAD_TAG_SIZE;
  if (file.length < expected) throw new StoreError('STORE_TRUNCATED', 'the store file is truncated');
  if (file.length > expected) throw new StoreError('STORE_CORRUPT', 'the store file has trailing bytes');
  return {
    mode,
    kdf: mode === 'passphrase' ? kdf : null,
    plaintextLength,
    salt: bytes.subarray(OFFSET_SALT, OFFSET_SALT + STORE_SALT_SIZE),
    nonce: bytes.subarray(OFFSET_NONCE, OFFSET_NONCE + STORE_NONCE_SIZE),
    keyCheck: bytes.subarray(OFFSET_KEY_CHECK, OFFSET_KEY_CHECK + STORE_KEY_CHECK_SIZE),
    bytes,
  };
}

// --- plaintext ---
const utf8 = new TextEncoder();
/* decodeUtf8Strict: invalid UTF-8 is damage, not something to repair; a leading U+FEFF is part of a name. */

function encodeName(name: unknown, index: number): Uint8Array {
  if (typeof name !== 'string') throw new TypeError(`contacts[${index}].name must be a string`);
  const bytes = utf8.encode(name);
  // A lone surrogate would be replaced by U+FFFD: the name would not come back as it was given.
  if (decodeUtf8Strict(bytes) !== name) throw new TypeError(`contacts[${index}].name must be well-formed Unicode`);
  if (bytes.length < 1 || bytes.length > STORE_MAX_NAME_BYTES) {
    throw new RangeError(`contacts[${index}].name must be 1 to ${STORE_MAX_NAME_BYTES} UTF-8 bytes, got ${bytes.length}`);
  }
  return bytes;
}

/**
 * Encodes the content as the padded plaintext:
 * version (1) | identity secret (32) | contact count (u32be) | contacts | zero padding to STORE_PAD_BLOCK,
 * or with a setting on, version (2) | … | contacts | settings (1) | zero padding; each contact being verified (1: 0 or 1) | public key (32) | name length (u16be) | name (UTF-8).
 * The caller wipes the result after encrypting it.
 * @throws TypeError / RangeError when the content is malformed or over the limits
 */
export function encodeContent(content: StoreContent): Uint8Array {
  assertBytes(content.identitySecret, 'identitySecret', X25519_KEY_SIZE);
  const contactsValue: unknown = content.contacts;
  if (!Array.isArray(contactsValue)) throw new TypeError('contacts must be an array');
  if (content.contacts.length > STORE_MAX_CONTACTS) {
    throw new RangeError(`contacts must be at most ${STORE_MAX_CONTACTS}, got ${content.contacts.length}`);
  }
  const names = content.contacts.map((c, i) => {
    assertBytes(c.publicKey, `contacts[${i}].publicKey`, X25519_KEY_SIZE);
    if (typeof c.verified !== 'boolean') throw new TypeError(`contacts[${i}].verified must be a boolean`);
    return encodeName(c.name, i);
  });
  const amnesicValue: unknown = content.amnesic;
  if (amnesicValue !== undefined && typeof amnesicValue !== 'boolean') throw new TypeError('amnesic must be a boolean');
  const settings = content.amnesic === true ? SETTING_AMNESIC : 0;
  let used = CONTENT_FIXED_SIZE + (settings !== 0 ? 1 : 0);
  for (const n of names) used += CONTACT_FIXED_SIZE + n.length;
  const size = Math.max(STORE_PAD_BLOCK, Math.ceil(used / STORE_PAD_BLOCK) * STORE_PAD_BLOCK);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = settings !== 0 ? CONTENT_VERSION_SETTINGS : CONTENT_VERSION;
  out.set(content.identitySecret, 1);
  view.setUint32(1 + X25519_KEY_SIZE, content.contacts.length);
  let at = CONTENT_FIXED_SIZE;
  content.contacts.forEach((c, i) => {
    const name = names[i] ?? new Uint8Array(0);
    out[at] = c.verified ? 1 : 0;
    out.set(c.publicKey, at + 1);
    view.setUint16(at + 1 + X25519_KEY_SIZE, name.length);
    out.set(name, at + CONTACT_FIXED_SIZE);
    at += CONTACT_FIXED_SIZE + name.length;
  });
  if (settings !== 0) out[at] = settings;
  return out;
}

/** A copy as a plain Uint8Array (Buffer#slice would return a view, wiped along with its parent). */
function copyOf(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.subarray(start, end));
}

function corrupt(what: string): StoreError {
  return new StoreError('STORE_CORRUPT', `the store content is damaged: ${what}`);
}

/**
 * Decodes the padded plaintext strictly: every length bounded and checked, the verified byte 0 or 1,
 * names well-formed UTF-8, the padding all zero and shorter than one block. Returns copies: the caller
 * may wipe `plaintext` afterwards.
 * @throws StoreError STORE_BAD_VERSION (content written by a newer Entrechat), STORE_CORRUPT
 */
export function decodeContent(plaintext: Uint8Array): StoreContent {
  const view = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  if (plaintext.length < CONTENT_FIXED_SIZE) throw corrupt('too short');
  const version = view.getUint8(0);
  if (version !== CONTENT_VERSION && version !== CONTENT_VERSION_SETTINGS) throw new StoreError('STORE_BAD_VERSION', `store content version ${version} is not supported`);
  const identitySecret = copyOf(plaintext, 1, 1 + X25519_KEY_SIZE);
  const count = view.getUint32(1 + X25519_KEY_SIZE);
  if (count > STORE_MAX_CONTACTS) throw corrupt('too many contacts');
  const contacts: StoreContact[] = [];
  let at = CONTENT_FIXED_SIZE;
  for (let i = 0; i < count; i++) {
    if (at + CONTACT_FIXED_SIZE > plaintext.length) throw corrupt('contact runs past the end');
    const verifiedByte = view.getUint8(at);
    if (verifiedByte > 1) throw corrupt('verified flag is not 0 or 1');
    const publicKey = copyOf(plaintext, at + 1, at + 1 + X25519_KEY_SIZE);
    const nameLength = view.getUint16(at + 1 + X25519_KEY_SIZE);
    if (nameLength < 1 || nameLength > STORE_MAX_NAME_BYTES) throw corrupt('name length out of bounds');
    const nameStart = at + CONTACT_FIXED_SIZE;
    if (nameStart + nameLength > plaintext.length) throw corrupt('name runs past the end');
    let name: string;
    try {
      name = decodeUtf8Strict(plaintext.subarray(nameStart, nameStart + nameLength));
    } catch (cause) {
      throw new StoreError('STORE_CORRUPT', 'the store content is damaged: name is not UTF-8', { cause });
    }
    contacts.push({ name, publicKey, verified: verifiedByte === 1 });
    at = nameStart + nameLength;
  }
  let settings = 0;
  if (version === CONTENT_VERSION_SETTINGS) {
    if (at >= plaintext.length) throw corrupt('settings run past the end');
    settings = view.getUint8(at);
    // Version 2 is written only with a setting on: none, or one this version does not know, is damage.
    if (settings === 0 || (settings & ~KNOWN_SETTINGS) !== 0) throw corrupt('settings byte not valid');
    at += 1;
  }
  const padding = plaintext.subarray(at);
  if (padding.length >= STORE_PAD_BLOCK) throw corrupt('padding of a whole block or more');
  for (const b of padding) if (b !== 0) throw corrupt('non-zero padding');
  return { identitySecret, contacts, amnesic: (settings & SETTING_AMNESIC) !== 0 };
}

// --- sealing ---
/**
 * Encrypts the content into a whole store file under keys the caller derived for `fields.salt`.
 * Nonce reuse is not a concern: every write draws a fresh salt (so fresh keys) and a fresh nonce.
 * @throws TypeError / RangeError on malformed content or fields
 */
export function sealStoreFile(content: StoreContent, fields: HeaderFields, keys: StoreKeys): Uint8Array {
  const plaintext = encodeContent(content);
  try {
    return sealPlaintext(plaintext, fields, keys);
  } finally {
    wipe(plaintext);
  }
}

/** Encrypts an already encoded plaintext (a multiple of STORE_PAD_BLOCK). Exposed for crafted-file tests. */
export function sealPlaintext(plaintext: Uint8Array, fields: HeaderFields, keys: StoreKeys): Uint8Array {
  const header = encodeStoreHeader(fields, plaintext.length, keyCheckValue(keys));
  const cipher = createCipheriv('chacha20-poly1305', keys.aeadKey, fields.nonce, { authTagLength: AEAD_TAG_SIZE });
  cipher.setAAD(header, { plaintextLength: plaintext.length });
  const body = concatBytes(cipher.update(plaintext), cipher.final());
  return concatBytes(header, body, cipher.getAuthTag());
}

/**
 * Checks the key check value, then decrypts and decodes the body.
 * @throws StoreError STORE_WRONG_PASSPHRASE (key check differs in mode 'passphrase'), STORE_CORRUPT
 *   (key check differs in mode 'no-passphrase', AEAD failure under the right key, bad content),
 *   STORE_BAD_VERSION (unknown content version)
 */
export function openStoreFile(file: Uint8Array, header: StoreHeader, keys: StoreKeys): StoreContent {
  const check = keyCheckValue(keys);
  if (!equalBytes(check, header.keyCheck)) {
    // In mode 'no-passphrase' there is nothing the user could have got wrong.
    if (header.mode === 'passphrase') throw new StoreError('STORE_WRONG_PASSPHRASE', 'wrong passphrase');
    throw new StoreError('STORE_CORRUPT', 'the store key check is damaged');
  }
  const bodyEnd = STORE_HEADER_SIZE + header.plaintextLength;
  const decipher = createDecipheriv('chacha20-poly1305', keys.aeadKey, header.nonce, { authTagLength: AEAD_TAG_SIZE });
  decipher.setAuthTag(file.subarray(bodyEnd, bodyEnd + AEAD_TAG_SIZE));
  decipher.setAAD(header.bytes, { plaintextLength: header.plaintextLength });
  const unverified = decipher.update(file.subarray(STORE_HEADER_SIZE, bodyEnd));
  try {
    decipher.final();
  } catch (cause) {
    unverified.fill(0);
    throw new StoreError('STORE_CORRUPT', 'the store is damaged (authentication failed)', { cause });
  }
  try {
    return decodeContent(unverified);
  } finally {
    unverified.fill(0);
  }
}
