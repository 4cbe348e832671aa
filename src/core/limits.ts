/**
 * Every limit Entrechat enforces, in one place, each with one line of why.
 * Durations are in milliseconds; sizes in bytes.
 */

// --- wire ---
/** Every record on the wire, handshake included: the data payload of one Tor relay cell (tor-spec §6.1). */
export const RECORD_SIZE = 498;
/** Poly1305 tag appended by ChaCha20-Poly1305 (RFC 8439). */
export const AEAD_TAG_SIZE = 16;
/** Plaintext carried by one transport record: the record minus the tag. */
export const RECORD_PLAINTEXT_SIZE = RECORD_SIZE - AEAD_TAG_SIZE;
/** type (1) + flags (1) + body length (2). */
export const RECORD_HEADER_SIZE = 4;
/** Largest body one record carries. */
export const RECORD_MAX_BODY = RECORD_PLAINTEXT_SIZE - RECORD_HEADER_SIZE;
/** X25519 public key size: the ephemeral key that opens each handshake message. */
export const DH_SIZE = 32;
/** Plaintext payload of a handshake message, chosen so the message is exactly one record. */
export const HANDSHAKE_PAYLOAD_SIZE = RECORD_SIZE - DH_SIZE - AEAD_TAG_SIZE;

/** The virtual port of every rendezvous onion (`ADD_ONION … Port=1,<our listener>`): both sides must agree; any fixed number would do. */
export const ONION_VIRTUAL_PORT = 1;

// --- messages ---
/** Largest message text, in UTF-8 bytes: bounds reassembly memory per session (ARCHITECTURE.md). */
export const MAX_MESSAGE_BYTES = 16 * 1024;
/** Text bytes per TEXT record: body minus the 4-byte message id. */
export const TEXT_CHUNK_BYTES = RECORD_MAX_BODY - 4;
/** Records one message may span: every part but the last is full (checked when decoding). */
export const MAX_RECORDS_PER_MESSAGE = Math.ceil(MAX_MESSAGE_BYTES / TEXT_CHUNK_BYTES);
/** Messages sent but not yet acknowledged: bounds memory if the peer stops acknowledging. */
export const MAX_UNACKED_MESSAGES = 64;

// --- session lifecycle (ARCHITECTURE.md "Session lifecycle") ---
const SECOND = 1000;
const MINUTE = 60 * SECOND;
/** Tor must reach 100 % bootstrap within this, or the attempt fails. */
export const TOR_BOOTSTRAP_TIMEOUT = 120 * SECOND;
/** Default window for the peer to show up: long enough for both to press "talk". */
export const RENDEZVOUS_WINDOW_DEFAULT = 180 * SECOND;
/** Bounds on the configurable window: under 10 s nobody can meet; over 30 min is a standing presence. */
export const RENDEZVOUS_WINDOW_MIN = 10 * SECOND;
export const RENDEZVOUS_WINDOW_MAX = 30 * MINUTE;
/** One connection's handshake and commit must complete within this. */
export const HANDSHAKE_TIMEOUT = 30 * SECOND;
/** Silence after which we send PING: well inside Tor's circuit idle timeouts. */
export const KEEPALIVE_INTERVAL = 15 * SECOND;
/** Silence after which the peer is gone: three missed keepalives. */
export const PEER_GONE_AFTER = 45 * SECOND;
/** Default idle limit: a session nobody types in ends by itself. */
export const IDLE_DEFAULT = 15 * MINUTE;
export const IDLE_MIN = 1 * MINUTE;
export const IDLE_MAX = 2 * 60 * MINUTE;
/** Default maximum session length: sessions are bounded even while in use. */
export const MAX_SESSION_DEFAULT = 2 * 60 * MINUTE;
export const MAX_SESSION_MIN = 1 * MINUTE;
export const MAX_SESSION_MAX = 24 * 60 * MINUTE;
/** After sending CLOSE, how long we wait for the peer to end the connection (proof it read the CLOSE) before tearing it down. */
export const CLOSE_GRACE = 2 * SECOND;
/**
 * Within this much of UTC midnight the adjacent day is tried too, so that two peers who press "talk" at
 * most 30 minutes apart (clock skew included) always share a day (ARCHITECTURE.md "Rendezvous").
 */
export const DAY_OVERLAP_MS = 30 * MINUTE;
/** First and largest pause between dial attempts (doubling in between). */
export const DIAL_RETRY_FIRST = 1 * SECOND;
export const DIAL_RETRY_MAX = 10 * SECOND;
/** Bound on one dial through Tor (SOCKS exchange included): an onion connection that takes longer is retried. */
export const TOR_DIAL_TIMEOUT = 60 * SECOND;
/** Tor rate-limits `SIGNAL NEWNYM` to one per 10 s (control-spec); we never ask more often. */
export const NEWNYM_MIN_INTERVAL = 10 * SECOND;
/** The first dial waits at most this for our own first descriptor upload (a dial made earlier only fails, and is cached). */
export const FIRST_DIAL_WAIT = 5 * SECOND;
/** A tor that does not answer a control command within this, when a connection of ours drops, is taken for dead. */
export const TOR_PROBE_TIMEOUT = 2 * SECOND;
/** Bound on taking our client-authorization keys back from a borrowed tor at the end. */
export const TOR_CLEANUP_TIMEOUT = 5 * SECOND;
/** A spawned tor must write its control-port file and cookie within this. */
export const TOR_CONTROL_FILE_TIMEOUT = 30 * SECOND;
/** Between SIGTERM and SIGKILL when stopping a tor: tor 0.4.9 sometimes hangs on exit (TORNET.md). */
export const TOR_STOP_GRACE = 5 * SECOND;
/** Bound on one run of tor by `entrechat doctor` (`--version`, `--verify-config`). */
export const DOCTOR_CHECK_TIMEOUT = 20 * SECOND;
/**
 * With `--tor-listen ADDR:PORT` (a borrowed tor on another machine: Whonix), our rendezvous listeners
 * take the first free ports of PORT … PORT+3: the ports a firewall and an onion-grater profile name.
 */
