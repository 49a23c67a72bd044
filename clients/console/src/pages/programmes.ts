/**
 * Programmes: the list (ListProgrammes; a programme can also be opened by
 * its number), and one programme's figures
 * (GetProgrammeStats), fetched again when the ledger's tip moves, at most
 * once every {@link PROGRAMME_REFRESH_MIN_INTERVAL_MS}.
 *
 * @module
 */
import type { Programme, ProgrammeStats } from '../api.js';
import type { PageContext } from '../app.js';
import { barChart } from '../chart.js';
import { type Child, empty, figures, h, notice, replace, section, table } from '../dom.js';
import { ABSENT, amount, count, ledgerDay, mcc, money, period, sharePercent, utcTime } from '../format.js';
import { Code, GrpcError } from '../grpcweb.js';
import { PROGRAMME_REFRESH_MIN_INTERVAL_MS } from '../limits.js';

/** The largest programme id (a `uint32`). */
const PROGRAMME_ID_MAX = 0xffff_ffff;

export function programmesPage(context: PageContext): void {
  const [id] = context.path;
  if (id === undefined) {
    listPage(context);
  } else {
    detailPage(context, id);
  }
}

function openForm(context: PageContext): HTMLFormElement {
  const input = h('input', { id: 'programme-id', name: 'programme', type: 'number', min: 1, max: PROGRAMME_ID_MAX, step: 1, required: true, inputmode: 'numeric' });
  const error = h('div', { 'aria-live': 'polite' });
  return h(
    'form',
    {
      class: 'inline-form',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const value = Number(input.value);
        if (!Number.isInteger(value) || value < 1 || value > PROGRAMME_ID_MAX) {
          replace(error, notice('error', 'A programme number is a whole number from 1.'));
          return;
        }
        if (!context.signal.aborted) {
          location.hash = `#/programmes/${value}`;
        }
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'programme-id' }, 'Programme number'), input),
    h('button', { type: 'submit' }, 'Open'),
    error,
  );
}

function listPage(context: PageContext): void {
  const { main, session } = context;
  const body = h('div', {}, h('p', { class: 'loading' }, 'Reading the programmes…'));
  replace(main, h('h1', { tabindex: -1 }, 'Programmes'), openForm(context), body);
  context
    .retrying('programmes', (signal) => session.api.programmes(signal))
    .then((programmes) => replace(body, programmesTable(programmes, session.info.exponent)))
    .catch((error: unknown) => {
      if (!context.signal.aborted) {
        replace(body, context.problem(error, 'the list of programmes'));
      }
    });
}

function programmesTable(programmes: readonly Programme[], exponent: number): Child {
  if (programmes.length === 0) {
    return empty('No programme yet.');
  }
  return table(
    'Every programme',
    [
      { heading: 'Number', numeric: true },
      { heading: 'Name' },
      { heading: 'Merchant categories' },
      { heading: 'Valid from' },
      { heading: 'Valid until' },
      { heading: 'Paid' },
      { heading: 'Per payment at most', numeric: true },
    ],
    programmes.map((programme) => [
      h('a', { href: `#/programmes/${programme.id}` }, String(programme.id)),
      programme.name,
      programme.allowedMccs.map(mcc).join(', '),
      utcTime(programme.validFromUnixMs),
      utcTime(programme.validUntilUnixMs),
      programme.perPerson ? 'per person, monthly' : 'per address',
      programme.perPaymentMaxMinor === 0n ? 'no limit' : amount(programme.perPaymentMaxMinor, exponent),
    ]),
    { id: 'programmes-table' },
  );
}

function detailPage(context: PageContext, idText: string): void {
  const { main, session } = context;
  const id = /^\d{1,10}$/.test(idText) ? Number(idText) : NaN;
  const heading = h('h1', { tabindex: -1 }, `Programme ${idText}`);
  const body = h('div', {}, h('p', { class: 'loading' }, 'Reading the programme’s figures…'));
  replace(main, h('p', { class: 'breadcrumb' }, h('a', { href: '#/programmes' }, 'All programmes')), heading, body);
  if (!Number.isInteger(id) || id < 1 || id > PROGRAMME_ID_MAX) {
    replace(body, notice('error', `“${idText}” is not a programme number.`));
    return;
  }

  let lastFetchMs = 0;
  let lastHeight: bigint | null = null;
  let fetching = false;
  let pending: ReturnType<typeof setTimeout> | null = null;
  let refused = false;
  context.signal.addEventListener('abort', () => {
    if (pending !== null) clearTimeout(pending);
  });

  const fetchNow = async (): Promise<void> => {
    if (fetching || refused || context.signal.aborted) {
      return;
    }
    fetching = true;
    lastFetchMs = Date.now();
    try {
      const stats = await context.retrying('stats', (signal) => session.api.programmeStats(id, signal));
      if (!context.signal.aborted) {
        heading.textContent = `Programme ${stats.programme.id}: ${stats.programme.name}`;
        document.title = `Programme ${stats.programme.id} — Settled console`;
        replace(body, statsView(stats, session.info.exponent, session.info.currency));
      }
    } catch (error) {
      if (!context.signal.aborted) {
        refused = true;
        const unknown = error instanceof GrpcError && (error.code === Code.NOT_FOUND || error.reason === 'REASON_UNKNOWN_PROGRAMME');
        replace(body, unknown ? notice('error', h('p', {}, `No programme ${id}.`)) : context.problem(error, 'programme figures'));
      }
    } finally {
      fetching = false;
    }
  };

  /** At most one fetch every PROGRAMME_REFRESH_MIN_INTERVAL_MS, the last tip's always made. */
  const refresh = (): void => {
    if (pending !== null || context.signal.aborted) {
      return;
    }
    const wait = Math.max(0, lastFetchMs + PROGRAMME_REFRESH_MIN_INTERVAL_MS - Date.now());
    pending = setTimeout(() => {
      pending = null;
      if (fetching) {
        refresh();
      } else {
        void fetchNow();
      }
    }, wait);
  };

  void fetchNow();
  context.live(
    'tip',
    (signal, opened) => session.api.watchLedger(signal, opened),
    (status) => {
      if (lastHeight !== null && lastHeight !== status.tip.height) {
        refresh();
      }
      lastHeight = status.tip.height;
    },
    () => undefined,
  );
}

