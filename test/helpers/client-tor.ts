/**
 * A tor of the test's own (not an Entrechat session's): a client of the private test network with a
 * TCP control port (cookie auth) and the SOCKS port given. `close()` stops it by pid and removes its folder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authenticate } from '../../src/tor/commands/authenticate.ts';
import { ControlConnection, parseControlAddress } from '../../src/tor/control/connection.ts';
import { spawnTor, stopTor, waitForFile, type TorProcess } from '../../src/tor/proc.ts';
import { TOR_CONTROL_FILE_TIMEOUT } from '../../src/core/limits.ts';

/** The SOCKS unix socket in a client tor's folder. */
export const socksSocket = (dir: string): string => join(dir, 'socks.sock');

/** `--SocksPort` for a SOCKS unix socket in the tor's folder, with extended errors. */
export const unixSocksPort = (dir: string): string => `unix:${socksSocket(dir)} ExtendedErrors`;

export class ClientTor {
  proc: TorProcess | null = null;
  dir = '';
  control: ControlConnection | null = null;
  address = '';

  /** Starts it in a new folder `prefix…` under the temp dir; resolves once its control connection is authenticated. */
  async start(clientTorrc: string, prefix: string, socksPort: (dir: string) => string): Promise<ControlConnection> {
    this.dir = await mkdtemp(join(tmpdir(), prefix));
    this.proc = spawnTor(['--ignore-missing-torrc', '-f', clientTorrc, '--DataDirectory', join(this.dir, 'data'),
      '--SocksPort', socksPort(this.dir), '--ControlPort', 'auto', '--ControlPortWriteToFile', join(this.dir, 'port'),
      '--CookieAuthentication', '1', '--CookieAuthFile', join(this.dir, 'cookie'), '--Log', 'notice stdout',
      // It exits with the test process even if the test's `after` never runs (a killed run).
      '--__OwningControllerProcess', String(process.pid)]);
    const portText = (await waitForFile(join(this.dir, 'port'), { timeoutMs: TOR_CONTROL_FILE_TIMEOUT, onTimeout: () => new Error('no control port') })).toString();
    await waitForFile(join(this.dir, 'cookie'), { timeoutMs: TOR_CONTROL_FILE_TIMEOUT, onTimeout: () => new Error('no cookie') });
    this.address = /PORT=(\S+)/.exec(portText)?.[1] ?? '';
    this.control = await ControlConnection.connect(parseControlAddress(this.address));
    await authenticate(this.control, { kind: 'cookie', cookieFile: join(this.dir, 'cookie') });
    return this.control;
  }

  async close(): Promise<void> {
    this.control?.close();
    if (this.proc !== null) await stopTor(this.proc);
    if (this.dir !== '') await rm(this.dir, { recursive: true, force: true });
  }
}
