/**
 * SIGINT, SIGTERM and SIGHUP while the command line has something to wind down (a session, the demo):
 * the first signal asks for a clean end, a second one leaves at once. Exit handlers still stop a
 * spawned tor and remove temp folders when it does.
 */
const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface EndingHandlers {
  /** The first signal: end cleanly. */
  readonly first: (signal: NodeJS.Signals) => void;
  /** A second signal: tidy what must be (the terminal) and give the exit code to leave with now. */
  readonly again: (signal: NodeJS.Signals) => number;
}

/** Installs the handlers; returns the function that removes them. */
export function onEndingSignals(handlers: EndingHandlers): () => void {
  let seen = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (seen) process.exit(handlers.again(signal));
    seen = true;
    handlers.first(signal);
  };
  for (const sig of ENDING_SIGNALS) process.on(sig, handler);
  return () => { for (const sig of ENDING_SIGNALS) process.off(sig, handler); };
}
