/**
 * Noise_KK_25519_ChaChaPoly_<hash> (Noise Protocol Framework, revision 34), over node:crypto.
 *
 * Only the KK pattern is implemented, the one Entrechat uses: both peers know each other's static key
 * before they connect (contacts are exchanged out of band).
 *
 * ```
 * KK:
 *   -> s
 *   <- s
 *   ...
 *   -> e, es, ss
 *   <- e, ee, se
 * ```
 *
 * Pure: no I/O, no clock and no randomness drawn here; the caller injects `random` for the ephemeral
 * secret. Secret hygiene (STYLE.md §7): the ephemeral secret bytes are zeroed as soon as they are
 * imported, every DH output and HKDF intermediate as soon as it is used; the chaining key `ck`, the
 * handshake key `k` and the HMAC scratch space are zeroed when the handshake completes, fails or is
 * wiped, and the ephemeral KeyObjects are dropped. Transport keys
 * are zeroed by {@link CipherState.wipe}. Node keeps its own copies inside KeyObjects and OpenSSL
 * contexts, out of our reach; we drop our references to them.
 */
import { createCipheriv, createDecipheriv, createHash, KeyObject } from 'node:crypto';
import { assertBytes, wipe } from './bytes.ts';
import { hashOnce } from './hash-once.ts';
import { CryptoError, InternalError } from './errors.ts';
import { AEAD_TAG_SIZE, DH_SIZE } from './limits.ts';
import { x25519, x25519FromSecret, x25519PublicKey, type X25519Key } from './x25519.ts';

// --- names and sizes ---

/** The hash functions of Noise §12.4–12.6 that node:crypto provides. */
export type NoiseHash = 'BLAKE2s' | 'BLAKE2b' | 'SHA256' | 'SHA512';
export const NOISE_HASHES: readonly NoiseHash[] = ['BLAKE2s', 'BLAKE2b', 'SHA256', 'SHA512'];

/** The hash Entrechat's sessions use (docs/protocol.md): fast in software, 32-byte output. */
export const ENTRECHAT_NOISE_HASH = 'BLAKE2s' satisfies NoiseHash;

/** Largest Noise message, handshake or transport (Noise §3): lengths travel in 16 bits. */
export const NOISE_MAX_MESSAGE = 65535;
/** Cipher key size for ChaChaPoly (Noise §5.1). */
export const NOISE_KEY_SIZE = 32;
/** Largest plaintext one transport message can carry: the maximum message minus the tag. */
export const NOISE_MAX_PLAINTEXT = NOISE_MAX_MESSAGE - AEAD_TAG_SIZE;
/** Smallest valid KK handshake message: an ephemeral key and the tag of an empty payload. */
export const NOISE_MIN_HANDSHAKE_MESSAGE = DH_SIZE + AEAD_TAG_SIZE;
/** Largest payload of a KK handshake message: the ephemeral key and the tag share the 65535 bytes. */
export const NOISE_MAX_HANDSHAKE_PAYLOAD = NOISE_MAX_MESSAGE - NOISE_MIN_HANDSHAKE_MESSAGE;
/** n = 2^64 − 1 is reserved (Noise §5.1): a cipher state whose nonce reaches it is exhausted. */
export const NOISE_MAX_NONCE = 2n ** 64n - 1n;

/** `Noise_KK_25519_ChaChaPoly_<hash>`, the protocol name hashed into the handshake (Noise §8). */
export function noiseProtocolName(hash: NoiseHash): string {
  return `Noise_KK_25519_ChaChaPoly_${hash}`;
}

interface HashSpec {
  /** node:crypto algorithm name. */
  readonly node: string;
  /** HASHLEN (Noise §4.3). */
  readonly len: number;
  /** BLOCKLEN (Noise §4.3), the HMAC block size. */
  readonly block: number;
  /** h of InitializeSymmetric (Noise §5.2): the protocol name, padded or hashed to HASHLEN. */
  readonly h0: Uint8Array;
}

