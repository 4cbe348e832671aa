/**
 * DEL_ONION (control-spec §3.28): stops serving an onion this connection added.
 *
 *   C: DEL_ONION <56 base32 characters>
 *   S: 250 OK                          (552 Unknown Onion Service id; 512 Malformed Onion Service id)
 */
import type { ControlConnection } from '../control/connection.ts';
import { assertServiceId } from './args.ts';

/**
 * @throws UsageError BAD_ARGUMENT for a malformed service id; TorCommandError TOR_COMMAND_FAILED (552
 *   when this connection does not serve it); TorError TOR_CONTROL_PROTOCOL, TOR_CONTROL_CLOSED
 */
export async function delOnion(conn: ControlConnection, serviceId: string): Promise<void> {
  assertServiceId(serviceId);
  await conn.send(`DEL_ONION ${serviceId}`);
}
