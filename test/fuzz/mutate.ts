/**
 * Structured mutators for the fuzzer: valid inputs made by our own encoders, then damaged the way an
 * attacker or a broken peer would (bit flips, edge values in length fields, truncations, splices,
 * duplicated or deleted runs), so that most inputs get past the first checks of a parser and reach its
 * deep paths. Positions are drawn as plain naturals and taken modulo the input's length when applied,
 * so one mutation arbitrary fits inputs of any size.
 */
import fc from 'fast-check';

/** A length or type field of a format: where it is, how wide (big-endian), and the values worth trying. */
export interface Field {
  readonly at: number;
  readonly size: 1 | 2 | 4;
  readonly values: readonly number[];
}

const EDGES: Readonly<Record<Field['size'], readonly number[]>> = {
  1: [0, 1, 0x7f, 0x80, 0xfe, 0xff],
  2: [0, 1, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff],
  4: [0, 1, 0xffff, 0x10000, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff],
};

export type ByteMutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'set'; readonly at: number; readonly value: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly at: number; readonly n: number }
  | { readonly kind: 'duplicate'; readonly at: number; readonly n: number }
  | { readonly kind: 'field'; readonly field: Field; readonly value: number };

const EDGE_BYTES = [0x00, 0x01, 0x0a, 0x0d, 0x20, 0x2e, 0x7f, 0x80, 0xc0, 0xed, 0xff];

/** One byte-level mutation; `fields` adds edge values in the format's own fields. */
export function byteMutation(fields: readonly Field[] = []): fc.Arbitrary<ByteMutation> {
  const at = fc.nat();
  const arbs: fc.Arbitrary<ByteMutation>[] = [
    fc.record({ kind: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at, value: fc.oneof(fc.constantFrom(...EDGE_BYTES), fc.integer({ min: 0, max: 255 })) }),
    fc.record({ kind: fc.constant('truncate' as const), at }),
    fc.record({ kind: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('delete' as const), at, n: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant('duplicate' as const), at, n: fc.integer({ min: 1, max: 32 }) }),
  ];
  if (fields.length > 0) {
    arbs.push(fc.constantFrom(...fields).chain((field) => fc.record({
      kind: fc.constant('field' as const),
      field: fc.constant(field),
      value: fc.oneof(fc.constantFrom(...field.values, ...EDGES[field.size]), fc.nat({ max: 2 ** (8 * field.size) - 1 })),
    })));
  }
  return fc.oneof(...arbs);
}

/** Applies mutations in order to a copy of `base`. */
export function applyBytes(base: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  let out = Uint8Array.from(base);
  for (const m of mutations) {
    const len = out.length;
    switch (m.kind) {
      case 'flip':
        if (len > 0) out[m.at % len]! ^= 1 << m.bit;
        break;
      case 'set':
        if (len > 0) out[m.at % len] = m.value;
        break;
      case 'truncate':
        out = out.slice(0, m.at % (len + 1));
        break;
      case 'insert': {
        const at = m.at % (len + 1);
        const next = new Uint8Array(len + m.bytes.length);
        next.set(out.subarray(0, at));
        next.set(m.bytes, at);
        next.set(out.subarray(at), at + m.bytes.length);
        out = next;
        break;
      }
      case 'delete': {
        if (len === 0) break;
        const at = m.at % len;
        const next = new Uint8Array(len - Math.min(m.n, len - at));
        next.set(out.subarray(0, at));
        next.set(out.subarray(at + m.n), at);
        out = next;
        break;
      }
      case 'duplicate': {
        if (len === 0) break;
        const at = m.at % len;
        const run = out.slice(at, at + m.n);
        const next = new Uint8Array(len + run.length);
        next.set(out.subarray(0, at + run.length));
        next.set(out.subarray(at), at + run.length);
        out = next;
        break;
      }
      case 'field': {
        const { at, size } = m.field;
        if (at + size > len) break;
        for (let i = 0; i < size; i++) out[at + i] = Math.floor(m.value / 2 ** (8 * (size - 1 - i))) & 0xff;
        break;
      }
    }
  }
  return out;
}

/**
 * Valid encodings from `base`, each left as it is (about one in four) or damaged by one to four
 * mutations.
 */
export function mutatedBytes(base: fc.Arbitrary<Uint8Array>, fields: readonly Field[] = []): fc.Arbitrary<Uint8Array> {
  const mutations = fc.oneof(
    { weight: 1, arbitrary: fc.constant([] as ByteMutation[]) },
    { weight: 3, arbitrary: fc.array(byteMutation(fields), { minLength: 1, maxLength: 4 }) },
  );
  return fc.tuple(base, mutations).map(([b, ms]) => applyBytes(b, ms));
}

