/**
 * The private Tor test network, for user interfaces (`entrechat testnet up|down`), tests and the demo:
 * 3 directory authorities + 2 relays on 127.0.0.1 (see src/tor/testnet.ts and TORNET.md).
 */
export {
  AUTHORITIES as TESTNET_AUTHORITIES,
  PORTS_PER_NETWORK as TESTNET_PORTS,
  READY_TIMEOUT_MS as TESTNET_READY_TIMEOUT_MS,
  RELAYS as TESTNET_RELAYS,
  testnetDown,
  testnetUp,
  type Testnet,
  type TestnetOptions,
} from '../tor/testnet.ts';
