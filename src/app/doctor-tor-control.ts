/**
 * `entrechat doctor --tor-control ADDR`: checks a borrowed tor (Tails, Whonix, a system tor) the way a
 * session will use it, each problem with its fix: the control port answers; how it authenticates; the
 * tor version (ADD_ONION with ClientAuthV3 needs 0.4.6.1); a SOCKS port we can reach; bootstrap; and
 * whether a control-port filter (onion-grater) lets through every command a session sends.
 *
 * Nothing here touches the Tor network: GETINFO and SETEVENTS only read; ONION_CLIENT_AUTH_ADD then
 * _REMOVE of a key for a random address (nobody's onion) stay in tor's memory and are taken back at
 * once; DEL_ONION of a random address is answered "552 Unknown Onion Service id" when allowed. ADD_ONION
 * is NOT tried: whatever shape a filter allows is a real onion service that tor would publish. So it
 * is reported as not checked, plainly; a real `talk` says TOR_COMMAND_FILTERED if it is refused.
 */
import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { clientAuthSecretBase64, onionAddress, onionPublicKey } from '../core/derive.ts';
import { isEntrechatError, type ErrorCode } from '../core/errors.ts';
import { DOCTOR_CHECK_TIMEOUT } from '../core/limits.ts';
import { authenticateAuto, type AutoAuthOptions } from '../tor/commands/authenticate.ts';
import { onionClientAuthAdd, onionClientAuthRemove } from '../tor/commands/client-auth.ts';
import { delOnion } from '../tor/commands/del-onion.ts';
import { parseBootstrapPhase } from '../tor/commands/events.ts';
import { getInfo } from '../tor/commands/getinfo.ts';
import { protocolInfo, type ProtocolInfo } from '../tor/commands/protocolinfo.ts';
import { setEvents } from '../tor/commands/setevents.ts';
import { ControlConnection, FILTER_PROFILE_HINT, parseControlAddress, TorCommandError } from '../tor/control/connection.ts';
import { socksEndpoint } from '../tor/owner.ts';
import type { SocksEndpoint } from '../tor/socks.ts';

/** The oldest tor with `ADD_ONION … ClientAuthV3=` (v3 client authorization over the control port). */
export const MIN_TOR_VERSION = [0, 4, 6, 1] as const;

export interface TorControlCheck {
  readonly name: 'control-port' | 'control-auth' | 'tor-version' | 'tor-socks' | 'tor-bootstrap' | 'tor-commands' | 'add-onion';
  readonly ok: boolean;
  /** Works, with something worth knowing (shown with `!`; the exit code stays 0). */
  readonly warn?: true;
  /** What was found, in plain words (no secret, no full onion address). */
  readonly detail: string;
  /** For a problem: what to do about it. */
  readonly fix?: string;
  /** For a problem: the error code, as in docs/errors.md. */
  readonly code?: string;
}

export interface TorControlDoctorOptions extends AutoAuthOptions {
  /** As given to --tor-control: host:port on loopback, or a unix socket path. */
  readonly address: string;
}

const WHERE = 'on Tails: --tor-control 127.0.0.1:9051 (onion-grater); on Whonix-Workstation: 127.0.0.1:9051 (forwarded to the Gateway); a system tor: its ControlPort (9051) or ControlSocket (/run/tor/control)';

