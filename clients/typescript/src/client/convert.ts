/**
 * Between the protobuf messages (as `@grpc/proto-loader` decodes them:
 * `Buffer` bytes, 64-bit integers as decimal strings, enums as names) and
 * this package's types (`Uint8Array`, `bigint`).
 *
 * @module
 */
import type { SignedBlockHeader } from '../core/block.js';
import { toU64 } from '../core/bytes.js';
import { VerificationError } from '../core/errors.js';
import type { BankTotals, Checkpoint, Movement, MovementKind } from '../core/follow.js';
import type { Receipt } from '../core/receipt.js';
import {
  type OutPoint,
  type Output,
  type Transaction,
  TransactionKind,
  type UnspentOutput,
} from '../core/transaction.js';
import type { BankTotals__Output } from '../generated/settled/v1/BankTotals.js';
import type { BlockHeader__Output } from '../generated/settled/v1/BlockHeader.js';
import type { Checkpoint__Output } from '../generated/settled/v1/Checkpoint.js';
import type { Movement__Output } from '../generated/settled/v1/Movement.js';
import type { OutPoint as WireOutPoint, OutPoint__Output } from '../generated/settled/v1/OutPoint.js';
import type { Output__Output } from '../generated/settled/v1/Output.js';
import type { Receipt__Output } from '../generated/settled/v1/Receipt.js';
import type { Transaction as WireTransaction, Transaction__Output } from '../generated/settled/v1/Transaction.js';
import type { TransactionKind__Output } from '../generated/settled/v1/TransactionKind.js';
import type { UnspentOutput__Output } from '../generated/settled/v1/UnspentOutput.js';

const KIND_NAMES: Record<TransactionKind, TransactionKind__Output> = {
  [TransactionKind.Transfer]: 'TRANSACTION_KIND_TRANSFER',
  [TransactionKind.Mint]: 'TRANSACTION_KIND_MINT',
  [TransactionKind.Redeem]: 'TRANSACTION_KIND_REDEEM',
  [TransactionKind.Clawback]: 'TRANSACTION_KIND_CLAWBACK',
  [TransactionKind.Refund]: 'TRANSACTION_KIND_REFUND',
  [TransactionKind.Recovery]: 'TRANSACTION_KIND_RECOVERY',
};

const KINDS_BY_NAME: ReadonlyMap<string, TransactionKind> = new Map(
  Object.values(TransactionKind).map((kind) => [KIND_NAMES[kind], kind]),
);

const MOVEMENT_KINDS: Readonly<Record<string, MovementKind>> = {
  MOVEMENT_KIND_PAYMENT: 'payment',
  MOVEMENT_KIND_MINT: 'mint',
  MOVEMENT_KIND_REDEEM: 'redeem',
  MOVEMENT_KIND_CLAWBACK: 'clawback',
  MOVEMENT_KIND_REFUND: 'refund',
  MOVEMENT_KIND_RECOVERY: 'recovery',
};

/** A copy of received bytes as a plain `Uint8Array`. */
export function bytes(buffer: Uint8Array): Uint8Array {
  return Uint8Array.from(buffer);
}

/** A `u64` as sent to the server (decimal text: exact for every value). */
export function u64(value: bigint): string {
  return value.toString();
}

/** The protobuf form of a transaction. */
export function transactionToWire(tx: Transaction): WireTransaction {
  return {
    version: tx.version,
    kind: KIND_NAMES[tx.kind],
    inputs: tx.inputs.map(outPointToWire),
    outputs: tx.outputs.map((output) => ({
      address: output.address,
      amountMinor: u64(output.amountMinor),
      programmeId: output.programmeId,
    })),
    reference: tx.reference,
    witnesses: tx.witnesses.map((witness) => ({ publicKey: witness.publicKey, signature: witness.signature })),
  };
}

/** The protobuf form of an outpoint. */
function outPointToWire(outpoint: OutPoint): WireOutPoint {
  return { txid: outpoint.txid, index: outpoint.index };
}

/**
 * A transaction as the server returns it (`GetPayment`).
 *
 * @throws VerificationError for a kind this client does not know.
 */
export function transactionFromWire(tx: Transaction__Output): Transaction {
  const kind = KINDS_BY_NAME.get(tx.kind);
  if (kind === undefined) {
    throw new VerificationError(`a transaction of unknown kind ${String(tx.kind)}`);
  }
  return {
    version: tx.version,
    kind,
    inputs: tx.inputs.map(outPointFromWire),
    outputs: tx.outputs.map(outputFromWire),
    reference: bytes(tx.reference),
    witnesses: tx.witnesses.map((witness) => ({
      publicKey: bytes(witness.publicKey),
      signature: bytes(witness.signature),
    })),
  };
}

