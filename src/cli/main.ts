/**
 * The `entrechat` command line. A leaf: it uses app/'s API and prints; no protocol logic here.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  addContact,
  bounded,
  changePassphrase,
  contactSafetyNumber,
  defaultHome,
  doctor,
  doctorTorControl,
  parseTorListen,
  eventJson,
  initIdentity,
  interactiveBotAnswer,
  runScriptedDemo,
  startDemo,
  isEntrechatError,
  listContacts,
  markVerified,
  removeContact,
  renameContact,
  readPassphraseFile,
  readSettings,
  refuseExistingIdentity,
  setAmnesic,
  torStateDir,
  refuseUnprotectedStore,
  storeNeedsPassphrase,
  weakPassphraseWarning,
  talkTo,
  UsageError,
  whoami,
  type OutputSink,
  type StoreAuth,
  type TalkEvent,
  type DemoLine,
  type Route,
  type TalkHandle,
  IDLE_DEFAULT,
  IDLE_MAX,
  IDLE_MIN,
  MAX_SESSION_DEFAULT,
  MAX_SESSION_MAX,
  MAX_SESSION_MIN,
  MAX_UNACKED_MESSAGES,
  PASSPHRASE_FILE_MAX_SIZE,
  RENDEZVOUS_WINDOW_DEFAULT,
  RENDEZVOUS_WINDOW_MAX,
  RENDEZVOUS_WINDOW_MIN,
} from '../app/index.ts';
import { EXIT, exitCodeForClose, exitCodeForError } from './exit.ts';
import { LineSplitter } from './lines.ts';
import { canDrawScreen, runChat, wrapForTerminal } from './chat/index.ts';
import { COMMAND_HELP } from './help.ts';
import { quietTerminal, type QuietTerminal } from './quiet.ts';
import { jsonLine, shownEscaped } from './escape.ts';
import { onEndingSignals } from './signals.ts';
import { contactQr } from './qr.ts';
import { cmdTestnet } from './testnet.ts';

const HELP = `entrechat — talk in real time over Tor onion services, and leave nothing behind

Usage:
  entrechat init [--no-passphrase] [--passphrase-file FILE] [--amnesic]
  entrechat whoami [--json | --qr]     your contact code (and, on a terminal or with --qr, as a QR code)
  entrechat contacts add NAME CODE
  entrechat contacts list [--json]
  entrechat contacts rename OLD NEW
  entrechat contacts remove NAME
  entrechat contacts verify NAME [--yes]   compare the safety number with NAME, then mark them verified
  entrechat passphrase [--new-passphrase-file FILE | --no-passphrase --yes]   change the store's passphrase
  entrechat settings [amnesic on|off] [--json]   show or change the identity's settings
  entrechat doctor [--tor-config FILE] [--json]   check tor and the store (and that file, as talk
                                       would take it); each problem with its fix
  entrechat doctor --tor-control ADDR [--json]   check a running tor (Tails, Whonix) as talk uses it
  entrechat demo [--script]            chat with a bot over a private Tor network on this machine
                                       (--script: a scripted session, printed as a transcript)
  entrechat talk NAME [--tor-config FILE | --tor-control ADDR [--tor-listen IPV4:PORT]] [--window SECONDS]
                [--idle-limit SECONDS] [--session-limit SECONDS] [--amnesic] [--json]
                                       the chat with NAME (both of you run talk within the window)
  entrechat talk NAME --loopback-listen PORT --loopback-peer PORT [--window SECONDS] [--json]
  entrechat ui [--open] [--tor-config FILE | --tor-control ADDR] [--window SECONDS] [--amnesic] …
                                       the whole app as a page in your browser, served on
                                       127.0.0.1 (entrechat ui --help)
  entrechat testnet up --dir DIR [--base-port N] [--bridge]   a private Tor network on 127.0.0.1 (tests, demo)
  entrechat testnet down --dir DIR                 stop it and remove DIR (entrechat testnet --help)

Options:
  --passphrase-file FILE   read the store passphrase from FILE (first line) instead of the terminal
  --no-passphrase          (init, passphrase) store the identity unprotected: for tests and demos only
  --new-passphrase-file FILE
                           (passphrase) the new passphrase, first line of FILE
  --yes                    (contacts verify) you compared the safety number: mark verified without asking
  --json                   machine-readable output, one JSON object per line (talk: events; each
                           line of standard input is a message once the session is open)
  --window SECONDS         how long talk waits for the peer (default 180, 10 to 1800)
  --idle-limit SECONDS     (talk) the session ends after this long without a message (default 900,
                           60 to 7200); the stricter of both sides' limits applies
  --session-limit SECONDS  (talk) the session ends after this long in any case (default 7200, 60 to
                           86400); the stricter of both sides' limits applies
  --tor-config FILE        (talk, doctor) extra torrc lines for the tor Entrechat starts: a test
                           network's, or bridges where Tor is blocked (README § Where Tor is blocked)
  --amnesic                (talk, init) a fresh tor every session, its folder deleted at the end: no
                           entry guard kept in $ENTRECHAT_HOME/tor (init: remembered in the store)
  --tor-control ADDR       (talk) use a running tor instead (Tails, Whonix, a system tor):
                           host:port on loopback or a unix socket path; SAFECOOKIE, password or
                           no authentication, as that tor offers
  --tor-control-password-file FILE
                           (talk) the control-port password for --tor-control, first line of FILE
                           (which only you may read: chmod 600)
  --tor-control-cookie-file FILE
                           (talk) that tor's cookie file: the only file sent to a control port
                           that offers plain COOKIE authentication alone
  --tor-listen IPV4:PORT   (talk, with --tor-control) listen for that tor on this address, on the
                           first free port of PORT to PORT+3 (Whonix-Workstation: 0.0.0.0:17740)
  --loopback-listen PORT   (talk) plain TCP on 127.0.0.1, no Tor: for tests and development
  --loopback-peer PORT     (talk) the peer's loopback port
  --open                   (ui) open the page's address in the browser (xdg-open, termux-open-url)

In the chat: Enter sends; /quit, Ctrl-C (or Ctrl-D on an empty line) ends the session for both;
/help lists the keys. Nothing is queued: you can send only while the other is connected. At the end
the screen is cleared and the keys wiped. Without a terminal, the chat is plain lines.

Environment:
  ENTRECHAT_HOME           where the store lives (default ~/.entrechat)
  NO_COLOR                 set to anything: no colours
  ENTRECHAT_UI_ASSETS      (ui) the page's folder (default: dist/web, made by npm run build)

Exit codes: 0 ok, 1 internal error, 2 usage, 3 store, 4 no session (peer did not come),
            5 session failed, 6 Tor.
`;

interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** What `out` writes to, when it can be backed up (stdout): a session stops reading the peer meanwhile. */
  readonly sink?: OutputSink;
  /** `entrechat ui`, given by the entry point (src/web is a leaf the command line does not import). */
  readonly ui?: UiLauncher;
}

