/**
 * Integers as protobufjs decodes them (`Long`, or a plain number) to the
 * `bigint`s the console computes with: every 64-bit figure (amounts,
 * heights, sequences, times) stays exact.
 *
 * @module
 */

/** What protobufjs may give for a 64-bit field. */
export type WireLong = { toString(): string } | number | null | undefined;

/** A `uint64` or `int64` field as a `bigint` (0 when absent). */
export function big(value: WireLong): bigint {
  if (value === null || value === undefined) {
    return 0n;
  }
  return typeof value === 'number' ? BigInt(Math.trunc(value)) : BigInt(value.toString());
}

/** A 64-bit field known to be small (a delay, a count shown as a number). */
export function small(value: WireLong): number {
  return Number(big(value));
}

/** A bytes field (a copy, never the decoder's buffer). */
export function bytes(value: Uint8Array | null | undefined): Uint8Array {
  return value === null || value === undefined ? new Uint8Array(0) : Uint8Array.from(value);
}

/**
 * A `bigint` for a 64-bit field of a request: protobufjs takes a number
 * (exact up to 2^53 - 1, more than any height or alert number the console
 * sends).
 *
 * @throws RangeError beyond 2^53 - 1 or below 0.
 */
export function long(value: bigint): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`${value} is not a count the console sends (0 to 2^53 - 1)`);
  }
  return Number(value);
}
