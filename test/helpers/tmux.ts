/**
 * Runs commands in real terminals: panes of a tmux server of the test's own, on a socket in a fresh
 * temp folder (`tmux -S DIR/sock -f /dev/null`), so no other tmux (nor the user's ~/.tmux.conf) is ever
 * touched. A test types into a pane, reads its screen, waits for text and for the exit code, and
 * `stop()`s the server in an after-hook: it ends every process it started, by pid, and removes its folder.
 *
 *   const tmux = await Tmux.start();                      // 100 × 30 panes by default
 *   t.after(() => tmux.stop());
 *   const pane = await tmux.newPane(entrechatCommand(['whoami']), { env: { ENTRECHAT_HOME: home } });
 *   await tmux.waitForOutput(pane, 'Passphrase: ');       // written (the screen: waitFor)
 *   await tmux.waitEchoOff(pane);                          // typing is hidden from here on
 *   await tmux.typeLine(pane, 'secret');
 *   const code = await tmux.waitExit(pane);                // 3
 *   const screen = await tmux.capture(pane, { history: true });
 *
 * How it is done, and the tmux quirks worked around:
 * - The server's environment is a minimal one built here, and every pane runs under `env -i` with an
 *   explicit environment (PATH, HOME and TMPDIR in the server's folder, TERM=xterm-256color,
 *   LANG=C.UTF-8, plus what the caller gives): nothing of the test runner's environment (an
 *   ENTRECHAT_HOME, a TMUX) reaches a pane.
 * - Exit codes: `remain-on-exit on` keeps a finished pane, and `#{pane_dead_status}` (or
 *   `#{pane_dead_signal}`) is read from it. tmux marks a pane dead when its terminal closes, which can
 *   come before the status is collected: the code counts only once one of the two is there. Seen here:
 *   tmux 3.3a sometimes leaves the exited program a zombie, its status unread, until some other child
 *   of the server exits; `exitCodeOf` then runs `run-shell -b true`, whose exit makes tmux reap them all.
 *   tmux then writes "Pane is dead (…)" after a line feed on the bottom line, which scrolls the screen
 *   up by one: read a finished pane with `{ history: true }` (`waitFor` does, once the pane exited).
 * - `scroll-on-clear off`: by default tmux 3.3 copies the screen into the history when a program
 *   clears it from the top-left corner (even an "erase below" at row 0), so text a real terminal
 *   would have erased stays readable with `{ history: true }`. Off, the screen is what a user sees.
 * - Every byte a pane's program writes is also logged (`pipe-pane`, attached in the same tmux command
 *   as the pane is made, so nothing is missed): `output()` / `waitForOutput()` read what was written,
 *   even what was drawn and erased at once; `ttyMode()` says whether the terminal echoes input.
 * - tmux reads an argument that ends in ";" as the end of a command, even one given as a separate argv
 *   word: such arguments are sent as "…\;", which tmux turns back into "…;".
 * - The first command of a fresh server must be one that starts it (`start-server`): options set
 *   before it fail with "no server running".
 * - `send-keys -l --`: literal text that starts with "-" would otherwise be read as options.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processesMentioning } from './procs.ts';

/** The installed launcher of the `entrechat` command (the esbuild bundle when fresh, else tsx). */
export const ENTRECHAT_BIN = fileURLToPath(new URL('../../bin/entrechat.js', import.meta.url));

/** `s` as one word for /bin/sh. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The shell command that runs `entrechat ARGS` (node + bin/entrechat.js), for a pane. */
export function entrechatCommand(args: readonly string[]): string {
  return ['exec', process.execPath, ENTRECHAT_BIN, ...args].map((w, i) => (i === 0 ? w : shellQuote(w))).join(' ');
}

/** A tmux pane id, e.g. "%3". */
export type PaneId = string;

/** Names tmux knows for keys (`send-keys` without -l). */
export type KeyName =
  | 'Enter' | 'Escape' | 'Tab' | 'BTab' | 'BSpace' | 'Space' | 'Up' | 'Down' | 'Left' | 'Right'
  | 'Home' | 'End' | 'PageUp' | 'PageDown' | 'IC' | 'DC' | `F${number}` | `C-${string}` | `M-${string}`;

/** A named key inside `sendKeys`: plain strings there are literal text. */
export interface Key {
  readonly key: KeyName;
}

export function key(name: KeyName): Key {
  return { key: name };
}

