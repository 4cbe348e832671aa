import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ed25519, x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import {
  AUTH_INFO_LABEL,
  AUTH_SALT,
  DAY_MS,
  DAY_OVERLAP_MS,
  ONION_INFO_LABEL,
  ONION_SALT,
  PAIR_SALT,
  clientAuthKey,
  clientAuthPublicBase32,
  clientAuthSecretBase64,
  onionAddress,
  onionExpandedKey,
  onionExpandedKeyBase64,
  onionPublicKey,
  onionSeed,
  pairSecret,
  parseOnionAddress,
  rendezvousDays,
  rendezvousPlan,
  utcDay,
  wipePlan,
  type RendezvousPlan,
} from '../../src/core/derive.ts';
import { identityFromSecret, type Identity } from '../../src/core/identity.ts';
import { compareBytes, concatBytes, fromHex, hex, isZero, u32be } from '../../src/core/bytes.ts';

// --- fixed inputs and expected outputs: the worked example of docs/protocol.md ---
const ALICE = identityFromSecret(fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
const BOB = identityFromSecret(fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
const DAY = 20000;
const NOON = DAY * DAY_MS + DAY_MS / 2; // 2024-10-04T12:00:00Z
const KAT = {
  pair: '68d8aeec60adfc9d1f0e46c42fda2b985c3f22ecf29a4ccf4b5c095ff30443e0',
  A: {
    seed: '94cadebe0ed136d1e0b2b802845d02f7345806c0958de589a08446cf192cbd11',
    expanded:
      '587bf26e38946354ef841753592cb8a6e73b84207f9f5490fa9f18c6328b965b3bdfaf5b9a68c2e6c5c20183b35f53710dee42cc15547926abf44490d0edc843',
    expandedBase64: 'WHvybjiUY1TvhBdTWSy4puc7hCB/n1SQ+p8YxjKLlls7369bmmjC5sXCAYOzX1NxDe5CzBVUeSar9ESQ0O3IQw==',
    onionPublic: '39d0352fe1ac61c8e0bf2617cec6ec2d38241dc9459a60f22d1bd306339ccf0a',
    address: 'hhidkl7bvrq4ryf7eyl45rxmfu4cihojiwngb4rndpjqmm44z4fd53yd',
    authSecret: '18124daa175d3524ded7e53d8c3a5166402bb524845a9bf925534d3ad6f6b864',
    authSecretBase64: 'GBJNqhddNSTe1+U9jDpRZkArtSSEWpv5JVNNOtb2uGQ=',
    authPublic: '3894e4540225977c43e993212a2bf26eecb1d6bd34db66dd84db1c7855358d2c',
    authPublicBase32: 'hckoivacewlxyq7jsmqsuk7sn3wldvv5gtnwnxme3mohqvjvruwa',
  },
  B: {
    seed: 'aaaf2a13241055585db8657268d09e5690a85470d81de9e54d0d3065b560b3ff',
    expanded:
      '18a9ddf99cf3667780be1b3640e75297ae64defea5862e7686888851505b84616cd4efbaee02e50d9c8ad6ff472374ccf0f198a30d118c47771012073e9639bc',
    expandedBase64: 'GKnd+ZzzZneAvhs2QOdSl65k3v6lhi52hoiIUVBbhGFs1O+67gLlDZyK1v9HI3TM8PGYow0RjEd3EBIHPpY5vA==',
    onionPublic: '5a26e2b6ea2531df306677c41e6391ae6dc8cd21138215519b4e8ad26e84ea21',
    address: 'litofnxkeuy56mdgo7cb4y4rvzw4rtjbcobbkum3j2fne3ue5iqxpcyd',
    authSecret: '705ab4f316059147fe841f34e6c4a96b3f77eb25030fa6f92b27d1b454c40c52',
    authSecretBase64: 'cFq08xYFkUf+hB805sSpaz936yUDD6b5KyfRtFTEDFI=',
    authPublic: 'dc8796f6a46dad6bdfeb00726b5bdf3b21b14b3d961a1f16992d4398cfa71101',
    authPublicBase32: '3sdzn5venwwwxx7labzgww67hmq3csz5synb6fuzfvbzrt5hceaq',
  },
} as const;

// --- an independent implementation of docs/protocol.md (noble + a tiny RFC 4648 base32) ---
const te = (s: string): Uint8Array => new TextEncoder().encode(s);
function refBase32(bytes: Uint8Array): string {
  const abc = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += abc[(acc >> (bits - 5)) & 31]!;
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += abc[(acc << (5 - bits)) & 31]!;
  return out;
}
function refPair(ownSecret: Uint8Array, ownPub: Uint8Array, peerPub: Uint8Array): Uint8Array {
  const [lo, hi] = compareBytes(ownPub, peerPub) <= 0 ? [ownPub, peerPub] : [peerPub, ownPub];
  return hkdf(sha256, nobleX25519.getSharedSecret(ownSecret, peerPub), te('entrechat/1 pair'), concatBytes(lo, hi), 32);
}
function refDayBytes(day: number): Uint8Array {
  return Uint8Array.of((day >>> 24) & 255, (day >>> 16) & 255, (day >>> 8) & 255, day & 255);
}
function refSeed(pair: Uint8Array, day: number, owner: Uint8Array): Uint8Array {
  return hkdf(sha256, pair, te('entrechat/1 onion'), concatBytes(te('onion'), refDayBytes(day), owner), 32);
}
function refAuthSecret(pair: Uint8Array, day: number, owner: Uint8Array): Uint8Array {
  const s = hkdf(sha256, pair, te('entrechat/1 auth'), concatBytes(te('auth'), refDayBytes(day), owner), 32);
  s[0] = s[0]! & 248;
  s[31] = (s[31]! & 127) | 64;
  return s;
}
function refAddress(pub: Uint8Array): string {
  const checksum = sha3_256(concatBytes(te('.onion checksum'), pub, Uint8Array.of(3))).subarray(0, 2);
  return refBase32(concatBytes(pub, checksum, Uint8Array.of(3)));
}
function scalarOf(expanded: Uint8Array): bigint {
  return BigInt('0x' + hex(expanded.slice(0, 32).reverse()));
}

const who = (id: Identity, name: 'A' | 'B') => ({ id, kat: KAT[name] });

test('labels are the documented ASCII strings', () => {
  assert.equal(PAIR_SALT, 'entrechat/1 pair');
  assert.equal(ONION_SALT, 'entrechat/1 onion');
  assert.equal(ONION_INFO_LABEL, 'onion');
  assert.equal(AUTH_SALT, 'entrechat/1 auth');
  assert.equal(AUTH_INFO_LABEL, 'auth');
  assert.equal(DAY_MS, 86_400_000);
  assert.equal(DAY_OVERLAP_MS, 1_800_000);
});

test('pair secret: known answer, the same on both sides, equal to the reference', () => {
  const ab = pairSecret(ALICE.key, ALICE.publicKey, BOB.publicKey);
  const ba = pairSecret(BOB.key, BOB.publicKey, ALICE.publicKey);
  assert.equal(hex(ab), KAT.pair);
  assert.equal(hex(ba), KAT.pair);
  assert.equal(hex(refPair(ALICE.secret, ALICE.publicKey, BOB.publicKey)), KAT.pair);
});

test('property: random pairs agree on both sides and with the reference', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (sa, sb) => {
      fc.pre(!isZero(sa) && !isZero(sb));
      const a = identityFromSecret(sa);
      const b = identityFromSecret(sb);
      fc.pre(hex(a.publicKey) !== hex(b.publicKey));
      const ab = pairSecret(a.key, a.publicKey, b.publicKey);
      assert.equal(hex(pairSecret(b.key, b.publicKey, a.publicKey)), hex(ab));
      assert.equal(hex(refPair(sa, a.publicKey, b.publicKey)), hex(ab));
    }),
    { numRuns: 50 },
  );
});

