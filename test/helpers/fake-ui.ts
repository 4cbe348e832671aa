/**
 * A stand-in for the `entrechat ui` process, for the page's tests: it serves a built page (with the
 * real server's headers: strict CSP, no-store, nosniff, no-referrer) on 127.0.0.1 and speaks
 * src/web/protocol.ts over `/ws`, answering calls with scripted values and pushing the talk events
 * a test gives it, made by the real `eventJson`. It checks nothing of the real server's security.
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { eventJson } from '../../src/app/events.ts';
import type { TalkEvent } from '../../src/app/talk.ts';
import type { AppState, CallMessage, CallName, ContactInfo } from '../../src/web/protocol.ts';
import { PAGE_BUSY_CLOSE, PAGE_BUSY_REASON } from '../../src/web/protocol.ts';

export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; media-src 'self' blob: mediastream:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export const FAKE_CODE = 'ec1qxzjpuqf3yc2w4r53d7aedp77adqm0e6p5nrsxh5awj2nr42nd8x5uvdfgs';

const TYPES: Readonly<Record<string, string>> = { 'index.html': 'text/html; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' };

/** What a call answers: a value, or `{ error: CODE }`. */
export type Reply = unknown;
export type Handler = (call: CallMessage, ui: FakeUi) => Reply;

