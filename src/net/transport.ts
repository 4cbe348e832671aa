/**
 * What the session driver needs from the network underneath: a way to be reachable (publish), a way
 * to reach the peer (dial), and a bounded teardown. Implemented over plain loopback TCP (tests,
 * development) and over Tor onion services.
 */
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../core/errors.ts';

export interface TransportProgress {
  readonly percent: number;
  readonly summary: string;
}

export interface Transport {
  /**
   * Brings up whatever the transport runs on (Tor); resolves when ready to publish and dial. Settles
   * promptly (rejecting) once `signal` aborts.
   */
  start(onProgress: (progress: TransportProgress) => void, signal: AbortSignal, onFailure?: (error: unknown) => void): Promise<void>;
  /**
   * Synchronously: the error that made the transport unusable (Tor exited, its control connection
   * closed), or null. Asked when a connection closes, so that a session cut by Tor's death ends with
   * Tor's error rather than as a lost connection; `onFailure` (given to `start`) reports it as well.
   */
  failed?(): ErrorCode | null;
  /**
   * Asks whatever the transport runs on whether it still works (for Tor: one control-port round trip),
   * for when `failed` cannot tell yet: a tor that was killed closes our streams and its control
   * connection in no fixed order. Resolves with the error that made it unusable, or null; never rejects.
   */
  probe?(): Promise<ErrorCode | null>;
  /**
   * Starts accepting connections for the rendezvous days, each reported with the day it was made for,
   * or null when one listener serves every day (loopback). Settles promptly once `signal` aborts.
   */
  publish(onConnection: (socket: Duplex, day: number | null) => void, signal: AbortSignal): Promise<void>;
  /**
   * Opens a connection to the peer's rendezvous for a day. Rejects with an EntrechatError, and
   * promptly, without leaving a connection behind, once `signal` aborts.
   */
  dial(day: number, signal: AbortSignal): Promise<Duplex>;
  /**
   * Serves rendezvous days added to the plan after the start (the wall clock jumped onto them): what
   * `start` and `publish` did for the others (client authorization, the listener and its onion) is
   * done for them, as far as the attempt has got. Resolves once they can be dialled. Optional: a
   * transport with a single rendezvous (loopback) has nothing to add.
   */
  addDays?(signal: AbortSignal): Promise<void>;
  /** Stops accepting connections. Idempotent. */
  unpublish(): Promise<void>;
  /** Stops what `start` brought up and removes its files. Idempotent; never rejects. */
  stop(): Promise<void>;
  /** Forgets every secret the transport holds (derived onion and client-auth keys). */
  wipe(): void;
}
