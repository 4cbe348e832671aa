import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, chmodSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { scrypt as nobleScrypt } from '@noble/hashes/scrypt.js';
import { hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { createDecipheriv } from 'node:crypto';
import {
  changePassphrase, createStore, decodeStore, defaultHome, encodeStore, openStore, saveStore, storeExists, storePath,
  type StoreAuth, type StoreContent, type StoreWriteOptions,
} from '../../src/store/store.ts';
import {
  STORE_HEADER_SIZE, STORE_MAX_CONTACTS, STORE_MAX_FILE_SIZE, STORE_MAX_NAME_BYTES, decodeContent, encodeContent,
  parseStoreHeader, sealPlaintext, sealStoreFile, type HeaderFields,
} from '../../src/store/format.ts';
import { deriveStoreKeys } from '../../src/store/kdf.ts';

// The layout as docs/protocol.md states it, written out here rather than imported, so the test is an
// oracle for the format and not a copy of it.
const MAGIC = Buffer.from('ENTRECHAT\0STORE\0', 'latin1');
const OFF = { version: 16, mode: 17, kdf: 18, length: 21, salt: 25, nonce: 57, keyCheck: 69, checksum: 85, body: 101 };
const TAG = 16;
const BLOCK = 512;

/** Fast KDF for tests; the defaults are checked separately. */
const FAST: StoreWriteOptions = { kdf: { logN: 4, r: 1, p: 1 } };
const PASS: StoreAuth = { passphrase: 'correct horse battery staple' };
const NONE: StoreAuth = { noPassphrase: true };

function contact(name: string, verified = false) {
  return { name, publicKey: new Uint8Array(randomBytes(32)), verified };
}

function sampleContent(): StoreContent {
  return {
    identitySecret: new Uint8Array(randomBytes(32)),
    contacts: [
      contact('Alice Liddell', true),
      contact('Zoë 🎉 Ñandú'),
      contact('\u202Eمرحبا بالعالم'),
      contact('\uFEFFstarts with a BOM'),
      contact('e\u0301 (decomposed) 山田太郎', true),
    ],
  };
}

function smallContent(): StoreContent {
  return { identitySecret: new Uint8Array(randomBytes(32)), contacts: [contact('Bob Builder', true)] };
}

/** Recomputes the header checksum after a test edited a header field on purpose. */
function rechecksum(file: Uint8Array): Uint8Array {
  const out = new Uint8Array(file);
  const sum = createHash('sha256').update(out.subarray(0, OFF.checksum)).digest().subarray(0, 16);
  out.set(sum, OFF.checksum);
  return out;
}

async function rejectsCode(p: Promise<unknown>, code: string, note = ''): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, code, note);
    return true;
  });
}

function sameContent(a: StoreContent, b: StoreContent): void {
  assert.deepEqual(
    { s: Buffer.from(a.identitySecret).toString('hex'), c: a.contacts.map((c) => [c.name, Buffer.from(c.publicKey).toString('hex'), c.verified]) },
    { s: Buffer.from(b.identitySecret).toString('hex'), c: b.contacts.map((c) => [c.name, Buffer.from(c.publicKey).toString('hex'), c.verified]) },
  );
}

