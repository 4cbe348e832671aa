/**
 * The page of `entrechat ui`: one WebSocket to the process (src/web/protocol.ts), a few screens built
 * with plain DOM calls. Everything lives in memory: nothing goes in a URL, the title, the history or
 * any storage of the browser, and the conversation is dropped from the page when the session ends.
 */
import type { AppState, ContactInfo, DoctorItem, Push } from '../protocol.ts';
import { CallError, Conn, type ConnStatus } from './conn.ts';
import { bdi, h, nodes, type Child } from './dom.ts';
import { actions, badge, button, errorBox, field, passwordInput, section, textInput } from './parts.ts';
import { browserLang, errorText, words, type Words } from './i18n.ts';
import { qrSvg } from './qr.ts';
import { startScan } from './scan.ts';
import * as talk from './talk.ts';

type View =
  | { readonly name: 'contacts' | 'code' | 'add' | 'doctor' | 'exit' }
  | { readonly name: 'contact' | 'verify'; readonly contact: string };

const STRENGTH_DEBOUNCE_MS = 250;
const TICK_MS = 1000;

const app = {
  lang: browserLang(),
  status: 'connecting' as ConnStatus,
  state: null as AppState | null,
  view: { name: 'contacts' } as View,
  contacts: [] as ContactInfo[],
  talk: null as talk.TalkModel | null,
  /** The talk model has been seen by the process (its session in a state push, or one of its events). */
  talkStarted: false,
  /** The screen shown, and what to undo when it goes (timers, the camera). */
  key: '',
  cleanup: [] as (() => void)[],
  /** Bumped on every screen change: an answer for an older screen is dropped. */
  generation: 0,
};

const header = h('header', { class: 'top' });
const main = h('main', { id: 'main', tabindex: '-1' });
const nav = h('nav', { class: 'tabs' });
let talkDom: { log: HTMLOListElement; phase: HTMLElement; progress: HTMLProgressElement; time: HTMLElement; hint: HTMLElement; send: HTMLButtonElement } | null = null;

const w = (): Words => words(app.lang);

const conn = new Conn({
  onStatus: (status) => {
    app.status = status;
    if (status !== 'open') {
      app.state = null;
      // What this page showed of a conversation goes now; a reconnect continues a session still running.
      if (app.talk !== null) talk.wipe(app.talk);
    }
    render();
  },
  onPush,
});

function onPush(p: Push): void {
  if (p.push === 'state') {
    app.state = p.state;
    const t = app.talk;
    if (p.state.session !== null) {
      // A session this page did not start here (it was reloaded during one): show it from now on.
      if (t === null) {
        app.talk = talk.createTalk(p.state.session, 'resumed');
        app.talkStarted = true;
      } else if (t.peer === p.state.session) app.talkStarted = true;
    } else if (t !== null && app.talkStarted && t.phase !== 'ended') {
      // The session ended while this page did not hear it (a reconnect): say so, keep nothing.
      t.phase = 'ended';
      talk.wipe(t);
    }
    render();
    return;
  }
  const t = app.talk;
  if (t === null) return;
  app.talkStarted = true;
  const entry = talk.applyTalkEvent(t, p.event, performance.now(), Date.now());
  if (app.key !== 'talk' || talkDom === null) return;
  if (p.event.event === 'closed') {
    render(true);
    main.querySelector<HTMLElement>('h1')?.focus();
    return;
  }
  if (entry !== null) appendEntry(entry);
  if ((p.event.event === 'sent' || p.event.event === 'delivered') && typeof p.event.id === 'number') {
    talk.refreshMark(w(), t, talkDom.log, p.event.id);
  }
  updateTalk();
}

// --- rendering ---------------------------------------------------------------------------------

function screenKey(): string {
  if (app.status !== 'open') return `conn:${app.status}`;
  const s = app.state;
  if (s === null) return 'conn:connecting';
  if (s.identity !== 'unlocked') return `identity:${s.identity}`;
  if (app.view.name === 'exit') return 'exit';
  if (app.talk !== null) return 'talk';
  return 'contact' in app.view ? `${app.view.name}:${app.view.contact}` : app.view.name;
}

