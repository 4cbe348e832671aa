/**
 * The session's output over the page's connection (app/talk.ts OutputSink): while more than
 * UI_SEND_BUFFER_MAX bytes wait to reach the page, or no page is connected, the session stops reading
 * the peer, so that a flood waits in the peer's socket and not in this process.
 */
import { EventEmitter } from 'node:events';
import { UI_SEND_BUFFER_MAX, type OutputSink } from '../app/index.ts';

/** What the sink needs of a page's connection. */
export interface PageConnection {
  /** Bytes handed to the connection and not yet written to its socket. */
  readonly bufferedAmount: number;
  /** Sends one text frame; `written` runs once it has left for the socket (or failed). */
  send(text: string, written: () => void): void;
}

export class PageSink extends EventEmitter implements OutputSink {
  #page: PageConnection | null = null;

  constructor(private readonly bound = UI_SEND_BUFFER_MAX) {
    super();
  }

  get page(): PageConnection | null {
    return this.#page;
  }

  set page(page: PageConnection | null) {
    this.#page = page;
    this.poke();
  }

  get writableNeedDrain(): boolean {
    return this.#page === null || this.#page.bufferedAmount > this.bound;
  }

  /** Sends to the page (if any), checking afterwards whether what waited has drained. */
  send(text: string): boolean {
    const page = this.#page;
    if (page === null) return false;
    page.send(text, () => { this.poke(); });
    return true;
  }

  /** Emits 'drain' when nothing is held back any more. */
  poke(): void {
    if (!this.writableNeedDrain && this.listenerCount('drain') > 0) this.emit('drain');
  }
}