test('pair secret rejections: self, small-order peer, mismatched own key', () => {
  assert.throws(() => pairSecret(ALICE.key, ALICE.publicKey, ALICE.publicKey), { code: 'CONTACT_IS_SELF' });
  assert.throws(() => pairSecret(ALICE.key, ALICE.publicKey, new Uint8Array(32)), { code: 'BAD_PUBLIC_KEY' });
  assert.throws(() => pairSecret(ALICE.key, BOB.publicKey, ALICE.publicKey), { code: 'INTERNAL' });
  assert.throws(() => pairSecret(ALICE.key, ALICE.publicKey, new Uint8Array(31)), RangeError);
});

for (const [name, id] of [['A', ALICE], ['B', BOB]] as const) {
  test(`known answers for ${name}'s onion and client-auth key on day ${DAY} (docs/protocol.md)`, () => {
    const { kat } = who(id, name);
    const pair = fromHex(KAT.pair);
    const seed = onionSeed(pair, DAY, id.publicKey);
    assert.equal(hex(seed), kat.seed);
    const expanded = onionExpandedKey(seed);
    assert.equal(hex(expanded), kat.expanded);
    assert.equal(onionExpandedKeyBase64(expanded), kat.expandedBase64);
    assert.equal(onionExpandedKeyBase64(expanded).length, 88);
    const pub = onionPublicKey(seed);
    assert.equal(hex(pub), kat.onionPublic);
    assert.equal(onionAddress(pub), kat.address);
    const auth = clientAuthKey(pair, DAY, id.publicKey);
    assert.equal(hex(auth.secret), kat.authSecret);
    assert.equal(clientAuthSecretBase64(auth.secret), kat.authSecretBase64);
    assert.equal(hex(auth.publicKey), kat.authPublic);
    assert.equal(clientAuthPublicBase32(auth.publicKey), kat.authPublicBase32);
  });

  test(`the same values for ${name} from the independent reference (noble)`, () => {
    const { kat } = who(id, name);
    const pair = fromHex(KAT.pair);
    const seed = refSeed(pair, DAY, id.publicKey);
    assert.equal(hex(seed), kat.seed);
    assert.equal(hex(ed25519.getPublicKey(seed)), kat.onionPublic);
    assert.equal(refAddress(ed25519.getPublicKey(seed)), kat.address);
    const h = sha512(seed);
    h[0] = h[0]! & 248;
    h[31] = (h[31]! & 127) | 64;
    assert.equal(hex(h), kat.expanded);
    const authSecret = refAuthSecret(pair, DAY, id.publicKey);
    assert.equal(hex(authSecret), kat.authSecret);
    assert.equal(hex(nobleX25519.getPublicKey(authSecret)), kat.authPublic);
    assert.equal(Buffer.from(kat.authSecretBase64, 'base64').toString('hex'), kat.authSecret);
    assert.equal(refBase32(fromHex(kat.authPublic)), kat.authPublicBase32);
  });
}