/** Shows the screen the state asks for; `force` rebuilds it even if it is the one shown (language). */
function render(force = false): void {
  const key = screenKey();
  if (!force && key === app.key) return;
  const changed = key !== app.key;
  for (const undo of app.cleanup.splice(0)) undo();
  app.generation += 1;
  app.key = key;
  talkDom = null;
  document.documentElement.lang = app.lang;
  header.replaceChildren(...nodes(headerParts()));
  main.className = key === 'talk' ? 'talk-main' : '';
  main.replaceChildren(buildScreen(key));
  const tabs = app.status === 'open' && app.state?.identity === 'unlocked' && app.talk === null;
  nav.hidden = !tabs;
  nav.replaceChildren(...nodes(tabs ? navParts() : []));
  if (changed) (main.querySelector<HTMLElement>('h1') ?? main).focus();
}

function go(view: View): void {
  app.view = view;
  render();
}

function headerParts(): Child[] {
  const words = w();
  const lang = h('button', { type: 'button', class: 'ghost', lang: app.lang === 'en' ? 'fr' : 'en', 'aria-label': words.switchLabel, onclick: () => {
    app.lang = app.lang === 'en' ? 'fr' : 'en';
    render(true);
    header.querySelector<HTMLElement>('button')?.focus();
  } }, words.switchTo);
  const canExit = app.status === 'open' && app.state !== null && app.view.name !== 'exit';
  return [
    h('span', { class: 'brand' }, 'Entrechat'),
    lang,
    canExit ? h('button', { type: 'button', class: 'ghost', onclick: () => { go({ name: 'exit' }); } }, words.exit) : null,
  ];
}

function navParts(): Child[] {
  const words = w();
  const tabs: [View['name'], string][] = [['contacts', words.navContacts], ['code', words.navCode], ['add', words.navAdd], ['doctor', words.navDoctor]];
  return [h('ul', { 'aria-label': words.nav }, ...tabs.map(([name, label]) => h('li', {},
    h('button', { type: 'button', 'aria-current': app.view.name === name ? 'page' : null, onclick: () => { go({ name } as View); } }, label))))];
}

function buildScreen(key: string): HTMLElement {
  const words = w();
  switch (key) {
    case 'conn:connecting': return section(words.connecting.replace('…', ''), [h('p', {}, words.connecting)]);
    case 'conn:lost': return connProblem(words.lostTitle, words.lost);
    case 'conn:refused': return connProblem(words.refusedTitle, words.refused);
    case 'conn:exited': return section(words.exitedTitle, [h('p', {}, words.exited)]);
    case 'identity:none': return createScreen();
    case 'identity:locked': return unlockScreen();
    case 'talk': return talkScreen();
  }
  switch (app.view.name) {
    case 'code': return codeScreen();
    case 'add': return addScreen();
    case 'doctor': return doctorScreen();
    case 'exit': return exitScreen();
    case 'contact': return contactScreen(app.view.contact);
    case 'verify': return verifyScreen(app.view.contact);
    case 'contacts': return contactsScreen();
  }
}

// --- small parts -------------------------------------------------------------------------------

function connProblem(title: string, text: string): HTMLElement {
  return section(title, [h('p', {}, text), actions(h('button', { type: 'button', class: 'primary', onclick: () => { conn.connect(); } }, w().reconnect))]);
}

/** Runs a call for the current screen: its answer is used only if the screen is still shown. */
function forScreen<T>(promise: Promise<T>, ok: (value: T) => void, fail: (e: unknown) => void): void {
  const generation = app.generation;
  promise.then((v) => { if (generation === app.generation) ok(v); }, (e: unknown) => { if (generation === app.generation) fail(e); });
}

// --- identity ----------------------------------------------------------------------------------

