/**
 * `@settled/client`: the TypeScript client of a Settled engine, protocol
 * version 2 (docs/PROTOCOL.md). {@link SettledClient} pays, mints, reads
 * balances and payments, follows a bank's stream and downloads statements
 * over gRPC, verifying every receipt and checkpoint against the pinned
 * engine key and chain id; refusals are typed {@link SettledError}s.
 * Everything of `@settled/client/verify` (encodings, keys, offline
 * verification) is exported here too.
 *
 * @packageDocumentation
 */
export * from './verify.js';
export {
  type Amount,
  type Balance,
  type Confirmation,
  type ConnectOptions,
  InsufficientFundsError,
  type LedgerInfo,
  type PaymentOptions,
  type PaymentOutput,
  type PaymentRecord,
  ProtocolVersionError,
  SettledClient,
  type StreamOutcome,
} from './client/client.js';
export {
  codeOfReason,
  Declined,
  type FieldViolation,
  InvalidRequest,
  NotFound,
  NotLeader,
  PermissionDenied,
  Reason,
  type RefusalDetails,
  ResourceExhausted,
  SettledError,
  Unauthenticated,
  Unavailable,
} from './client/errors.js';
export { BankFollower, type FollowEvent, type FollowOptions } from './client/follow.js';
export { readKeyFile, writeKeyFile } from './client/keyfile.js';
export { PROTO_DIR, type Services } from './client/proto.js';