test('property: onion public key, expanded key and address agree with noble for random seeds', () => {
  const n = ed25519.Point.Fn.ORDER;
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const pub = onionPublicKey(seed);
      // node derives the public key from d, not from the placeholder x of the JWK
      assert.equal(hex(pub), hex(ed25519.getPublicKey(seed)));
      // the expanded key's first half is the secret scalar: scalar × B = public key
      const expanded = onionExpandedKey(seed);
      assert.equal(expanded.length, 64);
      assert.equal(hex(ed25519.Point.BASE.multiply(scalarOf(expanded) % n).toBytes()), hex(pub));
      // second half is SHA-512(seed)[32..64] untouched (the PRF secret)
      assert.equal(hex(expanded.subarray(32)), hex(sha512(seed).subarray(32)));
      // the clamping bits
      assert.equal(expanded[0]! & 7, 0);
      assert.equal(expanded[31]! & 0xc0, 0x40);
      assert.equal(onionAddress(pub), refAddress(pub));
      assert.equal(hex(parseOnionAddress(onionAddress(pub))), hex(pub));
    }),
    { numRuns: 100 },
  );
});

test("tor's own onion-address vectors (src/test/test_hs_common.c, test_build_address)", () => {
  assert.equal(
    onionAddress(fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')),
    '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid',
  );
  assert.equal(onionAddress(new Uint8Array(32).fill(0x42)), 'ijbeeqscijbeeqscijbeeqscijbeeqscijbeeqscijbeeqscijbezhid');
  assert.equal(
    hex(parseOnionAddress('25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid')),
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  );
  // a valid address from test_validate_address
  assert.equal(parseOnionAddress('p3xnclpu4mu22dwaurjtsybyqk4xfjmcfz6z62yl24uwmhjatiwnlnad').length, 32);
});

test('parseOnionAddress accepts ".onion", either case and surrounding whitespace', () => {
  const pub = fromHex(KAT.A.onionPublic);
  for (const text of [KAT.A.address, `${KAT.A.address}.onion`, ` ${KAT.A.address.toUpperCase()}.ONION\n`]) {
    assert.equal(hex(parseOnionAddress(text)), hex(pub));
  }
});

test('parseOnionAddress rejections are BAD_ADDRESS', () => {
  const good = KAT.A.address;
  const raw = concatBytes(fromHex(KAT.A.onionPublic), Uint8Array.of(0, 0), Uint8Array.of(0x02));
  const cases: [string, string][] = [
    ['too short (tor)', 'blah'],
    ['too long (tor)', 'p3xnclpu4mu22dwaurjtsybyqk4xfjmcfz6z62yl24uwmhjatiwnlnadb'],
    ['bad checksum (tor, from prop224)', 'l5satjgud6gucryazcyvyvhuxhr74u6ygigiuyixe3a6ysis67ororad'],
    ['bad checksum (tor)', 'btojiu7nu5y5iwut64eufevogqdw4wmqzugnoluw232r4t3ecsfv37ad'],
    ['not base32 (tor)', '?'.repeat(56)],
    ['digit outside base32', good.slice(0, 10) + '1' + good.slice(11)],
    ['one character changed', good.slice(0, 10) + (good[10] === 'a' ? 'b' : 'a') + good.slice(11)],
    ['wrong version', refBase32(raw)],
    ['v2 length', 'expyuzz4wqqyqhjn'],
    ['empty', ''],
    ['suffix only', '.onion'],
  ];
  for (const [name, text] of cases) assert.throws(() => parseOnionAddress(text), { code: 'BAD_ADDRESS' }, name);
  assert.throws(() => parseOnionAddress(7 as unknown as string), TypeError);
});

test('error messages never carry the address', () => {
  const typo = KAT.A.address.slice(0, 55) + (KAT.A.address[55] === 'a' ? 'b' : 'a');
  try {
    parseOnionAddress(typo);
    assert.fail('expected a throw');
  } catch (e) {
    assert.ok(e instanceof Error);
    assert.ok(!e.message.includes(typo.slice(0, 16)));
  }
});

test('client-auth formats: 52-char unpadded base32 public key, 44-char base64 secret', () => {
  const auth = clientAuthKey(randomBytes(32), 1, randomBytes(32));
  const b32 = clientAuthPublicBase32(auth.publicKey);
  assert.match(b32, /^[a-z2-7]{52}$/);
  assert.equal(b32, refBase32(auth.publicKey));
  const b64 = clientAuthSecretBase64(auth.secret);
  assert.equal(b64.length, 44);
  assert.equal(Buffer.from(b64, 'base64').toString('hex'), hex(auth.secret));
  assert.equal(hex(nobleX25519.getPublicKey(auth.secret)), hex(auth.publicKey));
});

test('domain separation: onion seed and auth secret differ for the same inputs; owner and day matter', () => {
  const pair = fromHex(KAT.pair);
  const values = new Set<string>();
  for (const day of [DAY, DAY + 1]) {
    for (const owner of [ALICE.publicKey, BOB.publicKey]) {
      values.add(hex(onionSeed(pair, day, owner)));
      values.add(hex(clientAuthKey(pair, day, owner).secret));
    }
  }
  assert.equal(values.size, 8);
});

test('day argument must be a u32 integer', () => {
  const pair = fromHex(KAT.pair);
  for (const day of [-1, 1.5, 2 ** 32, Number.NaN]) {
    assert.throws(() => onionSeed(pair, day, ALICE.publicKey), RangeError, String(day));
    assert.throws(() => clientAuthKey(pair, day, ALICE.publicKey), RangeError, String(day));
  }
  assert.equal(hex(onionSeed(pair, 2 ** 32 - 1, ALICE.publicKey)).length, 64);
  assert.equal(hex(u32be(DAY)), '00004e20');
});

test('utcDay boundaries', () => {
  assert.equal(utcDay(0), 0);
  assert.equal(utcDay(DAY_MS - 1), 0);
  assert.equal(utcDay(DAY_MS), 1);
  assert.equal(utcDay(NOON), DAY);
  assert.equal(utcDay(1_728_000_000_000), 20000); // 2024-10-04T00:00:00Z
  assert.equal(utcDay(1_727_999_999_999), 19999);
  assert.equal(utcDay(DAY_MS * 2.5), 2);
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, -Number.EPSILON, 1e300]) {
    assert.throws(() => utcDay(bad), RangeError, String(bad));
  }
});

