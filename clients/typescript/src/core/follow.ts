/**
 * The bank side of `ReconciliationService.Subscribe` (docs/PROTOCOL.md
 * §9.4), without the network: a bank's movements and checkpoints, the
 * checks of every checkpoint against the pinned engine key and chain id
 * and against the bank's own counts, and the resumable cursor.
 *
 * @module
 */
import { type SignedBlockHeader, verifyGenesisBlock, verifyHeader } from './block.js';
import { bytesEqual, fromHex, toHex, toU64 } from './bytes.js';
import { VerificationError } from './errors.js';
import { type JsonValue, parseJson, stringifyJson } from './json.js';

/** What kind of transaction a movement comes from. */
export type MovementKind = 'payment' | 'mint' | 'redeem' | 'clawback' | 'refund' | 'recovery';

/** One customer's net movement in one programme within one transaction. */
export interface Entry {
  readonly address: Uint8Array;
  /** The merchant id when the address is a merchant's payout address; empty for a wallet. */
  readonly merchant: string;
  readonly programmeId: number;
  readonly direction: 'credit' | 'debit';
  readonly amountMinor: bigint;
  /** The main payee of a debit, the main payer of a credit; absent when none. */
  readonly counterparty?: Uint8Array;
  /** The counterparty's bank; empty when it has none. */
  readonly counterpartyBank: string;
}

/** The bank's part of one committed transaction. */
export interface Movement {
  readonly sequence: bigint;
  readonly height: bigint;
  readonly txid: Uint8Array;
  readonly kind: MovementKind;
  /** The block's time. */
  readonly timeUnixMs: bigint;
  /** The merchant paid (or redeeming, or refunding), where known. */
  readonly merchant: string;
  /** The terminal that submitted the transaction, where known. */
  readonly terminal: string;
  /** In ascending (address, programme) order. */
  readonly entries: readonly Entry[];
}

/** A bank's credits and debits in one programme. */
export interface ProgrammeTotals {
  readonly programmeId: number;
  readonly creditsMinor: bigint;
  readonly debitsMinor: bigint;
}

/** A bank's running totals since genesis. */
export interface BankTotals {
  /** One per transaction that concerned the bank. */
  readonly movements: bigint;
  readonly creditEntries: bigint;
  readonly debitEntries: bigint;
  readonly creditsMinor: bigint;
  readonly debitsMinor: bigint;
  /** Ascending by programme. */
  readonly programmes: readonly ProgrammeTotals[];
}

/** The end of one block on a bank's stream: its signed header and the bank's totals. */
export interface Checkpoint {
  readonly block: SignedBlockHeader;
  readonly totals: BankTotals;
}

/**
 * Where a follower is: what it has seen and what that adds up to. Save it
 * (see {@link cursorToJson}) with whatever the bank did with the items up to
 * it, and resume from it: the stream goes on with the next item, with no gap
 * and no duplicate.
 */
export interface FollowCursor {
  readonly bank: string;
  /** The last sequence seen: of a movement, or the last of a checkpoint's block. */
  readonly afterSequence: bigint;
  /** The height of the last checkpoint verified, if any. */
  readonly afterHeight?: bigint;
  /** The hash of that checkpoint's header: the next must chain to it. */
  readonly lastHash?: Uint8Array;
  /** What the movements seen since genesis add up to. */
  readonly totals: BankTotals;
}

/** What a follower checks checkpoints against: the pinned ledger facts. */
export interface LedgerPins {
  readonly engineKey: Uint8Array;
  readonly chainId: Uint8Array;
  /** Block 0's Merkle root (`GetInfo.genesis_hash`). */
  readonly genesisHash: Uint8Array;
}

/** The cursor of a bank that has seen nothing yet: the stream starts at block 0. */
export function newCursor(bank: string): FollowCursor {
  return {
    bank,
    afterSequence: 0n,
    totals: { movements: 0n, creditEntries: 0n, debitEntries: 0n, creditsMinor: 0n, debitsMinor: 0n, programmes: [] },
  };
}

