import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, type ErrorCode } from '../../src/core/errors.ts';
import { ERROR_WORDS } from '../../src/app/error-words.ts';
import { ERROR_WORDS_FR } from '../../src/app/error-words-fr.ts';

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

test('every error code has French words, and there are no others', () => {
  for (const code of CODES) {
    const fr = ERROR_WORDS_FR[code] as string | undefined;
    assert.ok(typeof fr === 'string' && fr.trim().length > 0, `${code} has French words`);
    assert.notEqual(fr, ERROR_WORDS[code], `${code} is translated`);
  }
  assert.deepEqual(Object.keys(ERROR_WORDS_FR).filter((c) => !(c in ERROR_CODES)), [], 'no stale codes');
});

test('the French words keep every number, command and code name of the English ones', () => {
  for (const code of CODES) {
    const keep = ERROR_WORDS[code].match(/\d+|--[a-z-]+|entrechat [a-z]+|chmod \d+|ec1|[A-Z]{2,}[A-Z_0-9()]*/g) ?? [];
    for (const k of keep.filter((w) => !['UTF', 'FILE', 'PATH', 'SOCKS', 'README'].includes(w))) {
      assert.ok(ERROR_WORDS_FR[code].includes(k), `${code}: "${k}" in the French words`);
    }
  }
});