let root = '';
let n = 0;
function freshHome(): string {
  return join(root, `home-${n++}`);
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'entrechat-store-test-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('round trips', () => {
  test('passphrase store: create then open gives the same content, Unicode names included', async () => {
    const home = freshHome();
    const content = sampleContent();
    await createStore(home, content, PASS, FAST);
    const back = await openStore(home, PASS);
    sameContent(back, content);
    assert.equal(back.contacts[3]?.name.charCodeAt(0), 0xfeff, 'a leading BOM is kept');
    assert.ok(!Buffer.isBuffer(back.identitySecret), 'a plain Uint8Array, not a view into a wiped buffer');
  });

  test('no-passphrase store round trips, including zero contacts', async () => {
    const home = freshHome();
    const content = { identitySecret: new Uint8Array(randomBytes(32)), contacts: [] };
    await createStore(home, content, NONE);
    sameContent(await openStore(home, NONE), content);
    await saveStore(home, sampleContent(), NONE);
    assert.equal((await openStore(home, NONE)).contacts.length, 5);
  });

  test('passphrase given as bytes, and as a string in another Unicode normalisation', async () => {
    const content = smallContent();
    const bytes = new Uint8Array(Buffer.from('pässwörd', 'utf8'));
    const file = await encodeStore(content, { passphrase: bytes }, FAST);
    assert.equal(Buffer.from(bytes).toString('utf8'), 'pässwörd', 'the caller\'s passphrase bytes are not wiped');
    sameContent(await decodeStore(file, { passphrase: 'pa\u0308sswo\u0308rd' }), content);
  });

  test('property: encodeContent / decodeContent round trip any valid content', () => {
    const name = fc.string({ unit: 'binary', minLength: 1, maxLength: 80 })
      .filter((s) => Buffer.byteLength(s, 'utf8') <= STORE_MAX_NAME_BYTES);
    const arb = fc.record({
      identitySecret: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      contacts: fc.array(fc.record({ name, publicKey: fc.uint8Array({ minLength: 32, maxLength: 32 }), verified: fc.boolean() }), { maxLength: 20 }),
    });
    fc.assert(fc.property(arb, (content) => {
      const plain = encodeContent(content);
      assert.equal(plain.length % BLOCK, 0);
      sameContent(decodeContent(plain), content);
    }));
  });

  test('changePassphrase: to a new passphrase, to none, and back', async () => {
    const home = freshHome();
    const content = smallContent();
    await createStore(home, content, PASS, FAST);
    const newPass = { passphrase: 'another one' };
    await changePassphrase(home, PASS, newPass, FAST);
    await rejectsCode(openStore(home, PASS), 'STORE_WRONG_PASSPHRASE');
    sameContent(await openStore(home, newPass), content);
    await changePassphrase(home, newPass, NONE);
    sameContent(await openStore(home, NONE), content);
    await changePassphrase(home, NONE, PASS, FAST);
    sameContent(await openStore(home, PASS), content);
  });
});

describe('format', () => {
  test('header layout: magic, version, mode, default scrypt cost, lengths', async () => {
    const file = await encodeStore(smallContent(), PASS);
    assert.equal(STORE_HEADER_SIZE, OFF.body);
    assert.deepEqual(Buffer.from(file.subarray(0, 16)), MAGIC);
    assert.equal(file[OFF.version], 1);
    assert.equal(file[OFF.mode], 0x50);
    assert.deepEqual([...file.subarray(OFF.kdf, OFF.kdf + 3)], [17, 8, 1], 'defaults N = 2^17, r = 8, p = 1');
    assert.equal(Buffer.from(file).readUInt32BE(OFF.length), BLOCK);
    assert.equal(file.length, OFF.body + BLOCK + TAG);
    const none = await encodeStore(smallContent(), NONE);
    assert.equal(none[OFF.mode], 0x4e);
    assert.deepEqual([...none.subarray(OFF.kdf, OFF.kdf + 3)], [0, 0, 0]);
  });

  test('every write draws a fresh salt and nonce', async () => {
    const content = smallContent();
    const a = await encodeStore(content, NONE);
    const b = await encodeStore(content, NONE);
    assert.notDeepEqual(a.subarray(OFF.salt, OFF.nonce), b.subarray(OFF.salt, OFF.nonce));
    assert.notDeepEqual(a.subarray(OFF.nonce, OFF.keyCheck), b.subarray(OFF.nonce, OFF.keyCheck));
    assert.notDeepEqual(a.subarray(OFF.body), b.subarray(OFF.body));
  });

  test('padding: the file size shows the contact count only to the block', async () => {
    const none = await encodeStore({ identitySecret: new Uint8Array(32).fill(1), contacts: [] }, NONE);
    const three = await encodeStore({ identitySecret: new Uint8Array(32).fill(1), contacts: [contact('a'), contact('b'), contact('c')] }, NONE);
    assert.equal(none.length, three.length);
  });

  test('no secret, key or name is visible in the file, in either mode', async () => {
    const content = sampleContent();
    for (const auth of [PASS, NONE]) {
      const file = Buffer.from(await encodeStore(content, auth, FAST));
      const needles = [content.identitySecret, ...content.contacts.map((c) => c.publicKey)].map((b) => Buffer.from(b));
      needles.push(Buffer.from(Buffer.from(content.identitySecret).toString('hex')));
      for (const c of content.contacts) needles.push(Buffer.from(c.name, 'utf8'), Buffer.from(c.name, 'utf16le'));
      for (const needle of needles) assert.equal(file.indexOf(needle), -1);
      // Not even a 6-byte piece of a name.
      for (const c of content.contacts) assert.equal(file.indexOf(Buffer.from(c.name, 'utf8').subarray(0, 6)), -1);
    }
  });
});

