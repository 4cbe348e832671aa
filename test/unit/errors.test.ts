import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  CryptoError,
  ERROR_CODES,
  InternalError,
  ProtocolError,
  StoreError,
  TorError,
  UsageError,
  type ErrorCode,
} from '../../src/core/errors.ts';

test('docs/errors.md lists every code exactly once, under its group, and nothing else', async () => {
  const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const sections = doc.split(/^## /m).slice(1);
  const listed = new Map<string, string>();
  for (const s of sections) {
    const title = s.split('\n')[0]!.trim();
    for (const m of s.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)) {
      assert.ok(!listed.has(m[1]!), `${m[1]!} listed twice`);
      listed.set(m[1]!, title);
    }
  }
  const group: Record<string, string> = { user: 'UsageError', peer: 'ProtocolError', crypto: 'CryptoError', tor: 'TorError', store: 'StoreError', internal: 'InternalError' };
  for (const [code, fault] of Object.entries(ERROR_CODES)) {
    assert.equal(listed.get(code), group[fault], `${code} documented under ${group[fault]!}`);
  }
  assert.deepEqual([...listed.keys()].filter((c) => !(c in ERROR_CODES)), [], 'no stale codes in the doc');
});

test('each class carries its fault and code', () => {
  const cases: [Error & { code: ErrorCode; fault: string }, string][] = [
    [new UsageError('BAD_ARGUMENT', 'x'), 'user'],
    [new ProtocolError('PEER_GONE', 'x'), 'peer'],
    [new CryptoError('DECRYPT_FAILED', 'x'), 'crypto'],
    [new TorError('TOR_BOOTSTRAP_TIMEOUT', 'x'), 'tor'],
    [new StoreError('STORE_CORRUPT', 'x'), 'store'],
    [new InternalError('x'), 'internal'],
  ];
  for (const [e, fault] of cases) {
    assert.equal(e.fault, fault);
    assert.equal(ERROR_CODES[e.code], fault);
    assert.equal(e.name, e.constructor.name);
  }
});
