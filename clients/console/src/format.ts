/**
 * How figures read on the page: amounts with the ledger's currency
 * exponent (never through floating point), times in UTC, ledger days and
 * periods, rates and latencies. Pure functions.
 *
 * @module
 */
import { formatAmount } from '@settled/client/verify';

/** Shown for a figure the server has not given (yet). */
export const ABSENT = '—';

/**
 * An amount of minor units as decimal text with the currency's exponent
 * and thousands separated: 123456789 at exponent 2 is `1,234,567.89`; a
 * negative amount (a net position) starts with `-`.
 */
export function amount(minor: bigint, exponent: number): string {
  const negative = minor < 0n;
  const text = formatAmount(negative ? -minor : minor, exponent);
  const dot = text.indexOf('.');
  const whole = dot === -1 ? text : text.slice(0, dot);
  const fraction = dot === -1 ? '' : text.slice(dot);
  return `${negative ? '-' : ''}${groupDigits(whole)}${fraction}`;
}

/** An amount followed by its currency code: `1,234.56 CNY`. */
export function money(minor: bigint, exponent: number, currency: string): string {
  return `${amount(minor, exponent)} ${currency}`;
}

/** A count with thousands separated: `12,345`. */
export function count(value: bigint | number): string {
  const whole = typeof value === 'number' ? BigInt(Math.trunc(value)) : value;
  return whole < 0n ? `-${groupDigits((-whole).toString())}` : groupDigits(whole.toString());
}

function groupDigits(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A time of the ledger (unix milliseconds) in UTC: `2026-12-07 09:12:33 UTC`; 0 is absent. */
export function utcTime(unixMs: bigint | number): string {
  const ms = Number(unixMs);
  if (ms <= 0 || !Number.isFinite(ms)) {
    return ABSENT;
  }
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A ledger day `YYYYMMDD` as `YYYY-MM-DD`. */
export function ledgerDay(day: number): string {
  const text = String(day).padStart(8, '0');
  return `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6, 8)}`;
}

/** A payment period `YYYYMM` as `YYYY-MM`. */
export function period(value: number): string {
  const text = String(value).padStart(6, '0');
  return `${text.slice(0, 4)}-${text.slice(4, 6)}`;
}

/** A rate per second with one decimal: `1,234.5/s`. */
export function rate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond < 0) {
    return ABSENT;
  }
  const tenths = Math.round(perSecond * 10);
  return `${count(Math.trunc(tenths / 10))}.${tenths % 10}/s`;
}

/** A latency in milliseconds: `12.3 ms`. */
export function milliseconds(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    return ABSENT;
  }
  return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : count(Math.round(ms))} ms`;
}

/** A share in parts per million as a percentage with two decimals: 123456 is `12.34 %`. */
export function sharePercent(ppm: number): string {
  const hundredths = Math.floor(ppm / 100);
  return `${Math.trunc(hundredths / 100)}.${String(hundredths % 100).padStart(2, '0')} %`;
}

/** The first and last `keep` hex digits of a long hex string: `6f1c2a…9b0e`. */
export function shortHex(hex: string, keep = 8): string {
  return hex.length <= 2 * keep + 1 ? hex : `${hex.slice(0, keep)}…${hex.slice(-keep)}`;
}

/** An ISO 18245 merchant category code, four digits: `5411`. */
export function mcc(code: number): string {
  return String(code).padStart(4, '0');
}

/** Text cut to `max` characters (a server's message, a detail). */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