/** An outpoint as the server sends it. */
export function outPointFromWire(outpoint: OutPoint__Output): OutPoint {
  return { txid: bytes(outpoint.txid), index: outpoint.index };
}

function outputFromWire(output: Output__Output): Output {
  return {
    address: bytes(output.address),
    amountMinor: toU64(output.amountMinor, 'amount_minor'),
    programmeId: output.programmeId,
  };
}

/**
 * An unspent output of `ListUnspent`.
 *
 * @throws VerificationError when its outpoint or output is missing.
 */
export function unspentFromWire(unspent: UnspentOutput__Output): UnspentOutput {
  if (unspent.outpoint === null || unspent.output === null) {
    throw new VerificationError('an unspent output without its outpoint or output');
  }
  return { outpoint: outPointFromWire(unspent.outpoint), output: outputFromWire(unspent.output) };
}

/** A signed block header. */
export function headerFromWire(header: BlockHeader__Output): SignedBlockHeader {
  return {
    height: toU64(header.height, 'height'),
    previousHash: bytes(header.previousHash),
    merkleRoot: bytes(header.merkleRoot),
    firstSequence: toU64(header.firstSequence, 'first_sequence'),
    txCount: header.txCount,
    timeUnixMs: toU64(header.timeUnixMs, 'time_unix_ms'),
    mintedTotalMinor: toU64(header.mintedTotalMinor, 'minted_total_minor'),
    burnedTotalMinor: toU64(header.burnedTotalMinor, 'burned_total_minor'),
    hash: bytes(header.hash),
    engineSignature: bytes(header.engineSignature),
  };
}

/**
 * A receipt.
 *
 * @throws VerificationError when it carries no block header.
 */
export function receiptFromWire(receipt: Receipt__Output | null): Receipt {
  if (receipt === null || receipt.block === null) {
    throw new VerificationError('a confirmation without a receipt or its block header');
  }
  return {
    txid: bytes(receipt.txid),
    sequence: toU64(receipt.sequence, 'sequence'),
    block: headerFromWire(receipt.block),
    indexInBlock: receipt.indexInBlock,
    merklePath: receipt.merklePath.map((step) => ({ sibling: bytes(step.sibling), siblingOnLeft: step.siblingOnLeft })),
  };
}

/**
 * A movement of a bank's stream.
 *
 * @throws VerificationError for an unknown kind or an entry without a direction.
 */
export function movementFromWire(movement: Movement__Output): Movement {
  const kind = MOVEMENT_KINDS[movement.kind];
  if (kind === undefined) {
    throw new VerificationError(`movement ${movement.sequence} of unknown kind ${String(movement.kind)}`);
  }
  return {
    sequence: toU64(movement.sequence, 'sequence'),
    height: toU64(movement.height, 'height'),
    txid: bytes(movement.txid),
    kind,
    timeUnixMs: toU64(movement.timeUnixMs, 'time_unix_ms'),
    merchant: movement.merchant,
    terminal: movement.terminal,
    entries: movement.entries.map((entry) => {
      if (entry.direction !== 'DIRECTION_CREDIT' && entry.direction !== 'DIRECTION_DEBIT') {
        throw new VerificationError(`movement ${movement.sequence}: an entry without a direction`);
      }
      return {
        address: bytes(entry.address),
        merchant: entry.merchant,
        programmeId: entry.programmeId,
        direction: entry.direction === 'DIRECTION_CREDIT' ? 'credit' : 'debit',
        amountMinor: toU64(entry.amountMinor, 'amount_minor'),
        ...(entry.counterparty.length === 0 ? {} : { counterparty: bytes(entry.counterparty) }),
        counterpartyBank: entry.counterpartyBank,
      };
    }),
  };
}

/**
 * A checkpoint of a bank's stream.
 *
 * @throws VerificationError when its header or totals are missing.
 */
export function checkpointFromWire(checkpoint: Checkpoint__Output): Checkpoint {
  if (checkpoint.block === null || checkpoint.totals === null) {
    throw new VerificationError('a checkpoint without its header or totals');
  }
  return { block: headerFromWire(checkpoint.block), totals: totalsFromWire(checkpoint.totals) };
}

function totalsFromWire(totals: BankTotals__Output): BankTotals {
  return {
    movements: toU64(totals.movements, 'movements'),
    creditEntries: toU64(totals.creditEntries, 'credit_entries'),
    debitEntries: toU64(totals.debitEntries, 'debit_entries'),
    creditsMinor: toU64(totals.creditsMinor, 'credits_minor'),
    debitsMinor: toU64(totals.debitsMinor, 'debits_minor'),
    programmes: totals.programmes.map((programme) => ({
      programmeId: programme.programmeId,
      creditsMinor: toU64(programme.creditsMinor, 'credits_minor'),
      debitsMinor: toU64(programme.debitsMinor, 'debits_minor'),
    })),
  };
}
