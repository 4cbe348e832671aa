/**
 * Lines of standard input for `talk --json` and the plain chat: a line ends at `\n` or `\r\n` only. A
 * lone `\r` is part of the line (node's readline would end a line there, and split one message in two).
 * A line is kept up to one character past MAX_MESSAGE_BYTES, the rest dropped until its end: such a line
 * can only be refused (MESSAGE_TOO_LONG), and input without a line end cannot grow memory.
 */
import { StringDecoder } from 'node:string_decoder';
import { MAX_MESSAGE_BYTES } from '../app/index.ts';

/** Longer than any message that can be sent (16 KiB of UTF-8 is at most that many characters). */
const LINE_KEPT_CHARS = MAX_MESSAGE_BYTES + 1;

export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  #partial = '';

  /** Feeds bytes; returns the lines they complete, without their `\n` or `\r\n`. */
  push(chunk: Uint8Array): string[] {
    const parts = this.#decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)).split('\n');
    const lines: string[] = [];
    for (let i = 0; i < parts.length - 1; i++) {
      const line = this.#keep(parts[i] ?? '');
      this.#partial = '';
      lines.push(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    this.#partial = this.#keep(parts[parts.length - 1] ?? '');
    return lines;
  }

  /** At the end of input: the last line if it had no line end (as is, a trailing `\r` included), or null. */
  end(): string | null {
    const rest = this.#keep(this.#decoder.end());
    this.#partial = '';
    return rest === '' ? null : rest;
  }

  /** The line so far with `more` added, at most LINE_KEPT_CHARS + 1 characters (room for a `\r` before `\n`). */
  #keep(more: string): string {
    return this.#partial + more.slice(0, Math.max(0, LINE_KEPT_CHARS + 1 - this.#partial.length));
  }
}
