/**
 * A payment by txid (GetPayment): its status, movements and receipt, and
 * the verdict of this browser on it, not the server's: the transaction's
 * canonical encoding hashes to the txid asked for, and the receipt verifies
 * against the pinned engine key and chain id (`@settled/client/verify`).
 *
 * @module
 */
import { type Receipt, type Transaction, toHex, txid, VerificationError, verifyReceipt } from '@settled/client/verify';

import type { Payment } from '../api.js';
import type { PageContext, Session } from '../app.js';
import { type Child, empty, figures, h, notice, replace, section, table } from '../dom.js';
import { ABSENT, amount, count, utcTime } from '../format.js';
import { Code, GrpcError } from '../grpcweb.js';

const KIND_NAMES: Readonly<Record<number, string>> = {
  1: 'payment (transfer)',
  2: 'mint',
  3: 'redemption',
  4: 'clawback',
  5: 'refund',
  6: 'recovery',
};

/** A txid as typed: 64 hex digits, either case. */
const TXID_PATTERN = /^[0-9a-fA-F]{64}$/;

export function paymentPage(context: PageContext): void {
  const { main, session } = context;
  const [asked] = context.path;
  const input = h('input', {
    id: 'txid',
    name: 'txid',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    value: asked ?? '',
    'aria-describedby': 'txid-error',
    class: 'hex-input',
  });
  const formError = h('div', { id: 'txid-error', 'aria-live': 'polite' });
  const result = h('div', { id: 'payment-result' });
  const form = h(
    'form',
    {
      class: 'inline-form',
      novalidate: true,
      onsubmit: (event: Event) => {
        event.preventDefault();
        const text = input.value.trim();
        if (!TXID_PATTERN.test(text)) {
          showFormError(formError, input, text);
          return;
        }
        location.hash = `#/payment/${text.toLowerCase()}`;
      },
    },
    h('div', { class: 'field field-wide' }, h('label', { for: 'txid' }, 'Transaction id (64 hex digits)'), input),
    h('button', { type: 'submit' }, 'Look up'),
    formError,
  );
  replace(main, h('h1', { tabindex: -1 }, 'Payment'), form, result);
  if (asked === undefined) {
    return;
  }
  if (!TXID_PATTERN.test(asked)) {
    showFormError(formError, input, asked);
    return;
  }
  const wanted = asked.toLowerCase();
  replace(result, h('p', { class: 'loading' }, 'Reading the payment…'));
  context
    .retrying('payment', (signal) => session.api.payment(fromHexText(wanted), signal))
    .then((payment) => {
      if (!context.signal.aborted) {
        replace(result, paymentView(session, wanted, payment));
      }
    })
    .catch((error: unknown) => {
      if (context.signal.aborted) {
        return;
      }
      if (error instanceof GrpcError && error.code === Code.NOT_FOUND) {
        replace(result, unknownPayment(wanted));
      } else {
        // A bank or a terminal reads the payments of its own customers only.
        const partial = session.caller.role === 'bank' || session.caller.role === 'terminal';
        replace(result, context.problem(error, partial ? 'this payment (it concerns none of its customers)' : 'payments'));
      }
    });
}

function showFormError(target: HTMLElement, input: HTMLInputElement, text: string): void {
  input.setAttribute('aria-invalid', 'true');
  replace(
    target,
    notice('error', h('p', { id: 'txid-invalid' }, `“${text.length > 80 ? `${text.slice(0, 80)}…` : text}” is not a transaction id: a txid is 64 hex digits (0-9, a-f).`)),
  );
}

function unknownPayment(wanted: string): HTMLElement {
  return notice('error', h('p', { id: 'payment-unknown' }, 'No payment with this txid.'), h('p', { class: 'detail hex' }, wanted));
}

function fromHexText(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let index = 0; index < bytes.length; index += 1) {
    bytes[index] = parseInt(hex.slice(2 * index, 2 * index + 2), 16);
  }
  return bytes;
}

/** Why this browser does not accept the payment's receipt: empty when it does. */
export function receiptProblems(wanted: string, receipt: Receipt, transaction: Transaction | undefined, engineKey: Uint8Array, chainId: Uint8Array): string[] {
  const problems: string[] = [];
  if (transaction === undefined) {
    problems.push('the server sent no transaction to hash');
  } else {
    const computed = toHex(txid(transaction));
    if (computed !== wanted) {
      problems.push(`the transaction's canonical encoding hashes to ${computed}, not to the txid asked for`);
    }
  }
  if (toHex(receipt.txid) !== wanted) {
    problems.push(`the receipt is for ${toHex(receipt.txid)}, not for the txid asked for`);
  }
  try {
    verifyReceipt(receipt, engineKey, chainId);
  } catch (error) {
    problems.push(error instanceof VerificationError ? error.message : `the receipt cannot be checked (${String(error)})`);
  }
  return problems;
}

