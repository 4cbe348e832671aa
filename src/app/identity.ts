/**
 * Identity and contacts: the commands that touch only the local store. None of them opens a socket,
 * starts a timer or runs Tor (tested with strace).
 */
import { randomFillSync } from 'node:crypto';
import { equalBytes, wipe } from '../core/bytes.ts';
import { decodeContactCode, encodeContactCode } from '../core/codes.ts';
import { UsageError } from '../core/errors.ts';
import { identityFromSecret, wipeIdentity, type Identity } from '../core/identity.ts';
import { safetyNumberGroups } from '../core/safety.ts';
import {
  createStore,
  openStore,
  saveStore,
  type StoreAuth,
  type StoreContact,
  type StoreContent,
  type StoreWriteOptions,
} from '../store/store.ts';
import { STORE_MAX_NAME_BYTES } from '../store/format.ts';

/** Longest contact name, in user-perceived characters: names are for people to read, not payloads. */
export const CONTACT_NAME_MAX = 64;

export interface ContactView {
  readonly name: string;
  readonly code: string;
  readonly verified: boolean;
}

/** Creates a new identity; refuses to overwrite one. Returns the contact code to share.
 * @throws StoreError STORE_EXISTS */
export async function initIdentity(home: string, auth: StoreAuth, options?: StoreWriteOptions): Promise<string> {
  const secret = randomFillSync(new Uint8Array(32));
  const identity = identityFromSecret(secret);
  wipe(secret);
  try {
    await createStore(home, { identitySecret: identity.secret, contacts: [] }, auth, options);
    return encodeContactCode(identity.publicKey);
  } finally {
    wipeIdentity(identity);
  }
}

/** Opens the store, hands the content to `use`, and wipes the identity secret afterwards. */
export async function withStore<T>(home: string, auth: StoreAuth, use: (content: StoreContent, identity: Identity) => Promise<T> | T): Promise<T> {
  const content = await openStore(home, auth);
  const identity = identityFromSecret(content.identitySecret);
  try {
    return await use(content, identity);
  } finally {
    wipeIdentity(identity);
    wipe(content.identitySecret);
  }
}

export async function whoami(home: string, auth: StoreAuth): Promise<string> {
  return withStore(home, auth, (_content, identity) => encodeContactCode(identity.publicKey));
}

const segmenter = new Intl.Segmenter();

function graphemes(text: string): number {
  return Array.from(segmenter.segment(text)).length;
}

/**
 * A name the store can hold: well-formed Unicode (a lone surrogate has no UTF-8 form) and within
 * STORE_MAX_NAME_BYTES, which 64 characters can exceed when each carries many combining marks.
 */
function storable(name: string): boolean {
  return !/[\uD800-\uDFFF]/u.test(name) && utf8.encode(name).length <= STORE_MAX_NAME_BYTES;
}

const utf8 = new TextEncoder();

/** @throws UsageError CONTACT_BAD_NAME */
export function checkContactName(name: string): string {
  const trimmed = name.normalize('NFC').trim();
  // eslint-disable-next-line no-control-regex
  if (trimmed.length === 0 || graphemes(trimmed) > CONTACT_NAME_MAX || /[\u0000-\u001f\u007f-\u009f]/.test(trimmed) || !storable(trimmed)) {
    throw new UsageError('CONTACT_BAD_NAME', `a contact name is 1 to ${CONTACT_NAME_MAX} printable characters, at most ${STORE_MAX_NAME_BYTES} bytes of UTF-8`);
  }
  return trimmed;
}

/** @throws UsageError CONTACT_BAD_NAME, CONTACT_UNKNOWN */
export function findContact(content: Pick<StoreContent, 'contacts'>, name: string): StoreContact {
  const wanted = checkContactName(name);
  const contact = content.contacts.find((c) => c.name === wanted);
  if (contact === undefined) throw new UsageError('CONTACT_UNKNOWN', 'no contact by that name (see `entrechat contacts list`)');
  return contact;
}

/**
 * Adds a contact from the code they gave out of band.
 * @throws UsageError CODE_* (from the code), CONTACT_BAD_NAME, CONTACT_DUPLICATE_NAME, CONTACT_DUPLICATE_KEY, CONTACT_IS_SELF
 */