/** What `entrechat ui` needs of src/web (src/web/index.ts fits it). */
export interface UiLauncher {
  readonly start: (options: { home: string; route: Route; limits: TalkLimits }) => Promise<{
    readonly url: string;
    stop(): Promise<void>;
    readonly done: Promise<number>;
  }>;
  /** Opens the URL in the browser; false when no opener is installed. */
  readonly open: (url: string) => boolean;
}

const OPTIONS = {
  'help': { type: 'boolean', short: 'h' },
  'json': { type: 'boolean' },
  'no-passphrase': { type: 'boolean' },
  'passphrase-file': { type: 'string' },
  'window': { type: 'string' },
  'idle-limit': { type: 'string' },
  'session-limit': { type: 'string' },
  'loopback-listen': { type: 'string' },
  'loopback-peer': { type: 'string' },
  'tor-config': { type: 'string' },
  'amnesic': { type: 'boolean' },
  'new-passphrase-file': { type: 'string' },
  'yes': { type: 'boolean' },
  'qr': { type: 'boolean' },
  'script': { type: 'boolean' },
  'tor-control': { type: 'string' },
  'tor-control-password-file': { type: 'string' },
  'tor-control-cookie-file': { type: 'string' },
  'tor-listen': { type: 'string' },
  'open': { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new UsageError('BAD_ARGUMENT', cause instanceof Error ? cause.message : 'bad arguments', { cause });
  }
}

function positional(list: string[], index: number, what: string): string {
  const v = list[index];
  if (v === undefined) throw new UsageError('BAD_ARGUMENT', `missing ${what} (see entrechat --help)`);
  return v;
}

function integer(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError('BAD_ARGUMENT', `${what} must be a whole number`);
  return Number(value);
}

/** Reads a passphrase from a file, or from the terminal without echo. Never from an argument. */
async function readPassphrase(values: Values, prompt: string): Promise<string> {
  const file = values['passphrase-file'];
  if (file !== undefined) return readPassphraseFile(file);
  if (!process.stdin.isTTY) {
    throw new UsageError('BAD_ARGUMENT', 'no terminal to ask for the passphrase: use --passphrase-file FILE');
  }
  return promptHidden(prompt);
}

