/**
 * Block headers, their hash and engine signature, the genesis encoding and
 * the chain id (docs/PROTOCOL.md §3.1, §5, §6).
 *
 * @module
 */
import { ascii, type BytesLike, bytesEqual, concat, sha256, toBytes, toHex, uintBE } from './bytes.js';
import { VerificationError } from './errors.js';
import { verifySignature } from './keys.js';
import { PROTOCOL_VERSION, signedMessage, signedMessageBytes } from './transaction.js';

/** The fields of a block header, the 113 bytes its hash covers. */
export interface BlockHeader {
  readonly height: bigint;
  /** The hash of the previous header; 32 zero bytes for block 0. */
  readonly previousHash: Uint8Array;
  /** The root of the block's txids; the genesis hash for block 0. */
  readonly merkleRoot: Uint8Array;
  /** The sequence of the block's first transaction. */
  readonly firstSequence: bigint;
  /** How many transactions the block holds (`u32`). */
  readonly txCount: number;
  /** The block's time, milliseconds since 1970-01-01 UTC. */
  readonly timeUnixMs: bigint;
  /** Everything ever minted, up to and including this block. */
  readonly mintedTotalMinor: bigint;
  /** Everything ever burned (redeemed), up to and including this block. */
  readonly burnedTotalMinor: bigint;
}

/** A header as the engine sends it: the fields, its stated hash and signature. */
export interface SignedBlockHeader extends BlockHeader {
  /** The hash the server states; never trusted: recomputed from the fields. */
  readonly hash?: Uint8Array;
  /** The engine's BIP340 signature of the header's `STLH` message. */
  readonly engineSignature: Uint8Array;
}

/** The genesis parameters a ledger is created with (PROTOCOL.md §5). */
export interface Genesis {
  /** 1 to 8 ASCII uppercase letters, e.g. `CNY`. */
  readonly currency: string;
  /** Number of decimals, 0 to 8. */
  readonly exponent: number;
  readonly issuerPublicKeys: readonly Uint8Array[];
  readonly issuerThreshold: number;
  readonly enginePublicKey: Uint8Array;
}

const BLOCK_MAGIC = ascii('STLB');
const GENESIS_MAGIC = ascii('STLG');

/** The 113 canonical bytes of a header (PROTOCOL.md §6.1). */
export function encodeHeader(header: BlockHeader): Uint8Array {
  return concat(
    BLOCK_MAGIC,
    uintBE(PROTOCOL_VERSION, 1),
    uintBE(header.height, 8),
    toBytes(header.previousHash, 32, 'previous_hash'),
    toBytes(header.merkleRoot, 32, 'merkle_root'),
    uintBE(header.firstSequence, 8),
    uintBE(header.txCount, 4),
    uintBE(header.timeUnixMs, 8),
    uintBE(header.mintedTotalMinor, 8),
    uintBE(header.burnedTotalMinor, 8),
  );
}

/** The block hash: SHA-256 of the 113 header bytes. Block 0's is the chain id. */
export function headerHash(header: BlockHeader): Uint8Array {
  return sha256(encodeHeader(header));
}

/** The 69 bytes of the `STLH` message the engine signs for a header on `chainId`. */
export function headerMessageBytes(header: BlockHeader, chainId: Uint8Array): Uint8Array {
  return signedMessageBytes('STLH', chainId, headerHash(header));
}

/**
 * Checks a signed header: its stated hash (if any) is the hash of its
 * fields, and its engine signature verifies by `engineKey` over the header's
 * `STLH` message for `chainId`. Returns the recomputed hash.
 *
 * @throws VerificationError when either does not hold.
 */
export function verifyHeader(header: SignedBlockHeader, engineKey: BytesLike, chainId: BytesLike): Uint8Array {
  const chain = toBytes(chainId, 32, 'a chain id');
  const hash = headerHash(header);
  if (header.hash !== undefined && !bytesEqual(header.hash, hash)) {
    throw new VerificationError(`block ${header.height}: the stated hash is not the hash of the header's fields`);
  }
  if (!verifySignature(header.engineSignature, signedMessage('STLH', chain, hash), engineKey)) {
    throw new VerificationError(
      `block ${header.height} is not signed by engine key ${hexOf(engineKey)} for chain ${toHex(chain)}`,
    );
  }
  return hash;
}

/** The canonical genesis bytes, `41 + currency + 32·issuers` bytes (PROTOCOL.md §5). */
export function encodeGenesis(genesis: Genesis): Uint8Array {
  if (!/^[A-Z]{1,8}$/.test(genesis.currency)) {
    throw new RangeError(`${JSON.stringify(genesis.currency)} is not a currency code (1-8 ASCII uppercase letters)`);
  }
  return concat(
    GENESIS_MAGIC,
    uintBE(PROTOCOL_VERSION, 1),
    uintBE(genesis.currency.length, 1),
    ascii(genesis.currency),
    uintBE(genesis.exponent, 1),
    uintBE(genesis.issuerThreshold, 1),
    uintBE(genesis.issuerPublicKeys.length, 1),
    ...genesis.issuerPublicKeys.map((key) => toBytes(key, 32, 'an issuer key')),
    toBytes(genesis.enginePublicKey, 32, 'the engine key'),
  );
}

/** The genesis hash: SHA-256 of the genesis bytes; block 0's Merkle root. */
export function genesisHash(genesis: Genesis): Uint8Array {
  return sha256(encodeGenesis(genesis));
}

/**
 * Checks block 0 against a genesis hash and returns the chain id it
 * establishes (its own hash): height 0, no previous block, the genesis hash
 * as Merkle root, no transactions from sequence 1, totals 0, and an engine
 * signature by `engineKey` with its own hash as chain id.
 *
 * @throws VerificationError when any of it does not hold.
 */
export function verifyGenesisBlock(block: SignedBlockHeader, genesis: BytesLike, engineKey: BytesLike): Uint8Array {
  const expectedRoot = toBytes(genesis, 32, 'a genesis hash');
  const shaped =
    block.height === 0n &&
    block.previousHash.every((byte) => byte === 0) &&
    bytesEqual(block.merkleRoot, expectedRoot) &&
    block.firstSequence === 1n &&
    block.txCount === 0 &&
    block.mintedTotalMinor === 0n &&
    block.burnedTotalMinor === 0n;
  if (!shaped) {
    throw new VerificationError(`block 0 is not the genesis block of genesis ${toHex(expectedRoot)}`);
  }
  const chainId = headerHash(block);
  verifyHeader(block, engineKey, chainId);
  return chainId;
}

function hexOf(value: BytesLike): string {
  return typeof value === 'string' ? value.toLowerCase() : toHex(value);
}
