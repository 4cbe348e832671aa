/**
 * `entrechat demo --script` end to end: its own private Tor network, two throw-away identities, a bot
 * answering through its own tor; the transcript is printed and nothing is left afterwards.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { interactiveBotAnswer } from '../../src/app/demo.ts';
import { assertDemoTranscript, ENTRY } from '../helpers/cli.ts';
import { processesMentioning, snapshot } from '../helpers/procs.ts';

const exec = promisify(execFile);
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function demo(args: string[], tmp: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, ['--import', 'tsx', ENTRY, 'demo', ...args], {
      env: { ...process.env, TMPDIR: tmp, TSX_DISABLE_CACHE: '1' },
      timeout: 240_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const f = e as { code?: number; stdout?: string; stderr?: string };
    return { code: f.code ?? -1, stdout: f.stdout ?? '', stderr: f.stderr ?? '' };
  }
}

test('demo --script: a real session with the bot over a private Tor network, the transcript, nothing left', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'entrechat-demo-test-'));
  dirs.push(tmp);
  const r = await demo(['--script'], tmp);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  await assertDemoTranscript(r.stdout, tmp);
});

test('demo without a terminal: the chat with the bot in plain lines, ended by the end of input', { timeout: 240_000 }, async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'entrechat-demo-test-'));
  dirs.push(tmp);
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'demo'], {
    env: { ...process.env, TMPDIR: tmp, TSX_DISABLE_CACHE: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    const until = async (re: RegExp): Promise<void> => {
      const deadline = Date.now() + 120_000;
      while (!re.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${String(re)} in:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await until(/Talking with bot…\n[\s\S]*bot is verified\./);
    await until(/Connected to bot \(session [0-9a-f]{16}\)/);
    child.stdin.write('Hello from a pipe\n');
    await until(/bot: Hello, I am the demo bot/);
    assert.match(out, new RegExp(interactiveBotAnswer(1, 'Hello from a pipe').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await until(/✓ #1 delivered/);
    child.stdin.end();
    assert.equal(await exited, 0, out);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  assert.match(out, /You ended the session with bot\./);
  assert.match(out, /private network and both throw-away identities are removed/);
  assert.deepEqual([...(await snapshot(tmp)).keys()], [], 'nothing is left');
  assert.deepEqual(await processesMentioning(tmp), [], 'no tor of the demo runs on');
});
