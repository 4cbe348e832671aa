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
 */
import { TorError } from '../core/errors.ts';
import { TOR_CONFIG_MAX_BYTES } from '../core/limits.ts';

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

/**
 * Checks the text of a `--tor-config` file: every line must set an allowed option.
 * @throws TorError TOR_CONFIG_INVALID for a file over TOR_CONFIG_MAX_BYTES, a NUL byte, `%include`, a
 *   quoted value, or any option that is not allowed (whatever its spelling)
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
}
