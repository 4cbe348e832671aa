/**
 * The `--tor-config` allowlist: lines are split where tor splits them, keys are read as tor reads
 * them (case, `+`/`/`, its abbreviation table, prefixes), and every spelling of an option we do not
 * allow is refused with TOR_CONFIG_INVALID. That each bypass below is a real one for tor itself
 * (tor 0.4.9 reads `DataDir` as DataDirectory, and so on) is checked against the tor binary in
 * test/integration/tor-proc.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TOR_CONFIG_MAX_BYTES } from '../../src/core/limits.ts';
import { allowedOption, bridgeConfig, checkTorConfig, parseBridgeLine, parseTorrc, TORRC_ALLOWED } from '../../src/tor/torrc.ts';

function throwsCode(fn: () => unknown, code: string, note = ''): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, code, note);
    return true;
  });
}

/** An obfs4 certificate as bridges.torproject.org gives it (70 base64 characters). */
const CERT = 'zgZVkVJLjMDCJgDNCdKqGh1ghJoQa+Swqwyb6k/WxnvYId70RwBENBEnMnjQosZuKhgeag';

const CLIENT_TORRC = `# Joins the private Tor test network in /tmp/x (made by \`entrechat testnet up\`).
TestingTorNetwork 1
DirAuthority ecauth0 orport=15979 no-v2 v3ident=B84E0988CB4BA4A57371F1992FFB81D7625BC583 127.0.0.1:15980 D6AE2A41F4C5D8B698695D0D415A4039721574A4
ClientUseIPv6 0
PathsNeededToBuildCircuits 0.67
GeoIPFile /tmp/x/geoip
GeoIPv6File /tmp/x/geoip6
`;

/** Each a line (or lines) tor would take as an option Entrechat refuses: every one must be refused. */
export const TORRC_BYPASSES: readonly (readonly [string, string])[] = [
  ['exact owned option', 'DataDirectory /tmp/elsewhere'],
  ['lower case', 'datadirectory /tmp/elsewhere'],
  ['prefix: DataDir', 'DataDir /tmp/elsewhere'],
  ['prefix: CacheDir', 'CacheDir /tmp/elsewhere'],
  ['prefix: Cache', 'Cache /tmp/elsewhere'],
  ['prefix: PidF', 'PidF /tmp/elsewhere/tor.pid'],
  ['prefix: one letter (c → CacheDirectory)', 'c /tmp/elsewhere'],
  ['append prefix', '+DataDirectory /tmp/elsewhere'],
  ['clear prefix', '/SocksPort'],
  ['append prefix and abbreviation', '+PidF /tmp/elsewhere/tor.pid'],
  ['log file', 'Log notice file /tmp/elsewhere/tor.log'],
  ['one letter l (tor\'s table makes it Log on the command line, a prefix of LearnCircuitBuildTimeout in a file)', 'l notice file /tmp/elsewhere/tor.log'],
  ['log, prefix', 'Lo notice file /tmp/elsewhere/tor.log'],
  ['cache directory', 'CacheDirectory /tmp/elsewhere'],
  ['key directory', 'KeyDirectory /tmp/elsewhere'],
  ['onion service directory', 'HiddenServiceDir /tmp/elsewhere'],
  ['control socket', 'ControlSocket /tmp/elsewhere/c.sock'],
  ['a second SOCKS port on TCP', 'SocksPort 9999'],
  ['a control password', 'HashedControlPassword 16:00'],
  ['prefix of an allowed name (tor reads Bridg as Bridge; only full names are allowed)', 'Bridg obfs4 127.0.0.1:1'],
  ['%include', '%include /etc/tor/torrc.d'],
  ['key glued to a comment', 'PidFile#x\nUseBridges 1'],
  ['key after a vertical tab (tor whitespace)', '\vPidFile /tmp/elsewhere/tor.pid'],
  ['key after a form feed', 'UseBridges 0\n\f\fCacheDirectory /tmp/elsewhere'],
  ['quoted value', 'Bridge "obfs4 127.0.0.1:1"'],
  ['NUL byte', 'UseBridges 1\0\nDataDirectory /tmp/elsewhere'],
  ['after a continued value', 'Bridge a \\\nb\nCacheDirectory /tmp/elsewhere'],
  ['unknown option', 'NoSuchOption 1'],
  ['a relay', 'ORPort 9001'],
];