test('rendezvousDays: one day at midday, two within 30 minutes of midnight (strictly)', () => {
  const start = DAY * DAY_MS;
  const end = (DAY + 1) * DAY_MS;
  assert.deepEqual(rendezvousDays(NOON), [DAY]);
  assert.deepEqual(rendezvousDays(start), [DAY, DAY - 1]);
  assert.deepEqual(rendezvousDays(start + DAY_OVERLAP_MS - 1), [DAY, DAY - 1]);
  assert.deepEqual(rendezvousDays(start + DAY_OVERLAP_MS), [DAY]);
  assert.deepEqual(rendezvousDays(end - DAY_OVERLAP_MS), [DAY]);
  assert.deepEqual(rendezvousDays(end - DAY_OVERLAP_MS + 1), [DAY, DAY + 1]);
  assert.deepEqual(rendezvousDays(end - 1), [DAY, DAY + 1]);
  assert.deepEqual(rendezvousDays(0), [0]);
});

test('property: two instants at most DAY_OVERLAP_MS apart always share a day', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.integer({ min: 0, max: DAY_OVERLAP_MS }), (t, gap) => {
      const a = rendezvousDays(t);
      const b = rendezvousDays(t + gap);
      assert.ok(a.some((d) => b.includes(d)), `${t} +${gap}`);
    }),
    { numRuns: 2000 },
  );
  // and the edges: exactly DAY_OVERLAP_MS either side of midnight
  const m = (DAY + 1) * DAY_MS;
  for (const [t1, t2] of [[m - DAY_OVERLAP_MS, m], [m, m + DAY_OVERLAP_MS], [m - 1, m + DAY_OVERLAP_MS - 1]] as const) {
    assert.ok(rendezvousDays(t1).some((d) => rendezvousDays(t2).includes(d)));
  }
});