/**
 * The cursor after `movement`: its sequence seen and its entries counted.
 *
 * @throws VerificationError when the movement is not after what was seen
 *   (a duplicate) or not in the block after the last checkpoint.
 */
export function applyMovement(cursor: FollowCursor, movement: Movement): FollowCursor {
  if (movement.sequence <= cursor.afterSequence) {
    throw new VerificationError(
      `movement ${movement.sequence} is not after sequence ${cursor.afterSequence}, already seen`,
    );
  }
  if (cursor.afterHeight !== undefined && movement.height !== cursor.afterHeight + 1n) {
    throw new VerificationError(
      `movement ${movement.sequence} is in block ${movement.height}, not in block ${cursor.afterHeight + 1n} after the last checkpoint`,
    );
  }
  const programmes = new Map(cursor.totals.programmes.map((totals) => [totals.programmeId, totals]));
  let { creditEntries, debitEntries, creditsMinor, debitsMinor } = cursor.totals;
  for (const entry of movement.entries) {
    const programme = programmes.get(entry.programmeId) ?? {
      programmeId: entry.programmeId,
      creditsMinor: 0n,
      debitsMinor: 0n,
    };
    if (entry.direction === 'credit') {
      creditEntries += 1n;
      creditsMinor += entry.amountMinor;
      programmes.set(entry.programmeId, { ...programme, creditsMinor: programme.creditsMinor + entry.amountMinor });
    } else {
      debitEntries += 1n;
      debitsMinor += entry.amountMinor;
      programmes.set(entry.programmeId, { ...programme, debitsMinor: programme.debitsMinor + entry.amountMinor });
    }
  }
  return {
    ...cursor,
    afterSequence: movement.sequence,
    totals: {
      movements: cursor.totals.movements + 1n,
      creditEntries,
      debitEntries,
      creditsMinor,
      debitsMinor,
      programmes: [...programmes.values()].sort((a, b) => a.programmeId - b.programmeId),
    },
  };
}

/**
 * The cursor after `checkpoint`, once it checks out (PROTOCOL.md §9.4):
 * its header hashes to its stated hash and is signed by the pinned engine
 * key for the pinned chain; it follows the last checkpoint (height + 1,
 * `previous_hash`) or, for block 0, is the genesis block of the pinned
 * ledger; no movement seen lies past its block; and the totals it states
 * are exactly what this follower counted (movements, entries, credits,
 * debits, and per programme).
 *
 * @throws VerificationError when anything does not hold: stop and investigate.
 */
export function applyCheckpoint(cursor: FollowCursor, checkpoint: Checkpoint, pins: LedgerPins): FollowCursor {
  const { block } = checkpoint;
  const height = block.height;
  const hash =
    height === 0n
      ? verifyGenesisBlock(block, pins.genesisHash, pins.engineKey)
      : verifyHeader(block, pins.engineKey, pins.chainId);
  if (height === 0n && !bytesEqual(hash, pins.chainId)) {
    throw new VerificationError(`block 0 hashes to ${toHex(hash)}, not to the pinned chain id ${toHex(pins.chainId)}`);
  }
  if (cursor.afterHeight !== undefined) {
    if (height !== cursor.afterHeight + 1n) {
      throw new VerificationError(`block ${height} does not follow block ${cursor.afterHeight}`);
    }
    if (cursor.lastHash === undefined || !bytesEqual(block.previousHash, cursor.lastHash)) {
      throw new VerificationError(`block ${height} does not chain to block ${cursor.afterHeight}`);
    }
  }
  const lastSequence = block.firstSequence + BigInt(block.txCount) - 1n;
  if (cursor.afterSequence > lastSequence) {
    throw new VerificationError(
      `a movement at sequence ${cursor.afterSequence} came before block ${height}, which ends at ${lastSequence}`,
    );
  }
  const stated = describeTotals(checkpoint.totals);
  const counted = describeTotals(cursor.totals);
  if (stated !== counted) {
    throw new VerificationError(`at block ${height} the ledger states ${stated}; this follower counted ${counted}`);
  }
  return {
    ...cursor,
    afterSequence: cursor.afterSequence > lastSequence ? cursor.afterSequence : lastSequence,
    afterHeight: height,
    lastHash: hash,
  };
}

