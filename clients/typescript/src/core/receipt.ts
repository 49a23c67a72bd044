/**
 * Receipts: proof, checkable offline with only the engine key and the
 * chain id, that a transaction is in a block the engine signed for that
 * ledger at a given sequence (docs/PROTOCOL.md §8).
 *
 * @module
 */
import { type SignedBlockHeader, verifyHeader } from './block.js';
import { type BytesLike, bytesEqual, fromHex, toBytes, toHex, toU64 } from './bytes.js';
import { VerificationError } from './errors.js';
import { type JsonValue, parseJson, stringifyJson } from './json.js';
import { expectedSides, type MerkleStep, rootFromPath } from './merkle.js';

/** A receipt's fields (protobuf `settled.v1.Receipt`, or its JSON form). */
export interface Receipt {
  /** The ledger the receipt names, when it names one (the JSON form may). */
  readonly chainId?: Uint8Array;
  readonly txid: Uint8Array;
  readonly sequence: bigint;
  readonly block: SignedBlockHeader;
  /** The transaction's 0-based position among the block's txids. */
  readonly indexInBlock: number;
  /** Steps from the txid's leaf up to the block's Merkle root. */
  readonly merklePath: readonly MerkleStep[];
}

/**
 * Verifies a receipt offline (PROTOCOL.md §8.1) against the engine key and
 * chain id the client pinned (never ones taken from the receipt): the
 * header hashes to its stated hash, the engine signed it for that chain,
 * the Merkle path leads from the txid to the header's root and proves the
 * position `indexInBlock`, and `sequence` is that position's sequence.
 *
 * @throws VerificationError naming the first step that fails.
 */
export function verifyReceipt(receipt: Receipt, engineKey: BytesLike, chainId: BytesLike): void {
  const chain = toBytes(chainId, 32, 'a chain id');
  if (receipt.chainId !== undefined && !bytesEqual(receipt.chainId, chain)) {
    throw new VerificationError(
      `the receipt is for chain ${toHex(receipt.chainId)}, not the pinned chain ${toHex(chain)}`,
    );
  }
  verifyHeader(receipt.block, engineKey, chain);
  verifyInclusion(receipt);
}

/**
 * The steps of {@link verifyReceipt} after the header's (PROTOCOL.md §8.1,
 * steps 3 to 5): the Merkle path leads from the txid to the header's root,
 * proves the position `indexInBlock` among `txCount` leaves, and `sequence`
 * is that position's sequence. Proves nothing unless the header was verified.
 *
 * @throws VerificationError naming the first step that fails.
 */
export function verifyInclusion(receipt: Receipt): void {
  const { block } = receipt;
  if (!bytesEqual(rootFromPath(receipt.txid, receipt.merklePath), block.merkleRoot)) {
    throw new VerificationError(
      `the Merkle path of ${toHex(receipt.txid)} does not lead to the root of block ${block.height}`,
    );
  }
  const sides = receipt.merklePath.map((step) => step.siblingOnLeft);
  const expected = expectedSides(receipt.indexInBlock, block.txCount);
  if (
    receipt.indexInBlock >= block.txCount ||
    sides.length !== expected.length ||
    sides.some((side, index) => side !== expected[index])
  ) {
    throw new VerificationError(
      `the Merkle path does not prove position ${receipt.indexInBlock} in a block of ${block.txCount} transactions`,
    );
  }
  if (receipt.sequence !== block.firstSequence + BigInt(receipt.indexInBlock)) {
    throw new VerificationError(
      `sequence ${receipt.sequence} is not first_sequence ${block.firstSequence} + index_in_block ${receipt.indexInBlock}`,
    );
  }
}

/**
 * A receipt of its JSON form (PROTOCOL.md §8: `settled receipt get`, the
 * vectors), given as text or as a value {@link parseJson} returned. Byte
 * strings are hex; `chain_id` and `block.hash` are optional.
 *
 * @throws VerificationError when a field is missing or malformed.
 */
