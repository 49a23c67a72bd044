/**
 * Transactions: their fields, canonical encoding, txid, stored record and
 * the witness message their signers sign (docs/PROTOCOL.md §3.1, §4).
 *
 * @module
 */
import { ascii, concat, sha256, toBytes, uintBE } from './bytes.js';
import type { SigningKey } from './keys.js';

/** The protocol version: the version byte of every encoding and signed message. */
export const PROTOCOL_VERSION = 2;

/** The kind byte of a transaction (PROTOCOL.md §4.1). */
export const TransactionKind = {
  /** A payment. */
  Transfer: 1,
  /** An issuance, signed by the issuer threshold. */
  Mint: 2,
  /** A merchant's takings burned into its bank's deposits. */
  Redeem: 3,
  /** An ended programme's leftovers moved to its treasury (built by the engine). */
  Clawback: 4,
  /** A merchant paying back a payment it took. */
  Refund: 5,
  /** A lost wallet's earmarked money moved to its replacement (built by the engine). */
  Recovery: 6,
} as const;

/** The kind byte of a transaction: one of {@link TransactionKind}. */
export type TransactionKind = (typeof TransactionKind)[keyof typeof TransactionKind];

/** Names one output of an earlier transaction. */
export interface OutPoint {
  /** The 32-byte txid of the transaction that created the output. */
  readonly txid: Uint8Array;
  /** The output's 0-based position in that transaction's outputs (`u32`). */
  readonly index: number;
}

/** What a transaction creates: an amount some address may spend. */
export interface Output {
  /** The 32-byte x-only key that may spend it. */
  readonly address: Uint8Array;
  /** Minor units, at least 1. */
  readonly amountMinor: bigint;
  /** 0 for unrestricted money, else the welfare programme it is earmarked for (`u32`). */
  readonly programmeId: number;
}

/** A signer's public key and its 64-byte BIP340 signature. */
export interface Witness {
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** A transaction's fields (PROTOCOL.md §4.1). */
export interface Transaction {
  /** The protocol version, {@link PROTOCOL_VERSION}. */
  readonly version: number;
  readonly kind: TransactionKind;
  readonly inputs: readonly OutPoint[];
  readonly outputs: readonly Output[];
  /** 0 to 64 raw bytes (an invoice number, a disbursement row id). */
  readonly reference: Uint8Array;
  /** Signatures of the witness message; not covered by the txid. */
  readonly witnesses: readonly Witness[];
}

/** An unspent output, with the outpoint that spends it. */
export interface UnspentOutput {
  readonly outpoint: OutPoint;
  readonly output: Output;
}

/** The domains of signed messages (PROTOCOL.md §3.1). */
export type Domain = 'STLW' | 'STLH';

const TX_MAGIC = ascii('STLD');

/**
 * The canonical bytes of a transaction: every field but the witnesses,
 * `11 + 36·inputs + 44·outputs + reference` bytes (PROTOCOL.md §4.2).
 *
 * @throws RangeError when a field does not fit its encoding.
 */
export function encodeTransaction(tx: Transaction): Uint8Array {
  if (tx.reference.length > 0xff) {
    throw new RangeError(`a reference of ${tx.reference.length} bytes does not fit its length byte`);
  }
  const parts: Uint8Array[] = [TX_MAGIC, uintBE(tx.version, 1), uintBE(tx.kind, 1), uintBE(tx.inputs.length, 2)];
  for (const input of tx.inputs) {
    parts.push(toBytes(input.txid, 32, 'an input txid'), uintBE(input.index, 4));
  }
  parts.push(uintBE(tx.outputs.length, 2));
  for (const output of tx.outputs) {
    parts.push(
      toBytes(output.address, 32, 'an output address'),
      uintBE(output.amountMinor, 8),
      uintBE(output.programmeId, 4),
    );
  }
  parts.push(uintBE(tx.reference.length, 1), tx.reference);
  return concat(...parts);
}

/** The transaction id: SHA-256 of the canonical bytes (PROTOCOL.md §4.3). */
export function txid(tx: Transaction): Uint8Array {
  return sha256(encodeTransaction(tx));
}

/**
 * The stored record: the canonical bytes, the witness count, then each
 * witness's key and signature (PROTOCOL.md §4.5).
 */
export function encodeRecord(tx: Transaction): Uint8Array {
  const parts = [encodeTransaction(tx), uintBE(tx.witnesses.length, 1)];
  for (const witness of tx.witnesses) {
    parts.push(toBytes(witness.publicKey, 32, 'a witness key'), toBytes(witness.signature, 64, 'a witness signature'));
  }
  return concat(...parts);
}

/**
 * The 69 bytes of a signed message: domain, version, chain id, then the
 * 32-byte message (a txid for `STLW`, a block hash for `STLH`).
 */
export function signedMessageBytes(domain: Domain, chainId: Uint8Array, message: Uint8Array): Uint8Array {
  return concat(
    ascii(domain),
    uintBE(PROTOCOL_VERSION, 1),
    toBytes(chainId, 32, 'a chain id'),
    toBytes(message, 32, 'a message'),
  );
}

/** What is signed: SHA-256 of {@link signedMessageBytes}, 32 bytes passed to BIP340 as is. */
export function signedMessage(domain: Domain, chainId: Uint8Array, message: Uint8Array): Uint8Array {
  return sha256(signedMessageBytes(domain, chainId, message));
}

/**
 * What every witness of a transfer, mint, redeem or refund signs:
 * `SHA-256("STLW" ‖ 0x02 ‖ chain id ‖ txid)`. It binds the signature to one
 * ledger: it does not verify on any other.
 */
export function witnessMessage(chainId: Uint8Array, transactionId: Uint8Array): Uint8Array {
  return signedMessage('STLW', chainId, transactionId);
}

/** The fields of a transaction to build; the version is {@link PROTOCOL_VERSION}. */
export interface TransactionFields {
  readonly kind: TransactionKind;
  readonly inputs?: readonly OutPoint[] | undefined;
  readonly outputs: readonly Output[];
  readonly reference?: Uint8Array | undefined;
}

/**
 * A transaction of `fields` signed for the ledger `chainId` by each of
 * `signers` (for a transfer, the distinct owners of its inputs; for a mint,
 * at least the issuer threshold).
 */
export function signTransaction(
  fields: TransactionFields,
  chainId: Uint8Array,
  signers: readonly SigningKey[],
): Transaction {
  const unsigned: Transaction = {
    version: PROTOCOL_VERSION,
    kind: fields.kind,
    inputs: fields.inputs ?? [],
    outputs: fields.outputs,
    reference: fields.reference ?? new Uint8Array(),
    witnesses: [],
  };
  const message = witnessMessage(chainId, txid(unsigned));
  return {
    ...unsigned,
    witnesses: signers.map((signer) => ({ publicKey: signer.publicKey, signature: signer.sign(message) })),
  };
}
