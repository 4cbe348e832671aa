/**
 * `entrechat talk NAME` without a terminal and without --json: the chat in plain lines. Two real
 * processes over loopback TCP, their input and output pipes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { ENTRY, Fixture, freePort, run } from '../helpers/cli.ts';

const fx = new Fixture();
const children: ChildProcessWithoutNullStreams[] = [];
let alice: { home: string; code: string };
let bob: { home: string; code: string };

before(async () => {
  ({ alice, bob } = await fx.pair());
  assert.equal((await run(alice.home, ['contacts', 'verify', 'bob', '--yes'])).code, 0);
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await fx.cleanup();
});

class PlainTalk {
  out = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (d: Buffer) => { this.out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { this.out += d.toString(); });
    this.exited = new Promise((resolve) => child.on('close', resolve));
  }

  async waitFor(re: RegExp, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!re.test(this.out)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(re)}; output:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function talk(home: string, peer: string, listen: number, dial: number): PlainTalk {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'talk', peer, '--loopback-listen', String(listen), '--loopback-peer', String(dial), '--window', '20'], {
    env: { ...process.env, ENTRECHAT_HOME: home, TSX_DISABLE_CACHE: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  return new PlainTalk(child);
}

test('plain lines: verified or not, nothing sent before the peer is there, messages with delivered marks, end of input quits', async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const a = talk(alice.home, 'bob', pa, pb);
  await a.waitFor(/Talking with bob…\n[\s\S]*bob is verified\./);
  a.child.stdin.write('too early\n');
  await a.waitFor(/Not sent: bob is not connected, and nothing is queued\./);
  const b = talk(bob.home, 'alice', pb, pa);
  await b.waitFor(/alice is NOT verified: compare your safety number/);
  await Promise.all([a.waitFor(/Connected to bob \(session [0-9a-f]{16}\)/), b.waitFor(/Connected to alice/)]);
  a.child.stdin.write('/help\nhello\nsecond line is //not a command\n//slash\n/nope\n');
  await a.waitFor(/\/quit \(or the end of input/);
  await a.waitFor(/Unknown command \/nope: \/help lists them\./);
  await b.waitFor(/alice: \/slash\n/);
  await b.waitFor(/\[\d\d:\d\d\] alice: hello\n/);
  await b.waitFor(/alice: second line is \/\/not a command/);
  await a.waitFor(/you #1: hello[\s\S]*✓ #1 delivered/);
  await a.waitFor(/✓ #2 delivered/);
  b.child.stdin.write('line with \x1b[31m escape\n');
  await a.waitFor(/bob: line with ␛\[31m escape/);
  b.child.stdin.write('one\rtwo\r\n');
  await a.waitFor(/bob: one\S+two\n/);
  assert.doesNotMatch(a.out, /bob: two/, 'a lone \\r does not split a message');
  assert.doesNotMatch(b.out + a.out, /too early/, 'a refused line is never sent later');
  assert.doesNotMatch(b.out, /help|nope/, 'commands are not sent');
  a.child.stdin.end();
  assert.equal(await a.exited, 0);
  assert.equal(await b.exited, 0);
  assert.match(a.out, /You ended the session with bob\./);
  assert.match(a.out, /lines printed above are the only copy/);
  assert.match(b.out, /alice ended the session\./);
});

test('plain lines: /quit at once, even before the store is open, stops waiting, exit 4', async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const a = talk(alice.home, 'bob', pa, pb);
  a.child.stdin.write('/quit\n');
  assert.equal(await a.exited, 4);
  assert.match(a.out, /You stopped waiting for bob; no session was opened\./);
});

test('plain lines: input that ended before the peer came ends the session once it opens, exit 0', async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const a = talk(alice.home, 'bob', pa, pb);
  a.child.stdin.end('early\n');
  await a.waitFor(/Talking with bob/);
  const b = talk(bob.home, 'alice', pb, pa);
  assert.equal(await a.exited, 0, a.out);
  assert.equal(await b.exited, 0, b.out);
  assert.match(a.out, /Connected to bob[\s\S]*You ended the session with bob\./);
  assert.match(b.out, /alice ended the session\./);
  assert.doesNotMatch(b.out, /early/, 'nothing typed before the session is sent');
});
