/**
 * The error of every check this package makes itself, offline: a receipt,
 * header, checkpoint or ledger fact that does not verify against the pinned
 * engine key and chain id, or data that does not decode.
 *
 * @module
 */

/**
 * Something the client checked does not hold: a tampered or foreign
 * receipt, a header not signed by the pinned engine key for the pinned
 * chain, a server presenting another engine key or chain id than the pinned
 * ones, a bank checkpoint whose totals differ from the movements received.
 * Never retry it as is: stop and investigate.
 */
export class VerificationError extends Error {
  override readonly name: string = 'VerificationError';
}