export async function addContact(home: string, auth: StoreAuth, name: string, code: string, options?: StoreWriteOptions): Promise<ContactView> {
  const cleanName = checkContactName(name);
  const publicKey = decodeContactCode(code);
  return withStore(home, auth, async (content, identity) => {
    if (equalBytes(publicKey, identity.publicKey)) throw new UsageError('CONTACT_IS_SELF', 'that is your own contact code');
    if (content.contacts.some((c) => c.name === cleanName)) throw new UsageError('CONTACT_DUPLICATE_NAME', 'a contact with that name exists already');
    const same = content.contacts.find((c) => equalBytes(c.publicKey, publicKey));
    if (same !== undefined) throw new UsageError('CONTACT_DUPLICATE_KEY', 'that code belongs to a contact you have already');
    const contact: StoreContact = { name: cleanName, publicKey, verified: false };
    await saveStore(home, { identitySecret: content.identitySecret, contacts: [...content.contacts, contact] }, auth, options);
    return view(contact);
  });
}

export async function listContacts(home: string, auth: StoreAuth): Promise<ContactView[]> {
  return withStore(home, auth, (content) => content.contacts.map(view));
}

/** The safety number the user compares with this contact, in groups to read aloud. */
export async function contactSafetyNumber(home: string, auth: StoreAuth, name: string): Promise<string[]> {
  return withStore(home, auth, (content, identity) => safetyNumberGroups(identity.publicKey, findContact(content, name).publicKey));
}

/** Replaces the contact list with what `change` makes of it, atomically; returns its `result`. */
async function updateContacts<T>(
  home: string,
  auth: StoreAuth,
  change: (contacts: readonly StoreContact[]) => { contacts: StoreContact[]; result: T },
  options?: StoreWriteOptions,
): Promise<T> {
  return withStore(home, auth, async (content) => {
    const { contacts, result } = change(content.contacts);
    await saveStore(home, { identitySecret: content.identitySecret, contacts }, auth, options);
    return result;
  });
}

/**
 * Renames a contact; its key and verified flag stay.
 * @throws UsageError CONTACT_BAD_NAME, CONTACT_UNKNOWN, CONTACT_DUPLICATE_NAME
 */
export async function renameContact(home: string, auth: StoreAuth, oldName: string, newName: string, options?: StoreWriteOptions): Promise<ContactView> {
  const wanted = checkContactName(newName);
  return updateContacts(home, auth, (contacts) => {
    const old = findContact({ contacts }, oldName);
    if (old.name !== wanted && contacts.some((c) => c.name === wanted)) {
      throw new UsageError('CONTACT_DUPLICATE_NAME', 'a contact with that name exists already');
    }
    const renamed = { ...old, name: wanted };
    return { contacts: contacts.map((c) => (c === old ? renamed : c)), result: view(renamed) };
  }, options);
}

/** Removes a contact. @throws UsageError CONTACT_BAD_NAME, CONTACT_UNKNOWN */
export async function removeContact(home: string, auth: StoreAuth, name: string, options?: StoreWriteOptions): Promise<void> {
  await updateContacts(home, auth, (contacts) => {
    const gone = findContact({ contacts }, name);
    return { contacts: contacts.filter((c) => c !== gone), result: undefined };
  }, options);
}

/**
 * Marks a contact verified: the user compared the safety number with them (aloud, in person). `shown`
 * is the number they compared: if the contact's key is no longer the one it was made from (the store
 * changed meanwhile), nothing is marked.
 * @throws UsageError CONTACT_BAD_NAME, CONTACT_UNKNOWN (also for a contact whose key changed)
 */
export async function markVerified(home: string, auth: StoreAuth, name: string, shown: readonly string[], options?: StoreWriteOptions): Promise<ContactView> {
  return withStore(home, auth, async (content, identity) => {
    const c = findContact(content, name);
    const now = safetyNumberGroups(identity.publicKey, c.publicKey);
    if (now.length !== shown.length || now.some((g, i) => g !== shown[i])) {
      throw new UsageError('CONTACT_UNKNOWN', 'this contact changed while you compared: run verify again');
    }
    const marked = { ...c, verified: true };
    const contacts = content.contacts.map((x) => (x === c ? marked : x));
    await saveStore(home, { identitySecret: content.identitySecret, contacts }, auth, options);
    return view(marked);
  });
}

function view(contact: StoreContact): ContactView {
  return { name: contact.name, code: encodeContactCode(contact.publicKey), verified: contact.verified };
}
