/**
 * The terminal kept quiet while a command is not drawing the chat (the demo's network starting, the
 * demo tearing it down): in cooked mode the terminal echoes every key typed onto the normal screen,
 * where it stays in the scrollback after the session. Raw mode turns that echo off; what is typed
 * meanwhile is read and dropped (nothing is queued for the chat), except Ctrl-C, which raw mode no
 * longer turns into a signal: it is sent as SIGINT, so that it ends the command as it always did.
 *
 * Node restores the terminal's modes when the process exits, whatever the way (exit, a signal);
 * `release` restores them sooner, and an exit hook does too in case a path forgot.
 */
import type { ReadStream } from 'node:tty';

/** ETX, what Ctrl-C sends in raw mode. */
const CTRL_C = 0x03;

export interface QuietTerminal {
  /** Hands the terminal to the chat: stops reading, leaves echo off (the chat keeps it so). */
  suspend(): void;
  /** Takes it back after the chat (which restored echo): echo off again, keys dropped. */
  resume(): void;
  /** Restores the terminal (echo, line editing) and stops reading. Idempotent. */
  release(): void;
}

/**
 * Turns echo off on `input` at once (raw mode) and keeps it off until `release`.
 * `interrupt` is what a Ctrl-C typed meanwhile does (default: SIGINT to this process).
 */
export function quietTerminal(input: ReadStream, interrupt: () => void = () => { process.kill(process.pid, 'SIGINT'); }): QuietTerminal {
  let reading = false;
  let released = false;
  const onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (bytes.includes(CTRL_C)) interrupt();
  };
  const setRaw = (on: boolean): void => {
    try {
      input.setRawMode(on);
    } catch {
      // the terminal went away: there is no echo left to turn off or on
    }
  };
  const start = (): void => {
    if (reading || released) return;
    reading = true;
    setRaw(true);
    input.on('data', onData);
    input.resume();
  };
  const stop = (): void => {
    if (!reading) return;
    reading = false;
    input.off('data', onData);
    input.pause();
  };
  const restore = (): void => { setRaw(false); };
  process.once('exit', restore);
  start();
  return {
    suspend: stop,
    resume: start,
    release: () => {
      if (released) return;
      stop();
      released = true;
      restore();
      process.off('exit', restore);
    },
  };
}
