/**
 * Runs the real `entrechat` command line in child processes, each with its own $ENTRECHAT_HOME, and
 * reads its JSON events. Every process started here is ended by its pid, and every folder removed,
 * in `cleanup()`, even when a test fails.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { botAnswer, DEMO_SCRIPT } from '../../src/app/demo.ts';
import { processesMentioning, snapshot } from './procs.ts';

export const ENTRY = fileURLToPath(new URL('../../src/cli/entrechat.ts', import.meta.url));

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Children of `run` still running: a Fixture's cleanup ends them if a test gave up on them. */
const running = new Set<ChildProcessWithoutNullStreams>();

/** Runs one command to completion. */
export function run(home: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
      env: { ...process.env, ENTRECHAT_HOME: home, TSX_DISABLE_CACHE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    running.add(child);
    child.on('close', () => running.delete(child));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => { resolve({ code, stdout, stderr }); });
    child.stdin.end(input ?? '');
  });
}

export type JsonEvent = Record<string, unknown> & { event: string };

/** A running `talk --json`: its events as they arrive, its stdin, its exit. */
export class TalkProcess {
  readonly events: JsonEvent[] = [];
  /** The lines of stdout as printed, before JSON.parse (to check what a terminal would get). */
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  #stdout = '';
  stderr = '';
  #waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (d: Buffer) => {
      this.#stdout += d.toString();
      let nl: number;
      while ((nl = this.#stdout.indexOf('\n')) !== -1) {
        const line = this.#stdout.slice(0, nl);
        this.#stdout = this.#stdout.slice(nl + 1);
        this.lines.push(line);
        if (line.trim() !== '') this.events.push(JSON.parse(line) as JsonEvent);
      }
      for (const w of this.#waiters.splice(0)) w();
    });
    child.stderr.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((resolve) => {
      child.on('close', (code) => {
        for (const w of this.#waiters.splice(0)) w();
        resolve(code);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves with the first event matching `pred`; rejects after `ms` or if the process exits first. */
  async waitFor(pred: (e: JsonEvent) => boolean, ms = 20_000): Promise<JsonEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit !== undefined) return hit;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`process exited before the event; events: ${JSON.stringify(this.events)} stderr: ${this.stderr}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; events: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  endInput(): void {
    this.child.stdin.end();
  }

  of(type: string): JsonEvent[] {
    return this.events.filter((e) => e.event === type);
  }
}

/** Owns the homes and processes of one test: `cleanup()` ends and removes all of them. */
export class Fixture {
  readonly #dirs: string[] = [];
  readonly #procs: TalkProcess[] = [];

  async home(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'entrechat-test-'));
    this.#dirs.push(dir);
    return dir;
  }

  /** A fresh identity with no passphrase; returns its home and contact code. */
  async identity(): Promise<{ home: string; code: string }> {
    const home = await this.home();
    const r = await run(home, ['init', '--no-passphrase', '--json']);
    if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
    return { home, code: (JSON.parse(r.stdout) as { code: string }).code };
  }

  /**
   * Starts `talk --json`; `env` adds to the environment (e.g. a TMPDIR of the test's own). `group`: in
   * a process group of its own, as a terminal's foreground job is (a Ctrl-C goes to the whole group).
   */
  talk(home: string, args: string[], env: Record<string, string> = {}, group = false): TalkProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'talk', ...args, '--json'], {
      env: { ...process.env, ENTRECHAT_HOME: home, TSX_DISABLE_CACHE: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: group,
    });
    const p = new TalkProcess(child);
    this.#procs.push(p);
    return p;
  }

  /** Alice and Bob: two fresh identities, each holding the other as a contact ('bob', 'alice'). */
  async pair(): Promise<{ alice: { home: string; code: string }; bob: { home: string; code: string } }> {
    const [alice, bob] = await Promise.all([this.identity(), this.identity()]);
    const added = await Promise.all([
      run(alice.home, ['contacts', 'add', 'bob', bob.code]),
      run(bob.home, ['contacts', 'add', 'alice', alice.code]),
    ]);
    for (const r of added) if (r.code !== 0) throw new Error(`contacts add failed: ${r.stderr}`);
    return { alice, bob };
  }

  async cleanup(): Promise<void> {
    for (const p of this.#procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }
    const stragglers = [...running].map((child) => new Promise((resolve) => {
      child.once('close', resolve);
      child.kill('SIGKILL');
    }));
    await Promise.all([...this.#procs.map((p) => p.exited), ...stragglers]);
    await Promise.all(this.#dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => { resolve(port); });
    });
  });
}

/**
 * `demo --script`'s transcript: every line of the script said, every answer of the bot heard, the
 * session opened and ended by quit. Also checks that `tmp` (the demo's TMPDIR) is left empty and that
 * nothing started there runs on.
 */
export async function assertDemoTranscript(stdout: string, tmp: string): Promise<void> {
  const lines = stdout.split('\n');
  const said = lines.filter((l) => l.includes(' you: ')).map((l) => l.slice(l.indexOf(' you: ') + 6));
  const heard = lines.filter((l) => l.includes(' bot: ')).map((l) => l.slice(l.indexOf(' bot: ') + 6));
  assert.deepEqual(said, [...DEMO_SCRIPT]);
  assert.deepEqual(heard, DEMO_SCRIPT.map((text, i) => botAnswer(i + 1, text)));
  assert.match(stdout, /connected \(session [0-9a-f]{16}\)/);
  assert.match(stdout, /session over \(quit\)/);
  assert.deepEqual([...(await snapshot(tmp)).keys()], [], 'the network, the identities and both tors’ folders are gone');
  assert.deepEqual(await processesMentioning(tmp), [], 'no tor of the demo runs on');
}
