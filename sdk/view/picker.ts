// A row of toggle buttons choosing one value (windows, vitals): one click, visible at once, no
// dropdown to open on a phone.

import { h, replaceChildren } from './dom';

export class Segmented {
  readonly root: HTMLElement;
  private value = '';
  private values = '';

  constructor(
    label: string,
    private readonly onPick: (value: string) => void,
    private readonly display: (value: string) => string = (value) => value,
  ) {
    this.root = h('div', { class: 'segmented', role: 'group', 'aria-label': label });
  }

  /** Sets the choices (rebuilt only when they change) and the chosen one. */
  set(values: string[], chosen: string): void {
    const key = values.join();
    if (key != this.values) {
      this.values = key;
      replaceChildren(
        this.root,
        values.map((value) =>
          h('button', { type: 'button', 'data-value': value, onclick: () => this.pick(value) }, this.display(value)),
        ),
      );
      this.value = '';
    }
    this.mark(chosen);
  }

  private pick(value: string): void {
    if (value == this.value) return;
    this.mark(value);
    this.onPick(value);
  }

  private mark(value: string): void {
    this.value = value;
    for (const button of this.root.querySelectorAll('button')) {
      button.setAttribute('aria-pressed', String(button.dataset.value == value));
    }
  }
}