export interface PaneOptions {
  /** Added to (and overriding) the pane's base environment; nothing else is inherited. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working folder; default: the server's folder. */
  readonly cwd?: string;
  /** Default: the server's default size (100 × 30 unless given to `start`). */
  readonly width?: number;
  readonly height?: number;
}

export interface SplitOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** 'right' (side by side, the default) or 'below'. */
  readonly direction?: 'right' | 'below';
  /** Columns (right) or rows (below) of the new pane; default: half. */
  readonly size?: number;
}

export interface CaptureOptions {
  /** Keep colours and attributes as escape sequences (-e). */
  readonly escapes?: boolean;
  /** Join wrapped lines (-J); trailing spaces are then kept. */
  readonly join?: boolean;
  /** Include the scrollback above the screen (-S -). */
  readonly history?: boolean;
}

export interface WaitOptions extends CaptureOptions {
  /** Default 10 000 ms. */
  readonly timeoutMs?: number;
}

export interface StartOptions {
  /** Default size of new panes: 100 × 30. */
  readonly width?: number;
  readonly height?: number;
  /** How often `waitFor` / `waitExit` look: default 100 ms. */
  readonly pollMs?: number;
}

/** What a finished command left: its exit code and its whole screen (history included). */
export interface PaneRun {
  readonly pane: PaneId;
  readonly code: number;
  readonly screen: string;
}

