// Element building without HTML strings: every label, route and error message from the API reaches
// the page as a text node, so nothing the browsers reported can inject markup (and the page's
// content security policy allows no inline handlers or style attributes anyway).

export type Child = Node | string | number | null | undefined | false;

/** Attributes: `class`, `on<event>` listeners, anything else via setAttribute (never `style`). */
export type Attributes = Record<string, string | number | boolean | EventListener | null | undefined>;

/** `h('td', { class: 'num' }, '42')`: an element with attributes and children. */
export function h<Tag extends keyof HTMLElementTagNameMap>(
  tag: Tag,
  attributes: Attributes | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[Tag] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value == 'function') element.addEventListener(name.slice(2), value);
    else if (name == 'class') element.className = String(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

/** Appends children, skipping the empty ones. */
export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children in one step (one layout, no flash of an empty box). */
export function replaceChildren(parent: Element, children: Child[]): void {
  const fragment = document.createDocumentFragment();
  append(fragment, children);
  parent.replaceChildren(fragment);
}

/** Sets `textContent` only when it changes (keeps a selection and avoids needless mutations). */
export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

/** A titled section of the dashboard; hidden until it has something to show. */
export class Section {
  readonly root: HTMLElement;
  readonly body: HTMLDivElement;

  constructor(id: string, title: string, ...headerExtras: Child[]) {
    this.body = h('div', { class: 'section-body' });
    this.root = h(
      'section',
      { id, class: 'section', 'aria-labelledby': `${id}-title`, hidden: true },
      h('div', { class: 'section-head' }, h('h2', { id: `${id}-title` }, title), ...headerExtras),
      this.body,
    );
  }

  show(visible: boolean): void {
    this.root.hidden = !visible;
  }
}
