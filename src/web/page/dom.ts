/**
 * A few lines instead of a framework: elements are built with `h`, and every piece of text goes in
 * as a text node. Nothing here ever parses HTML, so a peer's message, a contact name or an error
 * from the process can only ever be shown as text.
 */

export type Child = Node | string | number | null | undefined | false;
type Handler = (event: Event) => void;
export type Props = Record<string, string | number | boolean | Handler | null | undefined>;

/** `h('button', { class: 'primary', onclick }, 'Send')`: attributes as strings, `on…` as listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element, attributes set one by one. */
export function svg(tag: string, attrs: Record<string, string | number> = {}, ...children: Element[]): Element {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

function setProps(el: Element, props: Props): void {
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

export function append(el: Element, children: readonly Child[]): void {
  el.append(...nodes(children));
}

/** The children that are something, as `append` and `replaceChildren` take them. */
export function nodes(children: readonly Child[]): (Node | string)[] {
  const out: (Node | string)[] = [];
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    out.push(typeof c === 'number' ? String(c) : c);
  }
  return out;
}

/** A person's text (a name, a message) isolated from the text around it, whatever its direction. */
export function bdi(text: string, cls?: string): HTMLElement {
  return h('bdi', { dir: 'auto', class: cls }, text);
}

/** Removes every child. */
export function clear(el: Element): void {
  el.replaceChildren();
}
