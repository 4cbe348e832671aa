/**
 * Issue 9 §5: the header read that decides whether to ask for a passphrase goes through the store's
 * checked path; a passphrase given for a store that has none is refused; passphrase files are secrets;
 * weak passphrases are estimated and warned about.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { refuseUnprotectedStore, storeNeedsPassphrase } from '../../src/app/store-auth.ts';
import { readPassphraseFile, weakPassphraseWarning } from '../../src/app/passphrase.ts';
import { createStore, decodeStore, encodeStore, storePath } from '../../src/store/store.ts';
import { STORE_MAX_FILE_SIZE } from '../../src/store/format.ts';
import { PASSPHRASE_FILE_MAX_SIZE, PASSPHRASE_WEAK_BITS } from '../../src/core/limits.ts';
import { estimatePassphraseBits, WORD_BITS } from '../../src/core/strength.ts';

const posix = process.platform !== 'win32';
let root = '';
let n = 0;
const fresh = (): string => join(root, `d-${n++}`);
before(() => { root = mkdtempSync(join(tmpdir(), 'entrechat-store-auth-')); });
after(() => { rmSync(root, { recursive: true, force: true }); });

const content = () => ({ identitySecret: new Uint8Array(32).fill(7), contacts: [] });
const FAST = { kdf: { logN: 4, r: 1, p: 1 } };

function privateHome(): string {
  const home = fresh();
  mkdirSync(home, { mode: 0o700 });
  chmodSync(home, 0o700);
  return home;
}

describe('the header read (storeNeedsPassphrase) goes through the checked path', { skip: !posix }, () => {
  test('reads the mode of a real store, both ways', async () => {
    const a = fresh();
    const b = fresh();
    await createStore(a, content(), { noPassphrase: true });
    await createStore(b, content(), { passphrase: 'x' }, FAST);
    assert.equal(await storeNeedsPassphrase(a), false);
    assert.equal(await storeNeedsPassphrase(b), true);
  });

  test('a store symlinked to /dev/zero → STORE_BAD_PERMISSIONS, nothing read', async () => {
    const home = privateHome();
    symlinkSync('/dev/zero', storePath(home));
    await assert.rejects(storeNeedsPassphrase(home), { code: 'STORE_BAD_PERMISSIONS' });
  });

  test('a FIFO in place of the store → STORE_BAD_PERMISSIONS at once, no hang', { timeout: 20_000 }, async () => {
    const home = privateHome();
    execFileSync('mkfifo', ['-m', '600', storePath(home)]);
    await assert.rejects(storeNeedsPassphrase(home), { code: 'STORE_BAD_PERMISSIONS' });
  });

  test('a store readable by others → STORE_BAD_PERMISSIONS before its header is parsed', async () => {
    const home = fresh();
    await createStore(home, content(), { noPassphrase: true });
    chmodSync(storePath(home), 0o644);
    await assert.rejects(storeNeedsPassphrase(home), { code: 'STORE_BAD_PERMISSIONS' });
    chmodSync(storePath(home), 0o600);
    chmodSync(home, 0o755);
    await assert.rejects(storeNeedsPassphrase(home), { code: 'STORE_BAD_PERMISSIONS' });
  });

  test('a file larger than any store → STORE_CORRUPT before it is read', async () => {
    const home = fresh();
    await createStore(home, content(), { noPassphrase: true });
    truncateSync(storePath(home), STORE_MAX_FILE_SIZE + 1);
    await assert.rejects(storeNeedsPassphrase(home), { code: 'STORE_CORRUPT' });
  });

  test('no store → STORE_NOT_FOUND; not a store → STORE_BAD_MAGIC', async () => {
    await assert.rejects(storeNeedsPassphrase(fresh()), { code: 'STORE_NOT_FOUND' });
    const home = privateHome();
    await assert.rejects(storeNeedsPassphrase(home), { code: 'STORE_NOT_FOUND' });
    writeFileSync(storePath(home), 'hello', { mode: 0o600 });
    await assert.rejects(storeNeedsPassphrase(home), { code: 'STORE_BAD_MAGIC' });
  });
});

describe('a passphrase given for a store that has none: refused (the store was swapped)', () => {
  test('refuseUnprotectedStore → STORE_PASSPHRASE_UNEXPECTED for a store without passphrase only', () => {
    assert.throws(() => { refuseUnprotectedStore(false); }, { code: 'STORE_PASSPHRASE_UNEXPECTED' });
    refuseUnprotectedStore(true);
  });

  test('decodeStore: a store swapped for one without passphrase, opened with the passphrase → STORE_PASSPHRASE_UNEXPECTED', async () => {
    const swapped = await encodeStore(content(), { noPassphrase: true });
    await assert.rejects(decodeStore(swapped, { passphrase: 'the real one' }), { code: 'STORE_PASSPHRASE_UNEXPECTED' });
  });
});

describe('passphrase files', { skip: !posix }, () => {
  function file(text: string | Buffer, mode = 0o600): string {
    const path = join(root, `pass-${n++}`);
    writeFileSync(path, text, { mode });
    chmodSync(path, mode);
    return path;
  }

  test('the first line of a private file', async () => {
    assert.equal(await readPassphraseFile(file('one two three\nignored\n')), 'one two three');
    assert.equal(await readPassphraseFile(file('crlf\r\n')), 'crlf');
  });

  test('readable by group or others → PASSPHRASE_FILE_EXPOSED (as ssh refuses such a key)', async () => {
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o606]) {
      await assert.rejects(readPassphraseFile(file('secret\n', mode)), { code: 'PASSPHRASE_FILE_EXPOSED' }, mode.toString(8));
    }
  });

  test('another user\'s file → PASSPHRASE_FILE_EXPOSED', { skip: process.getuid?.() !== 0 }, async () => {
    const path = file('secret\n');
    execFileSync('chown', ['65534', path]);
    await assert.rejects(readPassphraseFile(path), { code: 'PASSPHRASE_FILE_EXPOSED' });
  });

  test('empty, missing, a folder, a device, too large → BAD_ARGUMENT', async () => {
    await assert.rejects(readPassphraseFile(file('')), { code: 'BAD_ARGUMENT' });
    await assert.rejects(readPassphraseFile(file('\nsecond line\n')), { code: 'BAD_ARGUMENT' });
    await assert.rejects(readPassphraseFile(join(root, 'missing')), { code: 'BAD_ARGUMENT' });
    const dir = fresh();
    mkdirSync(dir, { mode: 0o700 });
    await assert.rejects(readPassphraseFile(dir), { code: 'BAD_ARGUMENT' });
    await assert.rejects(readPassphraseFile('/dev/zero'), { code: 'BAD_ARGUMENT' });
    await assert.rejects(readPassphraseFile(file('x'.repeat(PASSPHRASE_FILE_MAX_SIZE + 1))), { code: 'BAD_ARGUMENT' });
    assert.equal(statSync('/dev/zero').isCharacterDevice(), true);
  });

  test('a pipe (as from `--passphrase-file <(pass show x)`) is read; an endless one is bounded', { timeout: 20_000 }, async () => {
    const fifo = join(root, `fifo-${n++}`);
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const writer = spawn('sh', ['-c', `printf 'piped secret\\n' > "${fifo}"`], { stdio: 'ignore' });
    const written = new Promise((resolve) => writer.on('close', resolve));
    assert.equal(await readPassphraseFile(fifo), 'piped secret');
    await written;
    const endless = spawn('sh', ['-c', `exec yes > "${fifo}"`], { stdio: 'ignore' });
    const ended = new Promise((resolve) => endless.on('close', resolve));
    try {
      await assert.rejects(readPassphraseFile(fifo), { code: 'BAD_ARGUMENT' });
    } finally {
      endless.kill('SIGKILL');
      await ended;
    }
  });
});

describe('weak passphrases: an estimate, and a warning (never a refusal)', () => {
  test('known weak ones are far under the bound, known strong ones over it', () => {
    for (const weak of ['a', '1', 'password', 'P@ssw0rd', 'Tr0ub4dor&3', 'qwerty123', 'abcabcabcabc', 'zzzzzzzzzzzzzzzzzzzz', 'dragonfly', 'mary1987', '12345678901234567890']) {
      assert.ok(estimatePassphraseBits(weak) < PASSPHRASE_WEAK_BITS, `${weak}: ${estimatePassphraseBits(weak)}`);
    }
    for (const strong of ['correct horse battery staple', 'plinth-ocarina-mudflat-zestful-quiver', 'f8Kq2#vLx9!mT4@wZp7&', 'Zwölf Boxkämpfer jagen Viktor quer über den Sylter Deich']) {
      assert.ok(estimatePassphraseBits(strong) >= PASSPHRASE_WEAK_BITS, `${strong}: ${estimatePassphraseBits(strong)}`);
    }
    assert.ok(estimatePassphraseBits('a') < 5);
    assert.equal(estimatePassphraseBits(''), 0);
  });

  test('each added random word adds about one word of strength; a letter run never counts more than a word', () => {
    const words = ['plinth', 'ocarina', 'mudflat', 'zestful', 'quiver', 'tundra'];
    let last = 0;
    for (let i = 1; i <= words.length; i++) {
      const bits = estimatePassphraseBits(words.slice(0, i).join(' '));
      assert.ok(bits > last, `${i} words: ${bits}`);
      // one word, and the separator the first time it is used (one of 33 symbols)
      assert.ok(bits - last <= WORD_BITS + Math.log2(33) + 1e-9, `${i} words: +${bits - last}`);
      last = bits;
    }
  });

  test('property: finite, non-negative, and never more than the character count allows', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => {
      const bits = estimatePassphraseBits(s);
      assert.ok(Number.isFinite(bits) && bits >= 0);
      // 100 symbols per character is the largest pool the estimator uses.
      assert.ok(bits <= Array.from(s.normalize('NFC')).length * Math.log2(100) + 1e-9);
    }));
  });

  test('the warning says the estimate for a weak one, and is silent for a strong one', () => {
    const w = weakPassphraseWarning('a');
    assert.ok(w !== null);
    assert.match(w, new RegExp(`about ${Math.floor(estimatePassphraseBits('a'))} bits`));
    assert.equal(weakPassphraseWarning('plinth-ocarina-mudflat-zestful-quiver'), null);
  });
});