function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    // readline writes the prompt and every keystroke's echo through _writeToOutput: let the prompt
    // through (each redraw starts with it), never what is typed.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s) => {
      if (s.startsWith(prompt)) process.stderr.write(`\r\x1b[2K${prompt}`);
    };
    let answered = false;
    rl.question(prompt, (answer) => {
      answered = true;
      rl.close();
      process.stderr.write('\n');
      if (answer.length === 0) reject(new UsageError('BAD_ARGUMENT', 'an empty passphrase is not accepted'));
      else resolve(answer);
    });
    // Ctrl-D or Ctrl-C instead of a passphrase: nothing is done.
    rl.on('SIGINT', () => { rl.close(); });
    rl.on('close', () => {
      if (answered) return;
      process.stderr.write('\n');
      reject(new UsageError('BAD_ARGUMENT', 'no passphrase given'));
    });
  });
}

/**
 * How to open the existing store, decided from its header (read through the store's checked path). A
 * passphrase file given for a store that needs none is refused: the store was changed or replaced.
 * On a terminal, a store without a passphrase is said so every time: a user who used to be asked for a
 * passphrase notices that the store was swapped.
 */
async function authForExisting(home: string, values: Values, io: Io): Promise<StoreAuth> {
  const needsPassphrase = await storeNeedsPassphrase(home);
  if (values['passphrase-file'] !== undefined) refuseUnprotectedStore(needsPassphrase);
  if (!needsPassphrase) {
    if (process.stdin.isTTY) io.err('Note: this store has NO passphrase. If you set one, the store was replaced: do not use it.');
    return { noPassphrase: true };
  }
  return { passphrase: await readPassphrase(values, 'Passphrase: ') };
}

/** Warns (never refuses) when a new passphrase looks weak, with the estimate. */
function warnIfWeak(auth: StoreAuth, io: Io): void {
  if (!('passphrase' in auth) || typeof auth.passphrase !== 'string') return;
  const warning = weakPassphraseWarning(auth.passphrase);
  if (warning !== null) io.err(warning);
}

async function cmdInit(home: string, values: Values, io: Io): Promise<number> {
  await refuseExistingIdentity(home);
  let auth: StoreAuth;
  if (values['no-passphrase'] === true) {
    auth = { noPassphrase: true };
  } else if (values['passphrase-file'] !== undefined) {
    auth = { passphrase: await readPassphrase(values, '') };
  } else {
    const first = await readPassphrase(values, 'New passphrase: ');
    const again = await readPassphrase(values, 'Repeat it: ');
    if (first !== again) throw new UsageError('BAD_ARGUMENT', 'the two passphrases differ');
    auth = { passphrase: first };
  }
  warnIfWeak(auth, io);
  const code = await initIdentity(home, auth, values.amnesic === true ? { amnesic: true } : {});
  if (values.json === true) io.out(jsonLine({ code }));
  else {
    io.out('Identity created. Your contact code (give it to your contacts out of band):');
    io.out(code);
    if ('noPassphrase' in auth) io.err('Warning: this identity is stored WITHOUT a passphrase (tests and demos only).');
    if (values.amnesic === true) io.out('Amnesic: every session will start a fresh tor and delete its folder (entrechat settings amnesic off to keep a guard).');
  }
  return EXIT.OK;
}

/** `entrechat settings [amnesic on|off]`: shows the identity's settings, or changes one. */
async function cmdSettings(home: string, values: Values, args: string[], io: Io): Promise<number> {
  const json = values.json === true;
  if (args.length === 0) {
    const settings = await readSettings(home, await authForExisting(home, values, io));
    if (json) io.out(jsonLine({ ...settings, torState: torStateDir(home) }));
    else io.out(settings.amnesic
      ? 'amnesic: on (every session starts a fresh tor and deletes its folder; no entry guard is kept)'
      : `amnesic: off (tor keeps its guards and directory cache in ${torStateDir(home)})`);
    return EXIT.OK;
  }
  const [name, value, ...extra] = args;
  if (name !== 'amnesic' || (value !== 'on' && value !== 'off') || extra.length > 0) {
    throw new UsageError('BAD_ARGUMENT', 'usage: entrechat settings [amnesic on|off]');
  }
  const done = await setAmnesic(home, await authForExisting(home, values, io), value === 'on');
  if (json) io.out(jsonLine(done));
  else {
    io.out(done.amnesic ? 'amnesic: on. Every session will start a fresh tor and delete its folder.' : `amnesic: off. Tor will keep its guards in ${torStateDir(home)}.`);
    if (done.removedTorState) io.out(`Removed ${torStateDir(home)}.`);
  }
  return EXIT.OK;
}

