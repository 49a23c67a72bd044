/**
 * Building the page: elements from tag, attributes and children, text only
 * through text nodes (nothing the server sends is ever parsed as HTML), and
 * the few shapes every page uses (figures, tables, notices).
 *
 * @module
 */

/** What an element may hold: nodes, text, and nothing for `null`, `undefined` or `false`. */
export type Child = Node | string | null | undefined | false | readonly Child[];

/** Attributes (`class`, `id`, `aria-*`, `data-*`, ...) and `on<event>` listeners. */
export type Attributes = Readonly<Record<string, string | number | boolean | undefined | ((event: Event) => void)>>;

function apply(element: Element, attributes: Attributes | undefined, children: readonly Child[]): void {
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else if (value !== false && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
}

/** Appends `children` to `parent`, strings as text. */
export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    if (typeof child === 'string') {
      parent.appendChild(document.createTextNode(child));
    } else if (child instanceof Node) {
      parent.appendChild(child);
    } else {
      append(parent, child as readonly Child[]);
    }
  }
}

/** An HTML element. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes?: Attributes,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  apply(element, attributes, children);
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element. */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes?: Attributes,
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag);
  apply(element, attributes, children);
  return element;
}

/** Replaces everything in `parent` with `children`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A figure: its label and value, the value findable by `data-figure` (and by the tests). */
export interface Figure {
  readonly key: string;
  readonly label: string;
  readonly value: Child;
  /** A long value (a hash, a sentence): the whole row, in smaller type. */
  readonly wide?: boolean;
}

/** A list of labelled figures (`<dl>`). */
export function figures(items: readonly Figure[], label?: string): HTMLDListElement {
  return h(
    'dl',
    { class: 'figures', 'aria-label': label },
    items.map((item) =>
      h('div', { class: item.wide === true ? 'figure figure-wide' : 'figure' }, h('dt', {}, item.label), h('dd', { 'data-figure': item.key }, item.value)),
    ),
  );
}

/** A column of a table: its heading, and whether it holds numbers (right-aligned). */
export interface Column {
  readonly heading: string;
  readonly numeric?: boolean;
}

/**
 * A table with a caption, column headings (`scope="col"`) and the first
 * cell of each row as its heading (`scope="row"`), in a container that
 * scrolls sideways on a narrow screen rather than the page.
 */
export function table(
  caption: string,
  columns: readonly Column[],
  rows: readonly (readonly Child[])[],
  attributes: Attributes = {},
): HTMLDivElement {
  const cell = (value: Child, index: number): HTMLElement => {
    const numeric = columns[index]?.numeric === true ? 'num' : undefined;
    return index === 0 ? h('th', { scope: 'row', class: numeric }, value) : h('td', { class: numeric }, value);
  };
  return h(
    'div',
    { class: 'table-block' },
    // The caption is seen above the box (a caption inside would scroll
    // sideways with a wide table); assistive technology reads the caption.
    h('p', { class: 'table-title', 'aria-hidden': 'true' }, caption),
    h(
      'div',
      { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': caption },
      h(
        'table',
        attributes,
        h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, columns.map((column) => h('th', { scope: 'col', class: column.numeric === true ? 'num' : undefined }, column.heading)))),
        h('tbody', {}, rows.map((row) => h('tr', {}, row.map(cell)))),
      ),
    ),
  );
}

/** A paragraph saying there is nothing (yet). */
export function empty(text: string): HTMLParagraphElement {
  return h('p', { class: 'empty' }, text);
}

/** A notice in the page: an error (`role="alert"`) or a plain note. */
export function notice(kind: 'error' | 'note', ...children: Child[]): HTMLDivElement {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : undefined }, children);
}

/** A section with its heading (`<h2>`) named by it. */
export function section(id: string, heading: string, ...children: Child[]): HTMLElement {
  return h('section', { 'aria-labelledby': `${id}-heading`, id }, h('h2', { id: `${id}-heading` }, heading), children);
}