const KEY_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** tmux ends a command at an argument ending in ";": "…\;" is read as a literal "…;". */
function arg(s: string): string {
  return s.endsWith(';') ? `${s.slice(0, -1)}\\;` : s;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Start time of a live (not zombie) process, or null: a pid is killed only if it is still the same process. */
async function startTimeOf(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${String(pid)}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** Pids of the live processes whose parent is `parent`, recursively. */
async function descendantsOf(parent: number): Promise<number[]> {
  const byParent = new Map<number, number[]>();
  for (const name of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      byParent.set(ppid, [...(byParent.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const todo = [parent];
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    for (const child of byParent.get(p) ?? []) {
      out.push(child);
      todo.push(child);
    }
  }
  return out;
}

/** Servers not stopped yet: killed and removed if the test process exits without their `stop()`. */
const live = new Set<Tmux>();
let exitHook = false;

export class Tmux {
  readonly dir: string;
  readonly socket: string;
  readonly #env: Record<string, string>;
  readonly #width: number;
  readonly #height: number;
  readonly #pollMs: number;
  #stopping: Promise<void> | null = null;
  #sessions = 0;

  private constructor(dir: string, opts: StartOptions) {
    this.dir = dir;
    this.socket = join(dir, 'sock');
    this.#width = opts.width ?? 100;
    this.#height = opts.height ?? 30;
    this.#pollMs = opts.pollMs ?? 100;
    this.#env = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: join(dir, 'home'),
      TMPDIR: join(dir, 'tmp'),
      LANG: 'C.UTF-8',
      TERM: 'xterm-256color',
    };
  }

  /** Starts a tmux server of its own in a fresh temp folder. */
  static async start(opts: StartOptions = {}): Promise<Tmux> {
    const dir = await mkdtemp(join(tmpdir(), 'entrechat-tmux-'));
    const tmux = new Tmux(dir, opts);
    live.add(tmux);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => { for (const t of live) t.#stopNow(); });
    }
    try {
      await mkdir(join(dir, 'home'), { mode: 0o700 });
      await mkdir(join(dir, 'tmp'), { mode: 0o700 });
      await mkdir(join(dir, 'out'), { mode: 0o700 });
      await tmux.#tmux([
        'start-server', ';',
        'set-option', '-g', 'exit-empty', 'off', ';',
        'set-option', '-g', 'default-terminal', 'xterm-256color', ';',
        'set-option', '-g', 'default-shell', '/bin/sh', ';',
        'set-option', '-g', 'history-limit', '5000', ';',
        'set-option', '-g', 'scroll-on-clear', 'off', ';',
        'set-option', '-wg', 'remain-on-exit', 'on',
      ]);
    } catch (e) {
      await tmux.stop();
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('tmux is not installed (scripts/lib/ensure.sh installs it)', { cause: e });
      throw e;
    }
    return tmux;
  }

  /** Runs `tmux ARGS` against this server; resolves with its stdout. */
  #tmux(args: readonly string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('tmux', ['-u', '-S', this.socket, '-f', '/dev/null', ...args], { env: this.#env, cwd: this.dir }, (err, stdout, stderr) => {
        if (err) reject(Object.assign(new Error(`tmux ${args.join(' ')}: ${stderr.trim() || err.message}`, { cause: err }), { code: (err as NodeJS.ErrnoException).code }));
        else resolve(stdout);
      });
    });
  }

  /** `env -i K=V… /bin/sh -c COMMAND` as argv words for tmux. */
  #argv(command: string, env: Readonly<Record<string, string>> = {}): string[] {
    const all = { ...this.#env, ...env };
    for (const k of Object.keys(all)) if (!KEY_NAME.test(k)) throw new Error(`bad environment variable name: ${k}`);
    return ['env', '-i', ...Object.entries(all).map(([k, v]) => `${k}=${v}`), '/bin/sh', '-c', command].map(arg);
  }

  /** `pipe-pane` of the active pane of `target` into out/PANE_ID.log (tmux expands #{pane_id}). */
  #logTo(target: string): string[] {
    return ['pipe-pane', '-o', '-t', target, arg(`exec cat >> ${shellQuote(join(this.dir, 'out'))}/'#{pane_id}.log'`)];
  }

  #live(): void {
    if (this.#stopping !== null) throw new Error('this tmux server was stopped');
  }

  /** A new pane in a window (and session) of its own, running the shell `command`. */
  async newPane(command: string, opts: PaneOptions = {}): Promise<PaneId> {
    this.#live();
    const session = `s${String(this.#sessions++)}`;
    const out = await this.#tmux([
      'new-session', '-d', '-s', session, '-P', '-F', '#{pane_id}',
      '-x', String(opts.width ?? this.#width), '-y', String(opts.height ?? this.#height),
      '-c', opts.cwd ?? this.dir, '--', ...this.#argv(command, opts.env), ';',
      // Run before tmux reads anything from the new pane: its whole output is logged.
      ...this.#logTo(`=${session}:`),
    ]);
    return out.trim();
  }

  /** Splits the window of `target`: a new pane to its right (or below) running `command`. */
  async splitPane(target: PaneId, command: string, opts: SplitOptions = {}): Promise<PaneId> {
    this.#live();
    const window = (await this.#tmux(['display-message', '-p', '-t', target, '#{window_id}'])).trim();
    // Without -d the new pane becomes its window's active pane, which `-t WINDOW` then names.
    const out = await this.#tmux([
      'split-window', '-t', target, opts.direction === 'below' ? '-v' : '-h', '-P', '-F', '#{pane_id}',
      ...(opts.size !== undefined ? ['-l', String(opts.size)] : []),
      '-c', opts.cwd ?? this.dir, '--', ...this.#argv(command, opts.env), ';',
      ...this.#logTo(window),
    ]);
    return out.trim();
  }

  /** Two panes side by side in one window, each `width` × `height` (a one-column border between them). */
  async sideBySide(
    left: { readonly command: string; readonly env?: Readonly<Record<string, string>> },
    right: { readonly command: string; readonly env?: Readonly<Record<string, string>> },
    size: { readonly width?: number; readonly height?: number } = {},
  ): Promise<[PaneId, PaneId]> {
    const width = size.width ?? this.#width;
    const a = await this.newPane(left.command, { ...(left.env !== undefined ? { env: left.env } : {}), width: 2 * width + 1, height: size.height ?? this.#height });
    const b = await this.splitPane(a, right.command, { ...(right.env !== undefined ? { env: right.env } : {}), size: width });
    return [a, b];
  }

  /** Resizes the window holding `pane` (the terminal of a single-pane window). */
  async resizeWindow(pane: PaneId, width: number, height: number): Promise<void> {
    await this.#tmux(['resize-window', '-t', pane, '-x', String(width), '-y', String(height)]);
  }

  /** Resizes one pane inside its window. */
  async resizePane(pane: PaneId, size: { readonly width?: number; readonly height?: number }): Promise<void> {
    await this.#tmux([
      'resize-pane', '-t', pane,
      ...(size.width !== undefined ? ['-x', String(size.width)] : []),
      ...(size.height !== undefined ? ['-y', String(size.height)] : []),
    ]);
  }

  async size(pane: PaneId): Promise<{ width: number; height: number }> {
    const [w, h] = (await this.#tmux(['display-message', '-p', '-t', pane, '#{pane_width} #{pane_height}'])).trim().split(' ');
    return { width: Number(w), height: Number(h) };
  }

  /** Pid of the pane's command (it runs under `env -i` and `sh -c`, both exec'd: the same pid with `exec`). */
  /** Closes `pane` as closing a terminal window does: its process gets a hangup (SIGHUP). */
  async killPane(pane: PaneId): Promise<void> {
    await this.#tmux(['kill-pane', '-t', pane]);
  }

  async panePid(pane: PaneId): Promise<number> {
    return Number((await this.#tmux(['display-message', '-p', '-t', pane, '#{pane_pid}'])).trim());
  }

  /** Types into `pane`: plain strings as literal text, `key('Enter')` etc. as named keys, in order. */
  async sendKeys(pane: PaneId, ...keys: readonly (string | Key)[]): Promise<void> {
    const args: string[] = [];
    for (const k of keys) {
      if (args.length > 0) args.push(';');
      if (typeof k === 'string') args.push('send-keys', '-t', pane, '-l', '--', arg(k));
      else args.push('send-keys', '-t', pane, arg(k.key));
    }
    if (args.length > 0) await this.#tmux(args);
  }

  /** Literal text. */
  type(pane: PaneId, text: string): Promise<void> {
    return this.sendKeys(pane, text);
  }

  /** Named keys: 'Enter', 'C-c', 'C-d', 'Up'… */
  press(pane: PaneId, ...names: readonly KeyName[]): Promise<void> {
    return this.sendKeys(pane, ...names.map(key));
  }

  /** Literal text, then Enter. */
  typeLine(pane: PaneId, text: string): Promise<void> {
    return this.sendKeys(pane, text, key('Enter'));
  }

  /** The pane's screen as text, one line per row (trailing spaces trimmed unless `join`). */
  capture(pane: PaneId, opts: CaptureOptions = {}): Promise<string> {
    return this.#tmux([
      'capture-pane', '-p', '-t', pane,
      ...(opts.escapes === true ? ['-e'] : []),
      ...(opts.join === true ? ['-J'] : []),
      ...(opts.history === true ? ['-S', '-'] : []),
    ]);
  }

  /** Everything the pane's program has written so far, escape sequences included. */
  async output(pane: PaneId): Promise<string> {
    try {
      return await readFile(join(this.dir, 'out', `${pane}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /** Polls `output()` until `what` matches; fails after `timeoutMs` or once the pane exited without it. */
  async waitForOutput(pane: PaneId, what: RegExp | string | ((output: string) => boolean), opts: { readonly timeoutMs?: number } = {}): Promise<string> {
    const test = typeof what === 'function' ? what : typeof what === 'string' ? (s: string) => s.includes(what) : (s: string) => what.test(s);
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    for (;;) {
      const exited = await this.exitCodeOf(pane);
      const out = await this.output(pane);
      if (test(out)) return out;
      if (exited !== null || Date.now() >= deadline) {
        const why = exited !== null ? `pane ${pane} exited (code ${String(exited)}) without writing` : `timed out waiting for pane ${pane} to write`;
        throw new Error(`${why} ${String(what)}; it wrote: ${JSON.stringify(out)}; its screen:\n${(await this.capture(pane, { history: true })).trimEnd()}`);
      }
      await sleep(this.#pollMs);
    }
  }

  /** The pane's terminal modes: whether it echoes what is typed, and whether it is line-buffered. */
  async ttyMode(pane: PaneId): Promise<{ echo: boolean; canonical: boolean }> {
    const tty = (await this.#tmux(['display-message', '-p', '-t', pane, '#{pane_tty}'])).trim();
    const settings = await new Promise<string>((resolve, reject) => {
      execFile('stty', ['-a', '-F', tty], { env: this.#env }, (err, stdout) => {
        if (err) reject(new Error(`stty -F ${tty}: ${err.message}`, { cause: err }));
        else resolve(stdout);
      });
    });
    const words = settings.split(/[\s;]+/);
    return { echo: words.includes('echo'), canonical: words.includes('icanon') };
  }

  /** Waits until the pane's terminal no longer echoes input (a program reading a secret turned echo off). */
  async waitEchoOff(pane: PaneId, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const exited = await this.exitCodeOf(pane);
      if (exited === null && !(await this.ttyMode(pane)).echo) return;
      if (exited !== null || Date.now() >= deadline) {
        const why = exited !== null ? `exited (code ${String(exited)})` : `still echoes input after ${String(timeoutMs)} ms`;
        throw new Error(`pane ${pane} ${why}; its screen:\n${(await this.capture(pane, { history: true })).trimEnd()}`);
      }
      await sleep(this.#pollMs / 4);
    }
  }

  /** The exit code of the pane's command (128 + signal when killed by one), or null while it runs. */
  async exitCodeOf(pane: PaneId): Promise<number | null> {
    const [dead, status, signal] = (await this.#tmux(['display-message', '-p', '-t', pane, '#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}'])).trim().split('|');
    if (dead !== '1') return null;
    if (status !== undefined && status !== '') return Number(status);
    if (signal !== undefined && signal !== '') return 128 + Number(signal);
    // Its terminal closed, its status not collected yet (tmux 3.3 sometimes misses the SIGCHLD until the
    // next one): a short job of the server's own makes it reap every child that has exited.
    await this.#tmux(['run-shell', '-b', 'true']);
    return null;
  }

  /**
   * Polls the screen until `what` matches (a RegExp, a substring, or a predicate on the screen text);
   * resolves with that screen. Fails after `timeoutMs`, or as soon as the pane's command has exited
   * without it (its last screen read with the history), with the last screen in the message.
   */
  async waitFor(pane: PaneId, what: RegExp | string | ((screen: string) => boolean), opts: WaitOptions = {}): Promise<string> {
    const test = typeof what === 'function' ? what : typeof what === 'string' ? (s: string) => s.includes(what) : (s: string) => what.test(s);
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    for (;;) {
      const exited = await this.exitCodeOf(pane);
      // Once it exited, with the line tmux's "Pane is dead" pushed into the history.
      const screen = await this.capture(pane, exited === null ? opts : { ...opts, history: true });
      if (test(screen)) return screen;
      if (exited !== null) throw new Error(`pane ${pane} exited (code ${String(exited)}) without showing ${String(what)}; its screen:\n${screen.trimEnd()}`);
      if (Date.now() >= deadline) throw new Error(`timed out waiting for ${String(what)} in pane ${pane}; its screen:\n${screen.trimEnd()}`);
      await sleep(this.#pollMs);
    }
  }

  /** Waits for the pane's command to exit; resolves with its exit code. */
  async waitExit(pane: PaneId, timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const code = await this.exitCodeOf(pane);
      if (code !== null) return code;
      if (Date.now() >= deadline) {
        const screen = await this.capture(pane, { history: true });
        throw new Error(`timed out waiting for pane ${pane} to exit; its screen:\n${screen.trimEnd()}`);
      }
      await sleep(this.#pollMs);
    }
  }

  /** Runs `command` in a new pane to its end (no input): its exit code and whole screen. */
  async run(command: string, opts: PaneOptions & { readonly timeoutMs?: number } = {}): Promise<PaneRun> {
    const pane = await this.newPane(command, opts);
    const code = await this.waitExit(pane, opts.timeoutMs);
    return { pane, code, screen: await this.capture(pane, { history: true }) };
  }

  /**
   * Kills the server (tmux hangs up every pane), then SIGKILLs by id whatever it started that is still
   * there after 2 s, and removes the folder. Safe to call twice; never throws.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const pids: { pid: number; start: string }[] = [];
    try {
      // The server, and everything under it: panes' programs and the `cat`s logging them.
      // (The server's command line names its socket: the tmux clients of this object are all done.)
      const servers = await processesMentioning(this.socket);
      const all = [...servers, ...(await Promise.all(servers.map(descendantsOf))).flat()];
      for (const pid of all) {
        const start = await startTimeOf(pid);
        if (start !== null) pids.push({ pid, start });
      }
    } catch {
      // gone meanwhile
    }
    try {
      await this.#tmux(['kill-server']);
    } catch {
      // already gone
    }
    const deadline = Date.now() + 2000;
    for (;;) {
      const left: typeof pids = [];
      for (const p of pids) if ((await startTimeOf(p.pid)) === p.start) left.push(p);
      if (left.length === 0) break;
      if (Date.now() >= deadline) {
        for (const { pid } of left) {
          // A pane's command leads its own process group: end the group, else the process.
          try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
        }
        break;
      }
      await sleep(50);
    }
    await rm(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** At process exit (no event loop): kill the server and remove the folder, synchronously. */
  #stopNow(): void {
    spawnSync('tmux', ['-S', this.socket, '-f', '/dev/null', 'kill-server'], { env: this.#env, stdio: 'ignore' });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
