/**
 * What the page and the `entrechat ui` process say to each other over their one WebSocket: text
 * frames, one JSON object each. Types only: the server (src/web/server) and the page
 * (src/web/page) both build against this file, and docs/web.md describes it for people.
 *
 * - The page sends calls: `{ id, call, ...arguments }`, ids from 1, one more each call.
 * - The process answers each call once: `{ re: id, ok: true, value }` or `{ re: id, ok: false, code }`
 *   with a stable error code of docs/errors.md (the page shows its words, never a raw message). A frame
 *   that cannot be read as a call at all (not JSON, not an object, no valid id) is answered with `re: 0`.
 * - The process pushes, unasked: `{ push: 'state', state }` whenever the app state changes (and first,
 *   as soon as the page connects), and `{ push: 'talk', event }` for each session event, `event` being
 *   exactly the object `talk --json` prints for it (src/app/events.ts `eventJson`).
 *
 * Nothing here is ever put in a URL, a title or any storage of the browser.
 */

/** The WebSocket close code (and reason) with which the process refuses a second page. */
export const PAGE_BUSY_CLOSE = 4001;
export const PAGE_BUSY_REASON = 'UI_PAGE_BUSY';

/** Where the person is: what the page can show. */
export interface AppState {
  /** No store yet, a store not unlocked in this process, or unlocked (the passphrase held in memory). */
  readonly identity: 'none' | 'locked' | 'unlocked';
  /** The store has a passphrase (false only for stores made with --no-passphrase). */
  readonly needsPassphrase: boolean;
  /** The contact a session attempt is with, from Talk until its `closed` event; else null. */
  readonly session: string | null;
  /** The limits the page checks before sending (the process checks them again). */
  readonly limits: {
    readonly maxMessageBytes: number;
    readonly maxUnacked: number;
    readonly contactNameMax: number;
  };
}

export interface ContactInfo {
  readonly name: string;
  readonly verified: boolean;
}

export interface DoctorItem {
  readonly name: string;
  readonly ok: boolean;
  readonly warn?: true;
  readonly detail: string;
  readonly fix?: string;
  readonly code?: string;
}

/** Every call, with its arguments and the `value` of a successful answer. */
export interface Calls {
  /** A new identity (refused with STORE_EXISTS when there is one). The page asks the passphrase twice. */
  create: { args: { passphrase: string }; value: { code: string } };
  /** The strength estimate of a candidate passphrase, in bits, and whether it is below the warning bound. */
  strength: { args: { passphrase: string }; value: { bits: number; weak: boolean } };
  /** Opens the store with this passphrase (checked now) and keeps it in memory until `lock` or exit. */
  unlock: { args: { passphrase: string }; value: { code: string } };
  /** Forgets the passphrase (ends a running session first). */
  lock: { args: Record<string, never>; value: null };
  /** My contact code (for the text and the QR code the page draws). */
  whoami: { args: Record<string, never>; value: { code: string } };
  contacts: { args: Record<string, never>; value: ContactInfo[] };
  add: { args: { name: string; code: string }; value: ContactInfo };
  rename: { args: { name: string; newName: string }; value: ContactInfo };
  remove: { args: { name: string }; value: null };
  /** The safety number's groups, for the person to read aloud. */
  safety: { args: { name: string }; value: { groups: string[] } };
  /** Marks verified; `groups` are the ones the page showed (the process checks they are still right). */
  verify: { args: { name: string; groups: string[] }; value: ContactInfo };
  /** Starts a session attempt with a contact; its events follow as `talk` pushes. */
  talk: { args: { name: string }; value: null };
  /** Sends a message in the open session; the answer gives its id (its `sent`/`delivered` events follow). */
  send: { args: { text: string }; value: { id: number } };
  /** Ends the session attempt (as /quit). */
  quit: { args: Record<string, never>; value: null };
  doctor: { args: Record<string, never>; value: DoctorItem[] };
  /** Ends the session if any, locks, answers, then the process exits. */
  exit: { args: Record<string, never>; value: null };
}

export type CallName = keyof Calls;

export type CallMessage = { [K in CallName]: { readonly id: number; readonly call: K } & Calls[K]['args'] }[CallName];

export type Answer =
  | { readonly re: number; readonly ok: true; readonly value: unknown }
  | { readonly re: number; readonly ok: false; readonly code: string };

export type Push =
  | { readonly push: 'state'; readonly state: AppState }
  | { readonly push: 'talk'; readonly event: Readonly<Record<string, unknown>> & { readonly event: string } };

export type ServerMessage = Answer | Push;
