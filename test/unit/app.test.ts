import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addContact, checkContactName, contactSafetyNumber, initIdentity, listContacts, markVerified, removeContact, whoami } from '../../src/app/identity.ts';
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
  // Counted in user-perceived characters: 40 families of four are 440 UTF-16 units (1,000 bytes).
  assert.equal(checkContactName('👩‍👩‍👧‍👦'.repeat(40)).length > 64, true);
  for (const bad of ['', '   ', 'a\nb', 'tab\there', '\u0007', 'x'.repeat(65)]) {
    assert.throws(() => checkContactName(bad), { code: 'CONTACT_BAD_NAME' }, JSON.stringify(bad));
  }
});

test('contact names the store could not hold are CONTACT_BAD_NAME (found by npm run fuzz)', () => {
  // A lone surrogate has no UTF-8 form; one character with 600 combining marks is 1,201 bytes.
  for (const bad of ['a\ud800b', '\udc00', `e${'\u0301'.repeat(600)}`, '👩‍👩‍👧‍👦'.repeat(64)]) {
    assert.throws(() => checkContactName(bad), { code: 'CONTACT_BAD_NAME' }, JSON.stringify(bad));
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
