/**
 * The pure half of the Tor control-port client: turns the bytes tor sends into replies and async events
 * (control-spec §2.3 "Replies from Tor to the controller"), and the small text helpers the commands need
 * (QuotedString escaping, `KEY=VALUE` lists). No I/O: the connection feeds bytes in.
 *
 *   Reply         = *(MidReplyLine / DataReplyLine) EndReplyLine
 *   MidReplyLine  = StatusCode "-" ReplyLine
 *   DataReplyLine = StatusCode "+" ReplyLine CmdData        (data lines dot-stuffed, ended by a "." line)
 *   EndReplyLine  = StatusCode SP ReplyLine
 *
 * Every line of one reply shares its status code (control-spec §2.3); a reply whose code starts with 6
 * is an async event (§4.1), which tor may send between any two replies but never inside one. Lines end
 * with CRLF; a bare LF is accepted too. Anything else is tor (or whatever listens on that port) breaking
 * the protocol: `push` throws TorError TOR_CONTROL_PROTOCOL and the parser stays dead.
 */
import { InternalError, TorError } from '../../core/errors.ts';
import { MAX_CONTROL_LINE, MAX_CONTROL_REPLY } from '../../core/limits.ts';
import { decodeUtf8Strict } from '../../core/utf8.ts';

/** One line of a reply. */
export interface ReplyLine {
  readonly status: number;
  /** The text after the status code and separator, CRLF removed, read as UTF-8 (a bad sequence becomes U+FFFD). */
  readonly text: string;
  /** Only for a `+` line: its data block, one entry per line (UTF-8), dot-unstuffed, without the final ".". */
  readonly data?: readonly string[];
}

/** A whole reply (or async event): its lines in order; `status` is that of the end line. */
export interface Reply {
  readonly status: number;
  readonly lines: readonly ReplyLine[];
}

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const DOT = 0x2e;
const utf8 = new TextDecoder('utf-8');

