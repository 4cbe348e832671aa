/** The contact code's QR code: upper case, alphanumeric mode, a small symbol a phone reads at once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { encode } from 'uqr';
import { encodeContactCode } from '../../src/core/codes.ts';
import { contactQr, contactQrVersion } from '../../src/cli/qr.ts';

test('every contact code fits a version-4 QR code (33 modules) at error correction Q; in lower case it would not', () => {
  for (let i = 0; i < 50; i++) {
    const code = encodeContactCode(randomBytes(32));
    assert.equal(contactQrVersion(code), 4);
    assert.ok(encode(code, { ecc: 'Q' }).version > 4, 'byte mode needs a larger symbol');
  }
});

test('the drawing is the symbol plus its border, two module rows per line', () => {
  const code = encodeContactCode(randomBytes(32));
  const lines = contactQr(code);
  const modules = 33 + 2 * 2;
  assert.equal(lines.length, Math.ceil(modules / 2));
  for (const line of lines) assert.equal(Array.from(line).length, modules);
  assert.ok(lines.every((l) => /^[ █▀▄]+$/u.test(l)));
});
