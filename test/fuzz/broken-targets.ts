/**
 * Targets broken on purpose, one per failure the harness must catch (an untyped exception, a hang, a
 * slow input, a leak, a wrong fault group): test/unit/fuzz.test.ts checks that each is reported.
 */
import fc from 'fast-check';
import { ProtocolError, UsageError } from '../../src/core/errors.ts';
import type { FuzzTarget, Outcome } from './target.ts';
import { attempt } from './target.ts';

/** Held across inputs by the leaking target. */
const kept: Uint8Array[] = [];

function broken(name: string, run: (n: number) => void): FuzzTarget<number> {
  return {
    name,
    calls: [],
    faults: ['peer'],
    setup() {
      const check = (n: number): Outcome => {
        const r = attempt(['peer'], () => { run(n); });
        return r.ok ? { valid: true } : { valid: false, code: r.code };
      };
      return Promise.resolve({ arbitrary: fc.nat({ max: 1000 }), check });
    },
  };
}

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy on purpose */ }
}

export const TARGETS: readonly FuzzTarget<never>[] = [
  broken('fine', (n) => { if (n % 2 === 1) throw new ProtocolError('RECORD_BAD_LENGTH', 'odd'); }),
  broken('untyped', (n) => { if (n % 7 === 3) throw new TypeError('not typed'); }),
  broken('wrong-fault', (n) => { if (n % 5 === 1) throw new UsageError('BAD_ARGUMENT', 'a user error from a peer parser'); }),
  broken('hang', (n) => { if (n % 10 === 9) for (;;) { /* never returns */ } }),
  broken('slow', (n) => { if (n % 10 === 9) spin(60); }),
  broken('leak', () => { kept.push(new Uint8Array(16 * 1024)); }),
] as unknown as FuzzTarget<never>[];