/** Compares dotted versions ("0.4.9.11", "0.4.8.0-alpha-dev") part by part; null for an unreadable one. */
export function versionAtLeast(version: string, min: readonly number[]): boolean | null {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  if (m === null) return null;
  const parts = [m[1], m[2], m[3], m[4] ?? '0'].map(Number);
  for (let i = 0; i < min.length; i += 1) {
    const a = parts[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

function codeOf(e: unknown): ErrorCode {
  return isEntrechatError(e) ? e.code : 'TOR_CONTROL_PROTOCOL';
}

function messageOf(e: unknown): string {
  return isEntrechatError(e) ? e.message : 'unexpected failure';
}

/** A check failed by a filter's refusal: the same words and fix everywhere. */
function filtered(name: TorControlCheck['name'], what: string): TorControlCheck {
  return { name, ok: false, detail: `a control-port filter (onion-grater) refuses ${what}`, fix: FILTER_PROFILE_HINT, code: 'TOR_COMMAND_FILTERED' };
}

const AUTH_FIXES: Partial<Record<ErrorCode, string>> = {
  TOR_CONTROL_AUTH_FAILED: 'give the control password with --tor-control-password-file FILE, or let your user read tor\'s cookie (Debian: sudo adduser "$USER" debian-tor, then log in again)',
  TOR_CONTROL_AUTH_REFUSED: 'name that tor\'s cookie file yourself with --tor-control-cookie-file FILE (for example /run/tor/control.authcookie), or use a password',
  TOR_CONTROL_AUTH_SERVER_HASH: 'what answers there is not the tor it claims to be: check the address, and what else listens on it',
};

/** Connects to a SOCKS endpoint and closes at once (nothing is sent): does something listen there? */
function socksAnswers(socks: SocksEndpoint, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = socks.kind === 'unix' ? createConnection({ path: socks.path }) : createConnection({ host: socks.host, port: socks.port });
    const done = (ok: boolean): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(ok);
    };
    const onAbort = (): void => { done(false); };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => { done(true); });
    socket.once('error', () => { done(false); });
  });
}