function createScreen(): HTMLElement {
  const words = w();
  const p1 = passwordInput('new-password');
  const p2 = passwordInput('new-password');
  const strength = h('p', { class: 'hint', id: 'strength', 'aria-live': 'polite' });
  p1.setAttribute('aria-describedby', 'strength');
  const err = errorBox(w);
  const submit = h('button', { type: 'submit', class: 'primary' }, words.create);
  let timer = 0;
  let asked = 0;
  p1.addEventListener('input', () => {
    clearTimeout(timer);
    const n = ++asked;
    if (p1.value === '') {
      strength.textContent = '';
      return;
    }
    timer = window.setTimeout(() => {
      conn.call('strength', { passphrase: p1.value }).then((v) => {
        if (n === asked) strength.textContent = v.weak ? w().weak(Math.round(v.bits)) : w().strong(Math.round(v.bits));
      }, () => undefined);
    }, STRENGTH_DEBOUNCE_MS);
  });
  app.cleanup.push(() => { clearTimeout(timer); });
  const form = h('form', { class: 'form', novalidate: true }, h('p', {}, words.createIntro),
    field(words.passphrase, p1, strength), field(words.passphraseAgain, p2), err.el, actions(submit));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    err.clear();
    if (p1.value === '') { err.el.textContent = words.emptyPassphrase; p1.focus(); return; }
    if (p1.value !== p2.value) { err.el.textContent = words.differ; p2.focus(); return; }
    submit.disabled = true;
    submit.textContent = words.creating;
    const passphrase = p1.value;
    app.view = { name: 'code' };
    forScreen(conn.call('create', { passphrase }), () => { p1.value = ''; p2.value = ''; }, (e) => {
      err.show(e);
      submit.disabled = false;
      submit.textContent = words.create;
    });
  });
  return section(words.createTitle, [form]);
}

function unlockScreen(): HTMLElement {
  const words = w();
  const needs = app.state?.needsPassphrase !== false;
  const p = passwordInput('off');
  const err = errorBox(w);
  const submit = h('button', { type: 'submit', class: 'primary' }, needs ? words.unlock : words.open);
  const form = h('form', { class: 'form', novalidate: true }, h('p', {}, needs ? words.unlockIntro : words.noPassphrase),
    needs ? field(words.passphrase, p) : null, err.el, actions(submit));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    err.clear();
    if (needs && p.value === '') { err.el.textContent = words.emptyPassphrase; p.focus(); return; }
    submit.disabled = true;
    submit.textContent = words.unlocking;
    app.view = { name: 'contacts' };
    forScreen(conn.call('unlock', { passphrase: p.value }), () => { p.value = ''; }, (e) => {
      err.show(e);
      p.value = '';
      submit.disabled = false;
      submit.textContent = needs ? words.unlock : words.open;
      p.focus();
    });
  });
  return section(words.unlockTitle, [form]);
}

// --- my code -----------------------------------------------------------------------------------

function codeScreen(): HTMLElement {
  const words = w();
  const code = h('p', { class: 'code', id: 'my-code' });
  const qr = h('div', { class: 'qr-box' });
  const status = h('p', { class: 'hint', role: 'status' });
  const err = errorBox(w);
  const copy = button(words.copy, () => {
    const text = code.textContent;
    navigator.clipboard.writeText(text).then(() => { status.textContent = w().copied; }, () => {
      getSelection()?.selectAllChildren(code);
      status.textContent = w().copyFailed;
    });
  }, 'primary');
  forScreen(conn.call('whoami', {}), (v) => {
    code.textContent = v.code;
    qr.replaceChildren(qrSvg(v.code, w().qrLabel));
  }, err.show);
  const lock = button(words.lock, () => { conn.call('lock', {}).catch(err.show); });
  return section(words.codeTitle, [h('p', {}, words.codeIntro), qr, code, status, err.el,
    h('p', { class: 'hint' }, words.lockHint), actions(lock, copy)]);
}

// --- contacts ----------------------------------------------------------------------------------

function loadContacts(then: (list: ContactInfo[]) => void, fail: (e: unknown) => void): void {
  forScreen(conn.call('contacts', {}), (list) => {
    app.contacts = list;
    then(list);
  }, fail);
}

