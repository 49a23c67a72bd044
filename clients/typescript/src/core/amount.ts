/**
 * Amounts: `u64` minor units on the wire, decimal text at the human edges
 * (docs/PROTOCOL.md §2). Never floating point.
 *
 * @module
 */
import { U64_MAX } from './bytes.js';

/** The largest currency exponent (number of decimals) a ledger may have. */
export const CURRENCY_EXPONENT_MAX = 8;

/** Why decimal text is not an amount: the error names of PROTOCOL.md §2. */
export type AmountErrorCode = 'bad_exponent' | 'empty' | 'not_decimal' | 'too_precise' | 'overflow';

/** Decimal text that is not an amount of the ledger's currency. */
export class AmountError extends Error {
  override readonly name: string = 'AmountError';

  /**
   * @param code - which rule of PROTOCOL.md §2 the text breaks.
   * @param text - the text refused.
   */
  constructor(
    readonly code: AmountErrorCode,
    readonly text: string,
  ) {
    super(`${code}: ${JSON.stringify(text)} is not an amount`);
  }
}

/**
 * Minor units of decimal text, with the engine's rules: ASCII digits,
 * optionally one `.` followed by at most `exponent` digits (digits are
 * counted, not value: with exponent 1 `"1.50"` is refused), at most
 * 2^64 − 1 minor units. `"0"` parses to 0.
 *
 * @param exponent - the currency's exponent (`GetInfo.currency_exponent`), 0 to 8.
 * @throws AmountError naming the rule broken.
 */
export function parseAmount(text: string, exponent: number): bigint {
  if (!Number.isInteger(exponent) || exponent < 0 || exponent > CURRENCY_EXPONENT_MAX) {
    throw new AmountError('bad_exponent', text);
  }
  if (text === '') {
    throw new AmountError('empty', text);
  }
  const match = /^([0-9]+)(?:\.([0-9]+))?$/.exec(text);
  if (match === null) {
    throw new AmountError('not_decimal', text);
  }
  const whole = match[1] ?? '';
  const fraction = match[2] ?? '';
  if (fraction.length > exponent) {
    throw new AmountError('too_precise', text);
  }
  const minor = BigInt(whole + fraction.padEnd(exponent, '0'));
  if (minor > U64_MAX) {
    throw new AmountError('overflow', text);
  }
  return minor;
}

/**
 * Decimal text of an amount with exactly `exponent` decimals: 1234 at
 * exponent 2 is `"12.34"`, 5 is `"0.05"`; at exponent 0, 7 is `"7"`.
 * {@link parseAmount} gives the amount back.
 *
 * @throws RangeError when the amount is not a `u64` or the exponent not 0 to 8.
 */
export function formatAmount(minor: bigint, exponent: number): string {
  if (minor < 0n || minor > U64_MAX) {
    throw new RangeError(`${minor} is not an amount in minor units`);
  }
  if (!Number.isInteger(exponent) || exponent < 0 || exponent > CURRENCY_EXPONENT_MAX) {
    throw new RangeError(`${exponent} is not a currency exponent`);
  }
  if (exponent === 0) {
    return minor.toString();
  }
  const digits = minor.toString().padStart(exponent + 1, '0');
  return `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}
