/**
 * The page's one WebSocket to the process (src/web/protocol.ts): calls answered once each, pushes
 * handed to the page. Nothing is queued across connections: a call made while the socket is not open
 * fails at once, and a call pending when the socket closes fails too.
 */
import { PAGE_BUSY_CLOSE, PAGE_BUSY_REASON, type Answer, type CallName, type Calls, type Push, type ServerMessage } from '../protocol.ts';

/** Why the socket is not (or no longer) usable, for the page to say so. */
export type ConnStatus = 'connecting' | 'open' | 'lost' | 'refused' | 'exited';

/** A call that failed: `code` is an error code of docs/errors.md, or a page-side one (NOT_CONNECTED). */
export class CallError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/**
 * The process refuses a second page by closing its socket with PAGE_BUSY_CLOSE and PAGE_BUSY_REASON
 * (protocol.ts); a socket closed before it ever opened is also taken as that (the process answered the
 * upgrade with a refusal), unless nothing answers at all, which is then a lost connection.
 */
function refusedBySecondPage(event: CloseEvent): boolean {
  return event.code === PAGE_BUSY_CLOSE || event.reason === PAGE_BUSY_REASON;
}

export interface ConnHandlers {
  readonly onPush: (push: Push) => void;
  readonly onStatus: (status: ConnStatus) => void;
}

export class Conn {
  #ws: WebSocket | null = null;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: CallError) => void }>();
  #exiting = false;

  constructor(private readonly handlers: ConnHandlers) {}

  connect(): void {
    this.#ws?.close();
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    const ws = new WebSocket(url);
    this.#ws = ws;
    this.#nextId = 1; // each connection numbers its calls from 1 (src/web/protocol.ts)
    this.handlers.onStatus('connecting');
    ws.onopen = () => { if (this.#ws === ws) this.handlers.onStatus('open'); };
    ws.onmessage = (e: MessageEvent) => { if (this.#ws === ws && typeof e.data === 'string') this.#receive(e.data); };
    ws.onclose = (e: CloseEvent) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      for (const p of this.#pending.values()) p.reject(new CallError('NOT_CONNECTED'));
      this.#pending.clear();
      this.handlers.onStatus(this.#exiting ? 'exited' : refusedBySecondPage(e) ? 'refused' : 'lost');
    };
  }

  /** Sends a call; resolves with its value, rejects with a CallError carrying the process's code. */
  call<K extends CallName>(call: K, args: Calls[K]['args']): Promise<Calls[K]['value']> {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return Promise.reject(new CallError('NOT_CONNECTED'));
    const id = this.#nextId++;
    if (call === 'exit') this.#exiting = true;
    ws.send(JSON.stringify({ ...args, id, call }));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject: (e) => {
          if (call === 'exit' && e.code !== 'NOT_CONNECTED') this.#exiting = false;
          reject(e);
        },
      });
    });
  }

  #receive(data: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof parsed !== 'object' || parsed === null) return;
    const msg = parsed as ServerMessage;
    if ('push' in msg) {
      this.handlers.onPush(msg);
      return;
    }
    const answer: Answer = msg;
    const p = this.#pending.get(answer.re);
    if (p === undefined) return;
    this.#pending.delete(answer.re);
    if (answer.ok) p.resolve(answer.value);
    else p.reject(new CallError(typeof answer.code === 'string' ? answer.code : 'INTERNAL'));
  }
}