function planOf(own: Identity, peer: Identity, nowMs: number): RendezvousPlan {
  return rendezvousPlan({ own: own.key, ownPublic: own.publicKey, peerPublic: peer.publicKey, nowMs });
}

test('plan: known answers at noon on day 20000, and each side sees the other as it sees itself', () => {
  const a = planOf(ALICE, BOB, NOON);
  const b = planOf(BOB, ALICE, NOON);
  assert.equal(a.days.length, 1);
  const [da, db] = [a.days[0]!, b.days[0]!];
  assert.equal(da.day, DAY);
  assert.equal(hex(da.ownOnion.expandedKey), KAT.A.expanded);
  assert.equal(hex(da.ownOnion.publicKey), KAT.A.onionPublic);
  assert.equal(da.ownOnion.address, KAT.A.address);
  assert.equal(da.peerOnion.address, KAT.B.address);
  assert.equal(hex(da.ownAuth.secret), KAT.A.authSecret);
  assert.equal(hex(da.ownAuth.publicKey), KAT.A.authPublic);
  assert.equal(hex(da.peerAuthPublic), KAT.B.authPublic);
  // A's view of B's onion is B's own onion, and the other way round
  assert.equal(da.peerOnion.address, db.ownOnion.address);
  assert.equal(db.peerOnion.address, da.ownOnion.address);
  // B's onion admits A's auth key, A's onion admits B's
  assert.equal(hex(db.peerAuthPublic), hex(da.ownAuth.publicKey));
  assert.equal(hex(da.peerAuthPublic), hex(db.ownAuth.publicKey));
  assert.notEqual(da.ownOnion.address, db.ownOnion.address);
});

