/**
 * What user interfaces use: identity and contact commands, session attempts with their events, and
 * the error types they report. UIs import this module and nothing below the app layer.
 */
export {
  addContact,
  CONTACT_NAME_MAX,
  contactSafetyNumber,
  initIdentity,
  listContacts,
  markVerified,
  removeContact,
  renameContact,
  whoami,
  type ContactView,
} from './identity.ts';
export { doctor, type DoctorCheck } from './doctor.ts';
export { readSettings, removeTorState, setAmnesic, torStateDir, type Settings } from './settings.ts';
export { doctorTorControl, type TorControlCheck, type TorControlDoctorOptions } from './doctor-tor-control.ts';
export { parseTorListen, type TorListen } from '../net/tor.ts';
export { interactiveBotAnswer, runScriptedDemo, startDemo, type DemoLine, type DemoResult, type DemoSetup } from './demo.ts';
export { refuseExistingIdentity, refuseUnprotectedStore, storeNeedsPassphrase } from './store-auth.ts';
export { readPassphraseFile, weakPassphraseWarning } from './passphrase.ts';
export { coreDumpsOff, disableCoreDumps, readCoreLimit, type CoreDumpState, type CoreLimit } from './hardening.ts';
export * from './testnet.ts';
export { bounded, talk, talkTo, type ClosedEvent, type ContactTalkHandle, type OutputSink, type Route, type TalkEvent, type TalkHandle, type TalkToOptions } from './talk.ts';
export { changePassphrase, defaultHome, type StoreAuth } from '../store/store.ts';
export { ERROR_CODES, EntrechatError, isEntrechatError, UsageError, type ErrorCode, type Fault } from '../core/errors.ts';
export {
  IDLE_DEFAULT, IDLE_MAX, IDLE_MIN, MAX_MESSAGE_BYTES, MAX_SESSION_DEFAULT, MAX_SESSION_MAX, MAX_SESSION_MIN, MAX_UNACKED_MESSAGES, PASSPHRASE_FILE_MAX_SIZE,
  RENDEZVOUS_WINDOW_DEFAULT, RENDEZVOUS_WINDOW_MAX, RENDEZVOUS_WINDOW_MIN,
  PASSPHRASE_WEAK_BITS, UI_AWAY_BACKLOG_MAX, UI_IDLE_EXIT, UI_MAX_FRAME, UI_MAX_HEADER_BYTES, UI_MAX_HEADERS, UI_MAX_PENDING_CALLS,
  UI_PAGE_GRACE, UI_PING_INTERVAL, UI_REQUEST_TIMEOUT, UI_SEND_BUFFER_MAX } from '../core/limits.ts';
export { estimatePassphraseBits } from '../core/strength.ts';
export { ERROR_WORDS, errorWords } from './error-words.ts';
export { eventJson } from './events.ts';
