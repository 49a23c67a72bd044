/**
 * Statements: checking what `ReconciliationService.GetStatement` sends
 * (docs/PROTOCOL.md §9.4), without the network.
 *
 * A bank's statement of one ledger day comes as ISO 20022 camt.053.001.08
 * (`BankToCustomerStatementV08`), as a camt.052.001.08 intraday report
 * (`BankToCustomerAccountReportV08`) or as CSV. {@link verifyStatement}
 * reads one back and checks that it holds together with the rules of the
 * engine's own checker (`check_camt053` / `check_camt052` of
 * `src/api/statement.rs`) and, for CSV, those of its writer: one statement
 * of one bank and one day, in the namespace of its format, one currency
 * throughout, amounts with the currency's exponent, opening and closing
 * balances, every entry's amount, direction and txid, the entries adding up
 * to the transaction summary, and opening + credits − debits = closing.
 *
 * The XML is read with `saxes` (a strict, namespace-aware XML 1.0 parser);
 * a document with a DOCTYPE is refused, and no entity but XML's five and
 * character references is ever resolved.
 *
 * @module
 */
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { SaxesParser, type SaxesTagNS } from 'saxes';

import { AmountError, CURRENCY_EXPONENT_MAX, parseAmount } from './amount.js';
import { fromHex, sha256, toHex, U64_MAX } from './bytes.js';
import { VerificationError } from './errors.js';

/** The formats of `GetStatement`: ISO 20022 camt.053 (the day's statement), camt.052 (intraday), CSV. */
export type StatementFormat = 'camt053' | 'camt052' | 'csv';

/** The XML namespace of a statement (camt.053.001.08). */
export const CAMT053_NAMESPACE = 'urn:iso:std:iso:20022:tech:xsd:camt.053.001.08';
/** The XML namespace of an intraday report (camt.052.001.08). */
export const CAMT052_NAMESPACE = 'urn:iso:std:iso:20022:tech:xsd:camt.052.001.08';
/** The header line of a CSV statement: its columns, in order. */
export const STATEMENT_CSV_HEADER =
  'booking_date,sequence,height,time_utc,txid,kind,direction,amount,currency,programme,address,merchant,counterparty,terminal';
/** The most entries a statement holds (`STATEMENT_ENTRIES_MAX`). */
export const STATEMENT_ENTRIES_MAX = 2_000_000;

