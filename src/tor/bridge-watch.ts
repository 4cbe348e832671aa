/**
 * Tells, while a tor with `UseBridges 1` starts, when it can reach none of its bridges. Tor never gives
 * up by itself: it retries each bridge with a growing delay, its bootstrap stuck at a few percent, and
 * for a bridge behind a pluggable transport (obfs4) it reports no bootstrap problem at all (measured
 * with tor 0.4.9.11: only `ORCONN … LAUNCHED` again and again, and "Proxy Client: unable to connect"
 * in its log). So we count tor's `ORCONN LAUNCHED` events per bridge: once every bridge was tried
 * BRIDGE_ATTEMPTS times and none has connected, the start fails with TOR_BRIDGE_UNREACHABLE. One
 * bridge that connects ends the watch for good.
 */
import { TorError } from '../core/errors.ts';
import { BRIDGE_ATTEMPTS } from '../core/limits.ts';
import type { Reply } from './control/reply.ts';
import { parseOrConn } from './commands/events.ts';
import type { BridgeLine } from './torrc.ts';

export class BridgeWatch {
  readonly #bridges: readonly BridgeLine[];
  readonly #attempts: number[];
  readonly #limit: number;
  #connected = false;

  constructor(bridges: readonly BridgeLine[], limit: number = BRIDGE_ATTEMPTS) {
    this.#bridges = bridges;
    this.#attempts = bridges.map(() => 0);
    this.#limit = limit;
  }

  /** Which bridge an ORCONN target names (by fingerprint, else by address), or -1. */
  #which(target: string): number {
    const fp = /^\$([0-9A-Fa-f]{40})(?:[~=].*)?$/.exec(target)?.[1]?.toUpperCase();
    return this.#bridges.findIndex((b) => (fp !== undefined ? b.fingerprint === fp : b.address === target));
  }

  /**
   * Takes one control-port event; returns TOR_BRIDGE_UNREACHABLE once every bridge failed often
   * enough, else null. Never throws.
   */
  onEvent(event: Reply): TorError | null {
    if (this.#connected || this.#bridges.length === 0) return null;
    const orconn = parseOrConn(event);
    if (orconn === null) return null;
    const i = this.#which(orconn.target);
    if (i < 0) return null;
    if (orconn.status === 'CONNECTED') {
      this.#connected = true;
      return null;
    }
    if (orconn.status !== 'LAUNCHED') return null;
    this.#attempts[i] = (this.#attempts[i] ?? 0) + 1;
    if (this.#attempts.every((n) => n >= this.#limit)) {
      const n = this.#bridges.length;
      return new TorError('TOR_BRIDGE_UNREACHABLE',
        `Tor could not connect to ${n === 1 ? 'the bridge' : `any of the ${n} bridges`} of --tor-config (${this.#limit} attempts each): ${n === 1 ? 'it is' : 'they are'} down or blocked; get other bridge lines (README § Where Tor is blocked)`);
    }
    return null;
  }
}