function paymentView(session: Session, wanted: string, payment: Payment): Child {
  if (payment.status === 'unknown') {
    return unknownPayment(wanted);
  }
  const { receipt, transaction } = payment;
  const { exponent, currency } = session.info;
  const problems = receiptProblems(wanted, receipt, transaction, session.pins.engineKey, session.pins.chainId);
  const verdict = verdictView(problems);
  const block = receipt.block;
  return [
    verdict,
    section(
      'summary',
      'Payment',
      figures([
        { key: 'status', label: 'Status', value: 'confirmed' },
        { key: 'txid', label: 'Transaction id', wide: true, value: h('code', { class: 'hex' }, wanted) },
        { key: 'kind', label: 'Kind', value: transaction === undefined ? ABSENT : (KIND_NAMES[transaction.kind] ?? `unknown kind ${transaction.kind}`) },
        { key: 'reference', label: 'Reference', value: transaction === undefined ? ABSENT : referenceText(transaction.reference) },
        {
          key: 'total',
          label: 'Outputs in all (change included)',
          value: transaction === undefined ? ABSENT : `${amount(transaction.outputs.reduce((sum, output) => sum + output.amountMinor, 0n), exponent)} ${currency}`,
        },
      ]),
    ),
    section(
      'movements',
      'Movements',
      transaction === undefined
        ? empty('The server sent no transaction.')
        : [
            transaction.inputs.length === 0
              ? empty('No inputs: new money (a mint).')
              : table(
                  'Inputs: the outputs this transaction spent',
                  [{ heading: '#', numeric: true }, { heading: 'Transaction' }, { heading: 'Output', numeric: true }],
                  transaction.inputs.map((input, index) => [String(index), h('a', { href: `#/payment/${toHex(input.txid)}`, class: 'hex' }, toHex(input.txid)), String(input.index)]),
                  { id: 'inputs-table' },
                ),
            table(
              `Outputs: what it paid (${currency})`,
              [{ heading: '#', numeric: true }, { heading: 'Address' }, { heading: 'Amount', numeric: true }, { heading: 'Programme', numeric: true }],
              transaction.outputs.map((output, index) => [
                String(index),
                h('code', { class: 'hex' }, toHex(output.address)),
                amount(output.amountMinor, exponent),
                output.programmeId === 0 ? 'unrestricted' : String(output.programmeId),
              ]),
              { id: 'outputs-table' },
            ),
          ],
    ),
    section(
      'receipt',
      'Receipt',
      figures([
        { key: 'sequence', label: 'Sequence', value: count(receipt.sequence) },
        { key: 'block-height', label: 'Block height', value: count(block.height) },
        { key: 'block-time', label: 'Block time', value: utcTime(block.timeUnixMs) },
        { key: 'index-in-block', label: 'Index in block', value: `${count(receipt.indexInBlock)} of ${count(block.txCount)}` },
        { key: 'merkle-path', label: 'Merkle path', value: `${receipt.merklePath.length} steps` },
        { key: 'block-hash', label: 'Block hash', wide: true, value: h('code', { class: 'hex' }, toHex(block.hash ?? new Uint8Array())) },
        { key: 'engine-signature', label: 'Engine signature', wide: true, value: h('code', { class: 'hex' }, toHex(block.engineSignature)) },
        { key: 'pinned-key', label: 'Checked against engine key', wide: true, value: h('code', { class: 'hex' }, toHex(session.pins.engineKey)) },
      ]),
    ),
  ];
}

/** The browser's verdict on the receipt: impossible to miss, an alert when it fails. */
function verdictView(problems: readonly string[]): HTMLElement {
  if (problems.length === 0) {
    return h(
      'div',
      { class: 'verdict verdict-good', role: 'status', id: 'receipt-verdict', 'data-verdict': 'verified' },
      h('p', { class: 'verdict-title' }, 'Receipt verified in this browser against the pinned engine key'),
      h('p', {}, 'The engine signed this block for the pinned chain, the Merkle path leads from the txid to its root, and the transaction’s canonical encoding hashes to the txid.'),
    );
  }
  return h(
    'div',
    { class: 'verdict verdict-bad', role: 'alert', id: 'receipt-verdict', 'data-verdict': 'failed' },
    h('p', { class: 'verdict-title' }, `Receipt does NOT verify: ${problems[0] ?? ''}`),
    problems.length > 1 ? h('ul', {}, problems.slice(1).map((problem) => h('li', {}, problem))) : null,
  );
}

/** A reference as text when it is printable ASCII, else as hex. */
function referenceText(reference: Uint8Array): Child {
  if (reference.length === 0) {
    return 'none';
  }
  const printable = reference.every((byte) => byte >= 0x20 && byte < 0x7f);
  return printable ? String.fromCharCode(...reference) : h('code', { class: 'hex' }, toHex(reference));
}