describe('rejections (asserted by code)', () => {
  test('wrong passphrase → STORE_WRONG_PASSPHRASE', async () => {
    const file = await encodeStore(smallContent(), PASS, FAST);
    await rejectsCode(decodeStore(file, { passphrase: 'correct horse battery stapler' }), 'STORE_WRONG_PASSPHRASE');
    await rejectsCode(decodeStore(file, { passphrase: '' }), 'STORE_WRONG_PASSPHRASE');
  });

  test('passphrase store without a passphrase → STORE_PASSPHRASE_REQUIRED', async () => {
    await rejectsCode(decodeStore(await encodeStore(smallContent(), PASS, FAST), NONE), 'STORE_PASSPHRASE_REQUIRED');
  });

  test('no-passphrase store with a passphrase → STORE_PASSPHRASE_UNEXPECTED', async () => {
    await rejectsCode(decodeStore(await encodeStore(smallContent(), NONE), PASS), 'STORE_PASSPHRASE_UNEXPECTED');
  });

  test('truncated at 0, inside the magic, inside the header, header only, no tag, missing one tag byte', async () => {
    for (const auth of [PASS, NONE]) {
      const file = await encodeStore(smallContent(), auth, FAST);
      for (const len of [0, 1, 10, 16, 17, 50, OFF.body - 1, OFF.body, OFF.body + 1, OFF.body + BLOCK, file.length - 1]) {
        await rejectsCode(decodeStore(file.subarray(0, len), auth), 'STORE_TRUNCATED', `length ${len}`);
      }
    }
  });

  test('a trailing byte → STORE_CORRUPT', async () => {
    const file = await encodeStore(smallContent(), NONE);
    await rejectsCode(decodeStore(new Uint8Array([...file, 0]), NONE), 'STORE_CORRUPT');
  });

  test('a flipped byte at every offset: BAD_MAGIC in the magic, BAD_VERSION on the version, CORRUPT elsewhere', async () => {
    for (const auth of [PASS, NONE]) {
      const file = await encodeStore(smallContent(), auth, FAST);
      assert.equal(file.length, OFF.body + BLOCK + TAG);
      for (let at = 0; at < file.length; at++) {
        const expected = at < OFF.version ? 'STORE_BAD_MAGIC' : at === OFF.version ? 'STORE_BAD_VERSION' : 'STORE_CORRUPT';
        for (const mask of [0x01, 0x80, 0xff]) {
          const bad = new Uint8Array(file);
          bad[at]! ^= mask;
          await rejectsCode(decodeStore(bad, auth), expected, `offset ${at} mask ${mask} ${'passphrase' in auth ? 'P' : 'N'}`);
        }
      }
    }
  });

  test('with the header checksum recomputed: key material edits read as a wrong passphrase, the rest as damage', async () => {
    const file = await encodeStore(smallContent(), PASS, FAST);
    const edit = (at: number, value: number) => {
      const bad = new Uint8Array(file);
      bad[at] = value;
      return rechecksum(bad);
    };
    // A different salt, key check or (bounded) cost means a different key: exactly a wrong passphrase.
    await rejectsCode(decodeStore(edit(OFF.salt, file[OFF.salt]! ^ 1), PASS), 'STORE_WRONG_PASSPHRASE');
    await rejectsCode(decodeStore(edit(OFF.keyCheck + 15, file[OFF.keyCheck + 15]! ^ 1), PASS), 'STORE_WRONG_PASSPHRASE');
    await rejectsCode(decodeStore(edit(OFF.kdf, 5), PASS), 'STORE_WRONG_PASSPHRASE');
    // The right key but a different nonce or length: the AEAD says no.
    await rejectsCode(decodeStore(edit(OFF.nonce, file[OFF.nonce]! ^ 1), PASS), 'STORE_CORRUPT');
    // Mode: unknown, or switched to 'N' (which must also carry zero KDF bytes).
    await rejectsCode(decodeStore(edit(OFF.mode, 0x51), PASS), 'STORE_CORRUPT');
    await rejectsCode(decodeStore(edit(OFF.mode, 0x4e), PASS), 'STORE_CORRUPT');
    const asNone = new Uint8Array(file);
    asNone[OFF.mode] = 0x4e;
    asNone.fill(0, OFF.kdf, OFF.kdf + 3);
    await rejectsCode(decodeStore(rechecksum(asNone), PASS), 'STORE_PASSPHRASE_UNEXPECTED');
    await rejectsCode(decodeStore(rechecksum(asNone), NONE), 'STORE_CORRUPT', 'the key check of a no-passphrase store cannot be "wrong"');
    // Length field: not a multiple of the block, zero, over the maximum, larger than the file.
    const withLength = (len: number) => {
      const bad = new Uint8Array(file);
      new DataView(bad.buffer).setUint32(OFF.length, len);
      return rechecksum(bad);
    };
    await rejectsCode(decodeStore(withLength(BLOCK + 1), PASS), 'STORE_CORRUPT');
    await rejectsCode(decodeStore(withLength(0), PASS), 'STORE_CORRUPT');
    await rejectsCode(decodeStore(withLength(0xffffffff), PASS), 'STORE_CORRUPT');
    await rejectsCode(decodeStore(withLength(2 * BLOCK), PASS), 'STORE_TRUNCATED');
  });

  test('bad magic → STORE_BAD_MAGIC (even for a short file that is not a store)', async () => {
    const file = await encodeStore(smallContent(), NONE);
    const bad = new Uint8Array(file);
    bad[0] = 0x65;
    await rejectsCode(decodeStore(bad, NONE), 'STORE_BAD_MAGIC');
    await rejectsCode(decodeStore(new Uint8Array(Buffer.from('{"identity": "..."}')), NONE), 'STORE_BAD_MAGIC');
    await rejectsCode(decodeStore(new Uint8Array(Buffer.from('XYZ')), NONE), 'STORE_BAD_MAGIC');
    await rejectsCode(decodeStore(new Uint8Array(Buffer.from('ENT')), NONE), 'STORE_TRUNCATED');
  });

  test('unknown file version → STORE_BAD_VERSION, checked before the checksum', async () => {
    const file = await encodeStore(smallContent(), NONE);
    for (const v of [0, 2, 255]) {
      const bad = new Uint8Array(file);
      bad[OFF.version] = v;
      await rejectsCode(decodeStore(bad, NONE), 'STORE_BAD_VERSION');
      await rejectsCode(decodeStore(bad.subarray(0, 17), NONE), 'STORE_BAD_VERSION');
    }
  });

  test('unknown content version inside a valid file → STORE_BAD_VERSION', async () => {
    for (const v of [0, 3, 255]) {
      const plain = encodeContent(smallContent());
      plain[0] = v;
      const fields: HeaderFields = { mode: 'no-passphrase', kdf: { logN: 1, r: 1, p: 1 }, salt: new Uint8Array(32).fill(3), nonce: new Uint8Array(12) };
      const file = sealPlaintext(plain, fields, await deriveStoreKeys(fields, null));
      await rejectsCode(decodeStore(file, NONE), 'STORE_BAD_VERSION');
    }
  });

  test('the amnesic setting: absent in older stores (not amnesic); version 2 only when on; a bad settings byte → STORE_CORRUPT', async () => {
    const base = smallContent();
    const old = encodeContent(base);
    assert.equal(old[0], 1);
    assert.equal(decodeContent(old).amnesic, false, 'a store written before the setting existed is not amnesic');
    // Off: byte for byte what every earlier version wrote and reads.
    assert.deepEqual(encodeContent({ ...base, amnesic: false }), old);
    const on = encodeContent({ ...base, amnesic: true });
    assert.equal(on[0], 2);
    assert.equal(decodeContent(on).amnesic, true);
    assert.deepEqual(decodeContent(on).contacts, decodeContent(old).contacts);
    const file = await encodeStore({ ...smallContent(), amnesic: true }, NONE);
    assert.equal((await decodeStore(file, NONE)).amnesic, true);
    // The settings byte sits right after the last contact.
    const at = 1 + 32 + 4 + 1 + 32 + 2 + 'Bob Builder'.length;
    assert.equal(on[at], 1);
    for (const bad of [0, 2, 0x81]) {
      const b = new Uint8Array(on);
      b[at] = bad;
      assert.throws(() => decodeContent(b), { code: 'STORE_CORRUPT' }, `settings ${bad}`);
    }
    // A full block of contacts still leaves room for the byte (the plaintext grows a block instead).
    const fill = { ...smallContent(), contacts: [contact('x'.repeat(BLOCK - 1 - 32 - 4 - 35))], amnesic: true };
    assert.equal(encodeContent({ ...fill, amnesic: false }).length, BLOCK);
    assert.equal(encodeContent(fill).length, 2 * BLOCK);
    assert.equal(decodeContent(encodeContent(fill)).amnesic, true);
    assert.throws(() => encodeContent({ ...smallContent(), amnesic: 1 as unknown as boolean }), TypeError);
  });

  test('oversized or invalid KDF parameters → STORE_CORRUPT from the header parser, without running scrypt', async () => {
    const file = await encodeStore(smallContent(), PASS, FAST);
    const cases: [number, number, number][] = [
      [21, 8, 1], // N over 2^20
      [20, 16, 1], // 2 GiB
      [20, 8, 5], // p over 4
      [63, 8, 1], [255, 255, 255], [0, 8, 1], [17, 0, 1], [17, 8, 0],
    ];
    for (const params of cases) {
      const bad = new Uint8Array(file);
      bad.set(params, OFF.kdf);
      const crafted = rechecksum(bad);
      // parseStoreHeader derives nothing: if it refuses, no scrypt ran.
      assert.throws(() => parseStoreHeader(crafted), { code: 'STORE_CORRUPT' }, params.join(','));
      const started = performance.now();
      await rejectsCode(decodeStore(crafted, PASS), 'STORE_CORRUPT', params.join(','));
      assert.ok(performance.now() - started < 1000, 'refused at once (scrypt at these costs takes seconds and GiBs)');
    }
  });

  test('strict plaintext decoding: every bad length or value → STORE_CORRUPT', () => {
    const good = encodeContent({ identitySecret: new Uint8Array(32), contacts: [contact('Carol')] });
    const contactAt = 1 + 32 + 4;
    const nameLenAt = contactAt + 1 + 32;
    const edits: [string, (b: Uint8Array, v: DataView) => void][] = [
      ['count over the maximum', (_b, v) => { v.setUint32(33, STORE_MAX_CONTACTS + 1); }],
      ['count past the end', (_b, v) => { v.setUint32(33, 1000); }],
      ['verified flag 2', (b) => { b[contactAt] = 2; }],
      ['name length 0', (_b, v) => { v.setUint16(nameLenAt, 0); }],
      ['name length over the maximum', (_b, v) => { v.setUint16(nameLenAt, STORE_MAX_NAME_BYTES + 1); }],
      ['name past the end', (_b, v) => { v.setUint16(nameLenAt, 600); }],
      ['name not UTF-8', (b) => { b[nameLenAt + 2] = 0xff; }],
      ['non-zero padding', (b) => { b[b.length - 1] = 1; }],
    ];
    for (const [what, edit] of edits) {
      const b = new Uint8Array(good);
      edit(b, new DataView(b.buffer));
      assert.throws(() => decodeContent(b), { code: 'STORE_CORRUPT' }, what);
    }
    assert.throws(() => decodeContent(good.subarray(0, 20)), { code: 'STORE_CORRUPT' }, 'too short');
    assert.throws(() => decodeContent(new Uint8Array([...good, ...new Uint8Array(BLOCK)])), { code: 'STORE_CORRUPT' }, 'a whole extra block of padding');
    assert.doesNotThrow(() => decodeContent(good));
  });

  test('malformed content, auth or options are TypeError / RangeError at the boundary', async () => {
    const ok = smallContent();
    await assert.rejects(encodeStore({ ...ok, identitySecret: new Uint8Array(31) }, NONE), RangeError);
    await assert.rejects(encodeStore({ ...ok, contacts: [contact('')] }, NONE), RangeError);
    await assert.rejects(encodeStore({ ...ok, contacts: [contact('x'.repeat(STORE_MAX_NAME_BYTES + 1))] }, NONE), RangeError);
    await assert.rejects(encodeStore({ ...ok, contacts: [contact('lone \uD800 surrogate')] }, NONE), TypeError);
    await assert.rejects(encodeStore({ ...ok, contacts: [{ ...contact('a'), publicKey: new Uint8Array(33) }] }, NONE), RangeError);
    const many = Array.from({ length: STORE_MAX_CONTACTS + 1 }, () => ({ name: 'n', publicKey: new Uint8Array(32), verified: false }));
    await assert.rejects(encodeStore({ ...ok, contacts: many }, NONE), RangeError);
    await assert.rejects(encodeStore(ok, { passphrase: '' }), RangeError);
    await assert.rejects(encodeStore(ok, PASS, { kdf: { logN: 21 } }), RangeError);
    await assert.rejects(encodeStore(ok, {} as StoreAuth), TypeError);
    await assert.rejects(encodeStore(ok, { passphrase: 'x', noPassphrase: true } as unknown as StoreAuth), TypeError);
  });
});

