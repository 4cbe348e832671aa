/**
 * For the core-file tests (issue 9 §6): the real command line started with the soft core limit raised
 * as far as the hard limit allows, so that a process that did not lower it itself could dump core.
 * The global /proc/sys/kernel/core_pattern is never touched: the tests read /proc/PID/limits instead,
 * and, where the pattern writes plain files into the crashing process's folder, look for one.
 */
import { after } from 'node:test';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ENTRY, TalkProcess, type Fixture } from './cli.ts';

/** The "Max core file size" soft and hard values of a process, as /proc/PID/limits writes them. */
export function coreLimitOf(pid: number | 'self'): [string, string] {
  const m = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${String(pid)}/limits`, 'utf8'));
  if (m?.[1] === undefined || m[2] === undefined) throw new Error(`no core limit for ${String(pid)}`);
  return [m[1], m[2]];
}

/** Raises the soft core limit to the hard one, then runs the rest (sh's ulimit: Node has no setrlimit). */
const RAISE = 'ulimit -S -c "$(ulimit -H -c)" && exec "$@"';

/** The core limit a process started through {@link RAISE} begins with (soft, hard). */
export async function raisedLimit(): Promise<[string, string]> {
  const child = spawn('sh', ['-c', RAISE, 'sh', 'cat', '/proc/self/limits'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  await new Promise((resolve) => child.on('close', resolve));
  const m = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(out);
  return [m?.[1] ?? '?', m?.[2] ?? '?'];
}

/** `entrechat ARGS` with the core limit raised first; env adds to the environment. */
export function entrechatRaised(home: string, args: string[], env: Record<string, string>, cwd: string): TalkProcess {
  // tsx resolved here: the child runs in `cwd`, where a plain `--import tsx` would not find it.
  const child = spawn('sh', ['-c', RAISE, 'sh', process.execPath, '--import', import.meta.resolve('tsx'), ENTRY, ...args], {
    env: { ...process.env, ENTRECHAT_HOME: home, TSX_DISABLE_CACHE: '1', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd,
  });
  return new TalkProcess(child);
}

/**
 * The list a test file pushes its {@link entrechatRaised} processes on (the fixture does not own them).
 * Called at the file's top level: after its last test, those still running are killed, all are awaited,
 * then `fx` is cleaned up.
 */
export function raisedProcesses(fx: Fixture): TalkProcess[] {
  const mine: TalkProcess[] = [];
  after(async () => {
    for (const p of mine) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(mine.map((p) => p.exited));
    await fx.cleanup();
  });
  return mine;
}
