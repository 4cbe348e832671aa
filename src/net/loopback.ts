/**
 * Plain TCP on the loopback interface: no Tor, no anonymity, for tests and development only. The
 * listener and the dialled port must both be on 127.0.0.0/8; nothing else is ever contacted.
 */
import { createConnection, createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProtocolError, UsageError } from '../core/errors.ts';
import type { Transport } from './transport.ts';

export interface LoopbackOptions {
  /** Port to listen on at `host` (0: let the system choose, see `port()`). */
  readonly listenPort: number;
  /** Port of the peer's listener: every day is dialled there. */
  readonly peerPort: number;
  readonly host?: string;
}

const LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** @throws UsageError BAD_ADDRESS for a host outside 127.0.0.0/8 or a port out of range */
export function createLoopbackTransport(options: LoopbackOptions): Transport & { port(): number } {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.test(host)) throw new UsageError('BAD_ADDRESS', 'the loopback transport only uses 127.0.0.0/8');
  for (const port of [options.listenPort, options.peerPort]) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('BAD_ADDRESS', 'port out of range');
  }
  let server: Server | null = null;

  return {
    async start() {
      // Nothing to bring up.
    },
    publish(onConnection, signal) {
      return new Promise((resolve, reject) => {
        if (signal.aborted) {
          reject(new ProtocolError('CONNECTION_LOST', 'the attempt ended'));
          return;
        }
        // One port serves every rendezvous day: the session machine tells the day by the prologue
        // that authenticates the dialer's first message (docs/protocol.md § Loopback mode).
        const s = createServer({ allowHalfOpen: false }, (socket) => {
          onConnection(socket, null);
        });
        // Before listening, an error is a failure to publish; afterwards (rare: accept failures) the
        // server has nothing to report to, and the attempt goes on with its window.
        s.on('error', (cause) => {
          if (server === null) reject(new UsageError('BAD_ADDRESS', 'cannot listen on the loopback port', { cause }));
        });
        s.listen(options.listenPort, host, () => {
          if (signal.aborted) {
            s.close();
            reject(new ProtocolError('CONNECTION_LOST', 'the attempt ended'));
            return;
          }
          server = s;
          resolve();
        });
      });
    },
    dial(_day, signal) {
      return new Promise<Duplex>((resolve, reject) => {
        const socket = createConnection({ host, port: options.peerPort });
        const onError = (cause: Error): void => {
          signal.removeEventListener('abort', onAbort);
          reject(new ProtocolError('CONNECTION_LOST', 'could not connect to the peer', { cause }));
        };
        const onAbort = (): void => {
          socket.destroy();
          reject(new ProtocolError('CONNECTION_LOST', 'the attempt ended'));
        };
        if (signal.aborted) {
          onAbort();
          return;
        }
        signal.addEventListener('abort', onAbort, { once: true });
        socket.once('error', onError);
        socket.once('connect', () => {
          signal.removeEventListener('abort', onAbort);
          socket.off('error', onError);
          resolve(socket);
        });
      });
    },
    unpublish() {
      // Only the listener: accepted sockets belong to the driver, which ends them (after a CLOSE).
      const s = server;
      server = null;
      if (s === null) return Promise.resolve();
      return new Promise((resolve) => s.close(() => { resolve(); }));
    },
    async stop() {
      // Nothing was started.
    },
    wipe() {
      // Holds no secret.
    },
    port() {
      const address = server?.address();
      return typeof address === 'object' && address !== null ? address.port : options.listenPort;
    },
  };
}
