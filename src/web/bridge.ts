/**
 * The app behind the page: every call of protocol.ts done through src/app, the state pushed on connect
 * and on change, the session's events pushed as `talk --json` prints them. One page at a time (the
 * server refuses a second), one session at a time, calls answered one after the other (each may cost a
 * scrypt of the store), the passphrase in memory only while unlocked and zeroed when locked.
 */
import {
  addContact,
  contactSafetyNumber,
  doctor,
  estimatePassphraseBits,
  eventJson,
  initIdentity,
  isEntrechatError,
  listContacts,
  markVerified,
  removeContact,
  renameContact,
  storeNeedsPassphrase,
  refuseUnprotectedStore,
  talkTo,
  UsageError,
  whoami,
  CONTACT_NAME_MAX,
  MAX_MESSAGE_BYTES,
  MAX_UNACKED_MESSAGES,
  PASSPHRASE_WEAK_BITS,
  UI_AWAY_BACKLOG_MAX,
  UI_IDLE_EXIT,
  UI_MAX_PENDING_CALLS,
  UI_PAGE_GRACE,
  type ContactTalkHandle,
  type ContactView,
  type Route,
  type StoreAuth,
  type TalkEvent,
} from '../app/index.ts';
import { readCall } from './calls.ts';
import type { AppState, Answer, CallMessage, ContactInfo, Push } from './protocol.ts';
import { PageSink, type PageConnection } from './sink.ts';

export interface SessionLimits {
  readonly window?: number;
  readonly idle?: number;
  readonly maxSession?: number;
}

export interface BridgeOptions {
  readonly home: string;
  readonly route: Route;
  readonly limits?: SessionLimits;
  /** No page connected for this long: `onExit('idle')` (UI_IDLE_EXIT). */
  readonly idleExit?: number;
  /** The page gone during a session for this long: the session ends (UI_PAGE_GRACE). */
  readonly pageGrace?: number;
  /** The process should end: the page's Exit (after its answer left), or no page for too long. */
  readonly onExit: (why: 'exit' | 'idle') => void;
}

interface Session {
  readonly contact: string;
  handle: ContactTalkHandle | null;
  quitAsked: boolean;
}

/** Bound on waiting for a session to end when the process stops (CLOSE_GRACE and a tor's stop fit in it). */
const END_WAIT = 15_000;

const utf8 = new TextEncoder();

const contactInfo = (c: ContactView): ContactInfo => ({ name: c.name, verified: c.verified });

