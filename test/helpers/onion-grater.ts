/**
 * Whonix's onion-grater, unchanged, run by its launcher (../shared/tools/onion-grater/run.py: see its
 * README) in front of a tor of the test: on a free port of 127.0.0.1, with a profile folder of the
 * test's own. `stop()` ends it by its pid (SIGTERM, then SIGKILL) and removes that folder, whatever
 * happened; a test calls it in `finally` or an `after` hook.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './cli.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Where the launcher is: $ENTRECHAT_ONION_GRATER_DIR, else `shared/tools/onion-grater` beside the
 * checkout (../shared for /work/main, ../../shared for a worktree /work/wt/NAME); null when absent.
 */
export function onionGraterDir(): string | null {
  const candidates = [process.env.ENTRECHAT_ONION_GRATER_DIR, join(REPO, '../shared/tools/onion-grater'), join(REPO, '../../shared/tools/onion-grater')];
  for (const c of candidates) if (c !== undefined && c !== '' && existsSync(join(c, 'run.py'))) return c;
  return null;
}

/** Debian's python3 with stem, psutil and yaml (the launcher runs with it, not another python). */
export function graterPythonReady(): boolean {
  return existsSync('/usr/bin/python3') && ['stem', 'psutil', 'yaml'].every((m) => existsSync(`/usr/lib/python3/dist-packages/${m}`));
}

export interface GraterOptions {
  /** Profile files: name → YAML text (an empty object: no profile at all). */
  readonly profiles: Readonly<Record<string, string>>;
  /** tor's real control port, host:port. */
  readonly torControl: string;
  /** tor's cookie file (onion-grater authenticates to tor itself). */
  readonly cookieFile: string;
}

export class OnionGrater {
  child: ChildProcessWithoutNullStreams | null = null;
  dir = '';
  port = 0;
  log = '';

  /** host:port where clients connect. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Its log for an assertion message: keys and onion addresses (ADD_ONION lines hold them) cut out. */
  shown(): string {
    return this.log.slice(-1500).replace(/[a-z2-7]{56}/g, '<onion>').replace(/[A-Za-z0-9+/]{40,}={0,2}/g, '<key>');
  }

  /** The lines onion-grater printed for refused commands ("command filtered: …"), without the client part. */
  filtered(): string[] {
    return [...this.log.matchAll(/command filtered: ([^\n]*)/g)].map((m) => (m[1] ?? '').trim());
  }

  async start(options: GraterOptions): Promise<void> {
    const tool = onionGraterDir();
    if (tool === null) throw new Error('onion-grater launcher not found (set ENTRECHAT_ONION_GRATER_DIR)');
    this.dir = await mkdtemp(join(tmpdir(), 'entrechat-grater-'));
    for (const [name, text] of Object.entries(options.profiles)) await writeFile(join(this.dir, name), text, { mode: 0o644 });
    this.port = await freePort();
    this.child = spawn('/usr/bin/python3', ['-IBu', join(tool, 'run.py'),
      '--listen-address', '127.0.0.1', '--listen-port', String(this.port), '--control-cookie-path', options.cookieFile], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ONION_GRATER_PROFILES: this.dir, ONION_GRATER_TOR_CONTROL: options.torControl },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout.on('data', (d: Buffer) => { this.log += d.toString(); });
    this.child.stderr.on('data', (d: Buffer) => { this.log += d.toString(); });
    const deadline = Date.now() + 15_000;
    while (!(await this.#answers())) {
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`onion-grater did not start: ${this.shown()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  #answers(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port: this.port });
      s.once('connect', () => { s.end(); resolve(true); });
      s.once('error', () => { resolve(false); });
    });
  }

  /** Ends it by pid (SIGTERM, then SIGKILL after 5 s) and removes its profile folder. Never throws. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => { child.once('close', () => { r(); }); });
      child.kill('SIGTERM');
      const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => { setTimeout(() => { r(true); }, 5_000).unref(); })]);
      if (late) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    if (this.dir !== '') await rm(this.dir, { recursive: true, force: true });
    this.dir = '';
  }
}
