import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addContact, checkContactName, contactSafetyNumber, initIdentity, listContacts, markVerified, removeContact, renameContact, whoami } from '../../src/app/identity.ts';
import { openStore, saveStore } from '../../src/store/store.ts';
import { bounded } from '../../src/app/talk.ts';
import { storeNeedsPassphrase } from '../../src/app/store-auth.ts';
import { decodeContactCode, encodeContactCode } from '../../src/core/codes.ts';
import { safetyNumberGroups } from '../../src/core/safety.ts';
import { RENDEZVOUS_WINDOW_MAX, RENDEZVOUS_WINDOW_MIN } from '../../src/core/limits.ts';
import { x25519FromSecret } from '../../src/core/x25519.ts';

const dirs: string[] = [];
async function home(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'entrechat-app-'));
  dirs.push(d);
  return join(d, 'home');
}
after(async () => { await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))); });

const none = { noPassphrase: true } as const;
const fast = { kdf: { logN: 10 } };

test('init, whoami, add and list contacts; both sides see the same safety number', async () => {
  const [a, b] = [await home(), await home()];
  const codeA = await initIdentity(a, none);
  const codeB = await initIdentity(b, { passphrase: 'correct horse' }, fast);
  assert.equal(await whoami(a, none), codeA);
  assert.equal(await whoami(b, { passphrase: 'correct horse' }), codeB);
  assert.equal(await storeNeedsPassphrase(a), false);
  assert.equal(await storeNeedsPassphrase(b), true);
  await addContact(a, none, '  Bob  ', codeB, fast);
  await addContact(b, { passphrase: 'correct horse' }, 'Älice 👩‍💻', codeA, fast);
  assert.deepEqual(await listContacts(a, none), [{ name: 'Bob', code: codeB, verified: false }]);
  const snA = await contactSafetyNumber(a, none, 'Bob');
  const snB = await contactSafetyNumber(b, { passphrase: 'correct horse' }, 'Älice 👩‍💻');
  assert.deepEqual(snA, snB);
  assert.deepEqual(snA, safetyNumberGroups(decodeContactCode(codeA), decodeContactCode(codeB)));
  // Nothing but the store is written, and it holds no name or code in clear.
  const bytes = await readFile(join(a, 'store'));
  assert.ok(!bytes.includes(Buffer.from('Bob')));
  assert.ok(!bytes.includes(Buffer.from(codeB)));
});

test('contact rejections, each by its code', async () => {
  const a = await home();
  const b = await home();
  const codeA = await initIdentity(a, none);
  const codeB = await initIdentity(b, none);
  const codeC = await initIdentity(await home(), none);
  await addContact(a, none, 'bob', codeB, fast);
  await assert.rejects(addContact(a, none, 'me', codeA, fast), { code: 'CONTACT_IS_SELF' });
  await assert.rejects(addContact(a, none, 'bob', codeC, fast), { code: 'CONTACT_DUPLICATE_NAME' });
  await assert.rejects(addContact(a, none, 'bobby', codeB, fast), { code: 'CONTACT_DUPLICATE_KEY' });
  await assert.rejects(addContact(a, none, 'carol', codeC.slice(0, -1) + (codeC.endsWith('q') ? 'p' : 'q'), fast), { code: 'CODE_BAD_CHECKSUM' });
  await assert.rejects(contactSafetyNumber(a, none, 'nobody'), { code: 'CONTACT_UNKNOWN' });
  await assert.rejects(initIdentity(a, none), { code: 'STORE_EXISTS' });
  await assert.rejects(whoami(await home(), none), { code: 'STORE_NOT_FOUND' });
  await assert.rejects(storeNeedsPassphrase(await home()), { code: 'STORE_NOT_FOUND' });
});

test('contact names: trimmed, printable, bounded', () => {
  assert.equal(checkContactName('  bob '), 'bob');
  assert.equal(checkContactName('👩‍👩‍👧‍👦'.repeat(10)).length > 64, true, 'graphemes are counted, not UTF-16 units');
  assert.throws(() => checkContactName('👩‍👩‍👧‍👦'.repeat(64)), { code: 'CONTACT_NAME_TOO_LONG' }, '64 characters, but 1600 bytes');
  for (const bad of ['', '   ', 'a\nb', 'tab\there', '\u0007', '\u009b31m', 'lone \ud800']) {
    assert.throws(() => checkContactName(bad), { code: 'CONTACT_BAD_NAME' }, JSON.stringify(bad));
  }
  assert.throws(() => checkContactName('x'.repeat(65)), { code: 'CONTACT_NAME_TOO_LONG' });
});

test('contact names: bidi controls, zero-width and other format characters → CONTACT_NAME_FORMAT_CHAR', () => {
  const bidi = ['\u061C', '\u200E', '\u200F', '\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069'];
  const zeroWidth = ['\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF', '\u00AD', '\u{E0041}', '\u2028', '\u2029', '\u3164'];
  for (const c of [...bidi, ...zeroWidth]) {
    // trim() removes the BOM and line separators at the ends (so they are never stored): only inside they matter.
    for (const name of c.trim() === '' ? [`b${c}ob`] : [`bob${c}`, `${c}bob`, `b${c}ob`]) {
      assert.throws(() => checkContactName(name), { code: 'CONTACT_NAME_FORMAT_CHAR' }, JSON.stringify(name));
    }
  }
  // "bob" shown as "bob" but holding an RLO that flips what follows it on a terminal.
  assert.throws(() => checkContactName('alice\u202Eevil'), { code: 'CONTACT_NAME_FORMAT_CHAR' });
  // The joiner inside an emoji sequence draws one emoji: allowed there, and only there.
  assert.equal(checkContactName('Älice 👩‍💻'), 'Älice 👩‍💻');
  assert.equal(checkContactName('👩🏽‍🚀 and ❤️‍🔥'), '👩🏽‍🚀 and ❤️‍🔥');
  assert.throws(() => checkContactName('a\u200D💻'), { code: 'CONTACT_NAME_FORMAT_CHAR' });
  assert.throws(() => checkContactName('👩\u200D'), { code: 'CONTACT_NAME_FORMAT_CHAR' });
});

