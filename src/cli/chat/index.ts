/**
 * The chat `entrechat talk NAME` (and `entrechat demo`) opens: on a terminal the interactive screen,
 * elsewhere plain lines. Colour only on a terminal, and never with NO_COLOR set (no-color.org).
 */
import type { ClosedEvent } from '../../app/index.ts';
import { runPlainChat } from './plain.ts';
import { safeText, wrap } from './text.ts';
import { runTerminalChat, type ChatOptions } from './tty.ts';

export type { ChatOptions } from './tty.ts';

/** How long the last words of a session the user did not end stay on screen, at most. */
export const CHAT_LINGER = 60_000;

/** A terminal on both ends that can move its cursor. */
export function canDrawScreen(env: NodeJS.ProcessEnv): boolean {
  return process.stdin.isTTY && process.stdout.isTTY && env.TERM !== 'dumb';
}

/** Colours unless NO_COLOR is set to anything non-empty. */
export function wantsColor(env: NodeJS.ProcessEnv): boolean {
  return (env.NO_COLOR ?? '') === '';
}

export async function runChat(options: Omit<ChatOptions, 'linger'>, out: (line: string) => void): Promise<ClosedEvent> {
  if (canDrawScreen(process.env)) {
    return runTerminalChat({
      ...options,
      linger: CHAT_LINGER,
      input: process.stdin,
      output: process.stdout,
      style: { color: wantsColor(process.env) },
    });
  }
  try {
    return await runPlainChat({ ...options, input: process.stdin, out });
  } finally {
    process.stdin.destroy();
  }
}

/**
 * `text` as lines for standard output: on a terminal wrapped at word boundaries to its width (its own
 * wrapping would cut words in two), elsewhere one line.
 */
export function wrapForTerminal(text: string): string[] {
  const cols = process.stdout.isTTY ? process.stdout.columns : 0;
  return cols > 0 ? wrap(safeText(text), cols) : [text];
}