function contactsScreen(): HTMLElement {
  const words = w();
  const list = h('ul', { class: 'contacts' });
  const err = errorBox(w);
  const fill = (contacts: readonly ContactInfo[]): void => {
    if (contacts.length === 0) {
      list.replaceWith(h('p', { class: 'empty' }, words.noContacts));
      return;
    }
    list.replaceChildren(...contacts.map((c) => h('li', {},
      h('button', { type: 'button', class: 'contact', onclick: () => { go({ name: 'contact', contact: c.name }); } }, bdi(c.name, 'name'), badge(w(), c.verified)),
      h('button', { type: 'button', class: 'primary', onclick: () => { startTalk(c.name); } }, words.talk, h('span', { class: 'sr-only' }, ' ', bdi(c.name))))));
  };
  fill(app.contacts);
  loadContacts(fill, err.show);
  return section(words.contactsTitle, [list, err.el, actions(button(words.navAdd, () => { go({ name: 'add' }); }, 'primary'))]);
}

function contactScreen(name: string): HTMLElement {
  const words = w();
  const err = errorBox(w);
  const info = app.contacts.find((c) => c.name === name);
  const panel = h('div', { class: 'panel' });
  const rename = (): void => {
    const input = textInput(app.state?.limits.contactNameMax);
    input.value = name;
    const form = h('form', { class: 'form' }, field(words.newName, input), actions(
      button(words.cancel, () => { panel.replaceChildren(); }), h('button', { type: 'submit', class: 'primary' }, words.save)));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      err.clear();
      forScreen(conn.call('rename', { name, newName: input.value }), (c) => { go({ name: 'contact', contact: c.name }); }, err.show);
    });
    panel.replaceChildren(form);
    input.focus();
  };
  const remove = (): void => {
    const keep = button(words.keep, () => { panel.replaceChildren(); });
    panel.replaceChildren(h('div', { class: 'confirm', role: 'group' }, h('p', {}, ...words.removeAsk(bdi(name))), actions(keep,
      button(words.remove, () => { forScreen(conn.call('remove', { name }), () => { go({ name: 'contacts' }); }, err.show); }, 'danger'))));
    keep.focus();
  };
  return section([bdi(name)], [info !== undefined ? h('p', {}, badge(w(), info.verified)) : null, panel, err.el,
    actions(button(words.back, () => { go({ name: 'contacts' }); }), button(words.rename, rename), button(words.remove, remove),
      button(words.verify, () => { go({ name: 'verify', contact: name }); }), button(words.talk, () => { startTalk(name); }, 'primary'))]);
}

function addScreen(): HTMLElement {
  const words = w();
  const name = textInput(app.state?.limits.contactNameMax);
  const code = h('textarea', { rows: 3, autocomplete: 'off', autocapitalize: 'off', autocorrect: 'off', spellcheck: 'false', class: 'code-input' });
  const err = errorBox(w);
  const status = h('p', { class: 'hint', role: 'status' });
  const video = h('video', { class: 'camera', hidden: true, 'aria-hidden': 'true' });
  let stop: (() => void) | null = null;
  const stopScan = (): void => {
    stop?.();
    stop = null;
    video.hidden = true;
    scan.textContent = w().scan;
  };
  app.cleanup.push(stopScan);
  const scan = button(words.scan, () => {
    if (stop !== null) { stopScan(); return; }
    err.clear();
    video.hidden = false;
    status.textContent = words.scanning;
    scan.textContent = words.stopScan;
    const generation = app.generation;
    startScan(video, (text) => {
      stopScan();
      code.value = text.trim();
      status.textContent = w().scanned;
      name.focus();
    }).then((s) => {
      if (generation !== app.generation) s();
      else stop = s;
    }, () => {
      stopScan();
      if (generation === app.generation) status.textContent = w().noCamera;
    });
  });
  const form = h('form', { class: 'form', novalidate: true }, h('p', {}, words.addIntro),
    field(words.theirCode, code), video, status, field(words.name, name), err.el,
    actions(scan, h('button', { type: 'submit', class: 'primary' }, words.add)));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    err.clear();
    forScreen(conn.call('add', { name: name.value, code: code.value.trim() }), (c) => {
      stopScan();
      go({ name: 'verify', contact: c.name });
    }, err.show);
  });
  return section(words.addTitle, [form]);
}