async function cmdWhoami(home: string, values: Values, io: Io): Promise<number> {
  const code = await whoami(home, await authForExisting(home, values, io));
  if (values.json === true) {
    io.out(jsonLine({ code }));
    return EXIT.OK;
  }
  io.out(code);
  // On a terminal (or asked for), the same code as a QR code to scan.
  if (values.qr === true || process.stdout.isTTY) {
    io.out('');
    for (const line of contactQr(code)) io.out(line);
    io.out('Give this code to your contacts out of band (in person, or a channel you trust).');
  }
  return EXIT.OK;
}

async function cmdContacts(home: string, values: Values, args: string[], io: Io): Promise<number> {
  const sub = positional(args, 0, 'contacts subcommand (add, list, rename, remove, verify)');
  const auth = await authForExisting(home, values, io);
  switch (sub) {
    case 'add': {
      const c = await addContact(home, auth, positional(args, 1, 'NAME'), positional(args, 2, 'CODE'));
      io.out(values.json === true ? jsonLine(c) : `Added ${shownEscaped(c.name)} (not verified yet).`);
      return EXIT.OK;
    }
    case 'list': {
      const list = await listContacts(home, auth);
      if (values.json === true) io.out(jsonLine(list));
      else if (list.length === 0) io.out('No contacts yet.');
      else for (const c of list) io.out(`${shownEscaped(c.name)}\t${c.verified ? 'verified' : 'not verified'}\t${c.code}`);
      return EXIT.OK;
    }
    case 'rename': {
      const c = await renameContact(home, auth, positional(args, 1, 'OLD'), positional(args, 2, 'NEW'));
      io.out(values.json === true ? jsonLine(c) : `Renamed to ${shownEscaped(c.name)}.`);
      return EXIT.OK;
    }
    case 'remove': {
      const name = positional(args, 1, 'NAME');
      await removeContact(home, auth, name);
      io.out(values.json === true ? jsonLine({ removed: true }) : 'Removed.');
      return EXIT.OK;
    }
    case 'verify':
      return cmdVerify(home, auth, positional(args, 1, 'NAME'), values, io);
    default:
      throw new UsageError('BAD_ARGUMENT', `unknown contacts subcommand (add, list, rename, remove, verify)`);
  }
}

/**
 * Shows the safety number in groups and marks the contact verified once the user confirms they
 * compared it with the contact (a question on a terminal; `--yes` says so in a script).
 */
async function cmdVerify(home: string, auth: StoreAuth, name: string, values: Values, io: Io): Promise<number> {
  const groups = await contactSafetyNumber(home, auth, name);
  const json = values.json === true;
  if (!json) {
    io.out(`Safety number with ${shownEscaped(name)}: compare all ${String(groups.length)} groups with them, aloud or in person.`);
    for (let i = 0; i < groups.length; i += 4) io.out(`  ${groups.slice(i, i + 4).join('  ')}`);
  }
  let confirmed = values.yes === true;
  if (!confirmed) {
    if (!process.stdin.isTTY) throw new UsageError('BAD_ARGUMENT', 'no terminal to confirm on: compare the number, then run again with --yes');
    confirmed = await askYesNo(`Are they the same on ${shownEscaped(name)}'s screen? [y/N] `);
  }
  if (!confirmed) {
    io.out(json ? jsonLine({ verified: false }) : 'Not marked verified.');
    return EXIT.USAGE;
  }
  const c = await markVerified(home, auth, name, groups);
  io.out(json ? jsonLine({ ...c, safetyNumber: groups }) : `${shownEscaped(c.name)} is verified.`);
  return EXIT.OK;
}

function askYesNo(prompt: string): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    let answered = false;
    rl.question(prompt, (answer) => {
      answered = true;
      rl.close();
      resolve(/^y(es)?$/i.test(answer.trim()));
    });
    // Ctrl-D or Ctrl-C at the prompt: a no.
    rl.on('SIGINT', () => { rl.close(); });
    rl.on('close', () => {
      // Closing after an answer is not a refusal.
      if (answered) return;
      process.stderr.write('\n');
      resolve(false);
    });
  });
}

/** `entrechat passphrase`: sets a new passphrase (or none), re-encrypting the store atomically. */
async function cmdPassphrase(home: string, values: Values, io: Io): Promise<number> {
  const oldAuth = await authForExisting(home, values, io);
  let newAuth: StoreAuth;
  if (values['no-passphrase'] === true) {
    if (values['new-passphrase-file'] !== undefined) throw new UsageError('BAD_ARGUMENT', '--no-passphrase and --new-passphrase-file exclude each other');
    if (values.yes !== true) throw new UsageError('BAD_ARGUMENT', 'removing the passphrase leaves your identity unprotected on disk: add --yes if you mean it');
    newAuth = { noPassphrase: true };
  } else if (values['new-passphrase-file'] !== undefined) {
    newAuth = { passphrase: await readPassphraseFile(values['new-passphrase-file']) };
  } else {
    if (!process.stdin.isTTY) throw new UsageError('BAD_ARGUMENT', 'no terminal to ask for the new passphrase: use --new-passphrase-file FILE');
    const first = await promptHidden('New passphrase: ');
    const again = await promptHidden('Repeat it: ');
    if (first !== again) throw new UsageError('BAD_ARGUMENT', 'the two passphrases differ');
    newAuth = { passphrase: first };
  }
  warnIfWeak(newAuth, io);
  await changePassphrase(home, oldAuth, newAuth);
  io.out('noPassphrase' in newAuth ? 'The store is now WITHOUT a passphrase (tests and demos only).' : 'Passphrase changed.');
  return EXIT.OK;
}

