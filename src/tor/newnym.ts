/**
 * When to send `SIGNAL NEWNYM` before a dial. After a failed descriptor fetch a tor will not fetch that
 * descriptor again for a while (15 min on the real network, 5 s on a test network); NEWNYM clears that
 * cache, and also drops client-authorization keys added without `Permanent`, which must then be added
 * again. So: only after a dial missed a descriptor, at most once per NEWNYM_MIN_INTERVAL (Tor's own
 * rate limit), and never while another dial is in flight (its key would vanish under it). Only for a
 * tor of our own: on a borrowed tor NEWNYM would renew every other program's circuits and erase their
 * client-authorization keys too.
 */
import type { ErrorCode } from '../core/errors.ts';
import { NEWNYM_MIN_INTERVAL } from '../core/limits.ts';

export class NewnymPolicy {
  readonly #enabled: boolean;
  #missed = false;
  #last = -Infinity;
  #inFlight = 0;

  /** `enabled`: false for a borrowed tor. */
  constructor(enabled: boolean) {
    this.#enabled = enabled;
  }

  /** Before a dial, at `now` (monotonic ms): whether to send NEWNYM first; if so it counts as sent. */
  take(now: number): boolean {
    if (!this.#enabled || !this.#missed || this.#inFlight > 0 || now - this.#last < NEWNYM_MIN_INTERVAL) return false;
    this.#missed = false;
    this.#last = now;
    return true;
  }

  dialStarted(): void {
    this.#inFlight += 1;
  }

  /** A dial ended: `code` is its failure, or null if it connected. */
  dialEnded(code: ErrorCode | null): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    if (code === 'TOR_HS_DESC_NOT_FOUND') this.#missed = true;
  }
}