function verifyScreen(name: string): HTMLElement {
  const words = w();
  const groups = h('ol', { class: 'safety', 'aria-label': words.safetyNumber });
  const err = errorBox(w);
  let shown: string[] = [];
  const match = button(words.match, () => {
    forScreen(conn.call('verify', { name, groups: shown }), () => { go({ name: 'contacts' }); }, err.show);
  }, 'primary');
  match.disabled = true;
  forScreen(conn.call('safety', { name }), (v) => {
    shown = v.groups;
    groups.replaceChildren(...v.groups.map((g) => h('li', {}, g)));
    match.disabled = false;
  }, err.show);
  return section(words.verifyTitle(bdi(name)), [
    h('div', { class: 'verify' }, groups, h('div', { class: 'how' }, h('p', { class: 'lead' }, words.verifyHow), h('p', {}, words.verifyDiffer))),
    err.el, actions(button(words.notNow, () => { go({ name: 'contacts' }); }), match)]);
}

// --- doctor and exit ---------------------------------------------------------------------------

function doctorScreen(): HTMLElement {
  const words = w();
  const list = h('ul', { class: 'doctor', 'aria-busy': 'true' }, h('li', {}, words.checking));
  const err = errorBox(w);
  const run = (): void => {
    list.setAttribute('aria-busy', 'true');
    list.replaceChildren(h('li', {}, w().checking));
    forScreen(conn.call('doctor', {}), (items) => {
      list.removeAttribute('aria-busy');
      list.replaceChildren(...items.map(doctorItem));
    }, err.show);
  };
  run();
  return section(words.doctorTitle, [h('p', {}, words.doctorIntro), list, err.el, actions(button(words.again, run, 'primary'))]);
}

function doctorItem(item: DoctorItem): HTMLElement {
  const words = w();
  const kind = !item.ok ? 'bad' : item.warn === true ? 'warn' : 'ok';
  return h('li', { class: kind },
    h('span', { class: 'badge' }, kind === 'ok' ? `✓ ${words.ok}` : kind === 'warn' ? `! ${words.warn}` : `✗ ${words.fail}`), ' ',
    h('strong', {}, item.name), h('p', {}, item.detail),
    item.code !== undefined ? h('p', {}, errorText(words, item.code)) : null,
    item.fix !== undefined ? h('p', { class: 'fix' }, words.fix, h('code', {}, item.fix)) : null);
}

function exitScreen(): HTMLElement {
  const words = w();
  const err = errorBox(w);
  return section(words.exit, [h('p', {}, words.exitAsk), err.el, actions(
    button(words.cancel, () => { go({ name: 'contacts' }); }), // back to the session, if one runs
    button(words.exit, () => {
      conn.call('exit', {}).then(() => {
        app.status = 'exited';
        render();
      }, err.show);
    }, 'danger'))]);
}

// --- talk --------------------------------------------------------------------------------------

function startTalk(name: string): void {
  const t = talk.createTalk(name);
  app.talk = t;
  app.talkStarted = false;
  render();
  conn.call('talk', { name }).catch((e: unknown) => {
    if (app.talk !== t) return;
    t.phase = 'ended';
    t.closed = { reason: 'error', code: e instanceof CallError ? e.code : 'INTERNAL', hadSession: false };
    if (app.key === 'talk') render(true);
  });
}

