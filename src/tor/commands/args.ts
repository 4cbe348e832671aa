/**
 * Argument checks shared by the control commands: everything that goes onto a command line is checked
 * against a strict shape first, so nothing a caller passes can add an argument, a flag or a line.
 * Messages name the argument, never its value (it may be a key or an onion address).
 */
import { UsageError } from '../../core/errors.ts';

export function badArgument(why: string): UsageError {
  return new UsageError('BAD_ARGUMENT', why);
}

/** A v3 onion service id as tor prints it: 56 lowercase base32 characters, no ".onion". */
const SERVICE_ID = /^[a-z2-7]{56}$/;

/** @throws UsageError BAD_ARGUMENT unless `id` is 56 lowercase base32 characters */
export function assertServiceId(id: unknown, name = 'service id'): asserts id is string {
  if (typeof id !== 'string' || !SERVICE_ID.test(id)) throw badArgument(`${name} must be 56 lowercase base32 characters, without ".onion"`);
}

/** True when `s` parses as a service id (for checking what tor sent). */
export function isServiceId(s: string): boolean {
  return SERVICE_ID.test(s);
}

/**
 * @throws UsageError BAD_ARGUMENT unless `b64` is the canonical standard (padded) base64 of exactly
 *   `bytes` bytes: tor decodes the blob as is, so a stray character would be a different key or an
 *   injected argument
 */
export function assertBase64Key(b64: unknown, bytes: number, name: string): asserts b64 is string {
  const length = 4 * Math.ceil(bytes / 3);
  if (typeof b64 !== 'string' || b64.length !== length || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw badArgument(`${name} must be the base64 of ${bytes} bytes`);
  }
  const decoded = Buffer.from(b64, 'base64');
  const canonical = decoded.length === bytes && decoded.toString('base64') === b64;
  decoded.fill(0);
  if (!canonical) throw badArgument(`${name} must be the base64 of ${bytes} bytes`);
}

/** @throws UsageError BAD_ARGUMENT unless `port` is an integer in 1..65535 */
export function assertPort(port: unknown, name: string): asserts port is number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw badArgument(`${name} must be a port number in 1..65535`);
}