describe('on disk', () => {
  test('folder created 0700 and file 0600, even under a restrictive or empty umask', { skip: process.platform === 'win32' }, async () => {
    // Under umask 0277 only the last folder is created (parents made 0500 would stop a non-root user).
    for (const [mask, home] of [[0o277, freshHome()], [0o000, join(freshHome(), 'nested', 'entrechat')]] as const) {
      const old = process.umask(mask);
      try {
        await createStore(home, smallContent(), NONE);
        assert.equal(statSync(home).mode & 0o777, 0o700);
        assert.equal(statSync(storePath(home)).mode & 0o777, 0o600);
        await saveStore(home, smallContent(), NONE);
        assert.equal(statSync(storePath(home)).mode & 0o777, 0o600);
      } finally {
        process.umask(old);
      }
    }
  });

  test('createStore refuses to replace a store → STORE_EXISTS, file untouched; concurrent creates: exactly one wins', async () => {
    const home = freshHome();
    await createStore(home, smallContent(), NONE);
    const before = readFileSync(storePath(home));
    await rejectsCode(createStore(home, smallContent(), NONE), 'STORE_EXISTS');
    assert.deepEqual(readFileSync(storePath(home)), before);

    const raced = freshHome();
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => createStore(raced, smallContent(), NONE)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: unknown }).code, 'STORE_EXISTS');
    assert.deepEqual(readdirSync(raced), ['store'], 'no temp file left behind');
  });

  test('missing folder or file → STORE_NOT_FOUND (open and save); storeExists', async () => {
    const home = freshHome();
    assert.equal(await storeExists(home), false);
    await rejectsCode(openStore(home, NONE), 'STORE_NOT_FOUND');
    await rejectsCode(saveStore(home, smallContent(), NONE), 'STORE_NOT_FOUND');
    mkdirSync(home, { mode: 0o700 });
    await rejectsCode(openStore(home, NONE), 'STORE_NOT_FOUND');
    await rejectsCode(saveStore(home, smallContent(), NONE), 'STORE_NOT_FOUND');
    assert.deepEqual(readdirSync(home), [], 'a refused save writes nothing');
    await createStore(home, smallContent(), NONE);
    assert.equal(await storeExists(home), true);
  });

  test('folder or file open to others, a symlink, or not a file → STORE_BAD_PERMISSIONS', { skip: process.platform === 'win32' }, async () => {
    const home = freshHome();
    await createStore(home, smallContent(), NONE);
    chmodSync(home, 0o755);
    await rejectsCode(openStore(home, NONE), 'STORE_BAD_PERMISSIONS');
    await rejectsCode(saveStore(home, smallContent(), NONE), 'STORE_BAD_PERMISSIONS');
    const shared = freshHome();
    mkdirSync(shared, { mode: 0o700 });
    chmodSync(shared, 0o750);
    await rejectsCode(createStore(shared, smallContent(), NONE), 'STORE_BAD_PERMISSIONS');
    assert.equal(statSync(shared).mode & 0o777, 0o750, 'an existing folder is never chmod-ed');
    chmodSync(home, 0o700);

    chmodSync(storePath(home), 0o640);
    await rejectsCode(openStore(home, NONE), 'STORE_BAD_PERMISSIONS');
    // A save replaces the file, so it also repairs its mode.
    await saveStore(home, smallContent(), NONE);
    assert.equal(statSync(storePath(home)).mode & 0o777, 0o600);

    const linked = freshHome();
    mkdirSync(linked, { mode: 0o700 });
    symlinkSync(storePath(home), storePath(linked));
    await rejectsCode(openStore(linked, NONE), 'STORE_BAD_PERMISSIONS');
    const dirStore = freshHome();
    mkdirSync(join(dirStore, 'store'), { recursive: true, mode: 0o700 });
    await rejectsCode(openStore(dirStore, NONE), 'STORE_BAD_PERMISSIONS');
  });

  test('home that is a file → STORE_IO', async () => {
    const home = freshHome();
    writeFileSync(home, 'not a folder');
    await rejectsCode(openStore(home, NONE), 'STORE_IO');
    await rejectsCode(createStore(home, smallContent(), NONE), 'STORE_IO');
  });

  test('a file larger than any store → STORE_CORRUPT before it is read', async () => {
    const home = freshHome();
    await createStore(home, smallContent(), NONE);
    truncateSync(storePath(home), STORE_MAX_FILE_SIZE + 1); // sparse: no 8 MiB written
    await rejectsCode(openStore(home, NONE), 'STORE_CORRUPT');
  });

  test('a failed open never changes the file (bytes, mtime) nor the folder', async () => {
    const cases: [string, (b: Uint8Array) => Uint8Array, StoreAuth, string][] = [
      ['wrong passphrase', (b) => b, { passphrase: 'nope' }, 'STORE_WRONG_PASSPHRASE'],
      ['passphrase missing', (b) => b, NONE, 'STORE_PASSPHRASE_REQUIRED'],
      ['truncated', (b) => b.subarray(0, 60), PASS, 'STORE_TRUNCATED'],
      ['flipped body byte', (b) => { const c = new Uint8Array(b); c[200]! ^= 1; return c; }, PASS, 'STORE_CORRUPT'],
      ['flipped tag byte', (b) => { const c = new Uint8Array(b); c[c.length - 1]! ^= 1; return c; }, PASS, 'STORE_CORRUPT'],
      ['bad magic', (b) => { const c = new Uint8Array(b); c[3] = 0; return c; }, PASS, 'STORE_BAD_MAGIC'],
      ['bad version', (b) => { const c = new Uint8Array(b); c[16] = 9; return c; }, PASS, 'STORE_BAD_VERSION'],
    ];
    const good = await encodeStore(smallContent(), PASS, FAST);
    for (const [what, damage, auth, code] of cases) {
      const home = freshHome();
      mkdirSync(home, { mode: 0o700 });
      writeFileSync(storePath(home), damage(good), { mode: 0o600 });
      // A crashed writer's leftover: an open must neither trip on it nor clean it up.
      writeFileSync(join(home, 'store.tmp-00112233aabbccdd'), 'partial', { mode: 0o600 });
      const old = new Date(Date.now() - 3600_000);
      utimesSync(storePath(home), old, old);
      const bytesBefore = readFileSync(storePath(home));
      const statBefore = statSync(storePath(home), { bigint: true });
      const listBefore = readdirSync(home).sort();
      await rejectsCode(openStore(home, auth), code, what);
      assert.deepEqual(readFileSync(storePath(home)), bytesBefore, what);
      const statAfter = statSync(storePath(home), { bigint: true });
      assert.equal(statAfter.mtimeNs, statBefore.mtimeNs, what);
      assert.equal(statAfter.mode, statBefore.mode, what);
      assert.deepEqual(readdirSync(home).sort(), listBefore, what);
    }
  });

  test('leftover temp files: opening ignores them; a save removes stale ones only', async () => {
    const home = freshHome();
    const content = smallContent();
    await createStore(home, content, NONE);
    const stale = join(home, 'store.tmp-0123456789abcdef');
    const fresh = join(home, 'store.tmp-fedcba9876543210');
    const foreign = join(home, 'store.tmp-notours');
    for (const p of [stale, fresh, foreign]) writeFileSync(p, randomBytes(100), { mode: 0o600 });
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(stale, old, old);
    utimesSync(foreign, old, old);
    sameContent(await openStore(home, NONE), content);
    assert.deepEqual(readdirSync(home).sort(), ['store', 'store.tmp-0123456789abcdef', 'store.tmp-fedcba9876543210', 'store.tmp-notours']);
    await saveStore(home, content, NONE);
    assert.deepEqual(readdirSync(home).sort(), ['store', 'store.tmp-fedcba9876543210', 'store.tmp-notours']);
  });

  test('defaultHome: ENTRECHAT_HOME when set, else ~/.entrechat', () => {
    assert.equal(defaultHome({ ENTRECHAT_HOME: '/srv/ec' }, '/home/u'), '/srv/ec');
    assert.equal(defaultHome({}, '/home/u'), '/home/u/.entrechat');
    assert.equal(defaultHome({ ENTRECHAT_HOME: '' }, '/home/u'), '/home/u/.entrechat');
  });
});

