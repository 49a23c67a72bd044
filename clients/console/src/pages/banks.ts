/**
 * Net positions between banks over a range of blocks (GetNetPositions):
 * the flows between banks and each bank's position. A bank's session asks
 * for its own; asking for another bank's is the server's to refuse, and
 * the page says so.
 *
 * @module
 */
import type { NetPositions } from '../api.js';
import type { PageContext } from '../app.js';
import { type Child, empty, h, notice, replace, table } from '../dom.js';
import { amount, count } from '../format.js';
import { Code, GrpcError } from '../grpcweb.js';
import { mayListBanks } from '../roles.js';

/** A height as typed: a whole number the console can send exactly. */
function height(text: string | null): bigint | null {
  if (text === null || text.trim() === '') {
    return 0n;
  }
  return /^\d{1,15}$/.test(text.trim()) ? BigInt(text.trim()) : null;
}

/** How a bank reads in a table: money outside every bank is the `""` row. */
function bankName(bank: string): string {
  return bank === '' ? '(outside any bank)' : bank;
}

export function banksPage(context: PageContext): void {
  const { main, session, query } = context;
  const isBank = session.caller.role === 'bank';
  const after = height(query.get('after'));
  const until = height(query.get('until'));
  const asked = query.get('bank') ?? (isBank ? session.caller.id : '');

  const afterInput = h('input', { id: 'after-height', name: 'after', type: 'number', min: 0, step: 1, inputmode: 'numeric', value: String(after ?? 0n), 'aria-describedby': 'range-help' });
  const untilInput = h('input', { id: 'until-height', name: 'until', type: 'number', min: 0, step: 1, inputmode: 'numeric', value: String(until ?? 0n), 'aria-describedby': 'range-help' });
  const bankSelect = h('select', { id: 'bank-select', name: 'bank' }, h('option', { value: '' }, 'Every bank'));
  if (asked !== '') {
    bankSelect.append(h('option', { value: asked, selected: true }, asked));
  }
  const result = h('div', { id: 'banks-result' });
  const form = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const params = new URLSearchParams({ after: afterInput.value.trim() || '0', until: untilInput.value.trim() || '0' });
        const bank = isBank ? asked : bankSelect.value;
        if (bank !== '') params.set('bank', bank);
        location.hash = `#/banks?${params.toString()}`;
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'after-height' }, 'After height'), afterInput),
    h('div', { class: 'field' }, h('label', { for: 'until-height' }, 'Until height'), untilInput),
    isBank
      ? h('p', { class: 'field-static' }, 'Bank: ', h('strong', {}, asked))
      : h('div', { class: 'field' }, h('label', { for: 'bank-select' }, 'Bank'), bankSelect),
    h('button', { type: 'submit' }, 'Show'),
    h('p', { class: 'help', id: 'range-help' }, 'The blocks after the first height up to and including the second; 0 for the second is the tip.'),
  );
  replace(main, h('h1', { tabindex: -1 }, 'Net positions between banks'), form, result);

  if (after === null || until === null) {
    replace(result, notice('error', 'A height is a whole number from 0.'));
    return;
  }
  const known = new Set<string>(asked === '' ? [] : [asked]);
  const offer = (banks: readonly string[]): void => {
    for (const bank of banks) {
      if (bank !== '' && !known.has(bank)) {
        known.add(bank);
        bankSelect.append(h('option', { value: bank }, bank));
      }
    }
  };
  if (!isBank && mayListBanks(session.caller.role)) {
    context
      .retrying('banks', (signal) => session.api.banks(signal))
      .then((banks) => offer(banks.map((bank) => bank.id)))
      .catch(() => undefined);
  }

  replace(result, h('p', { class: 'loading' }, 'Reading the net positions…'));
  context
    .retrying('positions', (signal) => session.api.netPositions(after, until, asked, signal))
    .then((positions) => {
      if (context.signal.aborted) return;
      offer(positions.positions.map((position) => position.bank));
      replace(result, positionsView(positions, session.info.exponent, session.info.currency));
    })
    .catch((error: unknown) => {
      if (context.signal.aborted) return;
      if (error instanceof GrpcError && error.code === Code.PERMISSION_DENIED && asked !== '' && (!isBank || asked !== session.caller.id)) {
        replace(
          result,
          notice('error', h('p', { class: 'denied' }, `This credential may not read bank ${asked}'s figures.`), h('p', { class: 'detail' }, 'The server said: ', error.grpcMessage)),
        );
      } else if (error instanceof GrpcError && error.code === Code.NOT_FOUND && asked !== '') {
        replace(result, notice('error', h('p', { id: 'no-such-bank' }, `No bank ${asked}.`)));
      } else {
        replace(result, context.problem(error, 'net positions'));
      }
    });
}

function positionsView(positions: NetPositions, exponent: number, currency: string): Child {
  const range = `blocks ${count(positions.fromHeight + 1n)} to ${count(positions.untilHeight)}`;
  return [
    h('p', { class: 'help', id: 'banks-range' }, `Over ${range} (after block ${count(positions.fromHeight)}, up to and including block ${count(positions.untilHeight)}).`),
    h('h2', {}, 'Flows between banks'),
    positions.flows.length === 0
      ? empty('No payment between distinct banks in these blocks.')
      : table(
          `What each bank's customers paid another bank's, ${range} (${currency})`,
          [{ heading: 'Payer bank' }, { heading: 'Payee bank' }, { heading: 'Amount', numeric: true }],
          positions.flows.map((flow) => [bankName(flow.payerBank), bankName(flow.payeeBank), amount(flow.amountMinor, exponent)]),
          { id: 'flows-table' },
        ),
    h('h2', {}, 'Positions'),
    positions.positions.length === 0
      ? empty('No bank moved money in these blocks.')
      : table(
          `Each bank's position, ${range} (${currency}; net = received - paid)`,
          [
            { heading: 'Bank' },
            { heading: 'Paid', numeric: true },
            { heading: 'Received', numeric: true },
            { heading: 'Issued', numeric: true },
            { heading: 'Redeemed', numeric: true },
            { heading: 'Net', numeric: true },
          ],
          positions.positions.map((position) => [
            bankName(position.bank),
            amount(position.paidMinor, exponent),
            amount(position.receivedMinor, exponent),
            amount(position.issuedMinor, exponent),
            amount(position.redeemedMinor, exponent),
            amount(position.netMinor, exponent),
          ]),
          { id: 'positions-table' },
        ),
  ];
}
