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
import { allowedOption, checkTorConfig, parseTorrc, TORRC_ALLOWED } from '../../src/tor/torrc.ts';

function throwsCode(fn: () => unknown, code: string, note = ''): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, code, note);
    return true;
  });
}

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
  for (const { name } of TORRC_ALLOWED.values()) {
    for (const key of [name, name.toUpperCase(), name.toLowerCase(), `+${name}`, `/${name}`]) {
      assert.doesNotThrow(() => { checkTorConfig(`${key} x\n`); }, key);
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
      'Bridge obfs4 192.0.2.1:443 0000000000000000000000000000000000000000 cert=abc iat-mode=0',
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
  const line = 'UseBridges 1\n';
  throwsCode(() => { checkTorConfig(line.repeat(Math.ceil((TOR_CONFIG_MAX_BYTES + 1) / line.length))); }, 'TOR_CONFIG_INVALID');
  assert.doesNotThrow(() => { checkTorConfig(line.repeat(Math.floor(TOR_CONFIG_MAX_BYTES / line.length))); });
});

test('allowedOption: no refused name is allowed by a prefix or case trick', () => {
  for (const key of ['DataDir', 'Cache', 'PidF', 'c', 'l', 'Log', 'Bridg', 'UseBridge', 'Socks5', 'DirAuth', '++Bridge', '+/Bridge', ' Bridge']) {
    assert.equal(allowedOption(key), null, key);
  }
});