describe('known answers and an independent reader', () => {
  const utf8 = (t: string) => new TextEncoder().encode(t);
  const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

  /** Reads a store file following docs/protocol.md only, with @noble/hashes for every hash and KDF. */
  function readByTheDoc(file: Uint8Array, passphrase: string | null): { identitySecret: string; contacts: [string, string, boolean][] } {
    const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
    assert.deepEqual(Buffer.from(file.subarray(0, 16)), MAGIC);
    assert.equal(file[16], 1);
    const mode = file[OFF.mode]!;
    const [logN, r, p] = [file[18]!, file[19]!, file[20]!];
    const len = dv.getUint32(OFF.length);
    assert.equal(file.length, OFF.body + len + TAG);
    const header = file.subarray(0, OFF.body);
    const salt = file.subarray(OFF.salt, OFF.salt + 32);
    assert.equal(hexOf(nobleSha256(file.subarray(0, OFF.checksum)).subarray(0, 16)), hexOf(file.subarray(OFF.checksum, OFF.body)));
    const ikm = mode === 0x50
      ? nobleScrypt(utf8(passphrase!.normalize('NFC')), salt, { N: 2 ** logN, r, p, dkLen: 32 })
      : utf8('entrechat store v1: no passphrase, this label is public');
    const okm = nobleHkdf(nobleSha256, ikm, salt, new Uint8Array([...utf8('entrechat store v1 keys '), mode]), 64);
    const keyCheck = nobleHmac(nobleSha256, okm.subarray(32), utf8('entrechat store v1 key check')).subarray(0, 16);
    assert.equal(hexOf(keyCheck), hexOf(file.subarray(OFF.keyCheck, OFF.keyCheck + 16)));
    const d = createDecipheriv('chacha20-poly1305', okm.subarray(0, 32), file.subarray(OFF.nonce, OFF.nonce + 12), { authTagLength: 16 });
    d.setAAD(header, { plaintextLength: len });
    d.setAuthTag(file.subarray(OFF.body + len));
    const plain = Buffer.concat([d.update(file.subarray(OFF.body, OFF.body + len)), d.final()]);
    assert.equal(plain[0], 1);
    const count = plain.readUInt32BE(33);
    const contacts: [string, string, boolean][] = [];
    let at = 37;
    for (let i = 0; i < count; i++) {
      const nameLen = plain.readUInt16BE(at + 33);
      contacts.push([plain.subarray(at + 35, at + 35 + nameLen).toString('utf8'), plain.subarray(at + 1, at + 33).toString('hex'), plain[at] === 1]);
      at += 35 + nameLen;
    }
    assert.ok(plain.subarray(at).every((b) => b === 0));
    return { identitySecret: plain.subarray(1, 33).toString('hex'), contacts };
  }

  const vectorContent: StoreContent = {
    identitySecret: Uint8Array.from({ length: 32 }, (_, i) => i + 1),
    contacts: [{ name: 'Alice', publicKey: new Uint8Array(32).fill(0xaa), verified: true }],
  };
  const expected = {
    identitySecret: hexOf(vectorContent.identitySecret),
    contacts: [['Alice', 'aa'.repeat(32), true] as [string, string, boolean]],
  };

  // The worked example of docs/protocol.md: salt 00 01 … 1f, nonce 0c × 12, cost logN 4, r 1, p 1.
  for (const [mode, passphrase, headerHex, fileSha] of [
    ['passphrase', 'entrechat',
      '454e545245434841540053544f524500015004010100000200000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0c0c0c0c0c0c0c0c0c0c0c0cb64089573f941bb355fdfe4c68d0f3de78aa9782c79f2e20ae5a098eefc713de',
      'd7de2b8b4a18fdbc8f71870b66e0c6652abc5eb75a718700d2728d1c02e191c8'],
    ['no-passphrase', null,
      '454e545245434841540053544f524500014e00000000000200000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0c0c0c0c0c0c0c0c0c0c0c0c70ea0ccf6e531c7b0bf85cfd7e3ee527857775e789e8dc1eb635ef59e15e9080',
      'ba2baaa83b7d654dcd1f3ed7e3b651691793a453399b16bfb3d7db8d94d8eb89'],
  ] as const) {
    test(`worked example (${mode}): header and file hash as documented, read back by the independent reader`, async () => {
      const fields: HeaderFields = { mode, kdf: { logN: 4, r: 1, p: 1 }, salt: Uint8Array.from({ length: 32 }, (_, i) => i), nonce: new Uint8Array(12).fill(0x0c) };
      const file = sealStoreFile(vectorContent, fields, await deriveStoreKeys(fields, passphrase === null ? null : utf8(passphrase)));
      assert.equal(hexOf(file.subarray(0, OFF.body)), headerHex);
      assert.equal(hexOf(nobleSha256(file)), fileSha);
      assert.deepEqual(readByTheDoc(file, passphrase), expected);
      sameContent(await decodeStore(file, passphrase === null ? NONE : { passphrase }), vectorContent);
    });
  }

  test('files written by encodeStore (both modes, random salts) are read by the independent reader', async () => {
    const content = sampleContent();
    const want = {
      identitySecret: hexOf(content.identitySecret),
      contacts: content.contacts.map((c): [string, string, boolean] => [c.name, hexOf(c.publicKey), c.verified]),
    };
    assert.deepEqual(readByTheDoc(await encodeStore(content, PASS, FAST), 'correct horse battery staple'), want);
    assert.deepEqual(readByTheDoc(await encodeStore(content, NONE), null), want);
  });
});
