/**
 * The local server of `entrechat ui`: node:http on 127.0.0.1 only, on a port the system picks, serving
 * the page's three files and one WebSocket at /ws. Who may use it (docs/web.md "Security model"):
 *
 * - the one who holds the one-time secret printed at start: `/open?k=SECRET` (compared in constant
 *   time, usable once) sets an HttpOnly, SameSite=Strict cookie holding another random value, then
 *   redirects to `/`, so that the secret leaves the address bar; every other request needs that cookie;
 * - through this server's own name only: Host must be exactly `127.0.0.1:PORT` (DNS rebinding);
 * - from this page only: an Origin, when sent, must be `http://127.0.0.1:PORT`, and the WebSocket
 *   upgrade must send it; a request a browser marks as coming from another site is refused;
 * - one page at a time: a second WebSocket is closed at once with 4001 and the reason UI_PAGE_BUSY.
 *
 * Every response carries the headers of {@link SECURITY_HEADERS}; none carries a CORS header.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  errorWords,
  UsageError,
  UI_MAX_FRAME,
  UI_MAX_HEADER_BYTES,
  UI_MAX_HEADERS,
  UI_PING_INTERVAL,
  UI_REQUEST_TIMEOUT,
  type ErrorCode,
} from '../app/index.ts';
import { UiBridge, type BridgeOptions } from './bridge.ts';
import type { PageConnection } from './sink.ts';
import { PAGE_BUSY_CLOSE, PAGE_BUSY_REASON } from './protocol.ts';

/** The page's files, as `npm run build` writes them into dist/web. */
const ASSETS = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { path: '/app.css', file: 'app.css', type: 'text/css; charset=utf-8' },
] as const;

/** The WebSocket close code and reason of a second page. */

/** What every response carries. The CSP lets the page run its own script and style, draw its QR code (SVG, canvas, data: and blob: images), reach its own WebSocket and show its camera; nothing else. */
export function securityHeaders(port: number): Record<string, string> {
  const self = `127.0.0.1:${port}`;
  return {
    'Cache-Control': 'no-store',
    'Content-Security-Policy': [
      "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
      // 'self' covers the page's ws: URL in browsers of CSP 3; older ones need it named.
      `connect-src 'self' ws://${self}`, "media-src 'self' blob: mediastream:", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ].join('; '),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'X-Frame-Options': 'DENY',
    'Permissions-Policy': 'camera=(self), microphone=(), geolocation=(), display-capture=(), payment=(), usb=(), serial=()',
  };
}

/** An HTTP refusal: its status and the code whose words are its body. */
const REFUSALS = {
  UI_BAD_HOST: 421,
  UI_BAD_ORIGIN: 403,
  UI_BAD_SECRET: 403,
  UI_NOT_SIGNED_IN: 403,
  UI_NOT_FOUND: 404,
  UI_BAD_METHOD: 405,
} as const satisfies Partial<Record<ErrorCode, number>>;
type Refusal = keyof typeof REFUSALS;

export interface UiServerOptions extends Omit<BridgeOptions, 'onExit'> {
  /** The folder holding index.html, app.js and app.css (dist/web by default). */
  readonly assets: string;
  /** How often the page is pinged; one not answered by the next ping is gone (UI_PING_INTERVAL). */
  readonly pingInterval?: number;
  /** The process should end: the page's Exit, or no page for UI_IDLE_EXIT. */
  readonly onExit: (why: 'exit' | 'idle') => void;
}

export interface UiServer {
  readonly port: number;
  /** `http://127.0.0.1:PORT/open?k=SECRET`: a secret, for the person only (printed once, never logged). */
  readonly url: string;
  /** Bytes waiting to reach the connected page (its WebSocket's bufferedAmount): what backpressure bounds. */
  readonly bufferedToPage: number;
  /** Ends the session if any, locks, closes the page's connection and the server. */
  close(): Promise<void>;
}

/**
 * Reads the page's files once, into memory.
 * @throws UsageError UI_ASSETS_MISSING
 */
