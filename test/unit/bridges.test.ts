/**
 * Bridges: the transport program checks (TOR_TRANSPORT_MISSING for a program that is not there or
 * cannot run, TOR_CONFIG_INVALID for one another user could replace), the ORCONN reader, and the
 * watch that ends a start reaching no bridge (TOR_BRIDGE_UNREACHABLE), on events as tor 0.4.9 sends them.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BRIDGE_ATTEMPTS } from '../../src/core/limits.ts';
import { BridgeWatch } from '../../src/tor/bridge-watch.ts';
import { parseOrConn } from '../../src/tor/commands/events.ts';
import type { Reply } from '../../src/tor/control/reply.ts';
import { parseBridgeLine } from '../../src/tor/torrc.ts';
import { checkTransportProgram, findObfs4Binary } from '../../src/tor/transport-plugin.ts';

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, code);
    return true;
  });
}

const dirs: string[] = [];
after(async () => { await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))); });

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'entrechat-bridges-'));
  dirs.push(d);
  return d;
}

// --- transport programs ---

test('checkTransportProgram accepts an installed program (obfs4proxy or lyrebird if here, else /bin/sh)', () => {
  assert.doesNotThrow(() => { checkTransportProgram(findObfs4Binary() ?? '/bin/sh'); });
});

test('checkTransportProgram: a program that does not exist is TOR_TRANSPORT_MISSING', async () => {
  const d = await tempDir();
  throwsCode(() => { checkTransportProgram(join(d, 'obfs4proxy')); }, 'TOR_TRANSPORT_MISSING');
  throwsCode(() => { checkTransportProgram('/nonexistent/bin/obfs4proxy'); }, 'TOR_TRANSPORT_MISSING');
});

test('checkTransportProgram: a folder is TOR_TRANSPORT_MISSING', async () => {
  const d = await tempDir();
  await mkdir(join(d, 'obfs4proxy'));
  throwsCode(() => { checkTransportProgram(join(d, 'obfs4proxy')); }, 'TOR_TRANSPORT_MISSING');
});

test('checkTransportProgram: a file that is not executable is TOR_TRANSPORT_MISSING', { skip: process.getuid?.() === 0 ? 'root may execute any file with an x bit only; tested with mode 0644 below' : false }, async () => {
  const f = join(await tempDir(), 'obfs4proxy');
  await writeFile(f, '#!/bin/sh\n', { mode: 0o644 });
  throwsCode(() => { checkTransportProgram(f); }, 'TOR_TRANSPORT_MISSING');
});

test('checkTransportProgram: a file without any execute bit is TOR_TRANSPORT_MISSING (even for root)', async () => {
  const f = join(await tempDir(), 'obfs4proxy');
  await writeFile(f, '#!/bin/sh\n', { mode: 0o600 });
  await chmod(f, 0o600);
  throwsCode(() => { checkTransportProgram(f); }, 'TOR_TRANSPORT_MISSING');
});

test('checkTransportProgram: a relative path is TOR_CONFIG_INVALID', () => {
  throwsCode(() => { checkTransportProgram('obfs4proxy'); }, 'TOR_CONFIG_INVALID');
});

test('checkTransportProgram: a program others may write is TOR_CONFIG_INVALID', async () => {
  const f = join(await tempDir(), 'obfs4proxy');
  await writeFile(f, '#!/bin/sh\n');
  await chmod(f, 0o777);
  throwsCode(() => { checkTransportProgram(f); }, 'TOR_CONFIG_INVALID');
});

test('checkTransportProgram: a program in a folder others may write (here under /tmp) is TOR_CONFIG_INVALID', async () => {
  const d = await tempDir();
  await chmod(d, 0o700);
  const f = join(d, 'obfs4proxy');
  await writeFile(f, '#!/bin/sh\n');
  await chmod(f, 0o755);
  // The file is safe itself; a folder on its way (the temp folder's parent, /tmp, or d made 0777) is not.
  await chmod(d, 0o777);
  throwsCode(() => { checkTransportProgram(f); }, 'TOR_CONFIG_INVALID');
});

// --- ORCONN and the watch ---

const event = (text: string): Reply => ({ status: 650, lines: [{ status: 650, text }] });
const FP = '0123456789ABCDEF0123456789ABCDEF01234567';
const CERT = 'zgZVkVJLjMDCJgDNCdKqGh1ghJoQa+Swqwyb6k/WxnvYId70RwBENBEnMnjQosZuKhgeag';

test('parseOrConn reads tor 0.4.9\'s ORCONN events and nothing else', () => {
  assert.deepEqual(parseOrConn(event(`ORCONN $${FP} LAUNCHED ID=8`)), { target: `$${FP}`, status: 'LAUNCHED' });
  assert.deepEqual(parseOrConn(event('ORCONN 127.0.0.1:1 FAILED REASON=CONNECTREFUSED NCIRCS=1 ID=8')), { target: '127.0.0.1:1', status: 'FAILED', reason: 'CONNECTREFUSED' });
  assert.equal(parseOrConn(event('ORCONN')), null);
  assert.equal(parseOrConn(event('ORCONN x launched')), null);
  assert.equal(parseOrConn(event('STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5')), null);
  assert.equal(parseOrConn({ status: 250, lines: [{ status: 250, text: `ORCONN $${FP} LAUNCHED` }] }), null);
});

test(`BridgeWatch: ${BRIDGE_ATTEMPTS} attempts at every bridge, none connected, is TOR_BRIDGE_UNREACHABLE`, () => {
  const watch = new BridgeWatch([parseBridgeLine(`obfs4 127.0.0.1:1 ${FP} cert=${CERT} iat-mode=0`), parseBridgeLine('127.0.0.1:2')]);
  for (let i = 0; i < BRIDGE_ATTEMPTS; i++) assert.equal(watch.onEvent(event(`ORCONN $${FP} LAUNCHED ID=${i}`)), null);
  // Other relays, other events: not counted.
  assert.equal(watch.onEvent(event(`ORCONN $${'F'.repeat(40)}~relay LAUNCHED ID=99`)), null);
  assert.equal(watch.onEvent(event('STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=2 TAG=conn_done_pt SUMMARY="x"')), null);
  for (let i = 0; i < BRIDGE_ATTEMPTS - 1; i++) assert.equal(watch.onEvent(event(`ORCONN 127.0.0.1:2 LAUNCHED ID=${i}`)), null);
  assert.equal(watch.onEvent(event('ORCONN 127.0.0.1:2 LAUNCHED ID=50'))?.code, 'TOR_BRIDGE_UNREACHABLE');
});

test('BridgeWatch: one bridge that connects ends the watch', () => {
  const watch = new BridgeWatch([parseBridgeLine(`obfs4 127.0.0.1:1 ${FP} cert=${CERT}`)]);
  assert.equal(watch.onEvent(event(`ORCONN $${FP} LAUNCHED ID=1`)), null);
  assert.equal(watch.onEvent(event(`ORCONN $${FP}~ecbridge0 CONNECTED ID=1`)), null);
  for (let i = 0; i < 3 * BRIDGE_ATTEMPTS; i++) assert.equal(watch.onEvent(event(`ORCONN $${FP} LAUNCHED ID=${i}`)), null);
});
