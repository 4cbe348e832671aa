/** talk()'s output sink: a UI whose output is backed up stops the reading of the peer until it drains. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { talk, type TalkEvent } from '../../src/app/talk.ts';
import { identityFromSecret } from '../../src/core/identity.ts';
import { freePort } from '../helpers/cli.ts';

/** An output that says it is backed up when the test says so, and drains when told. */
class FakeSink extends EventEmitter {
  writableNeedDrain = false;
  drain(): void {
    this.writableNeedDrain = false;
    this.emit('drain');
  }
}

test('a backed-up output sink: the peer is not read until it drains, then everything arrives', { timeout: 60_000 }, async () => {
  const [alice, bob] = [identityFromSecret(randomBytes(32)), identityFromSecret(randomBytes(32))];
  const [pa, pb] = [await freePort(), await freePort()];
  const sink = new FakeSink();
  const shown: string[] = [];
  const bobDelivered: number[] = [];
  let aliceActive: () => void = () => undefined;
  let bobActive: () => void = () => undefined;
  const active = Promise.all([
    new Promise<void>((resolve) => { aliceActive = resolve; }),
    new Promise<void>((resolve) => { bobActive = resolve; }),
  ]);
  const a = talk({
    identity: alice,
    peerPublic: bob.publicKey,
    route: { kind: 'loopback', listenPort: pa, peerPort: pb },
    window: 20_000,
    output: sink,
    onEvent: (e: TalkEvent) => {
      if (e.type === 'active') aliceActive();
      if (e.type === 'message') {
        shown.push(e.text);
        // Showing it filled the output: the next message must wait in bob's socket.
        sink.writableNeedDrain = true;
      }
    },
  });
  const b = talk({
    identity: bob,
    peerPublic: alice.publicKey,
    route: { kind: 'loopback', listenPort: pb, peerPort: pa },
    window: 20_000,
    onEvent: (e: TalkEvent) => {
      if (e.type === 'active') bobActive();
      if (e.type === 'delivered') {
        bobDelivered.push(e.id);
        // Only after the first was read, so that the second comes in a read of its own.
        if (e.id === 1) b.send('two');
      }
    },
  });
  try {
    await active;
    b.send('one');
    const until = async (check: () => boolean): Promise<void> => {
      for (let k = 0; k < 500 && !check(); k++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => bobDelivered.includes(1));
    assert.deepEqual(shown, ['one']);
    // Bob's second message is on its way; alice, backed up, does not read it.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(shown, ['one'], 'nothing read while the output is backed up');
    assert.ok(!bobDelivered.includes(2));
    sink.drain();
    await until(() => bobDelivered.includes(2));
    assert.deepEqual(shown, ['one', 'two']);
  } finally {
    // Also when an assertion failed: no session outlives the test.
    a.quit();
  }
  const [ca, cb] = await Promise.all([a.done, b.done]);
  assert.equal(ca.reason, 'quit');
  assert.equal(cb.reason, 'peer_quit');
});
