/**
 * Strict UTF-8 decoding that needs no ICU. `new TextDecoder('utf-8', { fatal: true })` throws
 * ERR_NO_ICU on a Node built without ICU, as nodejs-mobile's Android and iOS builds are (see
 * docs/mobile.md), and such a decoder made at module level would stop the whole bundle from loading.
 * `isUtf8` (node:buffer, Node ≥ 18.14) checks the bytes exactly as the WHATWG fatal decoder does
 * (no overlong forms, no surrogates, nothing above U+10FFFF, nothing cut short); decoding valid bytes
 * is then the same with any decoder.
 */
import { Buffer, isUtf8 } from 'node:buffer';

/** The message TextDecoder gives for invalid input, so that a caller's `cause` reads the same. */
const INVALID = 'The encoded data was not valid for encoding utf-8';

/**
 * The text of `bytes`, which must be well-formed UTF-8. A leading U+FEFF is kept as part of the text
 * (TextDecoder's `ignoreBOM: true`).
 * @throws TypeError when the bytes are not well-formed UTF-8
 */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  if (!isUtf8(bytes)) throw new TypeError(INVALID);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}