function hashSpec(hash: NoiseHash, node: string, len: number, block: number): HashSpec {
  const name = new TextEncoder().encode(noiseProtocolName(hash));
  let h0: Uint8Array;
  if (name.length <= len) {
    h0 = new Uint8Array(len);
    h0.set(name);
  } else {
    h0 = new Uint8Array(createHash(node).update(name).digest());
  }
  return { node, len, block, h0 };
}

/** Constants computed once: the initial h of each protocol. Never mutated (copied into each handshake). */
const HASHES: Readonly<Record<NoiseHash, HashSpec>> = {
  BLAKE2s: hashSpec('BLAKE2s', 'blake2s256', 32, 64),
  BLAKE2b: hashSpec('BLAKE2b', 'blake2b512', 64, 128),
  SHA256: hashSpec('SHA256', 'sha256', 32, 64),
  SHA512: hashSpec('SHA512', 'sha512', 64, 128),
};

const EMPTY = new Uint8Array(0);
const BYTE_1 = new Uint8Array([1]);
const BYTE_2 = new Uint8Array([2]);

/**
 * Narrow accessor for tests of secret hygiene: `state[SECRETS_FOR_TEST]()` returns the very arrays that
 * hold the secrets (not copies), so a test can check they are all zero after completion, failure or
 * wipe. It reveals nothing a caller in the same process could not reach anyway, and is never logged.
 */
export const SECRETS_FOR_TEST: unique symbol = Symbol('entrechat.noise.secretsForTest');

// --- CipherState (Noise §5.1) ---

/**
 * A ChaChaPoly cipher state: key k and 64-bit counter n. Nonce = 4 zero bytes ‖ n little-endian
 * (Noise §12.3). Transport messages are produced and consumed strictly in order: any replayed, dropped
 * or reordered message fails to decrypt.
 */
export class CipherState {
  readonly #k: Uint8Array;
  #n = 0n;
  #wiped = false;
  readonly #nonce = new Uint8Array(12);
  readonly #nonceView = new DataView(this.#nonce.buffer);

  /**
   * Takes ownership of `key` (it is zeroed by {@link wipe}). Made by {@link HandshakeState.split}.
   * @throws TypeError / RangeError if the key is not 32 bytes
   */
  constructor(key: Uint8Array) {
    assertBytes(key, 'key', NOISE_KEY_SIZE);
    this.#k = key;
  }

  /** The next nonce to be used. */
  get nonce(): bigint {
    return this.#n;
  }

  /** True once {@link wipe} ran: the key is zero and the state refuses to work. */
  get wiped(): boolean {
    return this.#wiped;
  }

