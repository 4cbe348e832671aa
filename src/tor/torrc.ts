/**
 * The `--tor-config` check: which torrc lines a tor spawned for a session may be given.
 *
 * An allowlist, applied with tor's own reading rules so that no spelling slips past it. Tor
 * (0.4.x, `confline.c` `parse_config_line_from_str_verbose` and `config_get_lines_aux`; `confmgt.c`
 * `config_expand_abbrev` and `config_mgr_find_var`) reads a torrc like this:
 *
 * - whitespace is `\t \n \v \f \r` and space; `#` starts a comment, also right after a key;
 * - a key runs up to whitespace, `#` or a backslash-newline; one leading `+` (append) or `/` (clear)
 *   is taken off it; `%include` (exact case) includes other files;
 * - a value ending in a backslash-newline goes on over the next line, and while it does, a `#` hides
 *   the rest of its line *and* joins the line after it to the value;
 * - the key is then rewritten by tor's abbreviation table (`option_abbrevs_` in config.c, e.g.
 *   `DirServer` → `DirAuthority`; a few entries, such as `l` → `Log`, apply to the command line only),
 *   matched case-insensitively against every option name, and failing that taken as the *first
 *   option, in case-insensitive alphabetical order, that starts with it* (`DataDir` → DataDirectory,
 *   `c` and `Cache` → CacheDirectory, `PidF` → PidFile, `Lo` → Log, and `l` → LearnCircuitBuildTimeout
 *   in a file), with only a warning in tor's log.
 *
 * So a line is accepted only when its key, after the `+`/`/` prefix and the abbreviation table, is
 * exactly (case-insensitively) one of {@link TORRC_ALLOWED}: tor matches exact names before prefixes,
 * so such a key can only mean that option. Everything else is refused, including prefixes of allowed
 * names (write option names in full), `%include`, quoted values (tor's quoted strings have their own
 * escapes; no allowed option needs them) and NUL bytes (tor would stop reading there).
 *
 * The bridge options also have their values checked (README § Where Tor is blocked), so that a file
 * that would not do what its author means is refused rather than run: `UseBridges` is 0 or 1; a
 * `Bridge` line is `[TRANSPORT] IPv4:PORT|[IPv6]:PORT [FINGERPRINT] [KEY=VALUE…]` (arguments only with
 * a transport; for obfs4, `cert=` and `iat-mode=` as bridges.torproject.org gives them); a
 * `ClientTransportPlugin` line is `TRANSPORT[,TRANSPORT…] exec /ABSOLUTE/PATH [ARG…]` (tor runs the
 * program itself, without a shell, in the session's folder; no argument may be an absolute path or
 * hold `..`, so that what it writes goes with that folder; the proxy forms `socks4`/`socks5 ADDRESS`, which we cannot check,
 * are refused); bridges without `UseBridges 1` (tor would ignore them and connect directly),
 * `UseBridges 1` without a bridge, and a bridge whose transport no ClientTransportPlugin line provides
 * are refused, and so is the `/` (clear) prefix on these three options (`/UseBridges 1` means
 * UseBridges 0 to tor). Whether the program exists is checked before tor starts (transport-plugin.ts).
 */
import { TorError } from '../core/errors.ts';
import { TOR_CONFIG_MAX_BYTES } from '../core/limits.ts';

/** A transport name as tor takes it (a C identifier: `string_is_C_identifier`). */
const TRANSPORT_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** A bridge argument `KEY=VALUE`: printable ASCII without spaces, bounded. */
const BRIDGE_ARG = /^[A-Za-z0-9_.-]{1,64}=[\x21-\x7e]{0,1024}$/;
/** A transport program path: absolute, without spaces (tor splits the line on them) or shell-looking characters. */
const PROGRAM_PATH = /^\/[A-Za-z0-9_.+/-]{1,255}$/;
/** An argument for a transport program. */
const PROGRAM_ARG = /^[A-Za-z0-9_.,:=@+/-]{1,256}$/;
const MAX_PROGRAM_ARGS = 16;
const MAX_BRIDGE_ARGS = 16;

/**
 * The options a client tor may be given, each with why a user needs it (README § Which tor `talk`
 * uses lists the same). Keys are lower case; values are tor's canonical names.
 */
