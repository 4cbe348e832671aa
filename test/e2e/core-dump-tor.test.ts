/**
 * Issue 9 §6: the tor a session spawns cannot write a core file either: it inherits the core limit 0
 * that the command line set for itself (tor's default DisableDebuggerAttachment 1 also makes it
 * non-dumpable, per tor(1)). The command starts with its soft core limit raised (test/helpers/core.ts),
 * so the test fails if the limit is not lowered before tor starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fixture } from '../helpers/cli.ts';
import { coreLimitOf, entrechatRaised, raisedLimit, raisedProcesses } from '../helpers/core.ts';
import { eventually, torsMentioning } from '../helpers/procs.ts';
import { sharedTestnet } from '../helpers/testnet.ts';

const fx = new Fixture();
const mine = raisedProcesses(fx);

test('the spawned tor\'s core limit is 0 0 as well', { skip: process.platform !== 'linux', timeout: 180_000 }, async (t) => {
  if ((await raisedLimit())[0] === '0') {
    t.skip('the hard core limit is 0 here: nothing to lower');
    return;
  }
  const { clientTorrc } = await sharedTestnet();
  const { alice } = await fx.pair();
  const tmp = await fx.home();
  const talk = entrechatRaised(alice.home, ['talk', 'bob', '--tor-config', clientTorrc, '--window', '60', '--json'], { TMPDIR: tmp }, tmp);
  mine.push(talk);
  await talk.waitFor((e) => e.event === 'progress', 60_000);
  const tors = await torsMentioning(tmp);
  assert.equal(tors.length, 1, 'one tor of its own');
  assert.deepEqual(coreLimitOf(talk.pid), ['0', '0']);
  assert.deepEqual(coreLimitOf(tors[0] ?? -1), ['0', '0'], 'tor inherited the limit');
  talk.child.kill('SIGTERM');
  await talk.exited;
  assert.ok(await eventually(async () => (await torsMentioning(tmp)).length === 0, 15_000), 'its tor is gone');
});