function statsView(stats: ProgrammeStats, exponent: number, currency: string): Child {
  const programme = stats.programme;
  const sum = (value: bigint): string => money(value, exponent, currency);
  const plain = (value: bigint): string => amount(value, exponent);
  return [
    h(
      'p',
      { class: 'help' },
      `Figures at block ${count(stats.height)}. Spendable at categories ${programme.allowedMccs.map(mcc).join(', ') || ABSENT}; valid until ${utcTime(programme.validUntilUnixMs)}.`,
    ),
    section(
      'totals',
      'Totals',
      figures([
        { key: 'disbursed', label: 'Disbursed', value: sum(stats.disbursedMinor) },
        { key: 'spent', label: 'Spent at merchants', value: sum(stats.spentMinor) },
        { key: 'refunded', label: 'Refunded to beneficiaries', value: sum(stats.refundedMinor) },
        { key: 'refunded-to-treasury', label: 'Refunded to the treasury', value: sum(stats.refundedToTreasuryMinor) },
        { key: 'clawed-back', label: 'Clawed back', value: sum(stats.clawedBackMinor) },
        { key: 'outstanding', label: 'Outstanding', value: sum(stats.outstandingMinor) },
        { key: 'merchants-paid', label: 'Merchants paid', value: count(stats.merchantsPaid) },
      ]),
    ),
    section('by-mcc', 'Spent by merchant category', byMcc(stats, plain, currency)),
    section('by-day', 'Spent by day', byDay(stats, plain, currency)),
    section('by-period', 'Paid by period', byPeriod(stats, plain, currency)),
    section('top-merchants', 'Merchants paid the most', topMerchants(stats, plain, currency)),
  ];
}

function byMcc(stats: ProgrammeStats, plain: (value: bigint) => string, currency: string): Child {
  if (stats.spentByMcc.length === 0) {
    return empty('Nothing spent yet.');
  }
  return [
    barChart('Spent by merchant category', stats.spentByMcc.map((row) => ({ label: mcc(row.mcc), value: row.amountMinor })), plain),
    table(
      `Spent by merchant category (${currency})`,
      [{ heading: 'Category' }, { heading: 'Spent', numeric: true }],
      stats.spentByMcc.map((row) => [mcc(row.mcc), plain(row.amountMinor)]),
      { id: 'spent-by-mcc' },
    ),
  ];
}

function byDay(stats: ProgrammeStats, plain: (value: bigint) => string, currency: string): Child {
  if (stats.spentByDay.length === 0) {
    return empty('none yet');
  }
  return [
    barChart('Spent by ledger day', stats.spentByDay.map((row) => ({ label: ledgerDay(row.day), value: row.amountMinor })), plain),
    table(
      `Spent by ledger day (${currency})`,
      [{ heading: 'Day' }, { heading: 'Spent', numeric: true }],
      stats.spentByDay.map((row) => [ledgerDay(row.day), plain(row.amountMinor)]),
      { id: 'spent-by-day' },
    ),
  ];
}

function byPeriod(stats: ProgrammeStats, plain: (value: bigint) => string, currency: string): Child {
  if (stats.paidByPeriod.length === 0) {
    return empty(stats.programme.perPerson ? 'none yet' : 'This programme pays addresses, not persons by period.');
  }
  return table(
    'Beneficiaries paid and claims refused as duplicates, by period (counts only, never who)',
    [
      { heading: 'Period' },
      { heading: 'Beneficiaries paid', numeric: true },
      { heading: `Amount (${currency})`, numeric: true },
      { heading: 'Duplicate claims refused', numeric: true },
    ],
    stats.paidByPeriod.map((row) => [period(row.period), count(row.beneficiaries), plain(row.amountMinor), count(row.duplicateClaimsRefused)]),
    { id: 'paid-by-period' },
  );
}

function topMerchants(stats: ProgrammeStats, plain: (value: bigint) => string, currency: string): Child {
  if (stats.topMerchants.length === 0) {
    return empty('No merchant paid yet.');
  }
  return table(
    `The merchants paid the most of the programme's money (${currency})`,
    [
      { heading: 'Merchant' },
      { heading: 'Category' },
      { heading: 'Payments', numeric: true },
      { heading: 'Spent', numeric: true },
      { heading: 'Refunds', numeric: true },
      { heading: 'Refunded', numeric: true },
      { heading: 'Share', numeric: true },
      { heading: 'Last payment' },
      { heading: 'Alerts' },
    ],
    stats.topMerchants.map((merchant) => [
      merchant.merchantId,
      mcc(merchant.mcc),
      count(merchant.payments),
      plain(merchant.spentMinor),
      count(merchant.refunds),
      plain(merchant.refundedMinor),
      sharePercent(merchant.sharePpm),
      utcTime(merchant.lastPaymentUnixMs),
      h(
        'a',
        { href: `#/alerts?programme=${stats.programme.id}&merchant=${encodeURIComponent(merchant.merchantId)}` },
        'alerts',
        h('span', { class: 'visually-hidden' }, ` of ${merchant.merchantId}`),
      ),
    ]),
    { id: 'top-merchants' },
  );
}
