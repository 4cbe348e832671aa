/**
 * ADD_ONION (control-spec §3.27): publishes a v3 onion service from a key we hold, for as long as this
 * control connection lives (never `Detach`: if we die, tor drops the service with the connection).
 *
 *   C: ADD_ONION ED25519-V3:<base64 of the 64-byte expanded key> Flags=V3Auth Port=443,unix:/run/x/s
 *      ClientAuthV3=<base32 x25519 public key>
 *   S: 250-ServiceID=<56 base32 characters>
 *   S: 250-ClientAuthV3=<the same key>
 *   S: 250 OK
 *
 * `Flags=V3Auth` goes with `ClientAuthV3=` (tor answers `512 No auth type specified` to one without
 * the other). The same key twice on one tor: `550 Onion address collision` → TOR_ONION_COLLISION.
 */
import { TorError } from '../../core/errors.ts';
import { TorCommandError, type ControlConnection } from '../control/connection.ts';
import type { Reply } from '../control/reply.ts';
import { assertBase64Key, assertPort, badArgument, isServiceId } from './args.ts';

/** tor's expanded ed25519 secret key: scalar (32) ‖ PRF secret (32). */
const EXPANDED_KEY_SIZE = 64;
/** A `ClientAuthV3=` key: base32 of 32 bytes, lowercase, unpadded: 52 characters, the last one's low 4 bits zero. */
const CLIENT_AUTH_V3 = /^[a-z2-7]{51}[aq]$/;
/** Bounds that no legitimate use comes near; they keep a command line short. */
const MAX_PORTS = 16;
const MAX_CLIENTS = 16;

export interface OnionPort {
  /** The port clients connect to on the onion. */
  readonly virtual: number;
  /**
   * Where tor forwards it: a port ("8080", on 127.0.0.1), "IPv4:port", "[IPv6]:port", or
   * "unix:/absolute/path" (no spaces, quotes, commas or backslashes).
   */
  readonly target: string;
}

export interface AddOnionOptions {
  /** ED25519-V3 expanded secret key (64 bytes), standard padded base64 (88 characters). */
  readonly keyBase64: string;
  readonly ports: readonly OnionPort[];
  /** x25519 public keys of the only clients admitted (52 lowercase base32 characters each); sets Flags=V3Auth. */
  readonly clientAuthV3?: readonly string[];
  /** Never detached: the service lives and dies with this control connection. */
  readonly detach?: false;
}

export interface AddOnionResult {
  /** 56 characters, no ".onion". Not to be logged in full. */
  readonly serviceId: string;
}

function assertTarget(target: unknown): asserts target is string {
  if (typeof target !== 'string') throw badArgument('an onion port target must be text');
  const bare = /^(\d{1,5})$/.exec(target);
  if (bare !== null) {
    assertPort(Number(bare[1]), 'an onion port target');
    return;
  }
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3}):(\d{1,5})$/.exec(target);
  if (v4 !== null) {
    if ([v4[1], v4[2], v4[3], v4[4]].some((o) => Number(o) > 255)) throw badArgument('an onion port target has a bad IPv4 address');
    assertPort(Number(v4[5]), 'an onion port target');
    return;
  }
  const v6 = /^\[[0-9A-Fa-f:.]{2,45}\]:(\d{1,5})$/.exec(target);
  if (v6 !== null) {
    assertPort(Number(v6[1]), 'an onion port target');
    return;
  }
  if (/^unix:\/[^\s",\\\p{Cc}]+$/u.test(target)) return;
  throw badArgument('an onion port target must be a port, IPv4:port, [IPv6]:port or unix:/absolute/path');
}

/**
 * The ADD_ONION command line for `options`, validated (exported for tests; it holds the secret key).
 * @throws UsageError BAD_ARGUMENT for anything malformed
 */
export function addOnionCommand(options: AddOnionOptions): string {
  assertBase64Key(options.keyBase64, EXPANDED_KEY_SIZE, 'the onion key');
  if ((options.detach as unknown) !== undefined && (options.detach as unknown) !== false) throw badArgument('onion services are never detached');
  if (!Array.isArray(options.ports) || options.ports.length === 0 || options.ports.length > MAX_PORTS) {
    throw badArgument(`an onion needs 1 to ${MAX_PORTS} ports`);
  }
  const ports = options.ports.map((p: OnionPort) => {
    assertPort(p.virtual, 'an onion virtual port');
    assertTarget(p.target);
    return ` Port=${p.virtual},${p.target}`;
  });
  const clients = options.clientAuthV3 ?? [];
  if (!Array.isArray(clients) || clients.length > MAX_CLIENTS) throw badArgument(`at most ${MAX_CLIENTS} client keys`);
  for (const c of clients) {
    if (typeof c !== 'string' || !CLIENT_AUTH_V3.test(c)) throw badArgument('a client key must be 52 lowercase base32 characters (32 bytes)');
  }
  const flags = clients.length > 0 ? ' Flags=V3Auth' : '';
  return `ADD_ONION ED25519-V3:${options.keyBase64}${flags}${ports.join('')}${clients.map((c) => ` ClientAuthV3=${c}`).join('')}`;
}

/**
 * Reads the ServiceID of an ADD_ONION reply.
 * @throws TorError TOR_CONTROL_PROTOCOL without a well-formed ServiceID line
 */
export function parseAddOnion(reply: Reply): AddOnionResult {
  for (const line of reply.lines) {
    if (line.text.startsWith('ServiceID=')) {
      const serviceId = line.text.slice('ServiceID='.length);
      if (!isServiceId(serviceId)) throw new TorError('TOR_CONTROL_PROTOCOL', 'ADD_ONION returned a malformed ServiceID');
      return { serviceId };
    }
  }
  throw new TorError('TOR_CONTROL_PROTOCOL', 'ADD_ONION returned no ServiceID');
}

/**
 * Publishes the onion of `keyBase64` with `ports`, admitting only `clientAuthV3` when given.
 * @throws UsageError BAD_ARGUMENT; TorCommandError TOR_ONION_COLLISION (550 "Onion address collision":
 *   this tor already serves that key) or TOR_COMMAND_FAILED (with `.status`); TorError
 *   TOR_CONTROL_PROTOCOL, TOR_CONTROL_CLOSED
 */
export async function addOnion(conn: ControlConnection, options: AddOnionOptions): Promise<AddOnionResult> {
  const line = addOnionCommand(options);
  let reply: Reply;
  try {
    reply = await conn.send(line);
  } catch (e) {
    if (e instanceof TorCommandError && e.status === 550 && /collision/i.test(e.torText)) {
      throw new TorCommandError('TOR_ONION_COLLISION', e.status, e.torText, { cause: e });
    }
    throw e;
  }
  return parseAddOnion(reply);
}
