/**
 * What a fuzz target is, and the checks every target shares: an input ends in a typed error of the
 * target's fault groups or in a valid result; anything else is a {@link FuzzFailure}.
 */
import type fc from 'fast-check';
import { isEntrechatError, type ErrorCode, type Fault } from '../../src/core/errors.ts';

/** How one input ended: a valid result (with an optional label, e.g. "need" or "granted"), or a typed error. */
export type Outcome = { readonly valid: true; readonly label?: string } | { readonly valid: false; readonly code: ErrorCode };

export interface TargetSetup<T> {
  readonly arbitrary: fc.Arbitrary<T>;
  /** Runs the parser on one input; throws {@link FuzzFailure} when a property does not hold. */
  readonly check: (input: T) => Outcome;
  /** A short printable form of an input for a failure report (never the whole of a big input). */
  readonly show?: (input: T) => string;
}

export interface FuzzTarget<T = unknown> {
  readonly name: string;
  /** The public functions the target calls (so a merge can see which parser it exercises). */
  readonly calls: readonly string[];
  /** The only fault groups whose errors count as typed errors for this parser. */
  readonly faults: readonly Fault[];
  /** Builds the arbitrary and the check; `scratch` is an empty folder the run may write in. */
  setup(scratch: string): Promise<TargetSetup<T>>;
}

/** A property of the fuzzer that did not hold: an untyped exception, a wrong round trip, a slow input, … */
export class FuzzFailure extends Error {
  readonly kind: string;
  constructor(kind: string, message: string, options?: ErrorOptions) {
    super(`${kind}: ${message}`, options);
    this.kind = kind;
    this.name = 'FuzzFailure';
  }
}

/**
 * Runs `fn`; a thrown EntrechatError of one of `faults` becomes its code, anything else (a TypeError,
 * a RangeError, an InternalError, an error of the wrong group) is a FuzzFailure.
 */
export function attempt<R>(faults: readonly Fault[], fn: () => R): { ok: true; value: R } | { ok: false; code: ErrorCode } {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof FuzzFailure) throw e;
    if (isEntrechatError(e) && faults.includes(e.fault) && e.code !== 'INTERNAL') return { ok: false, code: e.code };
    const what = isEntrechatError(e) ? `${e.name} ${e.code}` : e instanceof Error ? e.name : typeof e;
    throw new FuzzFailure('untyped', `the parser threw ${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Fails with `kind` unless `ok`. */
export function expect(ok: boolean, kind: string, message: string): void {
  if (!ok) throw new FuzzFailure(kind, message);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** Hex of the first bytes of `bytes`, with its length. */
export function showBytes(bytes: Uint8Array, max = 96): string {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, max)).toString('hex');
  return `${bytes.length} bytes: ${head}${bytes.length > max ? '…' : ''}`;
}

/** JSON of a string, cut to `max` characters. */
export function showText(text: string, max = 200): string {
  const json = JSON.stringify(text);
  return `${text.length} chars: ${json.length > max ? `${json.slice(0, max)}…` : json}`;
}