export const TORRC_ALLOWED: ReadonlyMap<string, { readonly name: string; readonly why: string }> = new Map(
  ([
    // The private test network's client.torrc (src/tor/testnet.ts).
    ['TestingTorNetwork', 'join a private test network (the demo, the tests)'],
    ['DirAuthority', "the test network's directory authorities"],
    ['ClientUseIPv6', 'whether to reach relays over IPv6'],
    ['ClientUseIPv4', 'whether to reach relays over IPv4 (an IPv6-only network)'],
    ['PathsNeededToBuildCircuits', 'how much of the network must be known before building circuits (small networks)'],
    ['GeoIPFile', 'the IPv4 country database tor reads (read only)'],
    ['GeoIPv6File', 'the IPv6 country database tor reads (read only)'],
    // Censored networks: bridges and pluggable transports.
    ['UseBridges', 'enter the Tor network through bridges'],
    ['Bridge', 'one bridge (with its transport, address, fingerprint and arguments)'],
    ['ClientTransportPlugin', 'the pluggable transport program for bridges (e.g. obfs4proxy, snowflake-client, lyrebird)'],
    // Networks that only let traffic out through a proxy or some ports.
    ['HTTPSProxy', 'reach the Tor network through an HTTP CONNECT proxy'],
    ['HTTPSProxyAuthenticator', "that proxy's user:password"],
    ['Socks4Proxy', 'reach the Tor network through a SOCKS4 proxy'],
    ['Socks5Proxy', 'reach the Tor network through a SOCKS5 proxy'],
    ['Socks5ProxyUsername', "that proxy's user name"],
    ['Socks5ProxyPassword', "that proxy's password"],
    ['ReachableAddresses', 'the addresses and ports a firewall lets out'],
    // Relay choice.
    ['ExcludeNodes', 'relays (or countries) never to use'],
    ['StrictNodes', 'make ExcludeNodes a rule rather than a preference'],
  ] as const).map(([name, why]) => [name.toLowerCase(), { name, why }]),
);

/**
 * The entries of tor's abbreviation table (config.c `option_abbrevs_`) that lead to an allowed
 * option. The table is applied before anything else; all its other entries lead to options that are
 * refused anyway, and none of its short forms is itself an allowed name.
 */
const TORRC_ABBREVIATIONS: ReadonlyMap<string, string> = new Map([['dirserver', 'DirAuthority']]);

export interface TorrcLine {
  /** 1-based line of the key in the text. */
  readonly line: number;
  /** The key as tor reads it, `+`/`/` prefix included. */
  readonly key: string;
  /** The value as tor reads it (continuations joined, comments out); `null` for a quoted value. */
  readonly value: string | null;
}

/** tor's TOR_ISSPACE: \t \n \v \f \r and space. */
function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
}

function invalid(why: string): TorError {
  return new TorError('TOR_CONFIG_INVALID', why);
}

/**
 * Splits torrc text into key/value entries exactly where tor would (see the module comment). Pure.
 * @throws TorError TOR_CONFIG_INVALID for a NUL byte
 */
export function parseTorrc(text: string): TorrcLine[] {
  if (text.includes('\0')) throw invalid('--tor-config contains a NUL byte');
  const out: TorrcLine[] = [];
  let i = 0;
  let line = 1;
  const advance = (): void => {
    if (text[i] === '\n') line += 1;
    i += 1;
  };
  for (;;) {
    // Skip whitespace and comment lines up to the next key.
    for (;;) {
      while (isSpace(text[i])) advance();
      if (text[i] !== '#') break;
      while (i < text.length && text[i] !== '\n') advance();
    }
    if (i >= text.length) return out;
    const keyLine = line;
    const keyStart = i;
    while (i < text.length && !isSpace(text[i]) && text[i] !== '#' && !(text[i] === '\\' && text[i + 1] === '\n')) advance();
    const key = text.slice(keyStart, i);
    while (text[i] === ' ' || text[i] === '\t') advance();
    if (text[i] === '"') {
      // tor unescapes a quoted string here; we refuse such lines, and only need to find where tor stops.
      out.push({ line: keyLine, key, value: null });
      while (i < text.length && text[i] !== '\n') advance();
    } else {
      let value = '';
      let continuation = false;
      while (i < text.length && text[i] !== '\n' && (text[i] !== '#' || continuation)) {
        if (text[i] === '\\' && text[i + 1] === '\n') {
          continuation = true;
          advance();
          advance();
        } else if (text[i] === '#') {
          // Within a continued value, a comment hides the rest of its line and the newline after it.
          while (i < text.length && text[i] !== '\n') advance();
          if (text[i] === '\n') advance();
        } else {
          value += text[i] ?? '';
          advance();
        }
      }
      let end = value.length;
      while (end > 0 && isSpace(value[end - 1])) end -= 1;
      out.push({ line: keyLine, key, value: value.slice(0, end) });
    }
    if (text[i] === '#') while (i < text.length && text[i] !== '\n') advance();
  }
}

/**
 * The canonical name of an allowed option that tor would read `key` as, or null when `key` is not
 * exactly one (after the `+`/`/` prefix and tor's abbreviation table).
 */
