/**
 * `@settled/client/verify`: everything that needs no network and no Node
 * API, for browsers as for servers: the canonical encodings, txids and
 * signed messages, BIP340 keys, Merkle proofs, amounts, offline receipt
 * verification, the checks of a bank's reconciliation stream and of its
 * statements (docs/PROTOCOL.md). It imports `@noble/curves`,
 * `@noble/hashes` and `saxes` (the XML parser of statements) only.
 *
 * @packageDocumentation
 */
export { AmountError, type AmountErrorCode, CURRENCY_EXPONENT_MAX, formatAmount, parseAmount } from './core/amount.js';
export {
  type BlockHeader,
  encodeGenesis,
  encodeHeader,
  type Genesis,
  genesisHash,
  headerHash,
  headerMessageBytes,
  type SignedBlockHeader,
  verifyGenesisBlock,
  verifyHeader,
} from './core/block.js';
export { type BytesLike, fromHex, sha256, toHex, U64_MAX } from './core/bytes.js';
export { ledgerDay } from './core/day.js';
export { VerificationError } from './core/errors.js';
export {
  applyCheckpoint,
  applyMovement,
  type BankTotals,
  type Checkpoint,
  cursorFromJson,
  cursorToJson,
  type Entry,
  type FollowCursor,
  type LedgerPins,
  type Movement,
  type MovementKind,
  newCursor,
  type ProgrammeTotals,
} from './core/follow.js';
export { type JsonValue, parseJson, stringifyJson } from './core/json.js';
export { isValidAddress, SigningKey, verifySignature } from './core/keys.js';
export {
  expectedSides,
  leafHash,
  merkleLevels,
  merklePath,
  merkleRoot,
  type MerkleStep,
  nodeHash,
  rootFromPath,
} from './core/merkle.js';
export { type Receipt, receiptFromJson, receiptToJson, verifyInclusion, verifyReceipt } from './core/receipt.js';
export {
  CAMT052_NAMESPACE,
  CAMT053_NAMESPACE,
  type CheckedStatement,
  fittedId,
  STATEMENT_CSV_HEADER,
  STATEMENT_ENTRIES_MAX,
  type StatementEntry,
  type StatementFormat,
  statementId,
  verifyStatement,
} from './core/statement.js';
export {
  type Domain,
  encodeRecord,
  encodeTransaction,
  type OutPoint,
  type Output,
  PROTOCOL_VERSION,
  signedMessage,
  signedMessageBytes,
  signTransaction,
  type Transaction,
  type TransactionFields,
  TransactionKind,
  txid,
  type UnspentOutput,
  type Witness,
  witnessMessage,
} from './core/transaction.js';