test('parseTorrc: keys and values where tor finds them (comments, continuations, CRLF)', () => {
  const lines = parseTorrc('# c\n  UseBridges 1 # trailing\r\nBridge a \\\n # hidden\n b\n+Bridge c\n/Bridge\nStrictNodes#x\n');
  assert.deepEqual(lines.map((l) => [l.line, l.key, l.value]), [
    [2, 'UseBridges', '1'],
    // A continued value: a comment inside it hides its line and joins the next one.
    [3, 'Bridge', 'a   b'],
    [6, '+Bridge', 'c'],
    [7, '/Bridge', ''],
    [8, 'StrictNodes', ''],
  ]);
});

test('parseTorrc: a key right after a comment line, a key ending at a backslash-newline', () => {
  assert.deepEqual(parseTorrc('#x\nUseBridges\\\n1\n').map((l) => [l.key, l.value]), [['UseBridges', '1']]);
});

test('parseTorrc: a quoted value is marked (tor unescapes it; we refuse it)', () => {
  assert.deepEqual(parseTorrc('Bridge "a b"\nUseBridges 1').map((l) => [l.key, l.value]), [['Bridge', null], ['UseBridges', '1']]);
});

test('checkTorConfig accepts the test network\'s client.torrc', () => {
  assert.doesNotThrow(() => { checkTorConfig(CLIENT_TORRC); });
});

test('checkTorConfig accepts every allowed option, in any case, with + or /, and DirServer (tor\'s name for DirAuthority)', () => {
  // The bridge options have their values checked (and refuse the / prefix): a valid line for each.
  const sample: Readonly<Record<string, (key: string) => string>> = {
    UseBridges: (key) => `${key} 0\n`,
    Bridge: (key) => `UseBridges 1\n${key} 192.0.2.1:443\n`,
    ClientTransportPlugin: (key) => `${key} obfs4 exec /usr/bin/obfs4proxy\n`,
  };
  for (const { name } of TORRC_ALLOWED.values()) {
    const prefixes = name in sample ? ['', '+'] : ['', '+', '/'];
    for (const key of [name, name.toUpperCase(), name.toLowerCase(), ...prefixes.filter((p) => p !== '').map((p) => `${p}${name}`)]) {
      assert.doesNotThrow(() => { checkTorConfig(sample[name]?.(key) ?? `${key} x\n`); }, key);
      assert.equal(allowedOption(key), name);
    }
  }
  assert.equal(allowedOption('DirServer'), 'DirAuthority');
  assert.doesNotThrow(() => { checkTorConfig('dirserver a 127.0.0.1:1 0000000000000000000000000000000000000000\n'); });
});

test('checkTorConfig accepts bridges with a pluggable transport and a proxy', () => {
  assert.doesNotThrow(() => {
    checkTorConfig([
      'UseBridges 1',
      'ClientTransportPlugin obfs4 exec /usr/bin/obfs4proxy',
      `Bridge obfs4 192.0.2.1:443 0000000000000000000000000000000000000000 cert=${CERT} iat-mode=0`,
      'Bridge obfs4 [2001:db8::1]:80 $ABCDEF0123456789ABCDEF0123456789ABCDEF01 cert=' + CERT + '==',
      'Bridge 192.0.2.2:9001',
      'ClientTransportPlugin snowflake exec /usr/bin/snowflake-client -url https://snowflake-broker.example/ -log snowflake.log',
      'Bridge snowflake 192.0.2.3:80 2B280B23E1107BB62ABFC40DDCC8824814F80A72 fingerprint=2B280B23E1107BB62ABFC40DDCC8824814F80A72 url=https://snowflake-broker.example/ ice=stun:stun.example:3478,stun:stun2.example:3478 utls-imitate=hellorandomizedalpn',
      'Socks5Proxy 127.0.0.1:1080',
      'Socks5ProxyUsername u',
      'Socks5ProxyPassword p w',
      'ReachableAddresses *:443',
    ].join('\n'));
  });
});

