/**
 * The small pieces every screen is made of: a titled section, the buttons at the bottom, labelled
 * inputs with the browser's memory and corrections off, a place for an error's words.
 */
import { CallError } from './conn.ts';
import { h, type Child } from './dom.ts';
import { errorText, type Words } from './i18n.ts';

export function section(title: Child | Child[], body: Child[], cls = ''): HTMLElement {
  return h('section', { class: `screen ${cls}` }, h('h1', { tabindex: '-1' }, ...(Array.isArray(title) ? title : [title])), ...body);
}

/** The buttons at the bottom of a screen, within the thumb's reach. */
export function actions(...buttons: Child[]): HTMLElement {
  return h('div', { class: 'actions' }, ...buttons);
}

export function button(label: Child, onclick: () => void, cls = ''): HTMLButtonElement {
  return h('button', { type: 'button', class: cls, onclick }, label);
}

/** A labelled input; a hint goes after the label (it describes the input, it does not name it). */
export function field(label: string, input: HTMLElement, hint?: HTMLElement): HTMLElement {
  return h('div', { class: 'field' }, h('label', {}, h('span', { class: 'label' }, label), input), hint);
}

export function passwordInput(autocomplete: string): HTMLInputElement {
  return h('input', { type: 'password', autocomplete, autocapitalize: 'off', autocorrect: 'off', spellcheck: 'false', required: true });
}

export function textInput(maxlength?: number): HTMLInputElement {
  return h('input', { type: 'text', autocomplete: 'off', autocapitalize: 'off', autocorrect: 'off', spellcheck: 'false', maxlength });
}

/** A place for an error's words, announced when they change. */
export function errorBox(w: () => Words): { el: HTMLElement; show: (e: unknown) => void; clear: () => void } {
  const el = h('p', { class: 'error', role: 'alert' });
  return {
    el,
    show: (e) => { el.textContent = errorText(w(), e instanceof CallError ? e.code : 'INTERNAL'); },
    clear: () => { el.textContent = ''; },
  };
}

export function badge(words: Words, verified: boolean): HTMLElement {
  return h('span', { class: verified ? 'badge ok' : 'badge warn' }, verified ? words.verified : words.notVerified);
}