  /**
   * SetNonce (Noise §5.1), restricted to moving forward so that a nonce can never be used twice with
   * this key. Up to {@link NOISE_MAX_NONCE}, where the state is exhausted.
   * @throws RangeError if `n` is below the current nonce or above 2^64 − 1
   */
  setNonce(n: bigint): void {
    if (typeof n !== 'bigint') throw new TypeError('n must be a bigint');
    if (n < this.#n || n > NOISE_MAX_NONCE) throw new RangeError('n must be between the current nonce and 2^64 - 1');
    this.#n = n;
  }

  /**
   * EncryptWithAd (Noise §5.1): returns ciphertext ‖ 16-byte tag and advances the nonce.
   * @throws CryptoError HANDSHAKE_STATE after {@link wipe}; NONCE_EXHAUSTED at n = 2^64 − 1
   * @throws TypeError / RangeError for a non-byte or oversized plaintext (over {@link NOISE_MAX_PLAINTEXT})
   */
  encrypt(plaintext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
    assertBytes(plaintext, 'plaintext');
    assertBytes(ad, 'ad');
    if (plaintext.length > NOISE_MAX_PLAINTEXT) {
      throw new RangeError(`plaintext must be at most ${NOISE_MAX_PLAINTEXT} bytes, got ${plaintext.length}`);
    }
    this.#usable();
    const out = aeadEncrypt(this.#k, this.#nonceFor(this.#n), ad, plaintext);
    this.#n += 1n;
    return out;
  }

  /**
   * DecryptWithAd (Noise §5.1): returns the plaintext and advances the nonce. On failure the nonce
   * is not advanced (the caller ends the session anyway).
   * @throws CryptoError DECRYPT_FAILED if authentication fails or the ciphertext cannot be one (shorter
   *   than the tag, longer than {@link NOISE_MAX_MESSAGE}); HANDSHAKE_STATE after {@link wipe};
   *   NONCE_EXHAUSTED at n = 2^64 − 1
   * @throws TypeError if an argument is not a Uint8Array
   */
  decrypt(ciphertext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
    assertBytes(ciphertext, 'ciphertext');
    assertBytes(ad, 'ad');
    this.#usable();
    if (ciphertext.length < AEAD_TAG_SIZE || ciphertext.length > NOISE_MAX_MESSAGE) {
      throw new CryptoError('DECRYPT_FAILED', 'transport message has an impossible length');
    }
    const out = aeadDecrypt(this.#k, this.#nonceFor(this.#n), ad, ciphertext);
    this.#n += 1n;
    return out;
  }

  /** Zeroes the key; any later encrypt/decrypt throws HANDSHAKE_STATE. Idempotent. */
  wipe(): void {
    this.#k.fill(0);
    this.#wiped = true;
  }

  /** See {@link SECRETS_FOR_TEST}. */
  [SECRETS_FOR_TEST](): { readonly k: Uint8Array } {
    return { k: this.#k };
  }

  #usable(): void {
    if (this.#wiped) throw new CryptoError('HANDSHAKE_STATE', 'cipher state was wiped');
    if (this.#n >= NOISE_MAX_NONCE) throw new CryptoError('NONCE_EXHAUSTED', 'cipher state nonce exhausted');
  }

  #nonceFor(n: bigint): Uint8Array {
    this.#nonceView.setBigUint64(4, n, true);
    return this.#nonce;
  }
}

function aeadEncrypt(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_SIZE });
  if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  cipher.final();
  // Buffer.concat is measurably cheaper here than a fresh Uint8Array and two set() calls.
  return Buffer.concat([body, cipher.getAuthTag()], body.length + AEAD_TAG_SIZE);
}

/** @throws CryptoError DECRYPT_FAILED; the unauthenticated plaintext is zeroed before throwing. */
function aeadDecrypt(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const split = ciphertext.length - AEAD_TAG_SIZE;
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_SIZE });
  if (ad.length > 0) decipher.setAAD(ad, { plaintextLength: split });
  decipher.setAuthTag(ciphertext.subarray(split));
  const body = decipher.update(ciphertext.subarray(0, split));
  try {
    decipher.final();
  } catch (cause) {
    body.fill(0);
    throw new CryptoError('DECRYPT_FAILED', 'message failed to authenticate', { cause });
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

// --- HandshakeState (Noise §5.2, §5.3) ---

/** What {@link createHandshake} needs. */
export interface HandshakeOptions {
  /** Hash function; Entrechat uses {@link ENTRECHAT_NOISE_HASH}. */
  readonly hash: NoiseHash;
  /** True for the dialer (ARCHITECTURE.md: initiator = dialer). */
  readonly initiator: boolean;
  /** Bytes both sides must agree on; a mismatch makes the first message fail to decrypt. */
  readonly prologue: Uint8Array;
  /** Our static key pair. */
  readonly s: X25519Key;
  /** The peer's static public key (32 bytes), known in advance in KK. */
  readonly rs: Uint8Array;
  /** Source of randomness, called once with 32 for the ephemeral secret; its output is zeroed after use. */
  readonly random: (n: number) => Uint8Array;
  /** Fixed ephemeral secret, for published test vectors only; copied, the caller's array is left alone. */
  readonly e?: Uint8Array;
}

/** The transport keys and the handshake hash, once the handshake is complete. */
export interface SplitResult {
  /** Encrypts what we send (initiator: first key of Split, responder: second). */
  readonly send: CipherState;
  /** Decrypts what we receive. */
  readonly recv: CipherState;
  /** h at the end of the handshake (Noise §11.2): identifies this session, the same on both sides. */
  readonly handshakeHash: Uint8Array;
}

type Phase =
  | 'write1' // initiator, before `-> e, es, ss`
  | 'read1' // responder, before `-> e, es, ss`
  | 'write2' // responder, before `<- e, ee, se`
  | 'read2' // initiator, before `<- e, ee, se`
  | 'complete' // transport keys ready for split()
  | 'split' // transport keys handed out
  | 'failed'; // a message failed, or wiped: absorbing

/**
 * Starts a KK handshake. The initiator writes first.
 * @throws TypeError / RangeError on malformed options (argument named in the message)
 * @throws CryptoError BAD_PUBLIC_KEY if `rs` cannot be imported
 */
export function createHandshake(options: HandshakeOptions): HandshakeState {
  return new HandshakeState(options);
}

/**
 * One side of a Noise KK handshake. Two messages, then {@link split}. Any failure is final: the state
 * wipes itself and every later call throws HANDSHAKE_STATE (handshakes are never retried).
 */
export class HandshakeState {
  readonly #hash: HashSpec;
  readonly #initiator: boolean;
  readonly #s: KeyObject;
  readonly #rs: KeyObject;
  readonly #random: (n: number) => Uint8Array;
  readonly #fixedE: Uint8Array | undefined;
  /** Ephemeral secret bytes: filled just before import, zeroed right after. */
  readonly #eSecret = new Uint8Array(DH_SIZE);
  #e: KeyObject | undefined;
  #re: KeyObject | undefined;
  /** Chaining key, HASHLEN bytes, overwritten in place by each MixKey. */
  readonly #ck: Uint8Array;
  /** Handshake hash, HASHLEN bytes. */
  #h: Uint8Array;
  /** Handshake cipher key, overwritten in place; a fresh nonce (0) after each MixKey. */
  readonly #k = new Uint8Array(NOISE_KEY_SIZE);
  /** HMAC working space: padded keys and inner hashes pass through here; zeroed with the rest. */
  readonly #scratch: Uint8Array;
  #phase: Phase;
  #result: SplitResult | undefined;

  /** Use {@link createHandshake}. */
  constructor(options: HandshakeOptions) {
    if (!isObject(options)) throw new TypeError('options must be an object');
    if (!NOISE_HASHES.includes(options.hash)) throw new TypeError(`hash must be one of ${NOISE_HASHES.join(', ')}`);
    const spec = HASHES[options.hash];
    if (typeof options.initiator !== 'boolean') throw new TypeError('initiator must be a boolean');
    assertBytes(options.prologue, 'prologue');
    if (!isObject(options.s)) throw new TypeError('s must be an X25519Key');
    const { privateKey } = options.s;
    if (!(privateKey instanceof KeyObject) || privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'x25519') {
      throw new TypeError('s.privateKey must be an X25519 private KeyObject');
    }
    assertBytes(options.s.publicKey, 's.publicKey', DH_SIZE);
    assertBytes(options.rs, 'rs', DH_SIZE);
    if (typeof options.random !== 'function') throw new TypeError('random must be a function');
    if (options.e !== undefined) assertBytes(options.e, 'e', DH_SIZE);

    this.#hash = spec;
    this.#initiator = options.initiator;
    this.#s = privateKey;
    this.#rs = importPublic(options.rs);
    this.#random = options.random;
    this.#fixedE = options.e === undefined ? undefined : Uint8Array.from(options.e);
    // InitializeSymmetric(protocol_name): h = padded or hashed name; ck = h (Noise §5.2).
    this.#h = Uint8Array.from(spec.h0);
    this.#ck = Uint8Array.from(spec.h0);
    this.#scratch = new Uint8Array(spec.block + spec.len + 1);
    this.#mixHash(options.prologue);
    // Pre-messages `-> s`, `<- s`: the initiator's static key is hashed first (Noise §7.1).
    if (this.#initiator) {
      this.#mixHash(options.s.publicKey);
      this.#mixHash(options.rs);
    } else {
      this.#mixHash(options.rs);
      this.#mixHash(options.s.publicKey);
    }
    this.#phase = this.#initiator ? 'write1' : 'read1';
  }

  /** True once both handshake messages have been processed and {@link split} can be called. */
  get complete(): boolean {
    return this.#phase === 'complete' || this.#phase === 'split';
  }

  /**
   * Writes the next handshake message: `-> e, es, ss` (initiator) or `<- e, ee, se` (responder).
   * Layout: our ephemeral public key (32 bytes) ‖ encrypted payload ‖ 16-byte tag.
   * @throws TypeError / RangeError for a non-byte payload or one over {@link NOISE_MAX_HANDSHAKE_PAYLOAD}
   *   (the state is unchanged)
   * @throws CryptoError HANDSHAKE_STATE if it is not our turn; BAD_PUBLIC_KEY if the peer's static key
   *   has small order (the handshake is then failed)
   */
  writeMessage(payload: Uint8Array): Uint8Array {
    assertBytes(payload, 'payload');
    if (payload.length > NOISE_MAX_HANDSHAKE_PAYLOAD) {
      throw new RangeError(`payload must be at most ${NOISE_MAX_HANDSHAKE_PAYLOAD} bytes, got ${payload.length}`);
    }
    const phase = this.#phase;
    if (phase !== 'write1' && phase !== 'write2') throw this.#outOfTurn('writeMessage');
    try {
      const e = this.#generateEphemeral();
      const out = new Uint8Array(DH_SIZE + payload.length + AEAD_TAG_SIZE);
      out.set(e.publicKey);
      this.#mixHash(e.publicKey);
      if (phase === 'write1') {
        // -> e, es, ss
        this.#mixKey(x25519(e.privateKey, this.#rs), false);
        this.#mixKey(x25519(this.#s, this.#rs), true);
      } else {
        // <- e, ee, se   (se: the initiator's static with our ephemeral)
        this.#mixKey(x25519(e.privateKey, this.#reOrThrow()), false);
        this.#mixKey(x25519(e.privateKey, this.#rs), true);
      }
      out.set(this.#encryptAndHash(payload), DH_SIZE);
      this.#advance();
      return out;
    } catch (error) {
      this.#fail();
      throw error;
    }
  }

  /**
   * Reads the peer's handshake message and returns its payload.
   * @throws CryptoError DECRYPT_FAILED if the message does not authenticate (wrong static key on either
   *   side, different prologue, tampering) or has an impossible length; BAD_PUBLIC_KEY for a small-order
   *   ephemeral key; HANDSHAKE_STATE if it is not our turn. Any of these fails the handshake for good.
   * @throws TypeError if `message` is not a Uint8Array (the state is unchanged)
   */
  readMessage(message: Uint8Array): Uint8Array {
    assertBytes(message, 'message');
    const phase = this.#phase;
    if (phase !== 'read1' && phase !== 'read2') throw this.#outOfTurn('readMessage');
    try {
      if (message.length < NOISE_MIN_HANDSHAKE_MESSAGE || message.length > NOISE_MAX_MESSAGE) {
        throw new CryptoError('DECRYPT_FAILED', 'handshake message has an impossible length');
      }
      const reRaw = message.subarray(0, DH_SIZE);
      const re = importPublic(reRaw);
      this.#re = re;
      this.#mixHash(reRaw);
      if (phase === 'read1') {
        // -> e, es, ss   (es: our static with the initiator's ephemeral)
        this.#mixKey(x25519(this.#s, re), false);
        this.#mixKey(x25519(this.#s, this.#rs), true);
      } else {
        // <- e, ee, se   (se: our static with the responder's ephemeral)
        this.#mixKey(x25519(this.#eOrThrow(), re), false);
        this.#mixKey(x25519(this.#s, re), true);
      }
      const payload = this.#decryptAndHash(message.subarray(DH_SIZE));
      this.#advance();
      return payload;
    } catch (error) {
      this.#fail();
      throw error;
    }
  }

  /**
   * Hands out the transport cipher states (Split, Noise §5.2) and the handshake hash. Once only.
   * @throws CryptoError HANDSHAKE_STATE before completion, after a failure or on a second call
   */
  split(): SplitResult {
    const result = this.#result;
    if (this.#phase !== 'complete' || result === undefined) {
      throw new CryptoError('HANDSHAKE_STATE', `split() is not allowed in state ${this.#phase}`);
    }
    this.#result = undefined;
    this.#phase = 'split';
    return result;
  }

  /**
   * Abandons the handshake (timeout, connection lost): zeroes every secret it holds, including transport
   * keys not yet taken by {@link split}. Later calls throw HANDSHAKE_STATE. Idempotent.
   */
  wipe(): void {
    if (this.#phase !== 'split') this.#fail();
  }

  /** See {@link SECRETS_FOR_TEST}: the arrays holding the ephemeral secret, ck and the handshake k. */
  [SECRETS_FOR_TEST](): { readonly e: Uint8Array; readonly ck: Uint8Array; readonly k: Uint8Array; readonly scratch: Uint8Array } {
    return { e: this.#eSecret, ck: this.#ck, k: this.#k, scratch: this.#scratch };
  }

  #outOfTurn(call: string): CryptoError {
    return new CryptoError('HANDSHAKE_STATE', `${call}() is not allowed in state ${this.#phase}`);
  }

  #eOrThrow(): KeyObject {
    if (this.#e === undefined) throw new InternalError('ephemeral key missing');
    return this.#e;
  }

  #reOrThrow(): KeyObject {
    if (this.#re === undefined) throw new InternalError('remote ephemeral key missing');
    return this.#re;
  }

  /** Token `e`: a fresh ephemeral key from the injected randomness (or the fixed test-vector secret). */
  #generateEphemeral(): X25519Key {
    if (this.#fixedE !== undefined) {
      this.#eSecret.set(this.#fixedE);
    } else {
      const drawn = this.#random(DH_SIZE);
      assertBytes(drawn, 'random(32)', DH_SIZE);
      this.#eSecret.set(drawn);
      drawn.fill(0);
    }
    try {
      const e = x25519FromSecret(this.#eSecret);
      this.#e = e.privateKey;
      return e;
    } finally {
      this.#eSecret.fill(0);
    }
  }

  /** MixHash (Noise §5.2): h = HASH(h ‖ data). */
  #mixHash(data: Uint8Array): void {
    const h = this.#h;
    if (data.length > MIX_HASH_ONE_SHOT_MAX) {
      this.#h = createHash(this.#hash.node).update(h).update(data).digest();
      return;
    }
    const input = new Uint8Array(h.length + data.length);
    input.set(h);
    input.set(data, h.length);
    this.#h = hashOnce(this.#hash.node, input);
  }

  /**
   * MixKey (Noise §5.2): ck, temp_k = HKDF(ck, ikm, 2); k = temp_k truncated to 32 bytes; n = 0.
   * `withK` false skips output2 when the next token is another MixKey that overwrites k unused
   * (es before ss, ee before se): same result, one HMAC less. Zeroes `ikm` (a DH output).
   */
  #mixKey(ikm: Uint8Array, withK: boolean): void {
    // HKDF (Noise §4.3): temp_key = HMAC(ck, ikm); output1 = HMAC(temp_key, 0x01);
    // output2 = HMAC(temp_key, output1 ‖ 0x02).
    const tempKey = hmac(this.#hash, this.#scratch, this.#ck, ikm);
    ikm.fill(0);
    const output1 = hmac(this.#hash, this.#scratch, tempKey, BYTE_1);
    if (withK) {
      const output2 = hmac(this.#hash, this.#scratch, tempKey, output1, BYTE_2);
      this.#k.set(output2.subarray(0, NOISE_KEY_SIZE));
      output2.fill(0);
    }
    this.#ck.set(output1);
    wipe(tempKey, output1);
  }

  /** EncryptAndHash (Noise §5.2) with the handshake key; each handshake k is used once, with n = 0. */
  #encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = aeadEncrypt(this.#k, ZERO_NONCE, this.#h, plaintext);
    this.#mixHash(ciphertext);
    return ciphertext;
  }

  /** DecryptAndHash (Noise §5.2). @throws CryptoError DECRYPT_FAILED */
  #decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = aeadDecrypt(this.#k, ZERO_NONCE, this.#h, ciphertext);
    this.#mixHash(ciphertext);
    return plaintext;
  }

  /** Moves to the next phase; after the second message, splits and zeroes the handshake secrets. */
  #advance(): void {
    switch (this.#phase) {
      case 'write1':
        this.#phase = 'read2';
        return;
      case 'read1':
        this.#phase = 'write2';
        return;
      case 'write2':
      case 'read2':
        this.#finish();
        return;
      case 'complete':
      case 'split':
      case 'failed':
        throw new InternalError(`advance from ${this.#phase}`);
    }
  }

  /** Split (Noise §5.2): k1, k2 = HKDF(ck, zerolen, 2), each truncated to 32 bytes. */
  #finish(): void {
    const tempKey = hmac(this.#hash, this.#scratch, this.#ck, EMPTY);
    const output1 = hmac(this.#hash, this.#scratch, tempKey, BYTE_1);
    const output2 = hmac(this.#hash, this.#scratch, tempKey, output1, BYTE_2);
    const c1 = new CipherState(Uint8Array.from(output1.subarray(0, NOISE_KEY_SIZE)));
    const c2 = new CipherState(Uint8Array.from(output2.subarray(0, NOISE_KEY_SIZE)));
    wipe(tempKey, output1, output2);
    this.#result = this.#initiator
      ? { send: c1, recv: c2, handshakeHash: Uint8Array.from(this.#h) }
      : { send: c2, recv: c1, handshakeHash: Uint8Array.from(this.#h) };
    this.#clearHandshakeSecrets();
    this.#phase = 'complete';
  }

  #clearHandshakeSecrets(): void {
    wipe(this.#eSecret, this.#ck, this.#k, this.#scratch, this.#fixedE);
    this.#e = undefined;
    this.#re = undefined;
  }

  #fail(): void {
    this.#clearHandshakeSecrets();
    this.#h.fill(0);
    if (this.#result !== undefined) {
      this.#result.send.wipe();
      this.#result.recv.wipe();
      this.#result = undefined;
    }
    this.#phase = 'failed';
  }
}

/** Data up to this size is hashed with one call on a concatenation; beyond, incrementally (no big copy). */
const MIX_HASH_ONE_SHOT_MAX = 1024;

/**
 * HMAC-HASH(key, data1 ‖ data2) (RFC 2104; Noise §4.3), from two one-shot hashes: measured faster
 * than createHmac for the 26 short HMACs of a KK handshake pair. `key` is at most HASHLEN ≤ BLOCKLEN
 * bytes, so it is only padded, never hashed. `scratch` is BLOCKLEN + HASHLEN + 1 bytes and keeps the
 * padded key; the caller zeroes it.
 */
function hmac(spec: HashSpec, scratch: Uint8Array, key: Uint8Array, data1: Uint8Array, data2: Uint8Array = EMPTY): Buffer {
  const block = spec.block;
  for (let i = 0; i < key.length; i++) scratch[i] = (key[i] ?? 0) ^ 0x36;
  scratch.fill(0x36, key.length, block);
  scratch.set(data1, block);
  scratch.set(data2, block + data1.length);
  const inner = hashOnce(spec.node, scratch.subarray(0, block + data1.length + data2.length));
  for (let i = 0; i < key.length; i++) scratch[i] = (key[i] ?? 0) ^ 0x5c;
  scratch.fill(0x5c, key.length, block);
  scratch.set(inner, block);
  inner.fill(0);
  return hashOnce(spec.node, scratch.subarray(0, block + spec.len));
}

/** Handshake messages use each key once (one MixKey per encryption in KK), so n is always 0. */
const ZERO_NONCE = new Uint8Array(12);

/** Boundary check for callers that escape the type system (plain JS, parsed input). */
function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/** @throws CryptoError BAD_PUBLIC_KEY */
function importPublic(raw: Uint8Array): KeyObject {
  try {
    return x25519PublicKey(raw);
  } catch (cause) {
    throw new CryptoError('BAD_PUBLIC_KEY', 'X25519 public key could not be imported', { cause });
  }
}