for (const [what, text] of TORRC_BYPASSES) {
  test(`checkTorConfig refuses ${what} (TOR_CONFIG_INVALID)`, () => {
    throwsCode(() => { checkTorConfig(text); }, 'TOR_CONFIG_INVALID');
    // After good lines too.
    throwsCode(() => { checkTorConfig(`${CLIENT_TORRC}${text}\n`); }, 'TOR_CONFIG_INVALID');
  });
}

test('checkTorConfig refuses a file over TOR_CONFIG_MAX_BYTES (TOR_CONFIG_INVALID)', () => {
  const line = 'UseBridges 0\n';
  throwsCode(() => { checkTorConfig(line.repeat(Math.ceil((TOR_CONFIG_MAX_BYTES + 1) / line.length))); }, 'TOR_CONFIG_INVALID');
  assert.doesNotThrow(() => { checkTorConfig(line.repeat(Math.floor(TOR_CONFIG_MAX_BYTES / line.length))); });
});

test('allowedOption: no refused name is allowed by a prefix or case trick', () => {
  for (const key of ['DataDir', 'Cache', 'PidF', 'c', 'l', 'Log', 'Bridg', 'UseBridge', 'Socks5', 'DirAuth', '++Bridge', '+/Bridge', ' Bridge']) {
    assert.equal(allowedOption(key), null, key);
  }
});

// --- the values of the bridge options: one refusal per check, by code ---

const OBFS4 = `Bridge obfs4 192.0.2.1:443 0123456789ABCDEF0123456789ABCDEF01234567 cert=${CERT} iat-mode=0`;
const PLUGIN = 'ClientTransportPlugin obfs4 exec /usr/bin/obfs4proxy';

test('the README\'s bridge file passes, and bridgeConfig reads it', () => {
  const cfg = bridgeConfig(`UseBridges 1\n${OBFS4}\n${PLUGIN}\n`);
  assert.equal(cfg.useBridges, true);
  assert.deepEqual(cfg.bridges, [{ transport: 'obfs4', address: '192.0.2.1:443', fingerprint: '0123456789ABCDEF0123456789ABCDEF01234567' }]);
  assert.deepEqual(cfg.plugins, [{ transports: ['obfs4'], program: '/usr/bin/obfs4proxy', args: [] }]);
  assert.deepEqual(parseBridgeLine('192.0.2.2:9001'), { transport: null, address: '192.0.2.2:9001', fingerprint: null });
  // UseBridges: the last line wins, as in tor.
  throwsCode(() => { checkTorConfig(`UseBridges 1\n${OBFS4}\n${PLUGIN}\nUseBridges 0\n`); }, 'TOR_CONFIG_INVALID');
});

