/**
 * The interactive chat on a terminal: the alternate screen (so nothing of the conversation stays in
 * the terminal's scrollback), raw keys with bracketed paste, a redraw on every change, every second
 * for the countdowns, and on resize. Readline's key decoder and ANSI sequences only: no dependency.
 *
 * At the end the alternate screen is cleared and left, the terminal restored, the input history
 * wiped, and the words of the end printed on the normal screen: how it ended and what was wiped,
 * never a message.
 */
import { emitKeypressEvents } from 'node:readline';
import type { ReadStream, WriteStream } from 'node:tty';
import type { ClosedEvent, ContactTalkHandle, TalkEvent } from '../../app/index.ts';
import { EXIT } from '../exit.ts';
import { onEndingSignals } from '../signals.ts';
import { LineEditor } from './editor.ts';
import { addInfo, addOwnMessage, applyEvent, clockNow, createModel, readInput, wipeEntries, type ChatModel, type TorKind } from './model.ts';
import { inputWidth, renderFrame, WrapCache, type Style } from './screen.ts';
import { wrap } from './text.ts';
import { endHeadline, HELP_LINES, refusalWords, unknownCommandWords, wipedWords } from './words.ts';

export interface ChatOptions {
  /** The contact's name, as the user typed it. */
  readonly peer: string;
  readonly tor: TorKind;
  /** Starts the attempt; events may arrive before it resolves. */
  readonly start: (onEvent: (event: TalkEvent) => void) => Promise<ContactTalkHandle>;
  /** How long the screen stays after a session the user did not end (ms); a key clears it sooner. */
  readonly linger: number;
}

export interface TerminalChatOptions extends ChatOptions {
  readonly input: ReadStream;
  readonly output: WriteStream;
  readonly style: Style;
}

const ESC = '\x1b[';
/** Rows outside the conversation (status, hint, input), plus one of overlap between pages. */
const PAGE_OVERLAP_ROWS = 4;
/** The countdowns on screen move once a second. */
const COUNTDOWN_TICK = 1000;
const PASTE_START = '\x1b[200~';
const PASTE_END = '\x1b[201~';
const ENTER_SCREEN = '\x1b[?1049h\x1b[?2004h\x1b[2J';
const LEAVE_SCREEN = '\x1b[?2004l\x1b[2J\x1b[3J\x1b[H\x1b[?25h\x1b[?1049l';

interface Key {
  readonly name?: string;
  readonly ctrl?: boolean;
  readonly meta?: boolean;
  readonly shift?: boolean;
  readonly sequence?: string;
}



/**
 * Runs the chat until the attempt is over and the screen is cleared; resolves with how it ended.
 * @throws what `start` throws (the terminal is restored first)
 */