export class UiBridge {
  readonly #options: BridgeOptions;
  readonly #sink = new PageSink();
  /** The passphrase while unlocked (NFC, UTF-8; zeroed when locked), 'none' for a store without one, null when locked. */
  #secret: Uint8Array | 'none' | null = null;
  #session: Session | null = null;
  #sessionDone: Promise<unknown> = Promise.resolve();
  #queue: Promise<void> = Promise.resolve();
  #statePushes: Promise<void> = Promise.resolve();
  #pending = 0;
  /** Session events for a page gone during the grace, replayed when it comes back. */
  #away: string[] = [];
  #awayBytes = 0;
  #graceTimer: NodeJS.Timeout | null = null;
  #idleTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: BridgeOptions) {
    this.#options = options;
    this.#startIdle();
  }

  /** Whether a page is connected now. */
  get hasPage(): boolean {
    return this.#sink.page !== null;
  }

  /** A page connected (the server let only one in). */
  attach(page: PageConnection): void {
    this.#sink.page = page;
    this.#clearTimers();
    void this.#pushState();
    const away = this.#away;
    this.#away = [];
    this.#awayBytes = 0;
    for (const text of away) this.#sink.send(text);
  }

  /** The page's connection closed. */
  detach(page: PageConnection): void {
    if (this.#sink.page !== page) return;
    this.#sink.page = null;
    if (this.#closed) return;
    this.#startIdle();
    if (this.#session !== null) {
      this.#graceTimer = setTimeout(() => {
        this.#graceTimer = null;
        this.#quitSession();
      }, this.#options.pageGrace ?? UI_PAGE_GRACE);
    }
  }

  /** One text frame from the page (its bytes are zeroed here: a frame may hold a passphrase or a message). */
  receive(page: PageConnection, data: Buffer): void {
    const text = data.toString('utf8');
    data.fill(0);
    const read = readCall(text);
    if (!read.ok) {
      this.#answer(page, { re: read.id, ok: false, code: read.code });
      return;
    }
    const call = read.call;
    // Immediate: they touch no store and must not wait behind one that does.
    if (call.call === 'send' || call.call === 'quit' || call.call === 'strength') {
      void this.#run(page, call);
      return;
    }
    if (this.#pending >= UI_MAX_PENDING_CALLS) {
      this.#answer(page, { re: call.id, ok: false, code: 'UI_TOO_MANY_CALLS' });
      return;
    }
    this.#pending += 1;
    this.#queue = this.#queue.then(async () => {
      try {
        await this.#run(page, call);
      } finally {
        this.#pending -= 1;
      }
    });
  }

  /** Ends the session (as /quit, waiting for it within a bound) and forgets the passphrase. */
  async shutdown(): Promise<void> {
    this.#closed = true;
    this.#clearTimers();
    await this.#endSession();
    this.#lock();
  }

  async #run(page: PageConnection, call: CallMessage): Promise<void> {
    let value: unknown;
    try {
      value = await this.#do(call);
    } catch (e) {
      // Codes only: a message may name a path or a contact.
      this.#answer(page, { re: call.id, ok: false, code: isEntrechatError(e) ? e.code : 'INTERNAL' });
      return;
    }
    if (call.call === 'exit') {
      this.#answer(page, { re: call.id, ok: true, value: null }, () => { this.#options.onExit('exit'); });
      return;
    }
    this.#answer(page, { re: call.id, ok: true, value });
  }

  async #do(call: CallMessage): Promise<unknown> {
    const home = this.#options.home;
    switch (call.call) {
      case 'strength': {
        const bits = Math.floor(estimatePassphraseBits(call.passphrase));
        return { bits, weak: bits < PASSPHRASE_WEAK_BITS };
      }
      case 'create': {
        if (call.passphrase.length === 0) throw new UsageError('BAD_ARGUMENT', 'an empty passphrase is not accepted');
        const secret = utf8.encode(call.passphrase.normalize('NFC'));
        let code: string;
        try {
          code = await initIdentity(home, { passphrase: secret });
        } catch (e) {
          secret.fill(0);
          throw e;
        }
        this.#lock();
        this.#secret = secret;
        void this.#pushState();
        return { code };
      }
      case 'unlock': {
        const needs = await storeNeedsPassphrase(home);
        let secret: Uint8Array | 'none';
        if (!needs) {
          // A passphrase typed for a store that has none: it was replaced (STORE_PASSPHRASE_UNEXPECTED).
          if (call.passphrase !== '') refuseUnprotectedStore(false);
          secret = 'none';
        } else {
          if (call.passphrase === '') throw new UsageError('BAD_ARGUMENT', 'this store needs its passphrase');
          secret = utf8.encode(call.passphrase.normalize('NFC'));
        }
        let code: string;
        try {
          code = await whoami(home, secret === 'none' ? { noPassphrase: true } : { passphrase: secret });
        } catch (e) {
          if (secret !== 'none') secret.fill(0);
          throw e;
        }
        this.#lock();
        this.#secret = secret;
        void this.#pushState();
        return { code };
      }
      case 'lock':
        await this.#endSession();
        this.#lock();
        void this.#pushState();
        return null;
      case 'whoami':
        return { code: await whoami(home, this.#auth()) };
      case 'contacts':
        return (await listContacts(home, this.#auth())).map(contactInfo);
      case 'add':
        return contactInfo(await addContact(home, this.#auth(), call.name, call.code));
      case 'rename':
        return contactInfo(await renameContact(home, this.#auth(), call.name, call.newName));
      case 'remove':
        await removeContact(home, this.#auth(), call.name);
        return null;
      case 'safety':
        return { groups: await contactSafetyNumber(home, this.#auth(), call.name) };
      case 'verify':
        return contactInfo(await markVerified(home, this.#auth(), call.name, call.groups));
      case 'talk':
        await this.#talk(call.name);
        return null;
      case 'send': {
        const handle = this.#session?.handle ?? null;
        if (handle === null) throw new UsageError('SESSION_NOT_ACTIVE', 'no session is open');
        return { id: handle.send(call.text) };
      }
      case 'quit':
        if (this.#session === null) throw new UsageError('SESSION_NOT_ACTIVE', 'no session attempt runs');
        this.#quitSession();
        return null;
      case 'doctor':
        return (await doctor(home)).map((c) => ({
          name: c.name, ok: c.ok, detail: c.detail,
          ...(c.warn === true ? { warn: true } : {}),
          ...(c.fix !== undefined ? { fix: c.fix } : {}),
          ...(c.code !== undefined ? { code: c.code } : {}),
        }));
      case 'exit':
        await this.#endSession();
        this.#lock();
        return null;
    }
  }

  /** The store's auth while unlocked; the bytes are copied by the store, which wipes its copy. @throws UsageError UI_LOCKED */
  #auth(): StoreAuth {
    const s = this.#secret;
    if (s === null) throw new UsageError('UI_LOCKED', 'the identity is locked');
    return s === 'none' ? { noPassphrase: true } : { passphrase: s };
  }

  #lock(): void {
    if (this.#secret instanceof Uint8Array) this.#secret.fill(0);
    this.#secret = null;
  }

  async #talk(contact: string): Promise<void> {
    const auth = this.#auth();
    if (this.#session !== null) throw new UsageError('UI_SESSION_BUSY', 'a session attempt runs already');
    const session: Session = { contact, handle: null, quitAsked: false };
    this.#session = session;
    void this.#pushState();
    const route = this.#options.route;
    const onEvent = (event: TalkEvent): void => {
      // No tor on the loopback route (as talk --json says it).
      if (route.kind === 'loopback' && event.type === 'state' && event.state === 'starting_tor') return;
      const json = eventJson(event);
      if (json !== null) this.#push({ push: 'talk', event: json as Record<string, unknown> & { event: string } });
      if (event.type === 'closed' && this.#session === session) {
        this.#session = null;
        if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
        this.#graceTimer = null;
        void this.#pushState();
      }
    };
    try {
      const handle = await talkTo({
        home: this.#options.home,
        auth,
        contact,
        route,
        ...this.#options.limits,
        onEvent,
        output: this.#sink,
      });
      session.handle = handle;
      this.#sessionDone = handle.done.catch(() => undefined);
      if (session.quitAsked) handle.quit();
    } catch (e) {
      if (this.#session === session) this.#session = null;
      void this.#pushState();
      throw e;
    }
  }

  #quitSession(): void {
    const s = this.#session;
    if (s === null) return;
    s.quitAsked = true;
    s.handle?.quit();
  }

  async #endSession(): Promise<void> {
    if (this.#session === null) return;
    this.#quitSession();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#sessionDone, new Promise((resolve) => { timer = setTimeout(resolve, END_WAIT); })]);
    clearTimeout(timer);
  }

  async #state(): Promise<AppState> {
    let identity: AppState['identity'] = 'locked';
    let needsPassphrase = true;
    if (this.#secret !== null) {
      identity = 'unlocked';
      needsPassphrase = this.#secret !== 'none';
    } else {
      try {
        needsPassphrase = await storeNeedsPassphrase(this.#options.home);
      } catch (e) {
        if (isEntrechatError(e) && e.code === 'STORE_NOT_FOUND') identity = 'none';
      }
    }
    return {
      identity,
      needsPassphrase,
      session: this.#session?.contact ?? null,
      limits: { maxMessageBytes: MAX_MESSAGE_BYTES, maxUnacked: MAX_UNACKED_MESSAGES, contactNameMax: CONTACT_NAME_MAX },
    };
  }

  /** Pushes the state; pushes go out in the order asked (a state read from disk may take a while). */
  #pushState(): Promise<void> {
    this.#statePushes = this.#statePushes.then(async () => {
      this.#push({ push: 'state', state: await this.#state() });
    }).catch(() => undefined);
    return this.#statePushes;
  }

  #push(push: Push): void {
    const text = JSON.stringify(push);
    if (this.#sink.send(text)) return;
    if (push.push !== 'talk' || this.#session === null) return;
    // The page is away during the grace: kept, within a bound, for a reload.
    this.#awayBytes += text.length;
    if (this.#awayBytes > UI_AWAY_BACKLOG_MAX) {
      this.#away = [];
      this.#awayBytes = 0;
      this.#quitSession();
      return;
    }
    this.#away.push(text);
  }

  #answer(page: PageConnection, answer: Answer, then?: () => void): void {
    if (this.#sink.page !== page) {
      then?.();
      return;
    }
    page.send(JSON.stringify(answer), () => {
      this.#sink.poke();
      then?.();
    });
  }

  #startIdle(): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null;
      if (this.#sink.page === null && !this.#closed) this.#options.onExit('idle');
    }, this.#options.idleExit ?? UI_IDLE_EXIT);
  }

  #clearTimers(): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
    this.#idleTimer = null;
    this.#graceTimer = null;
  }
}
