/**
 * Integrity alerts, newest first, live from WatchAlerts (follow): every
 * alert of the programme asked for (or of all), then each new one as it is
 * raised, announced to assistive technology. The watch resumes after the
 * last alert number seen, so a reconnection repeats and misses nothing.
 *
 * @module
 */
import { toHex } from '@settled/client/verify';

import type { Alert } from '../api.js';
import type { PageContext } from '../app.js';
import { h, notice, replace, table } from '../dom.js';
import { count, shortHex, utcTime } from '../format.js';
import { ALERTS_ANNOUNCED_MAX, ALERTS_SHOWN_MAX } from '../limits.js';
import { pagesOf } from '../roles.js';

/** Alerts that arrive with none for this long after the watch opened are past ones; later ones are new. */
const BACKLOG_QUIET_MS = 1_000;
/** New alerts arriving together are announced together, after this pause. */
const ANNOUNCE_AFTER_MS = 250;

export function alertsPage(context: PageContext): void {
  const { main, session, query } = context;
  const programmeText = query.get('programme') ?? '';
  const programmeId = /^\d{1,10}$/.test(programmeText) ? Number(programmeText) : 0;
  const merchant = query.get('merchant') ?? '';
  const caption = `Integrity alerts${programmeId === 0 ? '' : ` of programme ${programmeId}`}${merchant === '' ? '' : ` at merchant ${merchant}`}, newest first`;
  const problem = h('div');
  const list = new AlertList(caption, merchant, pagesOf(session.caller.role).includes('payment'), context.signal);
  replace(main, h('h1', { tabindex: -1 }, 'Integrity alerts'), filterForm(programmeId, merchant), problem, list.announcer, list.state, list.element);
  if (programmeText !== '' && programmeId === 0) {
    replace(problem, notice('note', `“${programmeText}” is not a programme number: showing every programme.`));
  }
  context.live(
    'alerts',
    (signal, opened) =>
      session.api.watchAlerts(programmeId, list.lastNumber, signal, () => {
        opened();
        list.opened();
      }),
    (alert) => list.add(alert),
    (error) => {
      list.state.remove();
      list.element.remove();
      replace(problem, context.problem(error, 'integrity alerts'));
    },
  );
}

function filterForm(programmeId: number, merchant: string): HTMLFormElement {
  const programmeInput = h('input', {
    id: 'alerts-programme',
    name: 'programme',
    type: 'number',
    min: 0,
    step: 1,
    inputmode: 'numeric',
    value: programmeId === 0 ? '' : String(programmeId),
  });
  const merchantInput = h('input', { id: 'alerts-merchant', name: 'merchant', type: 'text', value: merchant, autocomplete: 'off' });
  return h(
    'form',
    {
      class: 'inline-form',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const params = new URLSearchParams();
        const wanted = Number(programmeInput.value);
        if (Number.isInteger(wanted) && wanted > 0) params.set('programme', String(wanted));
        if (merchantInput.value.trim() !== '') params.set('merchant', merchantInput.value.trim());
        const suffix = params.toString();
        location.hash = `#/alerts${suffix === '' ? '' : `?${suffix}`}`;
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'alerts-programme' }, 'Programme (empty: every one)'), programmeInput),
    h('div', { class: 'field' }, h('label', { for: 'alerts-merchant' }, 'Merchant'), merchantInput),
    h('button', { type: 'submit' }, 'Show'),
  );
}

/**
 * The alerts shown, newest first ({@link ALERTS_SHOWN_MAX} at most): the
 * first ones the watch sends are the past (they end when the watch has
 * been quiet for {@link BACKLOG_QUIET_MS}); the ones after are new, marked
 * and announced.
 */