export async function runTerminalChat(options: TerminalChatOptions): Promise<ClosedEvent> {
  const { input, output, style } = options;
  const model: ChatModel = createModel(options.peer, options.tor);
  const editor = new LineEditor();
  // Each message is wrapped once per width, not on every frame.
  const cache = new WrapCache();
  let handle: ContactTalkHandle | null = null;
  // Set from key and signal handlers (an object, so the checks below are not narrowed away).
  const user = { quit: false };
  let scroll = 0;
  let pasting = false;
  // Line breaks of the current input chunk that have text after them (a paste without brackets).
  let burstBreaks = 0;
  let rawInPaste = false;
  let scheduled = false;
  let finished = false;
  let lingerDone: (() => void) | null = null;
  let lingerUntil: number | null = null;
  // The terminal went away (closed window, hangup, write error): nothing is drawn any more.
  let terminalGone = false;
  // A bug in a handler: the terminal is restored, the session ended, and the error thrown at the end.
  let crash: unknown = null;

  // Read through a function: handlers set it, so a check after an await is not narrowed away.
  const isGone = (): boolean => terminalGone;
  const size = (): { cols: number; rows: number } => ({ cols: output.columns || 80, rows: output.rows || 24 });
  const draw = (): void => {
    scheduled = false;
    if (finished || terminalGone) return;
    const { cols } = size();
    const view = editor.view(inputWidth(cols));
    const frame = renderFrame(model, view, size(), performance.now(), { style, scroll, cache, ...(lingerUntil !== null ? { lingerUntil } : {}) });
    scroll = frame.scroll;
    let out = `${ESC}?25l`;
    frame.rows.forEach((row, i) => { out += `${ESC}${String(i + 1)};1H${row}`; });
    if (frame.cursor !== null) out += `${ESC}${String(frame.cursor.row + 1)};${String(frame.cursor.col + 1)}H${ESC}?25h`;
    output.write(out);
  };
  const redraw = (): void => {
    if (scheduled || finished || terminalGone) return;
    scheduled = true;
    setImmediate(guarded(draw));
  };
  /** PgUp/PgDn move by the conversation's height, less a row or two to keep the reader's place. */
  const pageRows = (): number => Math.max(1, size().rows - PAGE_OVERLAP_ROWS);
  const notice = (level: 'info' | 'warn' | 'error', text: string): void => {
    model.notice = { level, text };
    redraw();
  };

  const quit = (): void => {
    if (lingerDone !== null) {
      lingerDone();
      return;
    }
    user.quit = true;
    if (handle === null) {
      // The store is still being opened: the attempt ends as soon as it starts.
      notice('info', 'Ending…');
      return;
    }
    if (model.phase !== 'ended') {
      model.phase = 'closing';
      handle.quit();
    }
    redraw();
  };

  const submit = (): void => {
    const entered = readInput(editor.text);
    switch (entered.kind) {
      case 'nothing':
        return;
      case 'unknown':
        editor.take();
        notice('warn', unknownCommandWords(entered.name));
        return;
      case 'command':
        editor.take();
        if (entered.name === 'quit') quit();
        else if (entered.name === 'help') {
          for (const line of HELP_LINES) addInfo(model, line, clockNow());
          scroll = 0;
          redraw();
        } else {
          wipeEntries(model);
          redraw();
        }
        return;
      case 'message':
        break;
    }
    if (model.phase !== 'connected' || handle === null) {
      notice('warn', `Not sent: ${model.peer} is not connected, and nothing is queued. Your text stays here.`);
      return;
    }
    try {
      const id = handle.send(entered.text);
      editor.take();
      addOwnMessage(model, id, entered.text, clockNow());
      scroll = 0;
      model.notice = null;
      redraw();
    } catch (e) {
      notice('warn', refusalWords(e));
    }
  };

  /** Printable text only: a control character typed or pasted is never put on the line. */
  const insertText = (str: string | undefined): void => {
    if (str === undefined) return;
    // eslint-disable-next-line no-control-regex
    const clean = str.replace(/\r\n?/g, '\n').replace(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/g, '');
    if (clean !== '') editor.insert(clean);
  };

  const onKey = (str: string | undefined, key: Key | undefined): void => {
    if (finished) return;
    if (lingerDone !== null) {
      lingerDone();
      return;
    }
    const name = key?.name;
    if (name === 'paste-start') { pasting = true; return; }
    if (name === 'paste-end') { pasting = false; redraw(); return; }
    // Inside a paste everything is text: a pasted Ctrl-C or arrow does nothing but its printable part.
    if (pasting) {
      if (name === 'return' || name === 'enter') editor.insert('\n');
      else insertText(str);
      redraw();
      return;
    }
    if ((name === 'return' || name === 'enter') && burstBreaks > 0) {
      burstBreaks -= 1;
      editor.insert('\n');
      redraw();
      return;
    }
    if (key?.ctrl === true) {
      switch (name ?? '') {
        case 'c': quit(); return;
        case 'd':
          if (editor.text === '') quit();
          else editor.deleteForward();
          break;
        case 'a': editor.home(); break;
        case 'e': editor.end(); break;
        case 'u': editor.killToStart(); break;
        case 'k': editor.killToEnd(); break;
        case 'w': editor.killWordBack(); break;
        case 'b': editor.left(); break;
        case 'f': editor.right(); break;
        case 'l': output.write(`${ESC}2J`); break;
        case 'left': editor.wordLeft(); break;
        case 'right': editor.wordRight(); break;
        default: return;
      }
      redraw();
      return;
    }
    if (key?.meta === true && (name === 'b' || name === 'f' || name === 'backspace')) {
      if (name === 'b') editor.wordLeft();
      else if (name === 'f') editor.wordRight();
      else editor.killWordBack();
      redraw();
      return;
    }
    switch (name ?? '') {
      case 'return':
      case 'enter': submit(); break;
      case 'backspace': editor.backspace(); break;
      case 'delete': editor.deleteForward(); break;
      case 'left': editor.left(); break;
      case 'right': editor.right(); break;
      case 'home': editor.home(); break;
      case 'end': editor.end(); break;
      case 'up': editor.historyUp(); break;
      case 'down': editor.historyDown(); break;
      case 'pageup': scroll += pageRows(); break;
      case 'pagedown': scroll = Math.max(0, scroll - pageRows()); break;
      case 'escape': break;
      case 'tab': editor.insert('    '); break;
      default:
        if (key?.meta === true) return;
        insertText(str);
    }
    redraw();
  };

  // A paste without bracketed-paste support arrives as one chunk with line breaks inside: a break
  // with more text after it in the chunk breaks a line of the message instead of sending it; a break
  // at the end of the chunk (Enter) sends. Bracketed pastes are left to the paste keys. (Registered
  // before readline's own decoder, so the count is there before the chunk's keys.)
  const onData = (chunk: Buffer | string): void => {
    let rest = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let outside = '';
    while (rest !== '') {
      const marker = rest.indexOf(rawInPaste ? PASTE_END : PASTE_START);
      if (!rawInPaste) outside += marker < 0 ? rest : rest.slice(0, marker);
      if (marker < 0) break;
      rest = rest.slice(marker + PASTE_START.length);
      rawInPaste = !rawInPaste;
    }
    burstBreaks = (outside.match(/[\r\n](?=[^\r\n])/g) ?? []).length;
    if (burstBreaks > 0) setImmediate(() => { burstBreaks = 0; });
  };

  const onEvent = (event: TalkEvent): void => {
    // The attempt is over, but its teardown (CLOSE, the onions, tor) runs until `done`: until then
    // the screen says it is ending.
    if (event.type === 'closed') model.phase = 'closing';
    else applyEvent(model, event, clockNow());
    if (event.type === 'active') scroll = 0;
    redraw();
  };

  const endingSignals = {
    first: (signal: NodeJS.Signals): void => {
      // A hangup: the terminal is gone, and writing to it would fail.
      if (signal === 'SIGHUP') terminalGone = true;
      quit();
    },
    // A second signal: restore the terminal, then leave at once.
    again: (signal: NodeJS.Signals): number => {
      if (signal === 'SIGHUP') terminalGone = true;
      leave();
      return model.tag !== null ? EXIT.SESSION_FAILED : EXIT.NO_SESSION;
    },
  };
  const onTerminalError = (): void => {
    terminalGone = true;
    quit();
  };

  const leave = (): void => {
    if (finished) return;
    finished = true;
    input.off('data', onData);
    input.off('keypress', onKeyGuarded);
    output.off('resize', redraw);
    try {
      if (!terminalGone) output.write(LEAVE_SCREEN);
      input.setRawMode(false);
    } catch {
      // the terminal is gone
    }
    input.pause();
  };

  /** `fn`, except that an exception restores the terminal and ends the session instead of leaving both broken. */
  function guarded<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return (...args) => {
      try {
        fn(...args);
      } catch (e) {
        crash ??= e;
        leave();
        user.quit = true;
        handle?.quit();
        lingerDone?.();
      }
    };
  }
  const onKeyGuarded = guarded(onKey);

  // Before readline's decoder (and any 'data' listener an earlier prompt left), so that the chunk's
  // line breaks are counted before its keys arrive.
  input.prependListener('data', onData);
  emitKeypressEvents(input);
  input.setRawMode(true);
  input.on('keypress', onKeyGuarded);
  input.on('error', onTerminalError);
  output.on('error', onTerminalError);
  input.resume();
  output.on('resize', redraw);
  output.write(ENTER_SCREEN);
  const releaseSignals = onEndingSignals(endingSignals);
  const ticker = setInterval(redraw, COUNTDOWN_TICK);
  redraw();
  try {
    try {
      handle = await options.start(onEvent);
    } catch (e) {
      leave();
      throw e;
    }
    model.verified = handle.verified;
    if (!handle.verified) addInfo(model, `${model.peer} is not verified: compare your safety number (entrechat contacts verify ${model.peer}) before you trust who answers.`, clockNow());
    if (user.quit) quit();
    redraw();
    const closed = await handle.done;
    applyEvent(model, closed, clockNow());
    // The user ended it, or there is nothing to read: clear at once. Otherwise the last words stay
    // until a key, for at most `linger`.
    if (!user.quit && model.messageCount > 0) {
      lingerUntil = performance.now() + options.linger;
      redraw();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, options.linger);
        lingerDone = () => { clearTimeout(t); resolve(); };
      });
    }
    const headline = endHeadline(model);
    const wiped = wipedWords(model, 'screen');
    wipeEntries(model);
    editor.wipe();
    leave();
    if (crash !== null) throw crash instanceof Error ? crash : new Error('the chat failed');
    // Wrapped at word boundaries here: the terminal's own wrapping would cut words in two.
    if (!isGone()) output.write([headline, wiped].flatMap((words) => wrap(words, size().cols)).map((line) => `${line}\n`).join(''));
    return closed;
  } finally {
    clearInterval(ticker);
    releaseSignals();
    // The error listeners stay: a terminal that goes away later must not crash what follows.
    leave();
  }
}
