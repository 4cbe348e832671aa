/**
 * What the session driver needs from the network underneath: a way to be reachable (publish), a way
 * to reach the peer (dial), and a bounded teardown. Implemented over plain loopback TCP (tests,
 * development) and over Tor onion services.
 */
import type { Duplex } from 'node:stream';

export interface TransportProgress {
  readonly percent: number;
  readonly summary: string;
}

export interface Transport {
  /**
   * Brings up whatever the transport runs on (Tor); resolves when ready to publish and dial. Settles
   * promptly (rejecting) once `signal` aborts.
   */
  start(onProgress: (progress: TransportProgress) => void, signal: AbortSignal): Promise<void>;
  /** Starts accepting connections for the rendezvous days. Settles promptly once `signal` aborts. */
  publish(onConnection: (socket: Duplex, day: number) => void, signal: AbortSignal): Promise<void>;
  /**
   * Opens a connection to the peer's rendezvous for a day. Rejects with an EntrechatError, and
   * promptly, without leaving a connection behind, once `signal` aborts.
   */
  dial(day: number, signal: AbortSignal): Promise<Duplex>;
  /** Stops accepting connections. Idempotent. */
  unpublish(): Promise<void>;
  /** Stops what `start` brought up and removes its files. Idempotent; never rejects. */
  stop(): Promise<void>;
  /** Forgets every secret the transport holds (derived onion and client-auth keys). */
  wipe(): void;
}