const BRIDGE_REFUSALS: readonly (readonly [string, string])[] = [
  ['UseBridges other than 0 or 1', `UseBridges yes\n${OBFS4}\n${PLUGIN}`],
  ['UseBridges with the clear prefix (tor reads it as 0)', `/UseBridges 1\n${OBFS4}\n${PLUGIN}`],
  ['Bridge with the clear prefix', `UseBridges 1\n/Bridge ${OBFS4.slice(7)}\n${PLUGIN}`],
  ['Bridge lines without UseBridges 1 (tor would connect directly)', `${OBFS4}\n${PLUGIN}`],
  ['Bridge lines with UseBridges 0', `UseBridges 0\n${OBFS4}\n${PLUGIN}`],
  ['UseBridges 1 without a bridge', `UseBridges 1\n${PLUGIN}`],
  ['a bridge whose transport no plugin provides', `UseBridges 1\n${OBFS4}`],
  ['a bridge whose transport another plugin provides', `UseBridges 1\n${OBFS4}\nClientTransportPlugin meek_lite exec /usr/bin/obfs4proxy`],
  ['a bad transport name', `UseBridges 1\nBridge obfs-4 192.0.2.1:443\n${PLUGIN}`],
  ['a host name instead of an address', `UseBridges 1\nBridge obfs4 bridge.example:443 cert=${CERT}\n${PLUGIN}`],
  ['no port', `UseBridges 1\nBridge 192.0.2.1\n${PLUGIN}`],
  ['port 0', `UseBridges 1\nBridge 192.0.2.1:0\n${PLUGIN}`],
  ['port over 65535', `UseBridges 1\nBridge 192.0.2.1:65536\n${PLUGIN}`],
  ['an octet over 255', `UseBridges 1\nBridge 192.0.2.256:443\n${PLUGIN}`],
  ['arguments without a transport', `UseBridges 1\nBridge 192.0.2.1:443 cert=${CERT}\n${PLUGIN}`],
  ['an argument that is not KEY=VALUE', `UseBridges 1\n${OBFS4} extra\n${PLUGIN}`],
  ['a short fingerprint (read as an argument)', `UseBridges 1\nBridge obfs4 192.0.2.1:443 0123456789ABCDEF cert=${CERT} iat-mode=0\n${PLUGIN}`],
  ['an argument given twice', `UseBridges 1\n${OBFS4} iat-mode=1\n${PLUGIN}`],
  ['obfs4 without cert', `UseBridges 1\nBridge obfs4 192.0.2.1:443 iat-mode=0\n${PLUGIN}`],
  ['obfs4 with a cert of the wrong length', `UseBridges 1\nBridge obfs4 192.0.2.1:443 cert=abc iat-mode=0\n${PLUGIN}`],
  ['obfs4 with iat-mode 3', `UseBridges 1\nBridge obfs4 192.0.2.1:443 cert=${CERT} iat-mode=3\n${PLUGIN}`],
  ['obfs4 with an unknown argument', `UseBridges 1\n${OBFS4} x=1\n${PLUGIN}`],
  ['ClientTransportPlugin through a SOCKS proxy (cannot be checked)', `UseBridges 1\n${OBFS4}\nClientTransportPlugin obfs4 socks5 127.0.0.1:9999`],
  ['ClientTransportPlugin without exec', `UseBridges 1\n${OBFS4}\nClientTransportPlugin obfs4 /usr/bin/obfs4proxy`],
  ['ClientTransportPlugin with a relative path', `UseBridges 1\n${OBFS4}\nClientTransportPlugin obfs4 exec obfs4proxy`],
  ['ClientTransportPlugin with ..', `UseBridges 1\n${OBFS4}\nClientTransportPlugin obfs4 exec /usr/bin/../../tmp/x`],
  ['ClientTransportPlugin with shell characters', `UseBridges 1\n${OBFS4}\nClientTransportPlugin obfs4 exec /usr/bin/obfs4proxy;rm`],
  ['ClientTransportPlugin with a shell-looking argument', `UseBridges 1\n${OBFS4}\nClientTransportPlugin obfs4 exec /usr/bin/obfs4proxy $(id)`],
  ['ClientTransportPlugin with an argument naming a file elsewhere', `UseBridges 1\n${OBFS4}\nClientTransportPlugin obfs4 exec /usr/bin/obfs4proxy -log /home/me/pt.log`],
  ['ClientTransportPlugin with an argument going up with ..', `UseBridges 1\n${OBFS4}\nClientTransportPlugin obfs4 exec /usr/bin/obfs4proxy -log ../pt.log`],
  ['ClientTransportPlugin with no program', `UseBridges 1\n${OBFS4}\nClientTransportPlugin obfs4 exec`],
  ['ClientTransportPlugin with a bad transport name', `UseBridges 1\n${OBFS4}\nClientTransportPlugin obfs4,-x exec /usr/bin/obfs4proxy`],
  ['ClientTransportPlugin with the clear prefix', `UseBridges 1\n${OBFS4}\n/ClientTransportPlugin obfs4 exec /usr/bin/obfs4proxy`],
];

for (const [what, text] of BRIDGE_REFUSALS) {
  test(`checkTorConfig refuses ${what} (TOR_CONFIG_INVALID)`, () => {
    throwsCode(() => { checkTorConfig(`${text}\n`); }, 'TOR_CONFIG_INVALID');
    throwsCode(() => { checkTorConfig(`${CLIENT_TORRC}${text}\n`); }, 'TOR_CONFIG_INVALID');
  });
}