function describeSocks(s: SocksEndpoint): string {
  return s.kind === 'unix' ? `unix:${s.path}` : `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;
}

/** A random, well-formed v3 address and x25519 secret: nobody's onion, for probes that change nothing. */
function probeTarget(): { address: string; secretBase64: string } {
  const seed = randomBytes(32);
  const secret = randomBytes(32);
  try {
    return { address: onionAddress(onionPublicKey(seed)), secretBase64: clientAuthSecretBase64(secret) };
  } finally {
    seed.fill(0);
    secret.fill(0);
  }
}

/**
 * Whether a session's commands get through (see the module comment); one check naming every refused
 * command, or what answered otherwise.
 */
async function checkCommands(control: ControlConnection): Promise<TorControlCheck> {
  const refused: string[] = [];
  const other: string[] = [];
  const { address, secretBase64 } = probeTarget();
  const attempt = async (label: string, run: () => Promise<unknown>, expected?: (e: TorCommandError) => boolean): Promise<void> => {
    try {
      await run();
    } catch (e) {
      if (e instanceof TorCommandError && e.code === 'TOR_COMMAND_FILTERED') refused.push(label);
      else if (e instanceof TorCommandError && expected?.(e) === true) return;
      else if (e instanceof TorCommandError) other.push(`${label}: ${e.status} ${e.torText}`);
      else throw e;
    }
  };
  await attempt('SETEVENTS STATUS_CLIENT HS_DESC', () => setEvents(control, ['STATUS_CLIENT', 'HS_DESC']));
  await attempt('SETEVENTS (none)', () => setEvents(control, []));
  const probe = { added: false };
  await attempt('ONION_CLIENT_AUTH_ADD', async () => {
    await onionClientAuthAdd(control, { serviceId: address, privateKeyBase64: secretBase64 });
    probe.added = true;
  });
  await attempt('ONION_CLIENT_AUTH_REMOVE', () => onionClientAuthRemove(control, address));
  if (probe.added && refused.includes('ONION_CLIENT_AUTH_REMOVE')) other.push('a key for a random address was added and could not be removed: it stays in that tor\'s memory until it restarts (harmless: nobody serves that address)');
  // Tor answers 552 "Unknown Onion Service id": allowed, and nothing was served by that id.
  await attempt('DEL_ONION', () => delOnion(control, address), (e) => e.status === 552);
  if (refused.length > 0) return filtered('tor-commands', refused.join(', '));
  if (other.length > 0) return { name: 'tor-commands', ok: false, detail: `tor refused: ${other.join('; ')}`, fix: 'update tor, or report this with the lines above', code: 'TOR_COMMAND_FAILED' };
  return { name: 'tor-commands', ok: true, detail: 'SETEVENTS, ONION_CLIENT_AUTH_ADD/REMOVE and DEL_ONION are allowed (tried with a random address: nothing reached the network)' };
}

/** Everything after authentication, on one connection. */
async function checkAuthenticated(control: ControlConnection, info: ProtocolInfo, signal: AbortSignal): Promise<TorControlCheck[]> {
  const checks: TorControlCheck[] = [];
  // tor-version: from PROTOCOLINFO (onion-grater answers it with the real version), else GETINFO.
  let version = info.torVersion;
  if (version === '') {
    try {
      version = (await getInfo(control, ['version'])).get('version') ?? '';
    } catch (e) {
      if (isEntrechatError(e) && e.code === 'TOR_COMMAND_FILTERED') checks.push(filtered('tor-version', 'GETINFO version'));
      else throw e;
    }
  }
  if (version !== '') {
    const enough = versionAtLeast(version, MIN_TOR_VERSION);
    checks.push(enough === false
      ? { name: 'tor-version', ok: false, detail: `tor ${version}: too old for v3 client authorization over the control port (0.4.6.1 or later)`, fix: 'update tor (Debian: sudo apt-get update && sudo apt-get install tor; Tails, Whonix: upgrade to the current release)', code: 'TOR_COMMAND_FAILED' }
      : { name: 'tor-version', ok: true, ...(enough === null ? { warn: true as const } : {}), detail: enough === null ? `tor says its version is "${version.slice(0, 40)}", which Entrechat cannot read` : `tor ${version}` });
  }
  // tor-socks
  try {
    const socks = await socksEndpoint(control, null);
    checks.push(await socksAnswers(socks, signal)
      ? { name: 'tor-socks', ok: true, detail: `SOCKS port ${describeSocks(socks)} answers` }
      : { name: 'tor-socks', ok: false, detail: `tor names the SOCKS port ${describeSocks(socks)}, but nothing answers there`, fix: 'on Whonix-Workstation, check that anon-ws-disable-stacked-tor runs (it forwards 127.0.0.1:9050 to the Gateway); elsewhere, check the SocksPort line of the torrc', code: 'TOR_SOCKS_UNREACHABLE' });
  } catch (e) {
    if (isEntrechatError(e) && e.code === 'TOR_COMMAND_FILTERED') checks.push(filtered('tor-socks', 'GETINFO net/listeners/socks'));
    else if (isEntrechatError(e) && e.code === 'TOR_SOCKS_UNREACHABLE') checks.push({ name: 'tor-socks', ok: false, detail: messageOf(e), fix: 'add "SocksPort 9050" to that tor\'s torrc and reload it', code: 'TOR_SOCKS_UNREACHABLE' });
    else throw e;
  }
  // tor-bootstrap
  try {
    const phase = parseBootstrapPhase((await getInfo(control, ['status/bootstrap-phase'])).get('status/bootstrap-phase') ?? '');
    if (phase === null) checks.push({ name: 'tor-bootstrap', ok: true, warn: true, detail: 'tor\'s bootstrap phase is unreadable' });
    else if (phase.progress >= 100) checks.push({ name: 'tor-bootstrap', ok: true, detail: 'tor is connected to the Tor network (100%)' });
    else checks.push({ name: 'tor-bootstrap', ok: true, warn: true, detail: `tor is still connecting (${phase.progress}%: ${phase.summary.slice(0, 80)})`, fix: 'wait until it is connected (on Tails and Whonix: the Tor connection indicator); talk waits for it too' });
  } catch (e) {
    if (isEntrechatError(e) && e.code === 'TOR_COMMAND_FILTERED') checks.push(filtered('tor-bootstrap', 'GETINFO status/bootstrap-phase'));
    else throw e;
  }
  checks.push(await checkCommands(control));
  checks.push({
    name: 'add-onion', ok: true, warn: true,
    detail: 'ADD_ONION not checked: any test of it would publish an onion service on the Tor network. A talk that is refused says TOR_COMMAND_FILTERED',
    fix: 'behind onion-grater, make sure Entrechat\'s profile is installed (the commands above pass only with it); on Whonix-Workstation also start talk with --tor-listen 0.0.0.0:17740 and open ports 17740-17743 in its firewall (README)',
  });
  return checks;
}

/**
 * Runs the checks of a borrowed tor at `options.address`, each within DOCTOR_CHECK_TIMEOUT overall;
 * never throws for what it checks. Opens two control connections (PROTOCOLINFO is allowed once per
 * connection, and authenticating reads it again), both closed at the end.
 */
export async function doctorTorControl(options: TorControlDoctorOptions): Promise<TorControlCheck[]> {
  const signal = AbortSignal.timeout(DOCTOR_CHECK_TIMEOUT);
  let address;
  try {
    address = parseControlAddress(options.address);
  } catch (e) {
    return [{ name: 'control-port', ok: false, detail: messageOf(e), fix: WHERE, code: codeOf(e) }];
  }
  const where = options.address;
  let first: ControlConnection;
  try {
    first = await ControlConnection.connect(address, signal);
  } catch (e) {
    return [{ name: 'control-port', ok: false, detail: `nothing answers on ${where}`, fix: `is tor running? ${WHERE}`, code: codeOf(e) }];
  }
  const closeOnAbort = (c: ControlConnection): (() => void) => {
    const onAbort = (): void => { c.close(); };
    signal.addEventListener('abort', onAbort, { once: true });
    return () => { signal.removeEventListener('abort', onAbort); c.close(); };
  };
  const checks: TorControlCheck[] = [{ name: 'control-port', ok: true, detail: `${where} answers` }];
  let info: ProtocolInfo;
  const endFirst = closeOnAbort(first);
  try {
    info = await protocolInfo(first);
  } catch (e) {
    return [...checks, { name: 'control-auth', ok: false, detail: `what answers on ${where} does not speak Tor's control protocol (${messageOf(e)})`, fix: `check the address: ${WHERE}`, code: codeOf(e) }];
  } finally {
    endFirst();
  }
  let control: ControlConnection;
  try {
    control = await ControlConnection.connect(address, signal);
  } catch (e) {
    return [...checks, { name: 'control-auth', ok: false, detail: `${where} stopped answering`, fix: 'try again', code: codeOf(e) }];
  }
  const end = closeOnAbort(control);
  try {
    try {
      await authenticateAuto(control, options);
    } catch (e) {
      const code = codeOf(e);
      return [...checks, { name: 'control-auth', ok: false, detail: `offers ${info.authMethods.join(', ') || 'no method'}: ${messageOf(e)}`, fix: AUTH_FIXES[code] ?? 'check the control port\'s settings in the torrc', code }];
    }
    const methods = new Set(info.authMethods);
    const how = methods.has('NULL')
      ? 'no authentication (NULL): what a control-port filter such as onion-grater (Tails, Whonix) offers, or a tor open to every local user'
      : methods.has('SAFECOOKIE') && options.cookieFile === undefined && info.cookieFile !== null ? 'SAFECOOKIE (tor proved it knows the cookie)'
        : methods.has('HASHEDPASSWORD') && options.password !== undefined ? 'password (HASHEDPASSWORD)' : 'cookie file you named';
    checks.push({ name: 'control-auth', ok: true, detail: how });
    checks.push(...await checkAuthenticated(control, info, signal));
    return checks;
  } catch (e) {
    const code = codeOf(e);
    const timedOut = signal.aborted;
    return [...checks, {
      name: 'tor-commands', ok: false,
      detail: timedOut ? `the control port stopped answering (${DOCTOR_CHECK_TIMEOUT / 1000} s)` : messageOf(e),
      fix: code === 'TOR_CONTROL_CLOSED' || timedOut ? 'check that tor (and onion-grater, if any) still runs, then try again' : 'report this with the lines above',
      code: timedOut ? 'TOR_CONTROL_CLOSED' : code,
    }];
  } finally {
    end();
  }
}

