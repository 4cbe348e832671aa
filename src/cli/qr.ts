/**
 * The contact code as a QR code drawn with Unicode half blocks, for a phone's camera. The code is
 * encoded in upper case: bech32 allows it, `contacts add` accepts it, and QR's alphanumeric mode then
 * fits error correction level Q (about 25 % of the symbol may be damaged) in a version-4 symbol
 * (33 modules), where the lower-case text in byte mode would need a larger one.
 */
import { encode, renderUnicodeCompact } from 'uqr';

const QR_OPTIONS = { ecc: 'Q', border: 2 } as const;

/** The QR symbol's version (size) for a contact code. */
export function contactQrVersion(code: string): number {
  return encode(code.toUpperCase(), QR_OPTIONS).version;
}

/** Lines of text that draw the QR code of `code` (light modules as blocks, for a dark terminal). */
export function contactQr(code: string): string[] {
  return renderUnicodeCompact(code.toUpperCase(), QR_OPTIONS).split('\n');
}