export function receiptFromJson(json: string | JsonValue): Receipt {
  const root = object(typeof json === 'string' ? parseJson(json) : json, 'receipt');
  const block = object(root['block'], 'block');
  const chainId = root['chain_id'];
  const hash = block['hash'];
  return {
    ...(chainId === undefined ? {} : { chainId: hex(chainId, 32, 'chain_id') }),
    txid: hex(root['txid'], 32, 'txid'),
    sequence: u64(root['sequence'], 'sequence'),
    indexInBlock: u32(root['index_in_block'], 'index_in_block'),
    block: {
      height: u64(block['height'], 'block.height'),
      previousHash: hex(block['previous_hash'], 32, 'block.previous_hash'),
      merkleRoot: hex(block['merkle_root'], 32, 'block.merkle_root'),
      firstSequence: u64(block['first_sequence'], 'block.first_sequence'),
      txCount: u32(block['tx_count'], 'block.tx_count'),
      timeUnixMs: u64(block['time_unix_ms'], 'block.time_unix_ms'),
      mintedTotalMinor: u64(block['minted_total_minor'], 'block.minted_total_minor'),
      burnedTotalMinor: u64(block['burned_total_minor'], 'block.burned_total_minor'),
      ...(hash === undefined ? {} : { hash: hex(hash, 32, 'block.hash') }),
      engineSignature: hex(block['engine_signature'], 64, 'block.engine_signature'),
    },
    merklePath: array(root['merkle_path'], 'merkle_path').map((item, index) => {
      const step = object(item, `merkle_path[${index}]`);
      const onLeft = step['sibling_on_left'];
      if (typeof onLeft !== 'boolean') {
        throw new VerificationError(`merkle_path[${index}].sibling_on_left is not a boolean`);
      }
      return { sibling: hex(step['sibling'], 32, `merkle_path[${index}].sibling`), siblingOnLeft: onLeft };
    }),
  };
}

/**
 * The JSON form of a receipt, naming `chainId` (the ledger it is for), as
 * `settled receipt verify FILE --engine-key HEX` reads it.
 */
export function receiptToJson(receipt: Receipt, chainId: BytesLike): string {
  const { block } = receipt;
  return stringifyJson({
    chain_id: toHex(toBytes(chainId, 32, 'a chain id')),
    txid: toHex(receipt.txid),
    sequence: receipt.sequence,
    index_in_block: receipt.indexInBlock,
    block: {
      height: block.height,
      previous_hash: toHex(block.previousHash),
      merkle_root: toHex(block.merkleRoot),
      first_sequence: block.firstSequence,
      tx_count: block.txCount,
      time_unix_ms: block.timeUnixMs,
      minted_total_minor: block.mintedTotalMinor,
      burned_total_minor: block.burnedTotalMinor,
      ...(block.hash === undefined ? {} : { hash: toHex(block.hash) }),
      engine_signature: toHex(block.engineSignature),
    },
    merkle_path: receipt.merklePath.map((step) => ({
      sibling: toHex(step.sibling),
      sibling_on_left: step.siblingOnLeft,
    })),
  });
}

function object(value: JsonValue | undefined, what: string): { [key: string]: JsonValue } {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
    throw new VerificationError(`${what} is not a JSON object`);
  }
  return value;
}

function array(value: JsonValue | undefined, what: string): JsonValue[] {
  if (!Array.isArray(value)) {
    throw new VerificationError(`${what} is not a JSON array`);
  }
  return value;
}

function hex(value: JsonValue | undefined, length: number, what: string): Uint8Array {
  if (typeof value !== 'string' || !/^[0-9a-f]*$/.test(value) || value.length !== 2 * length) {
    throw new VerificationError(`${what} is not ${length} bytes of lowercase hex`);
  }
  return fromHex(value);
}

function u64(value: JsonValue | undefined, what: string): bigint {
  if (typeof value !== 'number' && typeof value !== 'bigint') {
    throw new VerificationError(`${what} is not an integer`);
  }
  return toU64(value, what);
}

function u32(value: JsonValue | undefined, what: string): number {
  const big = u64(value, what);
  if (big > 0xffff_ffffn) {
    throw new VerificationError(`${what}: ${big} is not a u32`);
  }
  return Number(big);
}