test('contact names: the byte bound comes first; one huge grapheme is CONTACT_NAME_TOO_LONG, never INTERNAL', async () => {
  const oneGrapheme = `e${'\u0301'.repeat(5000)}`;
  assert.throws(() => checkContactName(oneGrapheme), { code: 'CONTACT_NAME_TOO_LONG' });
  assert.throws(() => checkContactName('\u202E'.repeat(300)), { code: 'CONTACT_NAME_TOO_LONG' }, 'the bound before the format check');
  assert.throws(() => checkContactName('\u0007'.repeat(300)), { code: 'CONTACT_NAME_TOO_LONG' }, 'the bound before the control check');
  assert.equal(checkContactName('é'.repeat(64)), 'é'.repeat(64), '128 bytes, 64 characters');
  const a = await home();
  await initIdentity(a, none);
  const codeB = await initIdentity(await home(), none);
  await assert.rejects(addContact(a, none, oneGrapheme, codeB, fast), { code: 'CONTACT_NAME_TOO_LONG' });
  await assert.rejects(contactSafetyNumber(a, none, oneGrapheme), { code: 'CONTACT_NAME_TOO_LONG' });
});

test('a contact stored with a name now refused can still be found, renamed and removed', async () => {
  const a = await home();
  await initIdentity(a, none);
  const codeB = await initIdentity(await home(), none);
  const codeC = await initIdentity(await home(), none);
  // Written directly, as an older Entrechat could have.
  const content = await openStore(a, none);
  await saveStore(a, { identitySecret: content.identitySecret, contacts: [
    { name: 'bob\u202E', publicKey: decodeContactCode(codeB), verified: false },
    { name: 'carol\u200B', publicKey: decodeContactCode(codeC), verified: false },
  ] }, none, fast);
  assert.equal((await contactSafetyNumber(a, none, 'bob\u202E')).length > 0, true);
  await renameContact(a, none, 'bob\u202E', 'bob', fast);
  await removeContact(a, none, 'carol\u200B', fast);
  assert.deepEqual((await listContacts(a, none)).map((c) => c.name), ['bob']);
});

test('contact names the store could not hold are refused by code (found by npm run fuzz)', () => {
  // A lone surrogate has no UTF-8 form; one character with 600 combining marks is 1,201 bytes.
  for (const bad of ['a\ud800b', '\udc00']) assert.throws(() => checkContactName(bad), { code: 'CONTACT_BAD_NAME' }, JSON.stringify(bad));
  for (const bad of [`e${'\u0301'.repeat(600)}`, '👩‍👩‍👧‍👦'.repeat(64)]) {
    assert.throws(() => checkContactName(bad), { code: 'CONTACT_NAME_TOO_LONG' }, JSON.stringify(bad));
  }
  assert.equal(checkContactName('\u{1f600}'), '\u{1f600}');
});

test('limits outside their bounds are LIMIT_OUT_OF_RANGE', () => {
  assert.equal(bounded('window', undefined, 5, 1, 10), 5);
  assert.throws(() => bounded('window', RENDEZVOUS_WINDOW_MIN - 1, 0, RENDEZVOUS_WINDOW_MIN, RENDEZVOUS_WINDOW_MAX), { code: 'LIMIT_OUT_OF_RANGE' });
  assert.throws(() => bounded('window', RENDEZVOUS_WINDOW_MAX + 1, 0, RENDEZVOUS_WINDOW_MIN, RENDEZVOUS_WINDOW_MAX), { code: 'LIMIT_OUT_OF_RANGE' });
  assert.throws(() => bounded('window', Number.NaN, 0, RENDEZVOUS_WINDOW_MIN, RENDEZVOUS_WINDOW_MAX), { code: 'LIMIT_OUT_OF_RANGE' });
});

test('markVerified marks only the key whose safety number was shown: a contact changed meanwhile is CONTACT_UNKNOWN', async () => {
  const home = await mkdtemp(join(tmpdir(), 'entrechat-verify-'));
  try {
    const auth = { noPassphrase: true } as const;
    await initIdentity(home, auth);
    const bob = encodeContactCode(x25519FromSecret(randomBytes(32)).publicKey);
    const mallory = encodeContactCode(x25519FromSecret(randomBytes(32)).publicKey);
    await addContact(home, auth, 'bob', bob);
    const shown = await contactSafetyNumber(home, auth, 'bob');
    // Meanwhile, "bob" is replaced by another key.
    await removeContact(home, auth, 'bob');
    await addContact(home, auth, 'bob', mallory);
    await assert.rejects(markVerified(home, auth, 'bob', shown), (e: unknown) => (e as { code?: string }).code === 'CONTACT_UNKNOWN');
    assert.equal((await listContacts(home, auth))[0]?.verified, false);
    assert.equal((await markVerified(home, auth, 'bob', await contactSafetyNumber(home, auth, 'bob'))).verified, true);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