export class FakeUi {
  readonly calls: CallMessage[] = [];
  /** Where the page broke src/web/protocol.ts (ids not 1, 2, 3… on each connection). */
  readonly protocolErrors: string[] = [];
  state: AppState = {
    identity: 'unlocked', needsPassphrase: true, session: null,
    limits: { maxMessageBytes: 16 * 1024, maxUnacked: 64, contactNameMax: 64 },
  };
  /** A long name without a space (the most a name may be), and one written right to left. */
  contacts: ContactInfo[] = [
    { name: 'alice', verified: true }, { name: 'bob', verified: false },
    { name: 'Maximilian-Alexander-Wolfgang-Friedrich-von-Hohenzollern-Sigmar', verified: false },
    { name: 'سارة', verified: true },
  ];
  readonly handlers: Partial<Record<CallName, Handler>> = {};
  /** How a second page is refused (the first stays). */
  secondPage: { code: number; reason: string } = { code: PAGE_BUSY_CLOSE, reason: PAGE_BUSY_REASON };
  #socket: WebSocket | null = null;
  #nextMessageId = 1;
  url = '';
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true });

  constructor(private readonly dir: string) {
    this.#server = createServer((req, res) => {
      const name = req.url === '/' ? 'index.html' : (req.url ?? '').slice(1);
      const type = TYPES[name];
      const headers = { 'Content-Security-Policy': PAGE_CSP, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer' };
      if (type === undefined) {
        res.writeHead(404, headers).end();
        return;
      }
      readFile(join(this.dir, name)).then((body) => { res.writeHead(200, { ...headers, 'Content-Type': type }).end(body); },
        () => { res.writeHead(500, headers).end(); });
    });
    this.#server.on('upgrade', (req, socket, head) => {
      if (req.url !== '/ws') {
        socket.destroy();
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => { this.#accept(ws); });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    this.url = `http://127.0.0.1:${String(address.port)}/`;
    return this;
  }

  #accept(ws: WebSocket): void {
    if (this.#socket !== null) {
      ws.close(this.secondPage.code, this.secondPage.reason);
      return;
    }
    this.#socket = ws;
    let expectedId = 1;
    ws.on('close', () => { if (this.#socket === ws) this.#socket = null; });
    ws.on('message', (data) => {
      const call = JSON.parse((data as Buffer).toString('utf8')) as CallMessage;
      if (call.id !== expectedId) this.protocolErrors.push(`call ${call.call} has id ${String(call.id)}, expected ${String(expectedId)}`);
      expectedId = call.id + 1;
      this.calls.push(call);
      let reply: Reply;
      try {
        reply = (this.handlers[call.call] ?? defaultHandler)(call, this);
      } catch (e) {
        reply = { error: e instanceof Error ? e.message : 'INTERNAL' };
      }
      const error = typeof reply === 'object' && reply !== null && 'error' in reply ? (reply as { error: string }).error : null;
      this.#send(error !== null ? { re: call.id, ok: false, code: error } : { re: call.id, ok: true, value: reply ?? null });
    });
    this.#send({ push: 'state', state: this.state });
  }

  #send(message: unknown): void {
    this.#socket?.send(JSON.stringify(message));
  }

  setState(patch: Partial<AppState>): void {
    this.state = { ...this.state, ...patch };
    this.#send({ push: 'state', state: this.state });
  }

  /** Pushes a session event as `talk --json` prints it. */
  event(event: TalkEvent): void {
    const json = eventJson(event);
    if (json !== null) this.#send({ push: 'talk', event: json });
  }

  /** A message from the peer. */
  message(text: string): void {
    this.event({ type: 'message', id: this.#nextMessageId++, text });
  }

  /** Drops the page's socket (as a process that stopped). */
  drop(): void {
    this.#socket?.terminate();
  }

  get connected(): boolean {
    return this.#socket !== null;
  }

  async close(): Promise<void> {
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => { resolve(); }));
  }
}

/** The answers of an ordinary process: contacts as `ui.contacts`, `talk` opens a session. */
function defaultHandler(call: CallMessage, ui: FakeUi): Reply {
  switch (call.call) {
    case 'strength': return { bits: call.passphrase.length * 4, weak: call.passphrase.length * 4 < 50 };
    case 'create':
      ui.setState({ identity: 'unlocked' });
      return { code: FAKE_CODE };
    case 'unlock':
      if (call.passphrase !== 'right horse battery') return { error: 'STORE_WRONG_PASSPHRASE' };
      ui.setState({ identity: 'unlocked' });
      return { code: FAKE_CODE };
    case 'lock':
      ui.setState({ identity: 'locked' });
      return null;
    case 'whoami': return { code: FAKE_CODE };
    case 'contacts': return ui.contacts;
    case 'add': {
      if (!call.code.toLowerCase().startsWith('ec1')) return { error: 'CODE_BAD_PREFIX' };
      const c = { name: call.name, verified: false };
      ui.contacts.push(c);
      return c;
    }
    case 'rename': {
      const i = ui.contacts.findIndex((c) => c.name === call.name);
      if (i < 0) return { error: 'CONTACT_UNKNOWN' };
      const c = { name: call.newName, verified: ui.contacts[i]!.verified };
      ui.contacts[i] = c;
      return c;
    }
    case 'remove':
      ui.contacts = ui.contacts.filter((c) => c.name !== call.name);
      return null;
    case 'safety': return { groups: ['12345', '67890', '13579', '24680', '11223', '34455', '66778', '89900', '10293', '84756', '56473', '82910'] };
    case 'verify': {
      const i = ui.contacts.findIndex((x) => x.name === call.name);
      if (i < 0) return { error: 'CONTACT_UNKNOWN' };
      const c = { name: call.name, verified: true };
      ui.contacts[i] = c;
      return c;
    }
    case 'talk':
      ui.setState({ session: call.name });
      return null;
    case 'send': return { id: ui.calls.filter((c) => c.call === 'send').length };
    case 'quit':
      ui.event({ type: 'state', state: 'closing' });
      ui.event({ type: 'closed', reason: 'quit', hadSession: true });
      ui.setState({ session: null });
      return null;
    case 'doctor':
      return [
        { name: 'node', ok: true, detail: 'Node.js 20.19.0' },
        { name: 'tor', ok: false, detail: 'tor was not found on PATH', fix: 'sudo apt-get install tor', code: 'TOR_NOT_FOUND' },
        { name: 'core dumps', ok: true, warn: true, detail: 'core dumps are allowed', fix: 'ulimit -c 0' },
      ];
    case 'exit':
      setTimeout(() => { ui.drop(); }, 50);
      return null;
  }
}
