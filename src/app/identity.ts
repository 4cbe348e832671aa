/**
 * Identity and contacts: the commands that touch only the local store. None of them opens a socket,
 * starts a timer or runs Tor (tested with strace).
 */
import { randomFillSync } from 'node:crypto';
import { equalBytes, wipe } from '../core/bytes.ts';
import { decodeContactCode, encodeContactCode } from '../core/codes.ts';
import { UsageError } from '../core/errors.ts';
import { CONTACT_NAME_MAX_BYTES } from '../core/limits.ts';
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

/** Longest contact name, in user-perceived characters: names are for people to read, not payloads. */
export const CONTACT_NAME_MAX = 64;

export interface ContactView {
  readonly name: string;
  readonly code: string;
  readonly verified: boolean;
}

/** Creates a new identity; refuses to overwrite one. Returns the contact code to share. `amnesic`:
 * remembered in the store, every session's tor starts fresh (see {@link setAmnesic}).
 * @throws StoreError STORE_EXISTS */
export async function initIdentity(home: string, auth: StoreAuth, options?: StoreWriteOptions & { readonly amnesic?: boolean }): Promise<string> {
  const secret = randomFillSync(new Uint8Array(32));
  const identity = identityFromSecret(secret);
  wipe(secret);
  const { amnesic, ...writeOptions } = options ?? {};
  try {
    await createStore(home, { identitySecret: identity.secret, contacts: [], ...(amnesic === true ? { amnesic: true } : {}) }, auth, writeOptions);
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

/**
 * Intl is missing on a Node built without ICU (nodejs-mobile: docs/mobile.md); there, code points are
 * counted instead, never fewer than graphemes, so the limit only gets stricter. Made on first use:
 * making one takes about 10 ms (ICU's break rules), which every command would pay at start.
 */
let segmenter: Intl.Segmenter | null | undefined;

function graphemes(text: string): number {
  segmenter ??= typeof Intl === 'object' && typeof Intl.Segmenter === 'function' ? new Intl.Segmenter() : null;
  return segmenter !== null ? Array.from(segmenter.segment(text)).length : Array.from(text).length;
}

const utf8 = new TextEncoder();

/**
 * A zero-width joiner inside an emoji sequence (👩‍💻: woman, ZWJ, laptop), optionally after a variation
 * selector or skin tone: the one format character a name may hold, since it draws one emoji.
 */
const EMOJI_ZWJ = /(?<=\p{Extended_Pictographic}(?:\uFE0F|\p{Emoji_Modifier})?)\u200D(?=\p{Extended_Pictographic})/gu;
/**
 * Characters that change how a name is drawn without being seen: every Unicode format character (Cf:
 * the bidi controls U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069, zero-width space and joiners,
 * soft hyphen, word joiner, BOM, tag characters), line and paragraph separators, and the Hangul fillers
 * (letters that draw nothing). The bidi controls are listed again so the intent survives any reading of Cf.
 */
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u115F\u1160\u3164\uFFA0]/u;
// C0 and C1 controls, DEL, and lone surrogates (which cannot be stored as UTF-8).
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u;

/** The byte bound, before anything else reads the string: a single grapheme can be any size. */
function boundName(name: string): void {
  if (name.length > CONTACT_NAME_MAX_BYTES || utf8.encode(name).length > CONTACT_NAME_MAX_BYTES) {
    throw new UsageError('CONTACT_NAME_TOO_LONG', `a contact name is at most ${CONTACT_NAME_MAX} characters and ${CONTACT_NAME_MAX_BYTES} bytes`);
  }
}

/**
 * Checks a new contact name and returns it NFC-normalised and trimmed. Checks, in order: the byte bound
 * (CONTACT_NAME_TOO_LONG), empty or unprintable (CONTACT_BAD_NAME), invisible format characters such as
 * bidi controls and zero-width characters (CONTACT_NAME_FORMAT_CHAR), then the length in graphemes
 * (CONTACT_NAME_TOO_LONG). The fuzzer calls this: keep its name and contract.
 * @throws UsageError CONTACT_NAME_TOO_LONG, CONTACT_BAD_NAME, CONTACT_NAME_FORMAT_CHAR
 */
export function checkContactName(name: string): string {
  boundName(name);
  const trimmed = name.normalize('NFC').trim();
  if (trimmed.length === 0 || UNPRINTABLE.test(trimmed)) {
    throw new UsageError('CONTACT_BAD_NAME', `a contact name is 1 to ${CONTACT_NAME_MAX} printable characters`);
  }
  if (INVISIBLE.test(trimmed.replace(EMOJI_ZWJ, ''))) {
    throw new UsageError('CONTACT_NAME_FORMAT_CHAR', 'a contact name may not hold invisible formatting characters (bidi controls, zero-width characters)');
  }
  // NFC may lengthen a string (rarely): bound the name as it will be stored too.
  boundName(trimmed);
  if (graphemes(trimmed) > CONTACT_NAME_MAX) {
    throw new UsageError('CONTACT_NAME_TOO_LONG', `a contact name is at most ${CONTACT_NAME_MAX} characters and ${CONTACT_NAME_MAX_BYTES} bytes`);
  }
  return trimmed;
}

/**
 * Finds a contact by name. Only bounded and normalised, not checked like a new name: a contact stored
 * before names were checked this strictly can still be found, renamed and removed.
 * @throws UsageError CONTACT_NAME_TOO_LONG, CONTACT_UNKNOWN
 */
export function findContact(content: Pick<StoreContent, 'contacts'>, name: string): StoreContact {
  boundName(name);
  const wanted = name.normalize('NFC').trim();
  const contact = content.contacts.find((c) => c.name === wanted);
  if (contact === undefined) throw new UsageError('CONTACT_UNKNOWN', 'no contact by that name (see `entrechat contacts list`)');
  return contact;
}

/**
 * Adds a contact from the code they gave out of band.
 * @throws UsageError CODE_* (from the code), CONTACT_NAME_TOO_LONG, CONTACT_BAD_NAME, CONTACT_NAME_FORMAT_CHAR, CONTACT_DUPLICATE_NAME, CONTACT_DUPLICATE_KEY, CONTACT_IS_SELF
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
    await saveStore(home, { identitySecret: content.identitySecret, contacts: [...content.contacts, contact], amnesic: content.amnesic === true }, auth, options);
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
    await saveStore(home, { identitySecret: content.identitySecret, contacts, amnesic: content.amnesic === true }, auth, options);
    return result;
  });
}

/**
 * Renames a contact; its key and verified flag stay.
 * @throws UsageError CONTACT_NAME_TOO_LONG, CONTACT_BAD_NAME, CONTACT_NAME_FORMAT_CHAR (the new name), CONTACT_UNKNOWN, CONTACT_DUPLICATE_NAME
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

/** Removes a contact. @throws UsageError CONTACT_NAME_TOO_LONG, CONTACT_UNKNOWN */
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
 * @throws UsageError CONTACT_NAME_TOO_LONG, CONTACT_UNKNOWN (also for a contact whose key changed)
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
    await saveStore(home, { identitySecret: content.identitySecret, contacts, amnesic: content.amnesic === true }, auth, options);
    return view(marked);
  });
}

function view(contact: StoreContact): ContactView {
  return { name: contact.name, code: encodeContactCode(contact.publicKey), verified: contact.verified };
}
