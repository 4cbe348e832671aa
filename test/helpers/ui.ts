/**
 * Drives the server of `entrechat ui` as a page would: plain HTTP requests with the headers a test
 * chooses, and a page over a real `ws` client (calls answered, pushes collected).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { ENTRY } from './cli.ts';

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** The error code a refusal's body ends with (`[CODE]`), or null. */
export function codeIn(body: string): string | null {
  return /\[([A-Z0-9_]+)\]\s*$/.exec(body)?.[1] ?? null;
}

/** One HTTP request to 127.0.0.1:port; `headers.host` defaults to the right one. */
export function http(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }); });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Exchanges the URL's one-time secret for the cookie; returns the Cookie header to send. */
export async function signIn(url: string): Promise<string> {
  const u = new URL(url);
  const r = await http(Number(u.port), `${u.pathname}${u.search}`);
  if (r.status !== 303) throw new Error(`sign-in: ${r.status} ${r.body}`);
  const set = r.headers['set-cookie']?.[0] ?? '';
  return set.split(';')[0] ?? '';
}

/** A fixture page: the three files the server serves. */
export async function fixtureAssets(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>Entrechat</title><link rel="stylesheet" href="/app.css"><script type="module" src="/app.js"></script>\n');
  await writeFile(join(dir, 'app.js'), 'console.log("fixture");\n');
  await writeFile(join(dir, 'app.css'), 'body{margin:0}\n');
  return dir;
}

export type Msg = Record<string, unknown>;

/** A page connected over the WebSocket. */
export class Page {
  readonly pushes: Msg[] = [];
  readonly answers = new Map<number, Msg>();
  closed: { code: number; reason: string } | null = null;
  #id = 0;
  #waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString('utf8')) as Msg;
      if (typeof m.re === 'number') this.answers.set(m.re, m);
      else this.pushes.push(m);
      this.#wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  static open(port: number, cookie: string, origin = `http://127.0.0.1:${port}`, path = '/ws', autoPong = true): Promise<Page> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { Cookie: cookie }, origin, autoPong });
      const page = new Page(ws);
      ws.once('open', () => { resolve(page); });
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { body += d; });
        res.on('end', () => { reject(Object.assign(new Error(`upgrade refused ${res.statusCode ?? 0}`), { status: res.statusCode, body, headers: res.headers })); });
      });
      ws.once('error', reject);
    });
  }

  /** Resolves once `check` returns something, re-checked on every frame; rejects after `ms`. */
  async until<T>(check: () => T | undefined, ms = 20_000, what = 'a frame'): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; pushes ${JSON.stringify(this.pushes.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Sends a raw text frame. */
  raw(text: string): void {
    this.ws.send(text);
  }

  /** Makes a call and waits for its answer. */
  async call(call: string, args: Msg = {}, ms = 60_000): Promise<Msg> {
    const id = ++this.#id;
    this.ws.send(JSON.stringify({ id, call, ...args }));
    return this.until(() => this.answers.get(id), ms, `the answer to ${call}`);
  }

  /** The value of a successful call, or throws with its code. */
  async ok(call: string, args: Msg = {}, ms?: number): Promise<unknown> {
    const a = await this.call(call, args, ms);
    if (a.ok !== true) throw new Error(`${call} failed: ${String(a.code)}`);
    return a.value;
  }

  /** The code of a failed call (throws if it succeeded). */
  async code(call: string, args: Msg = {}): Promise<string> {
    const a = await this.call(call, args);
    if (a.ok !== false) throw new Error(`${call} succeeded`);
    return String(a.code);
  }

  /** The last state pushed. */
  state(): Msg | undefined {
    const s = this.pushes.filter((p) => p.push === 'state').at(-1);
    return s?.state as Msg | undefined;
  }

  /** Waits for a state push matching `pred` (from the push after `from`). */
  waitState(pred: (s: Msg) => boolean, ms = 20_000): Promise<Msg> {
    return this.until(() => {
      for (const p of this.pushes) if (p.push === 'state' && pred(p.state as Msg)) return p.state as Msg;
      return undefined;
    }, ms, 'a state');
  }

  /** Waits for a talk event matching `pred`. */
  waitEvent(pred: (e: Msg) => boolean, ms = 20_000): Promise<Msg> {
    return this.until(() => {
      for (const p of this.pushes) if (p.push === 'talk' && pred(p.event as Msg)) return p.event as Msg;
      return undefined;
    }, ms, 'a talk event');
  }

  events(type: string): Msg[] {
    return this.pushes.filter((p) => p.push === 'talk' && (p.event as Msg).event === type).map((p) => p.event as Msg);
  }

  waitClosed(ms = 20_000): Promise<{ code: number; reason: string }> {
    return this.until(() => this.closed ?? undefined, ms, 'the close');
  }

  close(): void {
    this.ws.close();
  }
}

/** An `entrechat ui` process run from the sources, once it printed its URL line. */
export interface UiProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly url: string;
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/**
 * Starts `entrechat ui ARGS` (through tsx, its page from `assets`) and waits at most `waitMs` for its
 * URL line. `children` gets the child at once, so that the caller's cleanup can kill it by pid.
 */
export async function startUiProcess(options: {
  readonly home: string;
  readonly assets: string;
  readonly children: ChildProcessWithoutNullStreams[];
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly waitMs?: number;
}): Promise<UiProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'ui', ...(options.args ?? [])], {
    env: { ...process.env, ENTRECHAT_HOME: options.home, TSX_DISABLE_CACHE: '1', ENTRECHAT_UI_ASSETS: options.assets, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  options.children.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => { child.on('close', resolve); });
  const deadline = Date.now() + (options.waitMs ?? 30_000);
  while (!out.includes('\n')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`entrechat ui printed no URL: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url: out.split('\n')[0] ?? '', exited, stdout: () => out, stderr: () => err };
}