function protocolError(why: string): TorError {
  return new TorError('TOR_CONTROL_PROTOCOL', `Tor's control port sent a malformed reply: ${why}`);
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

/**
 * Incremental parser of tor's reply stream. Feed it bytes in chunks of any size with {@link push};
 * each complete reply goes to `onReply` and each complete async event (status 6xx) to `onEvent`,
 * synchronously from `push`, in stream order.
 *
 * Bounds: a line longer than {@link MAX_CONTROL_LINE} bytes, or a reply (all its lines and data) longer
 * than {@link MAX_CONTROL_REPLY} bytes, is a protocol error, so a misbehaving peer cannot make us buffer
 * without limit.
 */
export class ReplyParser {
  readonly #onReply: (r: Reply) => void;
  readonly #onEvent: (r: Reply) => void;
  /** Copies of the bytes of the incomplete line so far (no LF among them), and their total length. */
  #pending: Buffer[] = [];
  #pendingLength = 0;
  /** Lines of the reply in progress. */
  #lines: ReplyLine[] = [];
  #status = -1;
  #replyBytes = 0;
  /** Inside a data block: the `+` line it belongs to and the lines so far. */
  #data: { status: number; text: string; lines: string[] } | null = null;
  #dead: TorError | null = null;

  constructor(onReply: (r: Reply) => void, onEvent: (r: Reply) => void) {
    this.#onReply = onReply;
    this.#onEvent = onEvent;
  }

  /**
   * Consumes one chunk of bytes (the caller may reuse it afterwards). Callbacks run synchronously from
   * here; one that throws stops the parser like a malformation would (its error propagates).
   * @throws TorError TOR_CONTROL_PROTOCOL on any malformation, and on every call after one
   */
  push(chunk: Uint8Array): void {
    if (!(chunk instanceof Uint8Array)) throw new TypeError('chunk must be a Uint8Array');
    if (this.#dead !== null) throw protocolError('the parser already failed on earlier bytes');
    try {
      this.#push(chunk);
    } catch (e) {
      this.#dead = e instanceof TorError ? e : protocolError('unexpected parser failure');
      this.#pending = [];
      this.#pendingLength = 0;
      this.#lines = [];
      this.#data = null;
      throw e;
    }
  }

  #push(chunk: Uint8Array): void {
    // A view, not a copy: every complete line is decoded right away; only the incomplete rest is kept.
    const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (;;) {
      const lf = view.indexOf(LF, start);
      if (lf < 0) break;
      // + 1: the CR of the CRLF is still part of the bytes counted here.
      if (this.#pendingLength + lf - start > MAX_CONTROL_LINE + 1) throw protocolError('line too long');
      let line = view.subarray(start, lf);
      if (this.#pending.length > 0) {
        line = Buffer.concat([...this.#pending, line]);
        this.#pending = [];
        this.#pendingLength = 0;
      }
      if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
      if (line.length > MAX_CONTROL_LINE) throw protocolError('line too long');
      start = lf + 1;
      this.#line(line);
    }
    if (start < view.length) {
      this.#pendingLength += view.length - start;
      if (this.#pendingLength > MAX_CONTROL_LINE + 1) throw protocolError('line too long');
      this.#pending.push(Buffer.from(view.subarray(start)));
    }
  }

  #count(bytes: number): void {
    this.#replyBytes += bytes + 2;
    if (this.#replyBytes > MAX_CONTROL_REPLY) throw protocolError('reply too long');
  }

  #line(raw: Buffer): void {
    if (raw.includes(NUL)) throw protocolError('NUL byte in a line');
    this.#count(raw.length);
    const data = this.#data;
    if (data !== null) {
      if (raw.length === 1 && raw[0] === DOT) {
        this.#data = null;
        this.#lines.push({ status: data.status, text: data.text, data: data.lines });
        return;
      }
      // Dot-unstuffing (control-spec §2.4 CmdData, as RFC 2821 §4.5.2).
      data.lines.push(utf8.decode(raw[0] === DOT ? raw.subarray(1) : raw));
      return;
    }
    if (raw.includes(CR)) throw protocolError('CR inside a line');
    if (raw.length < 4) throw protocolError('line too short');
    const d0 = raw[0] ?? 0;
    if (!isDigit(d0) || !isDigit(raw[1]) || !isDigit(raw[2])) throw protocolError('bad status code');
    const status = Number(raw.toString('latin1', 0, 3));
    // 2yz, 4yz, 5yz, 6yz are the only classes the protocol defines (control-spec §4).
    if (d0 === 0x30 || d0 === 0x31 || d0 === 0x33 || d0 > 0x36) throw protocolError('bad status code');
    if (this.#status !== -1 && status !== this.#status) throw protocolError('status code changed within a reply');
    const separator = raw[3] ?? 0;
    const text = utf8.decode(raw.subarray(4));
    this.#status = status;
    switch (separator) {
      case 0x2d: // '-'
        this.#lines.push({ status, text });
        return;
      case 0x2b: // '+'
        this.#data = { status, text, lines: [] };
        return;
      case 0x20: { // ' '
        this.#lines.push({ status, text });
        const reply: Reply = { status, lines: this.#lines };
        this.#lines = [];
        this.#status = -1;
        this.#replyBytes = 0;
        if (status >= 600) this.#onEvent(reply);
        else this.#onReply(reply);
        return;
      }
      default:
        throw protocolError('bad separator after the status code');
    }
  }
}

// --- text helpers ---

/**
 * A QuotedString for a command line (control-spec §2.1): wrapped in double quotes, with backslash and
 * double quote escaped. Everything else passes as is (UTF-8 on the wire); since we never put a backslash
 * before n, t, r or a digit, tor reads the same string whether it decodes it as a QuotedString or as a
 * CString (§2.1.1).
 * @throws InternalError when `s` holds CR, LF or NUL: they cannot be sent on a command line, and every
 *   caller validates its input before (a value that gets here with one is a bug)
 */
export function quoteString(s: string): string {
  if (/[\r\n\0]/.test(s)) throw new InternalError('a control-port string cannot hold CR, LF or NUL');
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

const utf8Encoder = new TextEncoder();

/**
 * Decodes the inside of a quoted string tor sent (without its quotes). Tor still writes CStrings in many
 * places (control-spec §2.1.1), so, as the spec advises: \n \t \r and octal \0 … \377 are C escapes
 * (octal ones are bytes, and the result is read as UTF-8), a backslash before anything else is that
 * character.
 * @throws TorError TOR_CONTROL_PROTOCOL on a trailing backslash or bytes that are not UTF-8
 */
export function unescapeQuoted(inner: string): string {
  if (!inner.includes('\\')) return inner;
  // By code point: a character outside the BMP is two UTF-16 units, which encoded one by one would
  // each become U+FFFD.
  const chars = Array.from(inner);
  const bytes: number[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? '';
    if (c !== '\\') {
      for (const b of utf8Encoder.encode(c)) bytes.push(b);
      continue;
    }
    const next = chars[i + 1];
    if (next === undefined) throw protocolError('quoted string ends with a backslash');
    i++;
    if (next === 'n') bytes.push(0x0a);
    else if (next === 't') bytes.push(0x09);
    else if (next === 'r') bytes.push(0x0d);
    else if (/[0-7]/.test(next)) {
      let digits = next;
      while (digits.length < 3 && /[0-7]/.test(chars[i + 1] ?? '')) {
        digits += chars[i + 1] ?? '';
        i++;
      }
      const value = parseInt(digits, 8);
      if (value > 0xff) throw protocolError('octal escape out of range');
      bytes.push(value);
    } else {
      for (const b of utf8Encoder.encode(next)) bytes.push(b);
    }
  }
  try {
    return decodeUtf8Strict(Uint8Array.from(bytes));
  } catch {
    throw protocolError('quoted string is not UTF-8');
  }
}

/** The words and `KEY=VALUE` pairs of one reply or event line. */
export interface KeyValues {
  /** Words without `=` (or whose part before `=` is not a keyword), in order. */
  readonly positional: readonly string[];
  /** `KEY=VALUE` and `KEY="quoted"` pairs, values unquoted; the first of a repeated key wins. */
  readonly values: ReadonlyMap<string, string>;
}

const KEYWORD = /^[A-Za-z0-9_]+$/;

/**
 * Splits a line such as `AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/x/control_auth_cookie"` or
 * `STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay"` into its words and
 * keyword arguments (control-spec §3.21, §4.1: `SP KEYWORD ["=" (QuotedString / *NonSpDquote)]`).
 * Items are separated by single or repeated spaces. A word is keyword-valued only when the part before
 * its first `=` is 1*(ALNUM / "_"), so a base64 word with padding stays positional.
 * @throws TorError TOR_CONTROL_PROTOCOL on an unterminated quote or a quote not followed by a space
 */
export function parseKeyValues(text: string): KeyValues {
  const positional: string[] = [];
  const values = new Map<string, string>();
  let i = 0;
  const n = text.length;
  while (i < n) {
    if (text[i] === ' ') {
      i++;
      continue;
    }
    let j = i;
    while (j < n && text[j] !== ' ' && text[j] !== '=' && text[j] !== '"') j++;
    const head = text.slice(i, j);
    if (text[j] === '=' && KEYWORD.test(head)) {
      let value: string;
      let k = j + 1;
      if (text[k] === '"') {
        k++;
        const from = k;
        while (k < n && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
        if (k >= n) throw protocolError('unterminated quoted value');
        value = unescapeQuoted(text.slice(from, k));
        k++;
        if (k < n && text[k] !== ' ') throw protocolError('text right after a quoted value');
      } else {
        const from = k;
        while (k < n && text[k] !== ' ') k++;
        value = text.slice(from, k);
      }
      if (!values.has(head)) values.set(head, value);
      i = k;
      continue;
    }
    let k = j;
    while (k < n && text[k] !== ' ') k++;
    positional.push(text.slice(i, k));
    i = k;
  }
  return { positional, values };
}
