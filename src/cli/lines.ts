/**
 * Lines of standard input for `talk --json`: a line ends at `\n` or `\r\n` only. A lone `\r` is part of
 * the line (node's readline would end a line there, and split one message in two).
 */
import { StringDecoder } from 'node:string_decoder';

export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  #partial = '';

  /** Feeds bytes; returns the lines they complete, without their `\n` or `\r\n`. */
  push(chunk: Uint8Array): string[] {
    const text = this.#partial + this.#decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    const parts = text.split('\n');
    this.#partial = parts.pop() ?? '';
    return parts.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  }

  /** At the end of input: the last line if it had no line end (as is, a trailing `\r` included), or null. */
  end(): string | null {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    return rest === '' ? null : rest;
  }
}