test('plan: near midnight two days, both sides agree on each; midday one', () => {
  const late = (DAY + 1) * DAY_MS - 60_000;
  const a = planOf(ALICE, BOB, late);
  const b = planOf(BOB, ALICE, late + 120_000); // B's clock is already past midnight
  assert.deepEqual(a.days.map((d) => d.day), [DAY, DAY + 1]);
  assert.deepEqual(b.days.map((d) => d.day), [DAY + 1, DAY]);
  for (const da of a.days) {
    const db = b.days.find((d) => d.day === da.day)!;
    assert.equal(da.peerOnion.address, db.ownOnion.address);
    assert.equal(db.peerOnion.address, da.ownOnion.address);
  }
  assert.equal(planOf(ALICE, BOB, NOON).days.length, 1);
});

test('plan: different days and different pairs give different addresses', () => {
  const carol = identityFromSecret(randomBytes(32));
  const addresses = new Set<string>();
  for (const nowMs of [NOON, NOON + DAY_MS, NOON + 2 * DAY_MS]) {
    for (const [own, peer] of [[ALICE, BOB], [ALICE, carol], [BOB, carol]] as const) {
      const d = planOf(own, peer, nowMs).days[0]!;
      addresses.add(d.ownOnion.address);
      addresses.add(d.peerOnion.address);
    }
  }
  assert.equal(addresses.size, 3 * 3 * 2);
});

test('plan: the expanded key matches the published address (scalar × B = onion key)', () => {
  const d = planOf(ALICE, BOB, NOON).days[0]!;
  const pub = ed25519.Point.BASE.multiply(scalarOf(d.ownOnion.expandedKey) % ed25519.Point.Fn.ORDER).toBytes();
  assert.equal(onionAddress(pub), d.ownOnion.address);
});

test('wipePlan zeroes every secret the plan holds', () => {
  const plan = planOf(ALICE, BOB, (DAY + 1) * DAY_MS - 1);
  assert.equal(plan.days.length, 2);
  wipePlan(plan);
  for (const d of plan.days) {
    assert.ok(isZero(d.ownOnion.expandedKey));
    assert.ok(isZero(d.ownAuth.secret));
    assert.ok(!isZero(d.ownOnion.publicKey));
  }
});

test('plan rejections: self and bad time', () => {
  assert.throws(() => planOf(ALICE, ALICE, NOON), { code: 'CONTACT_IS_SELF' });
  assert.throws(() => planOf(ALICE, BOB, -5), RangeError);
});

test('docs/protocol.md carries every known answer asserted here (the doc cannot drift)', () => {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const expected: string[] = [KAT.pair, hex(ALICE.secret), hex(ALICE.publicKey), hex(BOB.secret), hex(BOB.publicKey)];
  for (const side of [KAT.A, KAT.B]) {
    expected.push(side.seed, side.expanded.slice(0, 64), side.expanded.slice(64), side.expandedBase64, side.onionPublic,
      side.address, side.authSecret, side.authSecretBase64, side.authPublic, side.authPublicBase32);
  }
  expected.push(String(NOON), 'ec1qxzjpuqf3yc2w4r53d7aedp77adqm0e6p5nrsxh5awj2nr42nd8x5uvdfgs',
    '05345 62154 71810 45511 05291 40762 63655 50446 23151 23751 98855 84022');
  for (const value of expected) assert.ok(doc.includes(value), `docs/protocol.md lacks ${value}`);
});