export function allowedOption(key: string): string | null {
  const bare = key.startsWith('+') || key.startsWith('/') ? key.slice(1) : key;
  const lower = bare.toLowerCase();
  const expanded = (TORRC_ABBREVIATIONS.get(lower) ?? bare).toLowerCase();
  return TORRC_ALLOWED.get(expanded)?.name ?? null;
}

/** A `Bridge` line's value, read (see the module comment). */
export interface BridgeLine {
  /** The transport (e.g. obfs4), or null for a plain bridge. */
  readonly transport: string | null;
  /** `IPv4:PORT` or `[IPv6]:PORT`. */
  readonly address: string;
  /** 40 upper-case hex digits, or null. */
  readonly fingerprint: string | null;
}

function port(text: string): boolean {
  return /^[1-9]\d{0,4}$/.test(text) && Number(text) <= 65_535;
}

function addressPort(text: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3}):(\d+)$/.exec(text);
  if (v4 !== null) return v4.slice(1, 5).every((o) => /^(0|[1-9]\d{0,2})$/.test(o) && Number(o) <= 255) && port(v4[5] ?? '');
  const v6 = /^\[([0-9A-Fa-f:.]{2,45})\]:(\d+)$/.exec(text);
  return v6 !== null && (v6[1] ?? '').includes(':') && port(v6[2] ?? '');
}

/**
 * Reads the value of a `Bridge` line; `where` names it in errors.
 * @throws TorError TOR_CONFIG_INVALID
 */
export function parseBridgeLine(value: string, where = 'Bridge'): BridgeLine {
  const words = value.split(/[ \t]+/).filter((w) => w !== '');
  let i = 0;
  let transport: string | null = null;
  if (words[0] !== undefined && !words[0].includes(':')) {
    transport = words[0];
    if (!TRANSPORT_NAME.test(transport)) throw invalid(`${where}: the transport name is not one tor takes`);
    i = 1;
  }
  const address = words[i] ?? '';
  if (!addressPort(address)) throw invalid(`${where}: expected an IP address and port (1.2.3.4:443 or [2001:db8::1]:443) after the transport`);
  i += 1;
  let fingerprint: string | null = null;
  if (words[i] !== undefined && /^\$?[0-9A-Fa-f]{40}$/.test(words[i] ?? '')) {
    fingerprint = (words[i] ?? '').replace(/^\$/, '').toUpperCase();
    i += 1;
  }
  const args = words.slice(i);
  if (args.length > 0 && transport === null) throw invalid(`${where}: arguments need a transport (e.g. Bridge obfs4 …)`);
  if (args.length > MAX_BRIDGE_ARGS) throw invalid(`${where}: more than ${MAX_BRIDGE_ARGS} arguments`);
  const keys = new Map<string, string>();
  for (const arg of args) {
    if (!BRIDGE_ARG.test(arg)) throw invalid(`${where}: an argument is not KEY=VALUE in printable characters (a fingerprint is 40 hex digits)`);
    const eq = arg.indexOf('=');
    const key = arg.slice(0, eq);
    if (keys.has(key)) throw invalid(`${where}: the argument ${key} is given twice`);
    keys.set(key, arg.slice(eq + 1));
  }
  if (transport === 'obfs4') {
    const cert = keys.get('cert');
    if (cert === undefined || !/^[A-Za-z0-9+/]{70}(==)?$/.test(cert)) throw invalid(`${where}: an obfs4 bridge needs cert= (70 base64 characters, as bridges.torproject.org gives it)`);
    const iat = keys.get('iat-mode');
    if (iat !== undefined && !/^[012]$/.test(iat)) throw invalid(`${where}: iat-mode is 0, 1 or 2`);
    for (const key of keys.keys()) {
      if (key !== 'cert' && key !== 'iat-mode') throw invalid(`${where}: obfs4 takes only cert= and iat-mode=`);
    }
  }
  return { transport, address, fingerprint };
}

/** A `ClientTransportPlugin` line's value, read. */
export interface TransportPluginLine {
  readonly transports: readonly string[];
  /** The absolute path of the program tor runs. */
  readonly program: string;
  readonly args: readonly string[];
}

/**
 * Reads the value of a `ClientTransportPlugin` line; `where` names it in errors.
 * @throws TorError TOR_CONFIG_INVALID
 */