/**
 * `entrechat demo`: a private Tor network, two throw-away identities and a bot; then the chat with
 * the bot (`--script`: a scripted session printed as a transcript). Everything is removed at the end.
 */
async function cmdDemo(values: Values, io: Io): Promise<number> {
  // From the very start: keys typed while the network starts are not echoed onto the normal screen.
  // (Not when the chat will be plain lines: those are read in the terminal's own line mode.)
  const quiet = (values.script === true ? process.stdin.isTTY : canDrawScreen(process.env)) ? quietTerminal(process.stdin) : null;
  const ac = new AbortController();
  // First signal: the demo winds down; a second one leaves at once (exit handlers still remove its
  // folder, and its tors die with this process). While the chat runs, it has the signals instead.
  const install = (): (() => void) => onEndingSignals({ first: () => { ac.abort(); }, again: () => EXIT.INTERRUPTED });
  let release = install();
  const chatTakesSignals = { start: (): void => { release(); }, end: (): void => { release = install(); } };
  const started = Date.now();
  const stamp = (): string => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s`;
  try {
    if (values.script !== true) return await interactiveDemo(ac.signal, io, stamp, chatTakesSignals, quiet);
    const { closed, complete } = await runScriptedDemo({
      signal: ac.signal,
      onLine: (line: DemoLine) => {
        const who = line.kind === 'sent' ? 'you: ' : line.kind === 'received' ? 'bot: ' : '· ';
        io.out(`${stamp()}  ${who}${line.text}`);
      },
    });
    if (ac.signal.aborted) return EXIT.INTERRUPTED;
    if (!complete) return exitCodeForClose(closed) === EXIT.OK ? EXIT.SESSION_FAILED : exitCodeForClose(closed);
    return exitCodeForClose(closed);
  } catch (e) {
    if (ac.signal.aborted) return EXIT.INTERRUPTED;
    throw e;
  } finally {
    release();
    quiet?.release();
  }
}

/** The interactive demo: progress on stderr while the network starts, then the chat with the bot. */
async function interactiveDemo(
  signal: AbortSignal,
  io: Io,
  stamp: () => string,
  chatTakesSignals: { readonly start: () => void; readonly end: () => void },
  quiet: QuietTerminal | null,
): Promise<number> {
  const demo = await startDemo({
    signal,
    answer: interactiveBotAnswer,
    onLine: (line) => { io.err(`${stamp()}  · ${line.text}`); },
  });
  try {
    io.err(`${stamp()}  · the bot is waiting for you; opening the chat`);
    chatTakesSignals.start();
    quiet?.suspend();
    let closed;
    try {
      closed = await runChat({
        peer: demo.contact,
        tor: 'own',
        start: (onEvent) => talkTo({ home: demo.home, auth: demo.auth, contact: demo.contact, route: demo.route, ...demo.limits, onEvent }),
      }, io.out);
    } finally {
      // Back to the demo's handlers while it removes everything: a second signal then exits, and the
      // exit handler still removes the folder.
      chatTakesSignals.end();
      // Echo stays off while the demo removes everything.
      quiet?.resume();
    }
    await demo.stop();
    for (const line of wrapForTerminal('The demo’s private network and both throw-away identities are removed.')) io.out(line);
    return exitCodeForClose(closed);
  } finally {
    await demo.stop();
  }
}

/** `entrechat doctor`: every check with ✓ or ✗, and the fix for each problem. */
async function cmdDoctor(home: string, values: Values, io: Io): Promise<number> {
  const torConfig = values['tor-config'];
  if (values['tor-control'] !== undefined && torConfig !== undefined) throw new UsageError('BAD_ARGUMENT', '--tor-config and --tor-control exclude each other');
  const checks = values['tor-control'] !== undefined
    ? await doctorTorControl(await torControlOf(values, values['tor-control']))
    : await doctor(home, torConfig !== undefined ? { torConfig } : {});
  if (values.json === true) io.out(jsonLine(checks));
  else {
    for (const c of checks) {
      io.out(`${c.ok ? (c.warn === true ? '!' : '✓') : '✗'} ${c.name}: ${c.detail}`);
      if ((!c.ok || c.warn === true) && c.fix !== undefined) io.out(`    fix: ${c.fix}`);
    }
  }
  const problem = checks.find((c) => !c.ok);
  if (problem === undefined) return EXIT.OK;
  return problem.name === 'store' ? EXIT.STORE : EXIT.TOR;
}

interface TalkLimits { window?: number; idle?: number; maxSession?: number }

/** --window, --idle-limit and --session-limit in milliseconds, checked before the store is opened (and a passphrase asked for): LIMIT_OUT_OF_RANGE. */
function talkLimits(values: Values): TalkLimits {
  const windowSeconds = integer(values.window, '--window');
  const idleSeconds = integer(values['idle-limit'], '--idle-limit');
  const sessionSeconds = integer(values['session-limit'], '--session-limit');
  return {
    ...(windowSeconds !== undefined
      ? { window: bounded('--window', windowSeconds * 1000, RENDEZVOUS_WINDOW_DEFAULT, RENDEZVOUS_WINDOW_MIN, RENDEZVOUS_WINDOW_MAX) }
      : {}),
    ...(idleSeconds !== undefined ? { idle: bounded('--idle-limit', idleSeconds * 1000, IDLE_DEFAULT, IDLE_MIN, IDLE_MAX) } : {}),
    ...(sessionSeconds !== undefined
      ? { maxSession: bounded('--session-limit', sessionSeconds * 1000, MAX_SESSION_DEFAULT, MAX_SESSION_MIN, MAX_SESSION_MAX) }
      : {}),
  };
}

/** The chat with `name` (the terminal screen, or plain lines without a terminal). */
async function talkChat(home: string, name: string, route: Route, auth: StoreAuth, limits: TalkLimits, io: Io): Promise<number> {
  const closed = await runChat({
    peer: name,
    tor: route.kind === 'loopback' ? 'none' : route.tor.kind === 'spawn' ? 'own' : 'borrowed',
    start: (onEvent) => talkTo({ home, auth, contact: name, route, ...limits, onEvent, ...(io.sink !== undefined ? { output: io.sink } : {}) }),
  }, io.out);
  return exitCodeForClose(closed);
}

/**
 * The first line of a control-port password file. Like ssh with a private key, a file that others can
 * read (or that is not a regular file) is refused: the password opens that tor's control port.
 * @throws UsageError BAD_ARGUMENT (unreadable), PASSWORD_FILE_EXPOSED
 */
async function readPasswordFile(file: string): Promise<string> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (cause) {
    throw new UsageError('BAD_ARGUMENT', 'cannot read the Tor control password file', { cause });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new UsageError('PASSWORD_FILE_EXPOSED', 'the Tor control password file is not a regular file');
    if ((info.mode & 0o077) !== 0) throw new UsageError('PASSWORD_FILE_EXPOSED', 'the Tor control password file can be read by others: chmod 600 it');
    // Bounded as a passphrase file is: a password takes one line.
    if (info.size > PASSPHRASE_FILE_MAX_SIZE) throw new UsageError('BAD_ARGUMENT', `the Tor control password file is larger than ${PASSPHRASE_FILE_MAX_SIZE} bytes`);
    const buf = Buffer.alloc(PASSPHRASE_FILE_MAX_SIZE);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const text = buf.toString('utf8', 0, bytesRead);
    buf.fill(0);
    return text.split(/\r?\n/)[0] ?? '';
  } finally {
    await handle.close();
  }
}

/** --tor-control ADDR with the password (read from its file) and cookie file given for it. */
async function torControlOf(values: Values, address: string): Promise<{ address: string; password?: string; cookieFile?: string }> {
  const passwordFile = values['tor-control-password-file'];
  const cookieFile = values['tor-control-cookie-file'];
  const password = passwordFile !== undefined ? await readPasswordFile(passwordFile) : undefined;
  return { address, ...(password !== undefined ? { password } : {}), ...(cookieFile !== undefined ? { cookieFile } : {}) };
}

/** Tor by default (a tor spawned for the session, or an existing one with --tor-control); loopback for tests. */
async function routeFrom(values: Values): Promise<Route> {
  const listen = integer(values['loopback-listen'], '--loopback-listen');
  const peer = integer(values['loopback-peer'], '--loopback-peer');
  const torConfig = values['tor-config'];
  const torControl = values['tor-control'];
  const passwordFile = values['tor-control-password-file'];
  const cookieFile = values['tor-control-cookie-file'];
  const amnesic = values.amnesic === true;
  if (listen !== undefined || peer !== undefined) {
    if (listen === undefined || peer === undefined) throw new UsageError('BAD_ARGUMENT', '--loopback-listen and --loopback-peer go together');
    if (amnesic) throw new UsageError('BAD_ARGUMENT', 'the loopback route starts no tor: --amnesic does not apply');
    if (torConfig !== undefined || torControl !== undefined || passwordFile !== undefined || cookieFile !== undefined || values['tor-listen'] !== undefined) {
      throw new UsageError('BAD_ARGUMENT', 'the loopback route does not use Tor options');
    }
    return { kind: 'loopback', listenPort: listen, peerPort: peer };
  }
  if (torConfig !== undefined && torControl !== undefined) {
    throw new UsageError('BAD_ARGUMENT', '--tor-config configures a tor that Entrechat starts; --tor-control uses one already running: choose one');
  }
  if (passwordFile !== undefined && torControl === undefined) throw new UsageError('BAD_ARGUMENT', '--tor-control-password-file goes with --tor-control');
  if (cookieFile !== undefined && torControl === undefined) throw new UsageError('BAD_ARGUMENT', '--tor-control-cookie-file goes with --tor-control');
  if (values['tor-listen'] !== undefined && torControl === undefined) throw new UsageError('BAD_ARGUMENT', '--tor-listen goes with --tor-control');
  if (torControl !== undefined) {
    if (amnesic) throw new UsageError('BAD_ARGUMENT', '--amnesic is for a tor Entrechat starts; a tor of --tor-control keeps its own state');
    const listen = values['tor-listen'] !== undefined ? parseTorListen(values['tor-listen']) : undefined;
    return { kind: 'tor', tor: { kind: 'attach', ...(await torControlOf(values, torControl)), ...(listen !== undefined ? { listen } : {}) } };
  }
  return { kind: 'tor', tor: { kind: 'spawn', ...(torConfig !== undefined ? { configFile: torConfig } : {}) }, ...(amnesic ? { amnesic: true } : {}) };
}

async function cmdTalk(home: string, values: Values, args: string[], io: Io): Promise<number> {
  if (values.json !== true && canDrawScreen(process.env)) {
    // The chat's screen: no echo of typed keys from the very start (a passphrase prompt hides them
    // itself), so that nothing typed before the chat opens stays on the normal screen.
    const quiet = quietTerminal(process.stdin);
    try {
      const name = positional(args, 0, 'NAME');
      const route = await routeFrom(values);
      const limits = talkLimits(values);
      quiet.suspend();
      const auth = await authForExisting(home, values, io);
      return await talkChat(home, name, route, auth, limits, io);
    } finally {
      quiet.release();
    }
  }
  const name = positional(args, 0, 'NAME');
  const route = await routeFrom(values);
  const limits = talkLimits(values);
  const auth = await authForExisting(home, values, io);
  const sink = io.sink !== undefined ? { output: io.sink } : {};
  if (values.json !== true) return talkChat(home, name, route, auth, limits, io);
  const unacked = new Set<number>();
  let inputEnded = false;
  let reading = false;
  let closed = false;
  let session: TalkHandle | null = null;
  const splitter = new LineSplitter();
  /** Lines read and not yet sent: only while MAX_UNACKED_MESSAGES wait for their ACK (stdin is paused then). */
  const waiting: string[] = [];
  const sendLine = (line: string): void => {
    try {
      if (session !== null) unacked.add(session.send(line));
    } catch (e) {
      // A refused line (too long, empty, session over) is reported and the session goes on;
      // anything else has already ended the session.
      io.out(jsonLine({ event: 'error', code: isEntrechatError(e) ? e.code : 'INTERNAL' }));
    }
  };
  /** Sends what waits while there is room; pauses stdin while there is none, so no line is dropped. */
  const flush = (): void => {
    while (waiting.length > 0 && unacked.size < MAX_UNACKED_MESSAGES && !closed) sendLine(waiting.shift() ?? '');
    if (closed) return;
    if (waiting.length > 0) process.stdin.pause();
    else if (reading && !inputEnded) process.stdin.resume();
    if (inputEnded && waiting.length === 0 && unacked.size === 0) session?.quit();
  };
  const onEvent = (event: TalkEvent): void => {
    // Loopback: no tor is started (`published` stays: it says the port listens).
    if (route.kind === 'loopback' && event.type === 'state' && event.state === 'starting_tor') return;
    const json = eventJson(event);
    if (json !== null) io.out(jsonLine(json));
    if (event.type === 'active') {
      signalled.hadSession = true;
      // stdin is read only once the session is open: nothing is ever queued for later. A line ends at
      // \n or \r\n only (see LineSplitter).
      reading = true;
      process.stdin.on('data', (chunk: Buffer) => {
        waiting.push(...splitter.push(chunk));
        flush();
      });
      process.stdin.once('end', () => {
        const last = splitter.end();
        if (last !== null) waiting.push(last);
        inputEnded = true;
        flush();
      });
      // An unreadable stdin ends the session cleanly.
      process.stdin.once('error', () => { session?.quit(); });
      process.stdin.resume();
    } else if (event.type === 'delivered') {
      unacked.delete(event.id);
      flush();
    } else if (event.type === 'closed') {
      closed = true;
      waiting.length = 0;
      process.stdin.destroy();
    }
  };
  // First signal: end the session cleanly (also when it arrives while the store is being opened).
  // A second one: leave at once; nothing was written, and a spawned tor dies with its owner.
  const signalled = { once: false, hadSession: false };
  const release = onEndingSignals({
    first: () => {
      signalled.once = true;
      session?.quit();
    },
    again: () => (signalled.hadSession ? EXIT.SESSION_FAILED : EXIT.NO_SESSION),
  });
  try {
    session = await talkTo({
      home,
      auth,
      contact: name,
      route,
      ...limits,
      onEvent,
      ...sink,
    });
    if (signalled.once) session.quit();
    return exitCodeForClose(await session.done);
  } finally {
    release();
  }
}

/**
 * `entrechat ui`: the page on 127.0.0.1. Prints the one-time URL on stdout (one line, a secret: never
 * anywhere else), opens it with --open, and runs until the page's Exit, Ctrl-C or UI_IDLE_EXIT without
 * a page. No tor and no connection until the person presses Talk (route options as for talk).
 */
async function cmdUi(home: string, values: Values, args: string[], io: Io): Promise<number> {
  if (args.length > 0) throw new UsageError('BAD_ARGUMENT', 'entrechat ui takes no NAME (see entrechat ui --help)');
  if (values.json === true || values['passphrase-file'] !== undefined || values['no-passphrase'] === true) {
    throw new UsageError('BAD_ARGUMENT', 'entrechat ui asks for the passphrase in the page, and prints no JSON (see entrechat ui --help)');
  }
  const launcher = io.ui;
  if (launcher === undefined) throw new UsageError('BAD_ARGUMENT', 'this build of entrechat has no ui');
  const route = await routeFrom(values);
  const limits = talkLimits(values);
  const ui = await launcher.start({ home, route, limits });
  const release = onEndingSignals({
    first: () => { void ui.stop(); },
    again: () => EXIT.INTERRUPTED,
  });
  try {
    io.out(ui.url);
    io.err('entrechat ui: open the address above in your browser (it works once). Ctrl-C or Exit in the page stops it.');
    if (values.open === true && !launcher.open(ui.url)) io.err('entrechat ui: no xdg-open or termux-open-url here: open the address yourself.');
    return await ui.done;
  } finally {
    release();
  }
}

export async function main(argv: string[], io: Io): Promise<number> {
  try {
    if (argv[0] === 'testnet') return await cmdTestnet(argv.slice(1), io);
    const { values, positionals } = parse(argv);
    const [command, ...rest] = positionals;
    if (values.help === true || command === undefined || command === 'help') {
      const topic = command === 'help' ? rest[0] : command;
      io.out(topic !== undefined ? COMMAND_HELP[topic] ?? HELP : HELP);
      return command === undefined && values.help !== true ? EXIT.USAGE : EXIT.OK;
    }
    const home = defaultHome(process.env);
    switch (command) {
      case 'init':
        return await cmdInit(home, values, io);
      case 'whoami':
        return await cmdWhoami(home, values, io);
      case 'contacts':
        return await cmdContacts(home, values, rest, io);
      case 'passphrase':
        return await cmdPassphrase(home, values, io);
      case 'settings':
        return await cmdSettings(home, values, rest, io);
      case 'doctor':
        return await cmdDoctor(home, values, io);
      case 'demo':
        return await cmdDemo(values, io);
      case 'talk':
        return await cmdTalk(home, values, rest, io);
      case 'ui':
        return await cmdUi(home, values, rest, io);
      default:
        throw new UsageError('BAD_ARGUMENT', `unknown command "${command}" (see entrechat --help)`);
    }
  } catch (e) {
    const code = isEntrechatError(e) ? e.code : 'INTERNAL';
    const message = isEntrechatError(e) ? e.message : 'internal error';
    if (argv.includes('--json')) io.out(jsonLine({ event: 'error', code }));
    // A message may quote the command line (an unknown command or option): never raw to the terminal.
    io.err(`entrechat: ${shownEscaped(message)} [${code}]`);
    return exitCodeForError(e);
  }
}