function talkScreen(): HTMLElement {
  const words = w();
  const t = app.talk;
  if (t === null) return section('', []);
  const info = app.contacts.find((c) => c.name === t.peer);
  const title = h('h1', { tabindex: '-1' }, bdi(t.peer));
  const head = h('div', { class: 'talk-head' }, title, info !== undefined ? badge(w(), info.verified) : null);
  if (t.phase === 'ended') {
    const end = talk.endWords(words, t);
    return h('section', { class: 'screen talk ended' }, head,
      h('p', { class: 'lead', role: 'status' }, ...end.headline), h('p', {}, end.wiped),
      actions(button(words.back, () => {
        app.talk = null;
        go({ name: 'contacts' });
      }, 'primary')));
  }
  const phase = h('p', { class: 'phase' });
  const progress = h('progress', { max: 100, value: 0, 'aria-label': words.phaseTor });
  const time = h('p', { class: 'time' });
  const log = h('ol', { class: 'entries' });
  const hint = h('p', { class: 'hint' });
  const notice = h('p', { class: 'error', role: 'alert' }, t.notice ?? '');
  const input = h('textarea', {
    rows: 1, 'aria-label': words.message, autocomplete: 'off', autocorrect: 'off', autocapitalize: 'off', spellcheck: 'false', enterkeyhint: 'send', class: 'message-input',
  });
  input.value = t.draft;
  const send = h('button', { type: 'submit', class: 'primary' }, words.send);
  const form = h('form', { class: 'composer' }, input, send);
  const quit = button(words.quit, () => { conn.call('quit', {}).catch(() => undefined); }, 'danger');
  input.addEventListener('input', () => { t.draft = input.value; });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.replace(/[\r\n]+$/, '');
    const limits = app.state?.limits;
    const refusal = talk.sendRefusal(text, limits?.maxMessageBytes ?? Number.MAX_SAFE_INTEGER);
    if (refusal === 'MESSAGE_EMPTY') return;
    const say = (code: string): void => {
      t.notice = w().notSent + errorText(w(), code);
      notice.textContent = t.notice;
    };
    if (refusal !== null) { say(refusal); return; }
    t.notice = null;
    notice.textContent = '';
    input.value = '';
    t.draft = '';
    conn.call('send', { text }).then((v) => {
      if (app.talk !== t || t.phase === 'ended') return;
      const entry = talk.addOwn(t, v.id, text, performance.now(), Date.now());
      if (app.key === 'talk') appendEntry(entry);
    }, (err: unknown) => {
      if (app.talk !== t || t.phase === 'ended') return;
      if (input.value === '') { input.value = text; t.draft = text; }
      say(err instanceof CallError ? err.code : 'INTERNAL');
    });
  });
  talkDom = { log, phase, progress, time, hint, send };
  for (const entry of t.entries) log.append(talk.entryElement(words, app.lang, t, entry));
  const timer = window.setInterval(updateTalk, TICK_MS);
  app.cleanup.push(() => { clearInterval(timer); });
  const screen = h('section', { class: 'screen talk' },
    h('div', { class: 'talk-top' }, head, quit),
    h('div', { class: 'status' }, phase, progress, time),
    h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': words.conversation, tabindex: '0' }, log),
    hint, notice, form);
  updateTalk();
  queueMicrotask(() => { log.parentElement?.scrollTo(0, log.scrollHeight); });
  return screen;
}

function appendEntry(entry: Parameters<typeof talk.entryElement>[3]): void {
  if (talkDom === null || app.talk === null) return;
  const box = talkDom.log.parentElement;
  const atEnd = box === null || box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  talkDom.log.append(talk.entryElement(w(), app.lang, app.talk, entry));
  while (talkDom.log.childElementCount > app.talk.entries.length) talkDom.log.firstElementChild?.remove();
  if (atEnd && box !== null) box.scrollTop = box.scrollHeight;
}

function updateTalk(): void {
  const t = app.talk;
  if (talkDom === null || t === null) return;
  const words = w();
  const now = performance.now();
  talkDom.phase.replaceChildren(...nodes(talk.phaseLine(words, t, now)));
  talkDom.progress.hidden = t.phase !== 'starting_tor';
  talkDom.progress.value = t.torPercent;
  const time = talk.timeLine(words, t, now);
  talkDom.time.textContent = time?.text ?? '';
  talkDom.time.classList.toggle('warn', time?.warn === true);
  talkDom.hint.replaceChildren(...nodes(talk.hintLine(words, t)));
  talkDom.send.disabled = t.phase !== 'connected' && t.phase !== 'resumed';
}

// --- start -------------------------------------------------------------------------------------

/** Keeps the page's height that of the visible area, so the message field stays above the keyboard. */
function followViewport(): void {
  const vv = window.visualViewport;
  if (vv === null) return;
  const set = (): void => { document.documentElement.style.setProperty('--app-h', `${String(vv.height)}px`); };
  vv.addEventListener('resize', set);
  set();
}

document.body.replaceChildren(header, main, nav);
followViewport();
// A phone that was locked or switched away comes back: try again at once rather than wait for a tap.
document.addEventListener('visibilitychange', () => { if (!document.hidden && app.status === 'lost') conn.connect(); });
render();
conn.connect();