export function parseTransportPluginLine(value: string, where = 'ClientTransportPlugin'): TransportPluginLine {
  const words = value.split(/[ \t]+/).filter((w) => w !== '');
  const [names, mode, program, ...args] = words;
  const transports = (names ?? '').split(',');
  if (names === undefined || !transports.every((t) => TRANSPORT_NAME.test(t))) throw invalid(`${where}: expected transport names (e.g. obfs4) first`);
  if (mode !== 'exec') {
    throw invalid(`${where}: only the form "TRANSPORT exec /PATH/TO/PROGRAM" is accepted (e.g. ClientTransportPlugin obfs4 exec /usr/bin/obfs4proxy); a proxy address cannot be checked`);
  }
  if (program === undefined || !PROGRAM_PATH.test(program) || program.split('/').includes('..')) {
    throw invalid(`${where}: the program must be an absolute path (e.g. /usr/bin/obfs4proxy), without spaces or ..`);
  }
  if (args.length > MAX_PROGRAM_ARGS || !args.every((a) => PROGRAM_ARG.test(a))) {
    throw invalid(`${where}: at most ${MAX_PROGRAM_ARGS} program arguments, of letters, digits and . , : = @ + / - _`);
  }
  // The program runs in the session's folder: a relative file (a log) stays there and goes with it; a
  // path elsewhere would leave something behind.
  if (args.some((a) => a.startsWith('/') || a.split('/').includes('..'))) {
    throw invalid(`${where}: a program argument names a file outside the session's folder (use a relative name, or none)`);
  }
  return { transports, program, args };
}

/** What a checked `--tor-config` says about bridges. */
export interface BridgeConfig {
  /** UseBridges is 1 (the last line wins, as in tor). */
  readonly useBridges: boolean;
  readonly bridges: readonly BridgeLine[];
  readonly plugins: readonly TransportPluginLine[];
}

/**
 * Reads and checks the bridge options of torrc text whose keys were already checked (checkTorConfig
 * calls it); cross-checks them as the module comment says. Pure.
 * @throws TorError TOR_CONFIG_INVALID
 */
export function bridgeConfig(text: string): BridgeConfig {
  let useBridges = false;
  const bridges: BridgeLine[] = [];
  const plugins: TransportPluginLine[] = [];
  for (const entry of parseTorrc(text)) {
    const name = allowedOption(entry.key);
    const value = entry.value ?? '';
    const where = `--tor-config line ${entry.line}: ${name ?? ''}`;
    if ((name === 'UseBridges' || name === 'Bridge' || name === 'ClientTransportPlugin') && entry.key.startsWith('/')) {
      // "/UseBridges 1" resets UseBridges to 0 in tor, whatever its value says.
      throw invalid(`${where}: the / (clear) prefix is not accepted on bridge options`);
    }
    if (name === 'UseBridges') {
      if (value !== '0' && value !== '1') throw invalid(`${where} is 0 or 1`);
      useBridges = value === '1';
    } else if (name === 'Bridge') {
      bridges.push(parseBridgeLine(value, where));
    } else if (name === 'ClientTransportPlugin') {
      plugins.push(parseTransportPluginLine(value, where));
    }
  }
  if (bridges.length > 0 && !useBridges) throw invalid('--tor-config has Bridge lines but not "UseBridges 1": tor would ignore them and connect to the Tor network directly');
  if (useBridges && bridges.length === 0) throw invalid('--tor-config has "UseBridges 1" but no Bridge line');
  const provided = new Set(plugins.flatMap((p) => p.transports));
  for (const b of bridges) {
    if (b.transport !== null && !provided.has(b.transport)) {
      throw invalid(`--tor-config has a ${b.transport} bridge but no "ClientTransportPlugin ${b.transport} exec /PATH/TO/PROGRAM" line (for obfs4: ClientTransportPlugin obfs4 exec /usr/bin/obfs4proxy)`);
    }
  }
  return { useBridges, bridges, plugins };
}

/**
 * Checks the text of a `--tor-config` file: every line must set an allowed option.
 * @throws TorError TOR_CONFIG_INVALID for a file over TOR_CONFIG_MAX_BYTES, a NUL byte, `%include`, a
 *   quoted value, any option that is not allowed (whatever its spelling), or bridge options that do
 *   not check (see the module comment)
 */
export function checkTorConfig(text: string): void {
  if (Buffer.byteLength(text, 'utf8') > TOR_CONFIG_MAX_BYTES) throw invalid(`--tor-config is over ${TOR_CONFIG_MAX_BYTES} bytes`);
  for (const entry of parseTorrc(text)) {
    const shown = entry.key.replace(/[^\x21-\x7e]/g, '?').slice(0, 64);
    if (entry.key.startsWith('%')) throw invalid(`--tor-config line ${entry.line}: %include is not allowed`);
    const name = allowedOption(entry.key);
    if (name === null) {
      throw invalid(`--tor-config line ${entry.line}: ${shown} is not an option Entrechat lets a session's tor be given (option names in full; allowed: ${[...TORRC_ALLOWED.values()].map((o) => o.name).join(', ')})`);
    }
    if (entry.value === null) throw invalid(`--tor-config line ${entry.line}: quoted values are not supported`);
  }
  bridgeConfig(text);
}