export type TextMutation =
  | { readonly kind: 'replace'; readonly at: number; readonly with: string }
  | { readonly kind: 'insert'; readonly at: number; readonly text: string }
  | { readonly kind: 'delete'; readonly at: number; readonly n: number }
  | { readonly kind: 'case'; readonly at: number }
  | { readonly kind: 'swap'; readonly at: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'wrap'; readonly before: string; readonly after: string };

/** Characters that break text formats: controls, separators, spaces of every kind, lone surrogates. */
const EDGE_CHARS = ['\0', '\t', '\n', '\r', '\v', '\f', ' ', '\u0085', '\u00a0', '\u200b', '\u2028', '\u3000', '\ufeff', '\ud800', '\udc00', '#', '"', '\\', '=', '%', '.', '1', 'Q', '\u0301', '\u{1f600}'];

const oneChar = fc.oneof(
  fc.constantFrom(...EDGE_CHARS),
  fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);

/** One character-level mutation of a text input (`alphabet` adds the format's own characters). */
export function textMutation(alphabet = ''): fc.Arbitrary<TextMutation> {
  const at = fc.nat();
  const ch = alphabet.length > 0 ? fc.oneof(oneChar, fc.constantFrom(...Array.from(alphabet))) : oneChar;
  const spaces = fc.string({ unit: fc.constantFrom(' ', '\t', '\n', '\r', '\u00a0', '\u3000'), maxLength: 3 });
  return fc.oneof(
    fc.record({ kind: fc.constant('replace' as const), at, with: ch }),
    fc.record({ kind: fc.constant('insert' as const), at, text: fc.oneof(ch, fc.string({ unit: 'binary', minLength: 1, maxLength: 8 })) }),
    fc.record({ kind: fc.constant('delete' as const), at, n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('case' as const), at }),
    fc.record({ kind: fc.constant('swap' as const), at }),
    fc.record({ kind: fc.constant('truncate' as const), at }),
    fc.record({ kind: fc.constant('wrap' as const), before: spaces, after: spaces }),
  );
}

/** Applies text mutations in order (positions in UTF-16 code units, so surrogate pairs may be split on purpose). */
export function applyText(base: string, mutations: readonly TextMutation[]): string {
  let s = base;
  for (const m of mutations) {
    const len = s.length;
    switch (m.kind) {
      case 'replace':
        if (len > 0) s = s.slice(0, m.at % len) + m.with + s.slice((m.at % len) + 1);
        break;
      case 'insert':
        s = s.slice(0, m.at % (len + 1)) + m.text + s.slice(m.at % (len + 1));
        break;
      case 'delete':
        if (len > 0) s = s.slice(0, m.at % len) + s.slice((m.at % len) + m.n);
        break;
      case 'case': {
        if (len === 0) break;
        const i = m.at % len;
        const c = s.charAt(i);
        s = s.slice(0, i) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + s.slice(i + 1);
        break;
      }
      case 'swap': {
        if (len < 2) break;
        const i = m.at % (len - 1);
        s = s.slice(0, i) + s.charAt(i + 1) + s.charAt(i) + s.slice(i + 2);
        break;
      }
      case 'truncate':
        s = s.slice(0, m.at % (len + 1));
        break;
      case 'wrap':
        s = m.before + s + m.after;
        break;
    }
  }
  return s;
}

/** Valid texts from `base`, left as they are (about one in four) or damaged by one to four mutations. */
export function mutatedText(base: fc.Arbitrary<string>, alphabet = ''): fc.Arbitrary<string> {
  const mutations = fc.oneof(
    { weight: 1, arbitrary: fc.constant([] as TextMutation[]) },
    { weight: 3, arbitrary: fc.array(textMutation(alphabet), { minLength: 1, maxLength: 4 }) },
  );
  return fc.tuple(base, mutations).map(([b, ms]) => applyText(b, ms));
}

/** Split points for feeding a stream in chunks: sizes drawn small, taken in turn until the input runs out. */
export const chunkSizes: fc.Arbitrary<number[]> = fc.oneof(
  fc.constant([] as number[]),
  fc.array(fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 1200 })), { minLength: 1, maxLength: 12 }),
);

/** Chunks cut at most: past them, the rest goes in one piece (a 1 MiB input in 7-byte chunks would only measure the loop). */
const MAX_CHUNKS = 4096;

/** Cuts `bytes` into chunks of the given sizes in turn (the whole at once when `sizes` is empty). */
export function chunked(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  if (sizes.length === 0) return [bytes];
  const out: Uint8Array[] = [];
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    if (out.length === MAX_CHUNKS) {
      out.push(bytes.subarray(at));
      break;
    }
    const n = sizes[i % sizes.length]!;
    out.push(bytes.subarray(at, at + n));
    at += n;
    i++;
  }
  return out;
}