/** Statements nest 13 deep; anything far deeper is not a statement. */
const XML_DEPTH_MAX = 32;
const DAY_MS = 86_400_000n;
const OFFSET_MINUTES_MAX = 14 * 60;
/** Keys of the CSV's `# key,value` lines, in the order the engine writes them. */
const CSV_KEYS = [
  'statement',
  'bank',
  'bank_name',
  'booking_date',
  'day_offset',
  'currency',
  'from_height',
  'until_height',
  'created_utc',
  'opening_balance',
  'closing_balance',
  'credit_entries',
  'credits',
  'debit_entries',
  'debits',
] as const;
const CSV_KINDS = ['clawback', 'mint', 'payment', 'recovery', 'redeem', 'refund'];
const HEX64 = /^[0-9a-fA-F]{64}$/;
const UTC_TIME = /^([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{3})Z$/;

/** One entry of a statement: the transaction, the direction for the bank's customer, the amount. */
export interface StatementEntry {
  readonly txid: Uint8Array;
  readonly direction: 'credit' | 'debit';
  readonly amountMinor: bigint;
}

/**
 * What a statement says, once it holds together. Balances are signed minor
 * units (negative: `DBIT`); counts and sums are the transaction summary's
 * (CSV: its `#` lines'), which the entries add up to.
 */
export interface CheckedStatement {
  readonly bankId: string;
  /** The ledger day, `YYYY-MM-DD`. */
  readonly date: string;
  readonly currency: string;
  readonly openingMinor: bigint;
  readonly closingMinor: bigint;
  readonly creditEntries: bigint;
  readonly creditsMinor: bigint;
  readonly debitEntries: bigint;
  readonly debitsMinor: bigint;
  /** In ledger order. */
  readonly entries: readonly StatementEntry[];
  /** A closed day's statement (`CLBD`): true; an interim one (`ITBD`): false; CSV, which does not say: undefined. */
  readonly closed: boolean | undefined;
}

/**
 * Reads a statement back and checks that it holds together (PROTOCOL.md §9.4).
 *
 * @param document - the statement as `GetStatement` sent it: bytes (UTF-8) or text.
 * @param format - `'camt053'`, `'camt052'` or `'csv'`.
 * @param exponent - the currency's exponent (`GetInfo.currency_exponent`):
 *   every amount has at most that many decimals.
 * @returns the bank, date, currency, balances, counts, sums and entries it holds.
 * @throws VerificationError naming the first thing that does not hold.
 */
export function verifyStatement(
  document: Uint8Array | string,
  format: StatementFormat,
  exponent: number,
): CheckedStatement {
  if (!Number.isInteger(exponent) || exponent < 0 || exponent > CURRENCY_EXPONENT_MAX) {
    throw invalid(`currency exponent ${exponent} is above ${CURRENCY_EXPONENT_MAX}`);
  }
  const text = typeof document === 'string' ? document : utf8(document);
  switch (format) {
    case 'camt053':
      return checkCamt(CAMT053, text, exponent);
    case 'camt052':
      return checkCamt(CAMT052, text, exponent);
    case 'csv':
      return checkCsv(text, exponent);
    default:
      throw new TypeError(`${JSON.stringify(format)} is not a statement format (camt053, camt052 or csv)`);
  }
}

/**
 * `id` where it has at most `max` characters; a longer one becomes its
 * first `max − 9` characters, `~` and the first 8 hex digits of its SHA-256
 * (as the engine fits ids into the schema's fields).
 */
export function fittedId(id: string, max: number): string {
  if (id.length <= max) {
    return id;
  }
  return `${id.slice(0, Math.max(max - 9, 0))}~${toHex(sha256(utf8ToBytes(id))).slice(0, 8)}`;
}

/**
 * `Stmt/Id` (and the CSV's `statement`): `STLD-`, the date as YYYYMMDD, `-`,
 * the first 20 hex digits of SHA-256 of the bank id.
 */
export function statementId(bankId: string, date: string): string {
  return `STLD-${date.replaceAll('-', '')}-${toHex(sha256(utf8ToBytes(bankId))).slice(0, 20)}`;
}

function invalid(reason: string): VerificationError {
  return new VerificationError(`statement does not hold: ${reason}`);
}

interface Utf8Decoder {
  decode(bytes: Uint8Array): string;
}

/** Strict UTF-8 (`TextDecoder`, a global of browsers and Node alike). */
function utf8(bytes: Uint8Array): string {
  const Decoder = (
    globalThis as unknown as { TextDecoder: new (label: string, options: { fatal: boolean }) => Utf8Decoder }
  ).TextDecoder;
  try {
    return new Decoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw invalid('the document is not UTF-8');
  }
}

// -- dates -------------------------------------------------------------------

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** Days since 1970-01-01 of a `YYYY-MM-DD` calendar date; undefined when it is not one. */
function parseDate(text: string): number | undefined {
  const found = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(text);
  if (found === null) {
    return undefined;
  }
  const [year, month, day] = [Number(found[1]), Number(found[2]), Number(found[3])];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (monthDays === undefined || day < 1 || day > monthDays) {
    return undefined;
  }
  return daysFromCivil(year, month, day);
}

/** The calendar date an ISO date-time starts with. */
function dateOfDateTime(text: string, what: string): string {
  if (parseDate(text.slice(0, 10)) === undefined || !text.slice(10).startsWith('T')) {
    throw invalid(`${what} '${text}' is not an ISO date-time`);
  }
  return text.slice(0, 10);
}

// -- amounts and counts ------------------------------------------------------

/** Minor units of decimal text, or the engine's words for what it is not. */
function amount(text: string, exponent: number, what: string): bigint {
  try {
    return parseAmount(text, exponent);
  } catch (error) {
    if (!(error instanceof AmountError)) {
      throw error;
    }
    const reasons: Record<string, string> = {
      empty: 'empty amount',
      not_decimal: `'${text}' is not a plain decimal number (digits, optionally one '.' and more digits)`,
      too_precise: `'${text}' has more than ${exponent} decimal places`,
      overflow: `'${text}' is larger than the largest amount`,
    };
    throw invalid(`${what}: ${reasons[error.code] ?? error.message}`);
  }
}

function count(text: string, what: string, max: bigint = U64_MAX): bigint {
  if (!/^[0-9]+$/.test(text) || BigInt(text) > max) {
    throw invalid(`${what} '${text}' is not a count`);
  }
  return BigInt(text);
}

function isCurrencyCode(text: string): boolean {
  return /^[A-Z]{3}$/.test(text);
}

type Direction = 'credit' | 'debit';

function signed(amountMinor: bigint, direction: Direction): bigint {
  return direction === 'credit' ? amountMinor : -amountMinor;
}

// -- camt.053 / camt.052 -----------------------------------------------------

/** One of the two ISO 20022 documents: its namespace and element names. */
interface Camt {
  readonly namespace: string;
  readonly root: string;
  readonly record: string;
  readonly additional: string;
}

const CAMT053: Camt = {
  namespace: CAMT053_NAMESPACE,
  root: 'BkToCstmrStmt',
  record: 'Stmt',
  additional: 'AddtlStmtInf',
};
const CAMT052: Camt = {
  namespace: CAMT052_NAMESPACE,
  root: 'BkToCstmrAcctRpt',
  record: 'Rpt',
  additional: 'AddtlRptInf',
};

function direction(text: string): Direction {
  if (text === 'CRDT') {
    return 'credit';
  }
  if (text === 'DBIT') {
    return 'debit';
  }
  throw invalid(`CdtDbtInd '${text}' is neither CRDT nor DBIT`);
}

interface BalanceDraft {
  code?: string;
  amountMinor?: bigint;
  direction?: Direction;
  date?: string;
}

interface EntryDraft {
  amountMinor?: bigint;
  direction?: Direction;
  bookingDate?: string;
  endToEndId?: string;
  additional?: string;
  transactions: number;
  detailAmountMinor?: bigint;
  detailDirection?: Direction;
}

interface SummaryDraft {
  entries?: bigint;
  turnoverMinor?: bigint;
  netMinor?: bigint;
  netDirection?: Direction;
  creditEntries?: bigint;
  creditsMinor?: bigint;
  debitEntries?: bigint;
  debitsMinor?: bigint;
}

/** What has been read so far of the one statement (or report) in a document. */
class Checker {
  statements = 0;
  bankId: string | undefined;
  accountId: string | undefined;
  currency: string | undefined;
  date: string | undefined;
  toDate: string | undefined;
  openingMinor: bigint | undefined;
  closingMinor: bigint | undefined;
  closed: boolean | undefined;
  balance: BalanceDraft = {};
  summary: SummaryDraft = {};
  entry: EntryDraft = { transactions: 0 };
  readonly entries: StatementEntry[] = [];
  creditEntries = 0n;
  creditsMinor = 0n;
  debitEntries = 0n;
  debitsMinor = 0n;

  constructor(
    readonly camt: Camt,
    readonly exponent: number,
  ) {}

  /** The elements below `Document/<root>/<record>`, or undefined outside a statement. */
  statementPath(path: readonly string[]): string[] | undefined {
    const [document, root, record, ...rest] = path;
    return document === 'Document' && root === this.camt.root && record === this.camt.record ? rest : undefined;
  }

  entryNumber(): number {
    return this.entries.length + 1;
  }

  inEntry(inner: readonly string[]): string {
    return inner[0] === 'Ntry' ? ` (entry ${this.entryNumber()})` : '';
  }

  amount(text: string, what: string): bigint {
    return amount(text, this.exponent, what);
  }

  /** An element opens; `currency` is its `Ccy` attribute, if any. */
  start(path: readonly string[], currency: string | undefined): void {
    const { root, record } = this.camt;
    const inner = this.statementPath(path);
    if (inner === undefined) {
      if (path.length === 3 && path[2] === record) {
        throw invalid(`<${record}> outside Document/${root}`);
      }
      return;
    }
    const key = inner.join('/');
    if (key === '') {
      this.statements += 1;
      if (this.statements > 1) {
        throw invalid(`more than one <${record}> in the document`);
      }
    } else if (key === 'Bal') {
      this.balance = {};
    } else if (key === 'Ntry') {
      this.entry = { transactions: 0 };
    } else if (key === 'Ntry/NtryDtls/TxDtls') {
      this.entry.transactions += 1;
      if (this.entry.transactions > 1) {
        throw invalid(`entry ${this.entryNumber()} holds more than one transaction`);
      }
    }
    const currencyRequired = key === 'Bal/Amt' || key === 'Ntry/Amt' || key === 'Ntry/NtryDtls/TxDtls/Amt';
    if (currency !== undefined) {
      if (this.currency === undefined) {
        throw invalid(`<${key}> comes before the account's currency`);
      }
      if (currency !== this.currency) {
        throw invalid(`<${key}> is in ${currency}, the account in ${this.currency}${this.inEntry(inner)}`);
      }
    } else if (currencyRequired) {
      throw invalid(`<${key}> has no Ccy${this.inEntry(inner)}`);
    }
  }

  /** An element closes; `text` is its text, trimmed. */
  end(path: readonly string[], text: string): void {
    const inner = this.statementPath(path);
    if (inner === undefined) {
      return;
    }
    const key = inner.join('/');
    switch (key) {
      case 'Acct/Id/Othr/Id':
        this.accountId = text;
        break;
      case this.camt.additional:
        // `bank <id>; ...`: the whole bank id, which the account's
        // identification may carry only fitted.
        this.bankId = text.startsWith('bank ') ? text.slice('bank '.length).split(';')[0] : undefined;
        break;
      case 'Ntry/NtryDtls/TxDtls/AddtlTxInf':
        this.entry.additional = text;
        break;
      case 'Acct/Ccy':
        if (!isCurrencyCode(text)) {
          throw invalid(`account currency '${text}' is not three capital letters`);
        }
        this.currency = text;
        break;
      case 'FrToDt/FrDtTm':
        this.date = dateOfDateTime(text, 'FrToDt/FrDtTm');
        break;
      case 'FrToDt/ToDtTm':
        this.toDate = dateOfDateTime(text, 'FrToDt/ToDtTm');
        break;
      case 'Bal/Tp/CdOrPrtry/Cd':
        this.balance.code = text;
        break;
      case 'Bal/Amt':
        this.balance.amountMinor = this.amount(text, 'balance amount');
        break;
      case 'Bal/CdtDbtInd':
        this.balance.direction = direction(text);
        break;
      case 'Bal/Dt/Dt':
        this.balance.date = text;
        break;
      case 'Bal':
        this.finishBalance();
        break;
      case 'TxsSummry/TtlNtries/NbOfNtries':
        this.summary.entries = count(text, 'NbOfNtries');
        break;
      case 'TxsSummry/TtlNtries/Sum':
        this.summary.turnoverMinor = this.amount(text, 'TtlNtries/Sum');
        break;
      case 'TxsSummry/TtlNtries/TtlNetNtry/Amt':
        this.summary.netMinor = this.amount(text, 'TtlNetNtry');
        break;
      case 'TxsSummry/TtlNtries/TtlNetNtry/CdtDbtInd':
        this.summary.netDirection = direction(text);
        break;
      case 'TxsSummry/TtlCdtNtries/NbOfNtries':
        this.summary.creditEntries = count(text, 'NbOfNtries');
        break;
      case 'TxsSummry/TtlCdtNtries/Sum':
        this.summary.creditsMinor = this.amount(text, 'TtlCdtNtries/Sum');
        break;
      case 'TxsSummry/TtlDbtNtries/NbOfNtries':
        this.summary.debitEntries = count(text, 'NbOfNtries');
        break;
      case 'TxsSummry/TtlDbtNtries/Sum':
        this.summary.debitsMinor = this.amount(text, 'TtlDbtNtries/Sum');
        break;
      case 'Ntry/Amt':
        this.entry.amountMinor = this.amount(text, `entry ${this.entryNumber()} amount`);
        break;
      case 'Ntry/CdtDbtInd':
        this.entry.direction = direction(text);
        break;
      case 'Ntry/BookgDt/Dt':
        this.entry.bookingDate = text;
        break;
      case 'Ntry/NtryDtls/TxDtls/Refs/EndToEndId':
        this.entry.endToEndId = text;
        break;
      case 'Ntry/NtryDtls/TxDtls/Amt':
        this.entry.detailAmountMinor = this.amount(text, `entry ${this.entryNumber()} transaction amount`);
        break;
      case 'Ntry/NtryDtls/TxDtls/CdtDbtInd':
        this.entry.detailDirection = direction(text);
        break;
      case 'Ntry':
        this.finishEntry();
        break;
      default:
    }
  }

  finishBalance(): void {
    const balance = this.balance;
    this.balance = {};
    const code = balance.code;
    if (code === undefined) {
      throw invalid('a <Bal> without Tp/CdOrPrtry/Cd');
    }
    if (code !== 'OPBD' && code !== 'CLBD' && code !== 'ITBD') {
      return;
    }
    if (code !== 'OPBD') {
      if (this.closed !== undefined) {
        throw invalid('more than one closing (CLBD or ITBD) balance');
      }
      this.closed = code === 'CLBD';
    }
    if (balance.amountMinor === undefined) {
      throw invalid(`the ${code} balance has no Amt`);
    }
    if (balance.direction === undefined) {
      throw invalid(`the ${code} balance has no CdtDbtInd`);
    }
    if (balance.date === undefined) {
      throw invalid(`the ${code} balance has no Dt/Dt`);
    }
    this.date ??= balance.date;
    if (balance.date !== this.date) {
      throw invalid(`the ${code} balance is dated ${balance.date}, the statement ${this.date}`);
    }
    const signedMinor = signed(balance.amountMinor, balance.direction);
    if (code === 'OPBD') {
      if (this.openingMinor !== undefined) {
        throw invalid(`more than one ${code} balance`);
      }
      this.openingMinor = signedMinor;
    } else {
      if (this.closingMinor !== undefined) {
        throw invalid(`more than one ${code} balance`);
      }
      this.closingMinor = signedMinor;
    }
  }

  finishEntry(): void {
    const number = this.entryNumber();
    const entry = this.entry;
    this.entry = { transactions: 0 };
    if (this.entries.length >= STATEMENT_ENTRIES_MAX) {
      throw invalid(`a statement holds at most ${STATEMENT_ENTRIES_MAX} entries, this one ${number}`);
    }
    if (this.date === undefined) {
      throw invalid(`entry ${number} comes before any date`);
    }
    if (entry.bookingDate === undefined) {
      throw invalid(`entry ${number} has no BookgDt/Dt`);
    }
    if (entry.bookingDate !== this.date) {
      throw invalid(`entry ${number} is booked on ${entry.bookingDate}, the statement is of ${this.date}`);
    }
    if (entry.amountMinor === undefined) {
      throw invalid(`entry ${number} has no Amt`);
    }
    if (entry.direction === undefined) {
      throw invalid(`entry ${number} has no CdtDbtInd`);
    }
    if (
      (entry.detailAmountMinor !== undefined && entry.detailAmountMinor !== entry.amountMinor) ||
      (entry.detailDirection !== undefined && entry.detailDirection !== entry.direction)
    ) {
      throw invalid(`entry ${number}'s transaction details differ from its amount`);
    }
    // `txid <hex>; ...` opens the transaction's additional information;
    // the end-to-end id is the txid's first digits.
    if (entry.additional === undefined || !entry.additional.startsWith('txid ')) {
      throw invalid(`entry ${number} has no AddtlTxInf opening with its txid`);
    }
    const reference = entry.additional.slice('txid '.length).split(';')[0] ?? '';
    if (!HEX64.test(reference.trim())) {
      throw invalid(`entry ${number}'s reference ${reference} is not a txid`);
    }
    if (entry.endToEndId !== undefined && !reference.startsWith(entry.endToEndId)) {
      throw invalid(`entry ${number}'s EndToEndId ${entry.endToEndId} is not its txid ${reference}'s`);
    }
    if (entry.direction === 'credit') {
      this.creditEntries += 1n;
      this.creditsMinor += entry.amountMinor;
    } else {
      this.debitEntries += 1n;
      this.debitsMinor += entry.amountMinor;
    }
    this.entries.push({ txid: fromHex(reference.trim()), direction: entry.direction, amountMinor: entry.amountMinor });
  }

  finish(): CheckedStatement {
    const { root, record, additional } = this.camt;
    if (this.statements === 0) {
      throw invalid(`no Document/${root}/${record}`);
    }
    if (this.accountId === undefined) {
      throw invalid('no Acct/Id/Othr/Id');
    }
    if (this.bankId === undefined) {
      throw invalid(`no ${additional} naming the bank`);
    }
    if (fittedId(this.bankId, 34) !== this.accountId) {
      throw invalid(`the account ${this.accountId} is not bank ${this.bankId}'s`);
    }
    if (this.currency === undefined) {
      throw invalid('no Acct/Ccy');
    }
    if (this.date === undefined) {
      throw invalid('no FrToDt and no dated balance');
    }
    if (this.toDate !== undefined && this.toDate !== this.date) {
      throw invalid(`the statement runs from ${this.date} to ${this.toDate}, not one day`);
    }
    if (this.openingMinor === undefined) {
      throw invalid('no OPBD balance');
    }
    if (this.closingMinor === undefined) {
      throw invalid('no CLBD (or ITBD) balance');
    }
    const summary = this.summary;
    if (summary.creditEntries === undefined) {
      throw invalid('no TtlCdtNtries/NbOfNtries');
    }
    if (summary.creditsMinor === undefined) {
      throw invalid('no TtlCdtNtries/Sum');
    }
    if (summary.debitEntries === undefined) {
      throw invalid('no TtlDbtNtries/NbOfNtries');
    }
    if (summary.debitsMinor === undefined) {
      throw invalid('no TtlDbtNtries/Sum');
    }
    if (this.creditEntries !== summary.creditEntries || this.creditsMinor !== summary.creditsMinor) {
      throw invalid(
        `the entries hold ${this.creditEntries} credits of ${this.creditsMinor} minor units, ` +
          `TtlCdtNtries says ${summary.creditEntries} of ${summary.creditsMinor}`,
      );
    }
    if (this.debitEntries !== summary.debitEntries || this.debitsMinor !== summary.debitsMinor) {
      throw invalid(
        `the entries hold ${this.debitEntries} debits of ${this.debitsMinor} minor units, ` +
          `TtlDbtNtries says ${summary.debitEntries} of ${summary.debitsMinor}`,
      );
    }
    if (summary.entries !== undefined && summary.entries !== summary.creditEntries + summary.debitEntries) {
      throw invalid('TtlNtries/NbOfNtries is not credits plus debits');
    }
    if (summary.turnoverMinor !== undefined && summary.turnoverMinor !== summary.creditsMinor + summary.debitsMinor) {
      throw invalid('TtlNtries/Sum is not credits plus debits');
    }
    const netMinor = summary.creditsMinor - summary.debitsMinor;
    if ((summary.netMinor === undefined) !== (summary.netDirection === undefined)) {
      throw invalid('TtlNetNtry needs both Amt and CdtDbtInd');
    }
    if (
      summary.netMinor !== undefined &&
      summary.netDirection !== undefined &&
      signed(summary.netMinor, summary.netDirection) !== netMinor
    ) {
      throw invalid('TtlNetNtry is not credits minus debits');
    }
    if (this.openingMinor + netMinor !== this.closingMinor) {
      throw invalid(
        `opening ${this.openingMinor} + credits ${summary.creditsMinor} - debits ${summary.debitsMinor} ` +
          `(minor units) is not the closing balance ${this.closingMinor}`,
      );
    }
    return {
      bankId: this.bankId,
      date: this.date,
      currency: this.currency,
      openingMinor: this.openingMinor,
      closingMinor: this.closingMinor,
      creditEntries: summary.creditEntries,
      creditsMinor: summary.creditsMinor,
      debitEntries: summary.debitEntries,
      debitsMinor: summary.debitsMinor,
      entries: this.entries,
      closed: this.closed ?? true,
    };
  }
}

function checkCamt(camt: Camt, document: string, exponent: number): CheckedStatement {
  const checker = new Checker(camt, exponent);
  // Local names from the root down; text gathered since the last start tag.
  const path: string[] = [];
  let text = '';
  const parser = new SaxesParser({ xmlns: true, position: true });
  parser.on('doctype', () => {
    // Before any use of what it declares: saxes expands no entity of a DTD.
    throw invalid('a statement has no DOCTYPE');
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    if (tag.uri !== camt.namespace) {
      const where = tag.uri === '' ? 'no namespace' : `the namespace ${tag.uri}`;
      throw invalid(`<${tag.local}> is not in the namespace ${camt.namespace} but in ${where}`);
    }
    if (path.length === 0 && tag.local !== 'Document') {
      throw invalid(`the root element is <${tag.local}>, not <Document>`);
    }
    if (path.length >= XML_DEPTH_MAX) {
      throw invalid(`elements nest deeper than ${XML_DEPTH_MAX}`);
    }
    path.push(tag.local);
    text = '';
    // `Ccy` is an attribute of no namespace, as the schema has it.
    const currency = Object.values(tag.attributes).find((attribute) => attribute.local === 'Ccy' && attribute.uri === '');
    checker.start(path, currency?.value);
  });
  parser.on('closetag', () => {
    checker.end(path, text.trim());
    text = '';
    path.pop();
  });
  parser.on('text', (chunk) => {
    text += chunk;
  });
  parser.on('cdata', (chunk) => {
    text += chunk;
  });
  try {
    parser.write(document).close();
  } catch (error) {
    if (error instanceof VerificationError) {
      throw error;
    }
    throw invalid(`not well-formed XML at ${error instanceof Error ? error.message : String(error)}`);
  }
  if (path.length > 0) {
    throw invalid(`the document ends inside <${path.join('/')}>`);
  }
  return checker.finish();
}

// -- CSV ---------------------------------------------------------------------

/** The records of RFC 4180 text whose every record ends with a line break (LF or CRLF). */
function csvRecords(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let at = 0;
  const where = () => `record ${records.length + 1} of the CSV`;
  while (at < text.length) {
    let field: string;
    if (text[at] === '"') {
      // A quoted field: `""` is a quote; it ends at a lone quote.
      field = '';
      at += 1;
      for (;;) {
        const close = text.indexOf('"', at);
        if (close < 0) {
          throw invalid(`${where()}: a quoted field is not closed`);
        }
        field += text.slice(at, close);
        if (text[close + 1] === '"') {
          field += '"';
          at = close + 2;
        } else {
          at = close + 1;
          break;
        }
      }
    } else {
      let stop = at;
      while (stop < text.length && text[stop] !== ',' && text[stop] !== '\n' && text[stop] !== '"') {
        stop += 1;
      }
      if (text[stop] === '"') {
        throw invalid(`${where()}: a quote inside an unquoted field`);
      }
      field = text.slice(at, stop);
      at = stop;
      if (field.endsWith('\r') && text[at] === '\n') {
        field = field.slice(0, -1);
      }
    }
    record.push(field);
    if (text[at] === ',') {
      at += 1;
      if (at === text.length) {
        throw invalid('the CSV does not end with a line break: it was cut');
      }
    } else if (text.startsWith('\r\n', at) || text[at] === '\n') {
      at += text[at] === '\r' ? 2 : 1;
      records.push(record);
      record = [];
    } else if (at === text.length) {
      throw invalid('the CSV does not end with a line break: it was cut');
    } else {
      throw invalid(`${where()}: text after a quoted field`);
    }
  }
  return records;
}

function signedAmount(text: string, exponent: number, what: string): bigint {
  return text.startsWith('-') ? -amount(text.slice(1), exponent, what) : amount(text, exponent, what);
}

/** Minutes of a UTC offset written `+08:00` / `-05:30`, at most 14 hours. */
function offsetMinutes(text: string): number {
  const found = /^([+-])([0-9]{2}):([0-9]{2})$/.exec(text);
  if (found === null || Number(found[3]) >= 60) {
    throw invalid(`day_offset '${text}' is not a UTC offset`);
  }
  const minutes = Number(found[2]) * 60 + Number(found[3]);
  if (minutes > OFFSET_MINUTES_MAX) {
    throw invalid(`day_offset '${text}' is beyond ${OFFSET_MINUTES_MAX / 60} hours`);
  }
  return found[1] === '-' ? -minutes : minutes;
}

/** Milliseconds since 1970 of `YYYY-MM-DDTHH:MM:SS.mmmZ`, or undefined. */
function utcTime(text: string): bigint | undefined {
  const found = UTC_TIME.exec(text);
  const day = found === null ? undefined : parseDate(found[1] ?? '');
  if (found === null || day === undefined) {
    return undefined;
  }
  const [hours, minutes, seconds, ms] = [found[2], found[3], found[4], found[5]].map(Number) as [
    number,
    number,
    number,
    number,
  ];
  if (hours > 23 || minutes > 59 || seconds > 59) {
    return undefined;
  }
  return BigInt(day) * DAY_MS + BigInt(((hours * 60 + minutes) * 60 + seconds) * 1000 + ms);
}

function floorDiv(a: bigint, b: bigint): bigint {
  const quotient = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? quotient - 1n : quotient;
}

function checkCsv(text: string, exponent: number): CheckedStatement {
  const records = csvRecords(text);
  const head = new Map<string, string>();
  CSV_KEYS.forEach((key, index) => {
    const record = records[index];
    if (record === undefined || record.length !== 2 || record[0] !== `# ${key}`) {
      const found = record === undefined ? 'nothing' : `'${record.join(',')}'`;
      throw invalid(`line ${index + 1} of the CSV is not '# ${key},<value>' but ${found}`);
    }
    head.set(key, record[1] ?? '');
  });
  const value = (key: (typeof CSV_KEYS)[number]): string => head.get(key) ?? '';
  if (records[CSV_KEYS.length]?.join(',') !== STATEMENT_CSV_HEADER) {
    throw invalid(`the CSV's header is not ${STATEMENT_CSV_HEADER}`);
  }
  const rows = records.slice(CSV_KEYS.length + 1);

  const [bankId, date, currency] = [value('bank'), value('booking_date'), value('currency')];
  if (bankId === '') {
    throw invalid('the bank id is empty');
  }
  const day = parseDate(date);
  if (day === undefined) {
    throw invalid(`booking_date '${date}' is not YYYY-MM-DD`);
  }
  const expectedId = statementId(bankId, date);
  if (value('statement') !== expectedId) {
    throw invalid(
      `statement ${value('statement')} is not the id of bank ${bankId}'s statement of ${date}, ${expectedId}`,
    );
  }
  const offsetMs = BigInt(offsetMinutes(value('day_offset')) * 60_000);
  if (!isCurrencyCode(currency)) {
    throw invalid(`currency '${currency}' is not three capital letters`);
  }
  const fromHeight = count(value('from_height'), 'from_height');
  const untilHeight = count(value('until_height'), 'until_height');
  // A day without blocks runs from the block after the last one before it to that block.
  if (fromHeight > untilHeight + 1n) {
    throw invalid(`blocks ${fromHeight}..=${untilHeight} are reversed`);
  }
  if (!UTC_TIME.test(value('created_utc'))) {
    throw invalid(`created_utc '${value('created_utc')}' is not a UTC date-time`);
  }
  const openingMinor = signedAmount(value('opening_balance'), exponent, 'opening_balance');
  const closingMinor = signedAmount(value('closing_balance'), exponent, 'closing_balance');
  const creditEntries = count(value('credit_entries'), 'credit_entries');
  const creditsMinor = amount(value('credits'), exponent, 'credits');
  const debitEntries = count(value('debit_entries'), 'debit_entries');
  const debitsMinor = amount(value('debits'), exponent, 'debits');

  const columns = STATEMENT_CSV_HEADER.split(',').length;
  const entries: StatementEntry[] = [];
  const tally = { credit: { entries: 0n, minor: 0n }, debit: { entries: 0n, minor: 0n } };
  let last: { sequence: bigint; height: bigint; txid: string } | undefined;
  rows.forEach((row, index) => {
    const number = index + 1;
    if (number > STATEMENT_ENTRIES_MAX) {
      throw invalid(`a statement holds at most ${STATEMENT_ENTRIES_MAX} entries, this one ${number}`);
    }
    if (row.length !== columns) {
      throw invalid(`entry ${number} has ${row.length} fields, not ${columns}`);
    }
    const [rowDate, sequenceText, heightText, time, txid, kind, directionText, amountText] = row as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const [rowCurrency, programme, address, , counterparty] = row.slice(8) as [string, string, string, string, string];
    if (rowDate !== date) {
      throw invalid(`entry ${number} is booked on ${rowDate}, the statement is of ${date}`);
    }
    if (!HEX64.test(txid)) {
      throw invalid(`entry ${number}'s txid ${txid} is not a txid`);
    }
    const sequence = count(sequenceText, `entry ${number}'s sequence`);
    const height = count(heightText, `entry ${number}'s height`);
    if (height < fromHeight || height > untilHeight) {
      throw invalid(
        `entry ${number} (txid ${txid}) is in block ${height}, outside the day's blocks ${fromHeight}..=${untilHeight}`,
      );
    }
    const timeMs = utcTime(time);
    if (timeMs === undefined) {
      throw invalid(`entry ${number}'s time_utc '${time}' is not a UTC date-time`);
    }
    if (floorDiv(timeMs + offsetMs, DAY_MS) !== BigInt(day)) {
      throw invalid(`entry ${number} (txid ${txid}) was booked at ${time}, outside the statement's day`);
    }
    if (
      last !== undefined &&
      (sequence < last.sequence || height < last.height || (sequence === last.sequence && txid !== last.txid))
    ) {
      throw invalid(
        `entry ${number} (sequence ${sequence}, txid ${txid}) is out of ledger order after sequence ${last.sequence}`,
      );
    }
    last = { sequence, height, txid };
    if (!CSV_KINDS.includes(kind)) {
      throw invalid(`entry ${number}'s kind '${kind}' is not one of ${CSV_KINDS.join(', ')}`);
    }
    if (directionText !== 'credit' && directionText !== 'debit') {
      throw invalid(`entry ${number}'s direction '${directionText}' is neither credit nor debit`);
    }
    const amountMinor = amount(amountText, exponent, `entry ${number} amount`);
    if (rowCurrency !== currency) {
      throw invalid(`entry ${number} is in ${rowCurrency}, the statement in ${currency}`);
    }
    count(programme, `entry ${number}'s programme`, 0xffff_ffffn);
    if (!HEX64.test(address)) {
      throw invalid(`entry ${number}'s address '${address}' is not an address`);
    }
    if (counterparty !== '' && !HEX64.test(counterparty)) {
      throw invalid(`entry ${number}'s counterparty '${counterparty}' is not an address`);
    }
    tally[directionText].entries += 1n;
    tally[directionText].minor += amountMinor;
    entries.push({ txid: fromHex(txid), direction: directionText, amountMinor });
  });
  for (const [word, held, statedEntries, statedMinor] of [
    ['credits', tally.credit, creditEntries, creditsMinor],
    ['debits', tally.debit, debitEntries, debitsMinor],
  ] as const) {
    if (held.entries !== statedEntries || held.minor !== statedMinor) {
      throw invalid(
        `the entries hold ${held.entries} ${word} of ${held.minor} minor units, ` +
          `the statement says ${statedEntries} of ${statedMinor}`,
      );
    }
  }
  if (openingMinor + creditsMinor - debitsMinor !== closingMinor) {
    throw invalid(
      `opening ${openingMinor} + credits ${creditsMinor} - debits ${debitsMinor} (minor units) ` +
        `is not the closing balance ${closingMinor}`,
    );
  }
  return {
    bankId,
    date,
    currency,
    openingMinor,
    closingMinor,
    creditEntries,
    creditsMinor,
    debitEntries,
    debitsMinor,
    entries,
    closed: undefined,
  };
}
