/**
 * ONION_CLIENT_AUTH_ADD / _REMOVE (control-spec §3.30, §3.31): the x25519 key tor presents when it
 * dials a v3 onion with client authorization.
 *
 *   C: ONION_CLIENT_AUTH_ADD <56 base32 characters> x25519:<base64 of the 32-byte secret> [Flags=Permanent]
 *   S: 250 OK                       (251: it replaced an earlier key; 252: it also decrypted a cached descriptor)
 *   C: ONION_CLIENT_AUTH_REMOVE <56 base32 characters>
 *   S: 250 OK                       (251: there was none)
 *
 * Keys added without `Permanent` live in tor's memory only; `SIGNAL NEWNYM` drops them (TORNET.md).
 * `Permanent` needs `ClientOnionAuthDir` in tor's configuration (else 553).
 */
import type { ControlConnection } from '../control/connection.ts';
import { assertBase64Key, assertServiceId, badArgument } from './args.ts';

const X25519_KEY_SIZE = 32;

export interface ClientAuthAddOptions {
  /** The onion to present the key to: 56 lowercase base32 characters, no ".onion". */
  readonly serviceId: string;
  /** The x25519 secret, standard padded base64 of 32 bytes (44 characters). */
  readonly privateKeyBase64: string;
  /** Store the key on disk (tor's ClientOnionAuthDir) instead of in memory only. Default false. */
  readonly permanent?: boolean;
}

/**
 * Adds (or replaces) the client-authorization key for an onion.
 * @throws UsageError BAD_ARGUMENT; TorCommandError TOR_COMMAND_FAILED (with `.status`); TorError
 *   TOR_CONTROL_PROTOCOL, TOR_CONTROL_CLOSED
 */
export async function onionClientAuthAdd(conn: ControlConnection, options: ClientAuthAddOptions): Promise<void> {
  assertServiceId(options.serviceId);
  assertBase64Key(options.privateKeyBase64, X25519_KEY_SIZE, 'the client-authorization key');
  if (options.permanent !== undefined && typeof options.permanent !== 'boolean') throw badArgument('permanent must be a boolean');
  const flags = options.permanent === true ? ' Flags=Permanent' : '';
  await conn.send(`ONION_CLIENT_AUTH_ADD ${options.serviceId} x25519:${options.privateKeyBase64}${flags}`);
}

/**
 * Removes the client-authorization key for an onion; resolves as well when there was none (251).
 * @throws UsageError BAD_ARGUMENT; TorCommandError TOR_COMMAND_FAILED; TorError TOR_CONTROL_PROTOCOL,
 *   TOR_CONTROL_CLOSED
 */
export async function onionClientAuthRemove(conn: ControlConnection, serviceId: string): Promise<void> {
  assertServiceId(serviceId);
  await conn.send(`ONION_CLIENT_AUTH_REMOVE ${serviceId}`);
}
