/**
 * Reads one frame from the page as hostile input: JSON, an object of the shape of one call of
 * protocol.ts, each argument of its type and within its bound, nothing else. What does not fit is
 * refused with a code (UI_BAD_CALL, UI_UNKNOWN_CALL), never thrown further.
 */
import { PASSPHRASE_FILE_MAX_SIZE } from '../app/index.ts';
import type { CallMessage, CallName } from './protocol.ts';

type Kind = 'passphrase' | 'name' | 'code' | 'text' | 'groups';

/** The arguments of each call. A Map: a call named `__proto__` or `toString` is simply unknown. */
const SPEC: ReadonlyMap<string, Readonly<Record<string, Kind>>> = new Map<CallName, Readonly<Record<string, Kind>>>([
  ['create', { passphrase: 'passphrase' }],
  ['strength', { passphrase: 'passphrase' }],
  ['unlock', { passphrase: 'passphrase' }],
  ['lock', {}],
  ['whoami', {}],
  ['contacts', {}],
  ['add', { name: 'name', code: 'code' }],
  ['rename', { name: 'name', newName: 'name' }],
  ['remove', { name: 'name' }],
  ['safety', { name: 'name' }],
  ['verify', { name: 'name', groups: 'groups' }],
  ['talk', { name: 'name' }],
  ['send', { text: 'text' }],
  ['quit', {}],
  ['doctor', {}],
  ['exit', {}],
]);

/** Bounds on arguments, before the app checks them again with its own codes. */
const NAME_MAX_CHARS = 1024;
const CODE_MAX_CHARS = 256;
const GROUPS_MAX = 64;
const GROUP_MAX_CHARS = 32;

const utf8 = new TextEncoder();

function fits(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case 'passphrase':
      return typeof value === 'string' && value.length <= PASSPHRASE_FILE_MAX_SIZE && utf8.encode(value).length <= PASSPHRASE_FILE_MAX_SIZE;
    case 'name':
      return typeof value === 'string' && value.length <= NAME_MAX_CHARS;
    case 'code':
      return typeof value === 'string' && value.length <= CODE_MAX_CHARS;
    case 'text':
      // The frame bounds it; the session refuses what is over MAX_MESSAGE_BYTES (MESSAGE_TOO_LONG).
      return typeof value === 'string';
    case 'groups':
      return Array.isArray(value) && value.length <= GROUPS_MAX && value.every((g) => typeof g === 'string' && g.length <= GROUP_MAX_CHARS);
  }
}

export type Read =
  | { readonly ok: true; readonly call: CallMessage }
  | { readonly ok: false; readonly id: number; readonly code: 'UI_BAD_CALL' | 'UI_UNKNOWN_CALL' };

/** A call id: a whole number from 1. A frame whose id cannot be read is answered with `re: 0`. */
function idOf(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 ? value : null;
}

export function readCall(text: string): Read {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, id: 0, code: 'UI_BAD_CALL' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, id: 0, code: 'UI_BAD_CALL' };
  const fields = parsed as Record<string, unknown>;
  const id = idOf(Object.hasOwn(fields, 'id') ? fields.id : undefined);
  if (id === null) return { ok: false, id: 0, code: 'UI_BAD_CALL' };
  const name = Object.hasOwn(fields, 'call') ? fields.call : undefined;
  if (typeof name !== 'string') return { ok: false, id, code: 'UI_BAD_CALL' };
  const spec = SPEC.get(name);
  if (spec === undefined) return { ok: false, id, code: 'UI_UNKNOWN_CALL' };
  for (const key of Object.keys(fields)) {
    if (key === 'id' || key === 'call') continue;
    if (!Object.hasOwn(spec, key)) return { ok: false, id, code: 'UI_BAD_CALL' };
  }
  for (const [key, kind] of Object.entries(spec)) {
    if (!Object.hasOwn(fields, key) || !fits(kind, fields[key])) return { ok: false, id, code: 'UI_BAD_CALL' };
  }
  return { ok: true, call: fields as unknown as CallMessage };
}
