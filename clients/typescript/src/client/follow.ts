/**
 * Following a bank's customers' money over `ReconciliationService.Subscribe`
 * (docs/PROTOCOL.md §9.4), every checkpoint verified.
 *
 * @module
 */
import { type ClientReadableStream, status as Code } from '@grpc/grpc-js';

import {
  applyCheckpoint,
  applyMovement,
  type Checkpoint,
  type FollowCursor,
  type LedgerPins,
  type Movement,
  newCursor,
} from '../core/follow.js';
import { VerificationError } from '../core/errors.js';
import type { SubscribeRequest } from '../generated/settled/v1/SubscribeRequest.js';
import type { SubscribeResponse__Output } from '../generated/settled/v1/SubscribeResponse.js';
import { checkpointFromWire, movementFromWire, u64 } from './convert.js';
import { settledError, toSettledError } from './errors.js';

/** Opens `ReconciliationService.Subscribe` with the caller's credential. */
export type Subscribe = (request: SubscribeRequest) => ClientReadableStream<SubscribeResponse__Output>;

/** One item of a bank's stream, with the cursor that resumes right after it. */
export type FollowEvent =
  | { readonly type: 'movement'; readonly movement: Movement; readonly cursor: FollowCursor }
  | { readonly type: 'checkpoint'; readonly checkpoint: Checkpoint; readonly cursor: FollowCursor };

/** How far to follow. */
export interface FollowOptions {
  /**
   * Stop after the checkpoint of this height; without it the stream
   * follows live and never ends by itself.
   */
  readonly untilHeight?: bigint | undefined;
}

/**
 * A bank's movements and checkpoints in ledger order, as an async iterable:
 * each movement counted, each checkpoint verified against the pinned engine
 * key and chain id, the hash chain and the bank's own counts
 * ({@link applyCheckpoint}). A checkpoint that does not check out ends the
 * iteration with a {@link VerificationError}; a broken stream with a
 * `SettledError` (resume from {@link BankFollower.cursor}).
 *
 * Each event carries the cursor that resumes right after it: save it with
 * what was done with the item, and pass it to `SettledClient.follow` to go
 * on with no gap and no duplicate.
 */
export class BankFollower implements AsyncIterable<FollowEvent> {
  #cursor: FollowCursor;

  /** @internal Made by `SettledClient.follow`. */
  constructor(
    private readonly subscribe: Subscribe,
    private readonly pins: LedgerPins,
    bank: string,
    cursor: FollowCursor | undefined,
    private readonly options: FollowOptions,
  ) {
    if (cursor !== undefined && cursor.bank !== bank) {
      throw new TypeError(`the cursor follows bank ${JSON.stringify(cursor.bank)}, not ${JSON.stringify(bank)}`);
    }
    this.#cursor = cursor ?? newCursor(bank);
  }

  /** The cursor after the last item received: where a new follower resumes. */
  get cursor(): FollowCursor {
    return this.#cursor;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<FollowEvent, void, undefined> {
    const { untilHeight } = this.options;
    if (untilHeight !== undefined && this.#reached(untilHeight)) {
      return;
    }
    const cursor = this.#cursor;
    const call = this.subscribe({
      bank: cursor.bank,
      afterSequence: u64(cursor.afterSequence),
      ...(cursor.afterHeight === undefined ? {} : { afterHeight: u64(cursor.afterHeight) }),
      ...(untilHeight === undefined ? {} : { untilHeight: u64(untilHeight) }),
    });
    // The iteration below sees every error; this keeps a late one (after
    // the consumer stopped) from being an unhandled 'error' event.
    call.on('error', () => undefined);
    try {
      for await (const response of call as AsyncIterable<SubscribeResponse__Output>) {
        if (response.item === 'movement' && response.movement) {
          const movement = movementFromWire(response.movement);
          this.#cursor = applyMovement(this.#cursor, movement);
          yield { type: 'movement', movement, cursor: this.#cursor };
        } else if (response.item === 'checkpoint' && response.checkpoint) {
          const checkpoint = checkpointFromWire(response.checkpoint);
          this.#cursor = applyCheckpoint(this.#cursor, checkpoint, this.pins);
          yield { type: 'checkpoint', checkpoint, cursor: this.#cursor };
          if (untilHeight !== undefined && this.#reached(untilHeight)) {
            return;
          }
        } else {
          throw new VerificationError('an empty item on the bank stream');
        }
      }
    } catch (error) {
      throw toSettledError(error);
    } finally {
      call.cancel();
    }
    const until = untilHeight === undefined ? '' : ` before block ${untilHeight}`;
    throw settledError(Code.UNAVAILABLE, `the bank stream ended${until}: resume from the cursor`, {});
  }

  #reached(untilHeight: bigint): boolean {
    const seen = this.#cursor.afterHeight;
    return seen !== undefined && seen >= untilHeight;
  }
}
