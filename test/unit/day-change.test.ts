/**
 * Rendezvous days added during an attempt (`add_days`: the wall clock jumped across midnight): the
 * machine dials them and accepts on them from then on, keeps the days under way, never serves a day
 * twice or more than MAX_RENDEZVOUS_DAYS, and ignores them once the rendezvous is over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDLE_DEFAULT, MAX_RENDEZVOUS_DAYS, MAX_SESSION_DEFAULT, RENDEZVOUS_WINDOW_DEFAULT } from '../../src/core/limits.ts';
import { createSession, step, type RendezvousDay, type SessionAction, type SessionInput, type SessionState } from '../../src/core/session.ts';
import { x25519FromSecret } from '../../src/core/x25519.ts';
import { keyPair, seededRandom, Sim, type PeerSpec } from '../helpers/sim.ts';

const alice = keyPair('alice');
const bob = keyPair('bob');
const D = 20_000;

function day(n: number): RendezvousDay {
  // Addresses differ per day, as derived ones do; their content does not matter to the machine.
  return { day: n, ownOnion: String.fromCharCode(97 + (n % 20)).repeat(56), peerOnion: String.fromCharCode(98 + (n % 20)).repeat(56) };
}

function session(days: RendezvousDay[]): SessionState {
  return createSession({
    ownKey: x25519FromSecret(alice.secret),
    peerPublic: bob.publicKey,
    days,
    window: RENDEZVOUS_WINDOW_DEFAULT,
    limits: { idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT },
    random: seededRandom('days'),
  });
}

/** Steps through `inputs` at time `now`; returns the state and the actions of the last step. */
function run(state: SessionState, inputs: SessionInput[], now = 1_000): { state: SessionState; actions: readonly SessionAction[] } {
  let s = state;
  let actions: readonly SessionAction[] = [];
  for (const input of inputs) {
    const r = step(s, input, now);
    s = r.state;
    actions = r.actions;
  }
  return { state: s, actions };
}

const dialedDays = (actions: readonly SessionAction[]): number[] => actions.flatMap((a) => (a.type === 'dial' ? [a.day] : []));

test('during the rendezvous, an added day is dialled at once; the first day goes on', () => {
  const { state } = run(session([day(D)]), [{ type: 'start' }, { type: 'tor_ready' }]);
  const { state: after, actions } = run(state, [{ type: 'add_days', days: [day(D + 1)] }]);
  assert.deepEqual(dialedDays(actions), [D + 1]);
  assert.deepEqual(after.config.days.map((d) => d.day), [D, D + 1]);
  // A connection accepted on the new day is taken (not closed at once), as on the first day.
  const accepted = run(after, [{ type: 'accepted', conn: 'a1', day: D + 1 }]);
  assert.ok(!accepted.actions.some((a) => a.type === 'close_conn'), JSON.stringify(accepted.actions.map((a) => a.type)));
  assert.equal(accepted.state.phase.kind, 'rendezvous');
});

test('without it, a connection on a day not served is closed (what add_days changes)', () => {
  const { state } = run(session([day(D)]), [{ type: 'start' }, { type: 'tor_ready' }]);
  const { actions } = run(state, [{ type: 'accepted', conn: 'a1', day: D + 1 }]);
  assert.ok(actions.some((a) => a.type === 'close_conn' && a.conn === 'a1'));
});

test('before the rendezvous, added days join the config and are dialled when it starts', () => {
  const { state } = run(session([day(D)]), [{ type: 'start' }, { type: 'add_days', days: [day(D + 1)] }]);
  assert.deepEqual(dialedDays(run(state, [{ type: 'tor_ready' }]).actions).sort(), [D, D + 1]);
});

test('a day already served, or the same day twice, is served once; never more than MAX_RENDEZVOUS_DAYS', () => {
  const { state } = run(session([day(D), day(D + 1)]), [{ type: 'start' }, { type: 'tor_ready' }]);
  const same = run(state, [{ type: 'add_days', days: [day(D + 1), day(D)] }]);
  assert.deepEqual(dialedDays(same.actions), []);
  const many = run(same.state, [{ type: 'add_days', days: [day(D + 2), day(D + 2), day(D + 3), day(D + 4), day(D + 5)] }]);
  assert.equal(many.state.config.days.length, MAX_RENDEZVOUS_DAYS);
  assert.deepEqual(dialedDays(many.actions), [D + 2, D + 3].slice(0, MAX_RENDEZVOUS_DAYS - 2));
  assert.throws(() => session([day(1), day(2), day(3), day(4), day(5)].slice(0, MAX_RENDEZVOUS_DAYS + 1)), RangeError);
});

test('once a session is active, or the attempt is over, added days change nothing', () => {
  const specs: [PeerSpec, PeerSpec] = [
    { name: 'A', secret: alice.secret, peerPublic: bob.publicKey },
    { name: 'B', secret: bob.secret, peerPublic: alice.publicKey },
  ];
  const sim = new Sim(...specs);
  sim.feed('A', { type: 'start' });
  sim.feed('B', { type: 'start' });
  sim.settle();
  assert.equal(sim.peers.A.phase, 'active');
  const before = sim.peers.A.actions.length;
  sim.feed('A', { type: 'add_days', days: [day(D + 7)] });
  assert.deepEqual(sim.peers.A.actions.slice(before), []);
  assert.equal(sim.peers.A.state.config.days.length, 1);

  const ended = run(session([day(D)]), [{ type: 'start' }, { type: 'quit' }]);
  assert.equal(ended.state.phase.kind, 'closed');
  const late = run(ended.state, [{ type: 'add_days', days: [day(D + 1)] }]);
  assert.deepEqual(late.actions, []);
});