class AlertList {
  readonly element: HTMLElement;
  readonly state = h('p', { class: 'loading', id: 'alerts-state' }, 'Reading the alerts…');
  readonly announcer = h('div', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite', id: 'alerts-announcer' });
  /** The last alert number received (of any merchant): the watch resumes after it. */
  lastNumber = 0n;
  readonly #rows: HTMLElement;
  readonly #merchant: string;
  readonly #paymentsReadable: boolean;
  #shown = 0;
  #caughtUp = false;
  #quiet: ReturnType<typeof setTimeout> | null = null;
  #fresh: Alert[] = [];
  #announce: ReturnType<typeof setTimeout> | null = null;

  constructor(caption: string, merchant: string, paymentsReadable: boolean, signal: AbortSignal) {
    this.element = table(
      caption,
      ['Number', 'Rule', 'Programme', 'Merchant', 'Time', 'Detail', 'Payments'].map((heading) => ({ heading, numeric: heading === 'Number' })),
      [],
      { id: 'alerts-table' },
    );
    this.#rows = this.element.querySelector('tbody') ?? h('tbody');
    this.#merchant = merchant;
    this.#paymentsReadable = paymentsReadable;
    signal.addEventListener('abort', () => {
      if (this.#quiet !== null) clearTimeout(this.#quiet);
      if (this.#announce !== null) clearTimeout(this.#announce);
    });
  }

  /** The watch is open: once it has been quiet a moment, the past has been read. */
  opened(): void {
    if (!this.#caughtUp) {
      this.#settle();
    }
  }

  add(alert: Alert): void {
    if (alert.number <= this.lastNumber) {
      return;
    }
    this.lastNumber = alert.number;
    if (this.#merchant !== '' && alert.merchantId !== this.#merchant) {
      return;
    }
    this.#rows.prepend(alertRow(alert, this.#paymentsReadable, this.#caughtUp));
    this.#shown += 1;
    while (this.#rows.childElementCount > ALERTS_SHOWN_MAX) {
      this.#rows.lastElementChild?.remove();
    }
    if (this.#caughtUp) {
      this.#fresh.push(alert);
      this.#announce ??= setTimeout(() => this.#sayFresh(), ANNOUNCE_AFTER_MS);
      this.#showCount();
    } else {
      this.#settle();
    }
  }

  #settle(): void {
    if (this.#quiet !== null) clearTimeout(this.#quiet);
    this.#quiet = setTimeout(() => {
      this.#caughtUp = true;
      this.state.className = 'help';
      this.#showCount();
    }, BACKLOG_QUIET_MS);
  }

  #showCount(): void {
    replace(
      this.state,
      this.#shown === 0
        ? 'No alert yet. New ones appear here as they are raised.'
        : `${count(this.#shown)} ${this.#shown === 1 ? 'alert' : 'alerts'}. New ones appear at the top as they are raised.`,
    );
  }

  #sayFresh(): void {
    this.#announce = null;
    const said = this.#fresh
      .slice(0, ALERTS_ANNOUNCED_MAX)
      .map((alert) => `New alert ${alert.number}: ${alert.rule} at merchant ${alert.merchantId}, programme ${alert.programmeId}.`);
    if (this.#fresh.length > ALERTS_ANNOUNCED_MAX) said.push(`And ${this.#fresh.length - ALERTS_ANNOUNCED_MAX} more.`);
    this.#fresh = [];
    this.announcer.textContent = said.join(' ');
  }
}

function alertRow(alert: Alert, paymentsReadable: boolean, isNew: boolean): HTMLTableRowElement {
  return h(
    'tr',
    { class: isNew ? 'new' : undefined, 'data-alert': String(alert.number) },
    h('th', { scope: 'row', class: 'num' }, String(alert.number)),
    h('td', {}, h('code', { class: 'rule' }, alert.rule)),
    h('td', {}, String(alert.programmeId)),
    h('td', {}, alert.merchantId),
    h('td', { class: 'time' }, utcTime(alert.timeUnixMs)),
    h('td', { class: 'detail' }, alert.detail),
    h(
      'td',
      {},
      h(
        'ul',
        { class: 'txids' },
        alert.txids.map((txid) => {
          const hex = toHex(txid);
          return h(
            'li',
            {},
            paymentsReadable
              ? h('a', { href: `#/payment/${hex}`, title: hex, 'aria-label': `payment ${hex}` }, h('code', {}, shortHex(hex)))
              : h('code', { title: hex }, shortHex(hex)),
          );
        }),
      ),
    ),
  );
}
