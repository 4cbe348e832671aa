/**
 * The control-port client against a real tor started here with `DisableNetwork 1` (it never leaves
 * loopback): authentication (SAFECOOKIE, COOKIE, password, a wrong password), GETINFO, SETEVENTS,
 * ADD_ONION with client authorization and a derived key (the ServiceID must be the address we compute),
 * the collision on the same key, DEL_ONION, ONION_CLIENT_AUTH_ADD / REMOVE, SIGNAL NEWNYM, a unix control
 * socket, and an unreachable control port. Every tor started here is stopped by pid (SIGTERM, then
 * SIGKILL after 5 s) and its folder removed, even when a test fails.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  clientAuthPublicBase32, clientAuthSecretBase64, onionAddress, onionExpandedKey, onionExpandedKeyBase64, onionPublicKey,
} from '../../src/core/derive.ts';
import { x25519FromSecret } from '../../src/core/x25519.ts';
import { ControlConnection, parseControlAddress, TorCommandError, type ControlAddress, type Reply } from '../../src/tor/control/connection.ts';
import { addOnion } from '../../src/tor/commands/add-onion.ts';
import { authenticate, authenticateAuto } from '../../src/tor/commands/authenticate.ts';
import { onionClientAuthAdd, onionClientAuthRemove } from '../../src/tor/commands/client-auth.ts';
import { delOnion } from '../../src/tor/commands/del-onion.ts';
import { parseBootstrapPhase } from '../../src/tor/commands/events.ts';
import { getInfo } from '../../src/tor/commands/getinfo.ts';
import { setEvents } from '../../src/tor/commands/setevents.ts';
import { signal } from '../../src/tor/commands/signal.ts';

const STOP_GRACE_MS = 5_000;
const START_TIMEOUT_MS = 20_000;

interface RunningTor {
  readonly proc: ChildProcess;
  readonly dir: string;
  control: ControlAddress;
  readonly exited: Promise<void>;
  output: string;
}

const running = new Set<RunningTor>();

/** Stops a tor by pid: SIGTERM, up to 5 s, then SIGKILL; removes its folder. Never throws. */
async function stopTor(t: RunningTor): Promise<void> {
  running.delete(t);
  if (t.proc.exitCode === null && t.proc.signalCode === null) {
    t.proc.kill('SIGTERM');
    const timer = new Promise<'late'>((r) => { setTimeout(() => { r('late'); }, STOP_GRACE_MS).unref(); });
    if ((await Promise.race([t.exited.then(() => 'done' as const), timer])) === 'late') {
      t.proc.kill('SIGKILL');
      await t.exited;
    }
  }
  await rm(t.dir, { recursive: true, force: true });
}

after(async () => {
  await Promise.all([...running].map(stopTor));
});