export const TOR_LISTEN_PORTS = 4;
/** Rendezvous days one attempt serves at most (two near midnight, more only if the wall clock keeps jumping): bounds its onions and dials. */
export const MAX_RENDEZVOUS_DAYS = 4;
/** How often an attempt looks at the wall clock for a day it does not serve yet (a jump across midnight is noticed within this). */
export const DAY_CHECK_INTERVAL = 5 * SECOND;
/** Accepted connections still in their handshake; when full, the oldest silent one is dropped. */
export const MAX_ACCEPTED_PENDING = 8;

// --- flow control (docs/protocol.md "Flow control") ---
/** Our unsent bytes for one connection above which we stop reading it (8 records): what a peer makes us answer must leave before we read more. */
export const SEND_BACKLOG_MAX = 8 * RECORD_SIZE;
/**
 * What we still read from a connection we closed, while our last records leave (1 MiB), before we cut it:
 * more than an honest peer can have in flight (64 unacknowledged messages of 16 KiB); a flooder that
 * goes on is cut at once rather than read, and thrown away, at full speed during CLOSE_GRACE.
 */
export const CLOSED_READ_MAX = 1024 * 1024;
/** Something we wrote waiting this long with nothing of ours leaving means a peer that does not read (PEER_NOT_READING): under PEER_GONE_AFTER, and long enough for Tor to carry a full window of our messages. */
export const DRAIN_TIMEOUT = 30 * SECOND;

// --- tor ---
/** Longest control-port line we accept from tor (64 KiB): far above any line tor writes (long values come as data blocks); bounds buffering. */
export const MAX_CONTROL_LINE = 64 * 1024;
/** Largest control-port reply or event, data blocks included (1 MiB): bounds memory per reply; we never ask for bulk data. */
export const MAX_CONTROL_REPLY = 1024 * 1024;
/**
 * Connection attempts to every bridge of a `--tor-config` (counted from tor's ORCONN events), none of
 * them successful, before the start fails with TOR_BRIDGE_UNREACHABLE. Tor retries a bridge it cannot
 * reach after 1, 1, 1, 2, 3… s, and never gives up by itself: 4 attempts are about 3 s of failures.
 */
export const BRIDGE_ATTEMPTS = 4;
/** Largest `--tor-config` file (64 KiB): a client's torrc lines (bridges, proxies) take a few KiB; bounds reading. */
export const TOR_CONFIG_MAX_BYTES = 64 * 1024;
/**
 * Longest unix socket path we hand to tor or bind (sun_path is 108 bytes on Linux, 104 on BSDs, with
 * its terminating NUL): the session's sockets go elsewhere, or nowhere, when a path would be longer.
 */
export const UNIX_SOCKET_PATH_MAX = 100;
/**
 * Largest tor `state` file we read (64 KiB) to find the entry guard kept from the last session: a
 * client's is under 2 KiB (a few Guard lines, build-time bins); bounds the read of a file on disk.
 */
export const TOR_STATE_FILE_MAX = 64 * 1024;

// --- store, passphrases and names (the local side) ---
/**
 * Below this estimated strength (core/strength.ts) init and `passphrase` warn: an attacker who copies the
 * store runs scrypt once per guess, and 2^50 guesses stay out of reach of a well-funded one for years.
 */
export const PASSPHRASE_WEAK_BITS = 50;
/** Largest passphrase file read (4 KiB): far above any passphrase; a device or huge file is not read whole. */
export const PASSPHRASE_FILE_MAX_SIZE = 4 * 1024;
/** Longest contact name, in UTF-8 bytes, checked before anything else looks at it: one grapheme can be any size. */
export const CONTACT_NAME_MAX_BYTES = 256;

// --- entrechat ui (the local page; docs/web.md) ---
/** No page connected for this long: the `ui` process exits by itself, so that nothing lingers on a phone. */
export const UI_IDLE_EXIT = 10 * MINUTE;
/** The page gone during a session (tab closed, phone locked): after this the session ends as /quit; a reload within it reconnects. */
export const UI_PAGE_GRACE = 30 * SECOND;
/** The page is pinged this often; a connection that has not answered the last ping by the next one is gone (then UI_PAGE_GRACE). */
export const UI_PING_INTERVAL = 15 * SECOND;
/** Largest WebSocket frame the page may send (64 KiB): a message of MAX_MESSAGE_BYTES escaped as JSON fits; more is cut (close 1009). */
export const UI_MAX_FRAME = 64 * 1024;
/** Bytes queued for the page above which a session stops reading the peer (256 KiB): a flood waits in the peer's socket, not here. */
export const UI_SEND_BUFFER_MAX = 256 * 1024;
/** What is kept for a page gone during the grace (1 MiB of events): past it the session ends (the peer is not read meanwhile anyway). */
export const UI_AWAY_BACKLOG_MAX = 1024 * 1024;
/** Calls from the page waiting for an answer at once: past it, UI_TOO_MANY_CALLS (each may cost a scrypt of the store). */
export const UI_MAX_PENDING_CALLS = 16;
/** One HTTP request's headers must arrive within this, and the whole request too: a slow client is cut. */
export const UI_REQUEST_TIMEOUT = 10 * SECOND;
/** Headers of one HTTP request, in count and in bytes: far above what a browser sends. */
export const UI_MAX_HEADERS = 64;
export const UI_MAX_HEADER_BYTES = 16 * 1024;