async function readAssets(folder: string): Promise<Map<string, { body: Buffer; type: string }>> {
  const out = new Map<string, { body: Buffer; type: string }>();
  for (const a of ASSETS) {
    try {
      out.set(a.path, { body: await readFile(join(folder, a.file)), type: a.type });
    } catch (cause) {
      throw new UsageError('UI_ASSETS_MISSING', `the page is not built (${a.file} is missing): run npm run build`, { cause });
    }
  }
  return out;
}

/** Constant-time equality of two strings of public length (a random value is always the same length). */
function sameSecret(given: string, expected: Buffer): boolean {
  const g = Buffer.from(given, 'utf8');
  if (g.length !== expected.length) return false;
  return timingSafeEqual(g, expected);
}

/** The value of cookie `name` in a Cookie header, or null. */
function cookieValue(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** Starts the server on 127.0.0.1, a port the system picks. @throws UsageError UI_ASSETS_MISSING */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  // Loaded here: a static import of a built-in is hoisted to the top of the one-file bundle, and
  // node:http would then load (and, under the launcher's V8 flag, compile) for every command.
  const { createServer, STATUS_CODES } = await import('node:http');
  const assets = await readAssets(options.assets);
  // The one-time secret and the cookie's value: 256 bits each, unrelated.
  let secret: Buffer | null = Buffer.from(randomBytes(32).toString('base64url'), 'utf8');
  const session = Buffer.from(randomBytes(32).toString('base64url'), 'utf8');
  const secretText = secret.toString('utf8');
  let port = 0;
  let headers: Record<string, string> = {};
  let cookieName = '';
  let closing = false;

  const bridge = new UiBridge({
    ...options,
    onExit: (why) => { options.onExit(why); },
  });

  const server = createServer({
    maxHeaderSize: UI_MAX_HEADER_BYTES,
    requestTimeout: UI_REQUEST_TIMEOUT,
    headersTimeout: UI_REQUEST_TIMEOUT,
    keepAliveTimeout: 5_000,
  });
  server.maxHeadersCount = UI_MAX_HEADERS;
  server.maxRequestsPerSocket = 100;

  /** The refusal a request earns before anything else is looked at, or null. */
  const firstChecks = (req: IncomingMessage): Refusal | null => {
    if (req.headers.host !== `127.0.0.1:${port}`) return 'UI_BAD_HOST';
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://127.0.0.1:${port}`) return 'UI_BAD_ORIGIN';
    // A browser says where a request comes from: another site, or another port of 127.0.0.1 (same-site).
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return 'UI_BAD_ORIGIN';
    return null;
  };

  const signedIn = (req: IncomingMessage): boolean => {
    const value = cookieValue(req.headers.cookie, cookieName);
    return value !== null && sameSecret(value, session);
  };

  const refuse = (res: ServerResponse, code: Refusal): void => {
    const body = `${errorWords(code)}\n`;
    res.writeHead(REFUSALS[code], {
      ...headers,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      ...(code === 'UI_BAD_METHOD' ? { Allow: 'GET, HEAD' } : {}),
      Connection: 'close',
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };

  server.on('request', (req, res) => {
    // A body is never read: the server takes none (the page talks over its WebSocket).
    const refusal = firstChecks(req);
    if (refusal !== null) { refuse(res, refusal); return; }
    if (req.method !== 'GET' && req.method !== 'HEAD') { refuse(res, 'UI_BAD_METHOD'); return; }
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (url.pathname === '/open') {
      // GET only: a HEAD (a link preview, a prefetch) must not use the secret up.
      if (req.method !== 'GET') { refuse(res, 'UI_BAD_METHOD'); return; }
      const given = url.searchParams.get('k');
      if (secret === null || given === null || !sameSecret(given, secret)) { refuse(res, 'UI_BAD_SECRET'); return; }
      // Used once: from now on only the cookie opens the page.
      secret = null;
      res.writeHead(303, {
        ...headers,
        'Set-Cookie': `${cookieName}=${session.toString('utf8')}; HttpOnly; SameSite=Strict; Path=/`,
        Location: '/',
        'Content-Length': 0,
      });
      res.end();
      return;
    }
    const asset = url.search === '' ? assets.get(url.pathname) : undefined;
    if (asset === undefined) { refuse(res, 'UI_NOT_FOUND'); return; }
    if (!signedIn(req)) { refuse(res, 'UI_NOT_SIGNED_IN'); return; }
    res.writeHead(200, { ...headers, 'Content-Type': asset.type, 'Content-Length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  });
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    // Headers over UI_MAX_HEADER_BYTES: 431; anything else malformed, or too slow: 400 (408 is not worth the difference).
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    if (socket.writable) {
      const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'Content-Length: 0', 'Connection: close'];
      socket.end(`${lines.join('\r\n')}\r\n\r\n`);
    }
    socket.destroy();
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: UI_MAX_FRAME, perMessageDeflate: false, clientTracking: false });
  wss.on('headers', (list) => {
    for (const [k, v] of Object.entries(headers)) list.push(`${k}: ${v}`);
  });
  let current: WebSocket | null = null;

  const refuseUpgrade = (socket: Socket, code: Refusal): void => {
    const body = `${errorWords(code)}\n`;
    const lines = [`HTTP/1.1 ${REFUSALS[code]} ${STATUS_CODES[REFUSALS[code]] ?? ''}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
    socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
    socket.destroy();
  };

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => { socket.destroy(); });
    const refusal = firstChecks(req);
    if (refusal !== null) { refuseUpgrade(socket, refusal); return; }
    if (req.headers.origin === undefined) { refuseUpgrade(socket, 'UI_BAD_ORIGIN'); return; }
    if (req.method !== 'GET' || req.url !== '/ws') { refuseUpgrade(socket, 'UI_NOT_FOUND'); return; }
    if (!signedIn(req)) { refuseUpgrade(socket, 'UI_NOT_SIGNED_IN'); return; }
    if (closing) { socket.destroy(); return; }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (current !== null || closing) {
        // A second page: told why, in a way the page can show.
        ws.close(PAGE_BUSY_CLOSE, PAGE_BUSY_REASON);
        return;
      }
      current = ws;
      const page: PageConnection = {
        get bufferedAmount() { return ws.bufferedAmount; },
        send: (text, written) => {
          if (ws.readyState !== ws.OPEN) { written(); return; }
          ws.send(text, () => { written(); });
        },
      };
      ws.on('message', (data, isBinary) => {
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        if (isBinary) {
          bytes.fill(0);
          page.send(JSON.stringify({ re: 0, ok: false, code: 'UI_BAD_CALL' }), () => undefined);
          return;
        }
        bridge.receive(page, bytes);
      });
      ws.on('error', () => { ws.terminate(); });
      // A page whose connection died without a close (a phone asleep, a network gone): no pong to the
      // last ping by the next one, and it is gone (the grace starts).
      let answered = true;
      ws.on('pong', () => { answered = true; });
      const heartbeat = setInterval(() => {
        if (!answered) { ws.terminate(); return; }
        answered = false;
        ws.ping();
      }, options.pingInterval ?? UI_PING_INTERVAL);
      ws.on('close', () => {
        clearInterval(heartbeat);
        if (current === ws) current = null;
        bridge.detach(page);
      });
      bridge.attach(page);
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
  } catch (e) {
    await bridge.shutdown();
    throw e;
  }
  const address = server.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
  headers = securityHeaders(port);
  // Cookies are per host, not per port: each server's has a name of its own.
  cookieName = `entrechat-${port}`;

  return {
    port,
    url: `http://127.0.0.1:${port}/open?k=${secretText}`,
    get bufferedToPage() { return current?.bufferedAmount ?? 0; },
    close: async () => {
      if (closing) return;
      closing = true;
      secret = null;
      await bridge.shutdown();
      const last = current;
      if (last !== null) {
        last.close(1001, 'exit');
        setTimeout(() => { last.terminate(); }, 1_000).unref();
      }
      await new Promise<void>((resolve) => {
        server.close(() => { resolve(); });
        server.closeAllConnections();
      });
      session.fill(0);
    },
  };
}