function describeTotals(totals: BankTotals): string {
  const programmes = totals.programmes
    .map((p) => `programme ${p.programmeId}: credits ${p.creditsMinor}, debits ${p.debitsMinor}`)
    .join('; ');
  return (
    `${totals.movements} movements, ${totals.creditEntries} credit entries of ${totals.creditsMinor}, ` +
    `${totals.debitEntries} debit entries of ${totals.debitsMinor} [${programmes}]`
  );
}

/** The JSON text of a cursor, to save (integers as decimal text, hashes as hex). */
export function cursorToJson(cursor: FollowCursor): string {
  const { totals } = cursor;
  return stringifyJson({
    bank: cursor.bank,
    after_sequence: cursor.afterSequence.toString(),
    ...(cursor.afterHeight === undefined ? {} : { after_height: cursor.afterHeight.toString() }),
    ...(cursor.lastHash === undefined ? {} : { last_hash: toHex(cursor.lastHash) }),
    totals: {
      movements: totals.movements.toString(),
      credit_entries: totals.creditEntries.toString(),
      debit_entries: totals.debitEntries.toString(),
      credits_minor: totals.creditsMinor.toString(),
      debits_minor: totals.debitsMinor.toString(),
      programmes: totals.programmes.map((p) => ({
        programme_id: p.programmeId,
        credits_minor: p.creditsMinor.toString(),
        debits_minor: p.debitsMinor.toString(),
      })),
    },
  });
}

/**
 * A cursor of the JSON text {@link cursorToJson} wrote.
 *
 * @throws VerificationError when the text is not such a cursor.
 */
export function cursorFromJson(text: string): FollowCursor {
  const root = record(parseJson(text), 'cursor');
  const totals = record(root['totals'], 'totals');
  const bank = root['bank'];
  if (typeof bank !== 'string') {
    throw new VerificationError('cursor: bank is not a string');
  }
  const afterHeight = root['after_height'];
  const lastHash = root['last_hash'];
  const programmes = totals['programmes'];
  if (!Array.isArray(programmes)) {
    throw new VerificationError('cursor: totals.programmes is not an array');
  }
  return {
    bank,
    afterSequence: decimal(root['after_sequence'], 'after_sequence'),
    ...(afterHeight === undefined ? {} : { afterHeight: decimal(afterHeight, 'after_height') }),
    ...(typeof lastHash === 'string' ? { lastHash: fromHex(lastHash) } : {}),
    totals: {
      movements: decimal(totals['movements'], 'totals.movements'),
      creditEntries: decimal(totals['credit_entries'], 'totals.credit_entries'),
      debitEntries: decimal(totals['debit_entries'], 'totals.debit_entries'),
      creditsMinor: decimal(totals['credits_minor'], 'totals.credits_minor'),
      debitsMinor: decimal(totals['debits_minor'], 'totals.debits_minor'),
      programmes: programmes.map((item, index) => {
        const programme = record(item, `totals.programmes[${index}]`);
        const programmeId = programme['programme_id'];
        if (typeof programmeId !== 'number' || !Number.isInteger(programmeId)) {
          throw new VerificationError(`cursor: totals.programmes[${index}].programme_id is not an integer`);
        }
        return {
          programmeId,
          creditsMinor: decimal(programme['credits_minor'], `totals.programmes[${index}].credits_minor`),
          debitsMinor: decimal(programme['debits_minor'], `totals.programmes[${index}].debits_minor`),
        };
      }),
    },
  };
}

function record(value: JsonValue | undefined, what: string): { [key: string]: JsonValue } {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
    throw new VerificationError(`cursor: ${what} is not an object`);
  }
  return value;
}

function decimal(value: JsonValue | undefined, what: string): bigint {
  if (typeof value !== 'string') {
    throw new VerificationError(`cursor: ${what} is not decimal text`);
  }
  return toU64(value, `cursor: ${what}`);
}