/** Starts a tor off the network with a control port on loopback; resolves once it wrote the port file. */
async function startTor(extra: (dir: string) => readonly string[] = () => []): Promise<RunningTor> {
  const dir = await mkdtemp(join(tmpdir(), 'entrechat-torctl-'));
  const portFile = join(dir, 'control-port');
  const args = [
    '--ignore-missing-torrc', '-f', '/dev/null',
    '--DataDirectory', join(dir, 'data'),
    '--DisableNetwork', '1',
    '--SocksPort', '0',
    '--ControlPort', 'auto',
    '--ControlPortWriteToFile', portFile,
    '--CookieAuthentication', '1',
    '--AvoidDiskWrites', '1',
    '--Log', `notice file ${join(dir, 'tor.log')}`,
    ...extra(dir),
  ];
  const proc = spawn('tor', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => { proc.once('exit', () => { resolve(); }); proc.once('error', () => { resolve(); }); });
  const t: RunningTor = { proc, dir, control: { kind: 'tcp', host: '127.0.0.1', port: 1 }, exited, output: '' };
  running.add(t);
  const keep = (b: Buffer): void => { t.output = (t.output + b.toString('utf8')).slice(-4000); };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (existsSync(portFile)) {
        const m = /PORT=(\S+)/.exec(readFileSync(portFile, 'utf8'));
        if (m?.[1] !== undefined) {
          t.control = parseControlAddress(m[1]);
          return t;
        }
      }
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`tor exited while starting: ${t.output}`);
      if (Date.now() > deadline) throw new Error(`tor wrote no control port file: ${t.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    await stopTor(t);
    throw e;
  }
}

async function rejectsCode(p: Promise<unknown>, code: string, status?: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, code);
    if (status !== undefined) {
      assert.ok(e instanceof TorCommandError);
      assert.equal(e.status, status);
    }
    return true;
  });
}

/** A fresh onion key as Entrechat derives them: seed → expanded key, public key, address. */
function freshOnion(): { keyBase64: string; address: string } {
  const seed = new Uint8Array(randomBytes(32));
  return { keyBase64: onionExpandedKeyBase64(onionExpandedKey(seed)), address: onionAddress(onionPublicKey(seed)) };
}

function freshClientAuth(): { publicBase32: string; secretBase64: string } {
  const secret = new Uint8Array(randomBytes(32));
  return { publicBase32: clientAuthPublicBase32(x25519FromSecret(secret).publicKey), secretBase64: clientAuthSecretBase64(secret) };
}

// --- one cookie tor (with a unix control socket too) for most tests ---

let tor: RunningTor | null = null;
let socketPath = '';

before(async () => {
  tor = await startTor((dir) => {
    socketPath = join(dir, 'control.sock');
    return ['--ControlSocket', socketPath];
  });
});

async function connected(): Promise<ControlConnection> {
  assert.ok(tor !== null, 'tor started');
  const conn = await ControlConnection.connect(tor.control);
  try {
    await authenticateAuto(conn, {});
  } catch (e) {
    conn.close();
    throw e;
  }
  return conn;
}

test('authenticateAuto (SAFECOOKIE here) then GETINFO version and status/bootstrap-phase', async () => {
  const conn = await connected();
  try {
    const info = await getInfo(conn, ['version', 'status/bootstrap-phase']);
    assert.match(info.get('version') ?? '', /^\d+\.\d+\.\d+\.\d+/);
    const phase = parseBootstrapPhase(info.get('status/bootstrap-phase') ?? '');
    assert.equal(phase?.progress, 0, 'DisableNetwork 1: tor does not bootstrap');
  } finally {
    conn.close();
  }
});

test('authenticate with plain COOKIE (the file we name) and with SAFECOOKIE (the file named by PROTOCOLINFO)', async () => {
  assert.ok(tor !== null);
  const cookieFile = join(tor.dir, 'data', 'control_auth_cookie');
  for (const auth of [{ kind: 'cookie', cookieFile }, { kind: 'safecookie' }] as const) {
    const conn = await ControlConnection.connect(tor.control);
    try {
      await authenticate(conn, auth);
      assert.ok((await getInfo(conn, ['version'])).has('version'), auth.kind);
    } finally {
      conn.close();
    }
  }
});

test('the unix control socket works the same', async () => {
  const conn = await ControlConnection.connect(parseControlAddress(`unix:${socketPath}`));
  try {
    await authenticateAuto(conn, {});
    assert.ok((await getInfo(conn, ['version'])).has('version'));
  } finally {
    conn.close();
  }
});

test('a wrong cookie is TOR_CONTROL_AUTH_FAILED (515) and tor closes the connection', async () => {
  assert.ok(tor !== null);
  const fake = join(tor.dir, 'not-the-cookie');
  await writeFile(fake, randomBytes(32), { mode: 0o600 });
  const conn = await ControlConnection.connect(tor.control);
  try {
    await rejectsCode(authenticate(conn, { kind: 'cookie', cookieFile: fake }), 'TOR_CONTROL_AUTH_FAILED', 515);
    await conn.closed;
    await rejectsCode(conn.send('GETINFO version'), 'TOR_CONTROL_CLOSED');
  } finally {
    conn.close();
  }
});

test('SETEVENTS: known events accepted, an unknown one is 552', async () => {
  const conn = await connected();
  try {
    await setEvents(conn, ['STATUS_CLIENT', 'HS_DESC']);
    await rejectsCode(setEvents(conn, ['NO_SUCH_EVENT']), 'TOR_COMMAND_FAILED', 552);
    await setEvents(conn, []);
  } finally {
    conn.close();
  }
});

test('ADD_ONION with a derived key and client auth: ServiceID is our address; same key again is TOR_ONION_COLLISION; DEL_ONION', async () => {
  const conn = await connected();
  try {
    const events: Reply[] = [];
    conn.onEvent((e) => { events.push(e); });
    await setEvents(conn, ['HS_DESC', 'STATUS_GENERAL']);
    const onion = freshOnion();
    const client = freshClientAuth();
    const target = `unix:${join(tor!.dir, 'onion.sock')}`;
    const { serviceId } = await addOnion(conn, {
      keyBase64: onion.keyBase64,
      ports: [{ virtual: 1, target }, { virtual: 80, target: '127.0.0.1:9' }],
      clientAuthV3: [client.publicBase32, freshClientAuth().publicBase32],
    });
    assert.equal(serviceId, onion.address);
    assert.ok((await getInfo(conn, ['onions/current'])).get('onions/current')?.split('\n').includes(serviceId));

    await rejectsCode(addOnion(conn, { keyBase64: onion.keyBase64, ports: [{ virtual: 80, target: '9' }] }), 'TOR_ONION_COLLISION', 550);
    // The connection is still good after the collision (and whatever events came with it).
    assert.ok((await getInfo(conn, ['version'])).has('version'));

    await delOnion(conn, serviceId);
    await rejectsCode(delOnion(conn, serviceId), 'TOR_COMMAND_FAILED', 552);
    const again = await addOnion(conn, { keyBase64: onion.keyBase64, ports: [{ virtual: 80, target: '9' }] });
    assert.equal(again.serviceId, onion.address, 'the key is free again after DEL_ONION');
  } finally {
    conn.close();
  }
});

test('an onion dies with the control connection that added it (no Detach)', async () => {
  const onion = freshOnion();
  const first = await connected();
  try {
    await addOnion(first, { keyBase64: onion.keyBase64, ports: [{ virtual: 80, target: '9' }] });
  } finally {
    first.close();
  }
  await first.closed;
  const second = await connected();
  try {
    // tor drops the service when it notices the close: retry briefly.
    const deadline = Date.now() + 5_000;
    for (;;) {
      try {
        const { serviceId } = await addOnion(second, { keyBase64: onion.keyBase64, ports: [{ virtual: 80, target: '9' }] });
        assert.equal(serviceId, onion.address);
        break;
      } catch (e) {
        if (!(e instanceof TorCommandError) || e.code !== 'TOR_ONION_COLLISION' || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    second.close();
  }
});

test('ONION_CLIENT_AUTH_ADD (twice: 251 replaced) and _REMOVE (twice: 251 none)', async () => {
  const conn = await connected();
  try {
    const { address } = freshOnion();
    const { secretBase64 } = freshClientAuth();
    await onionClientAuthAdd(conn, { serviceId: address, privateKeyBase64: secretBase64 });
    await onionClientAuthAdd(conn, { serviceId: address, privateKeyBase64: secretBase64 });
    await onionClientAuthRemove(conn, address);
    await onionClientAuthRemove(conn, address);
    // Without ClientOnionAuthDir, tor cannot store a permanent key.
    await rejectsCode(onionClientAuthAdd(conn, { serviceId: address, privateKeyBase64: secretBase64, permanent: true }), 'TOR_COMMAND_FAILED', 553);
  } finally {
    conn.close();
  }
});

test('SIGNAL NEWNYM; an unrecognized GETINFO key is 552 and the connection carries on', async () => {
  const conn = await connected();
  try {
    await signal(conn, 'NEWNYM');
    await rejectsCode(getInfo(conn, ['no-such-key']), 'TOR_COMMAND_FAILED', 552);
    await rejectsCode(conn.send('FROBNICATE'), 'TOR_COMMAND_FAILED', 510);
    assert.ok((await getInfo(conn, ['version'])).has('version'));
  } finally {
    conn.close();
  }
});

test('a password tor: a wrong password is TOR_CONTROL_AUTH_FAILED (515); the right one works, quotes and all', async () => {
  const password = 'c0rrect "horse" \\ battery é';
  const hashed = execFileSync('tor', ['--hash-password', password, '--quiet'], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  assert.match(hashed, /^16:[0-9A-F]+$/);
  const t = await startTor(() => ['--CookieAuthentication', '0', '--HashedControlPassword', hashed]);
  try {
    const wrong = await ControlConnection.connect(t.control);
    try {
      await rejectsCode(authenticateAuto(wrong, { password: 'wrong horse' }), 'TOR_CONTROL_AUTH_FAILED', 515);
      await wrong.closed;
    } finally {
      wrong.close();
    }
    const none = await ControlConnection.connect(t.control);
    try {
      await rejectsCode(authenticateAuto(none, {}), 'TOR_CONTROL_AUTH_FAILED');
    } finally {
      none.close();
    }
    const right = await ControlConnection.connect(t.control);
    try {
      await authenticateAuto(right, { password });
      assert.ok((await getInfo(right, ['version'])).has('version'));
    } finally {
      right.close();
    }
  } finally {
    await stopTor(t);
  }
});

test('SIGNAL HALT: tor exits, the connection closes, later commands are TOR_CONTROL_CLOSED', async () => {
  const t = await startTor();
  try {
    const conn = await ControlConnection.connect(t.control);
    await authenticateAuto(conn, {});
    await signal(conn, 'HALT');
    await conn.closed;
    await rejectsCode(conn.send('GETINFO version'), 'TOR_CONTROL_CLOSED');
    await t.exited;
  } finally {
    await stopTor(t);
  }
});

test('connection refused, and no such unix socket, are TOR_CONTROL_UNREACHABLE', async () => {
  const server = createServer();
  const port = await new Promise<number>((resolve) => {
    server.listen(0, '127.0.0.1', () => { resolve((server.address() as { port: number }).port); });
  });
  await new Promise<void>((resolve) => { server.close(() => { resolve(); }); });
  await rejectsCode(ControlConnection.connect({ kind: 'tcp', host: '127.0.0.1', port }), 'TOR_CONTROL_UNREACHABLE');
  await rejectsCode(ControlConnection.connect({ kind: 'unix', path: join(tmpdir(), `entrechat-no-such-${process.pid}.sock`) }), 'TOR_CONTROL_UNREACHABLE');
});

test('an aborted connect is TOR_CONTROL_CLOSED', async () => {
  assert.ok(tor !== null);
  await rejectsCode(ControlConnection.connect(tor.control, AbortSignal.abort()), 'TOR_CONTROL_CLOSED');
});
