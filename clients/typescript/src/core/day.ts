/**
 * Ledger days: the calendar days, in the ledger's UTC offset, that daily
 * limits and statements use (docs/PROTOCOL.md §4.7, §9.4).
 *
 * @module
 */

/**
 * The ledger day (`YYYY-MM-DD`) of an instant, in the ledger's offset from
 * UTC (`GetInfo.day_offset_minutes`, +480 for UTC+8 by default): the `date`
 * a statement of that instant's day names.
 *
 * @param timeUnixMs - milliseconds since 1970-01-01 UTC, e.g. a block's time or `Date.now()`.
 */
export function ledgerDay(timeUnixMs: bigint | number, dayOffsetMinutes: number): string {
  return new Date(Number(timeUnixMs) + dayOffsetMinutes * 60_000).toISOString().slice(0, 10);
}
