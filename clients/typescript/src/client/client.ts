/**
 * `SettledClient`: a connection to a Settled engine with one credential,
 * pinned to one ledger (its engine key and chain id), whose every receipt
 * and header is verified before it is returned.
 *
 * @module
 */
import * as grpc from '@grpc/grpc-js';

import { parseAmount } from '../core/amount.js';
import {
  encodeHeader,
  genesisHash as hashGenesis,
  type SignedBlockHeader,
  verifyGenesisBlock,
  verifyHeader,
} from '../core/block.js';
import { type BytesLike, bytesEqual, toBytes, toHex, toU64 } from '../core/bytes.js';
import { VerificationError } from '../core/errors.js';
import type { FollowCursor, LedgerPins } from '../core/follow.js';
import { isValidAddress, type SigningKey } from '../core/keys.js';
import { type Receipt, verifyInclusion } from '../core/receipt.js';
import { type StatementFormat, verifyStatement } from '../core/statement.js';
import {
  type OutPoint,
  type Output,
  PROTOCOL_VERSION,
  signTransaction,
  type Transaction,
  TransactionKind,
  txid,
  type UnspentOutput,
} from '../core/transaction.js';
import type { GetBalanceResponse__Output } from '../generated/settled/v1/GetBalanceResponse.js';
import type { GetBlockResponse__Output } from '../generated/settled/v1/GetBlockResponse.js';
import type { GetInfoResponse__Output } from '../generated/settled/v1/GetInfoResponse.js';
import type { GetPaymentResponse__Output } from '../generated/settled/v1/GetPaymentResponse.js';
import type { ListUnspentResponse__Output } from '../generated/settled/v1/ListUnspentResponse.js';
import type { MintResponse__Output } from '../generated/settled/v1/MintResponse.js';
import type { Receipt__Output } from '../generated/settled/v1/Receipt.js';
import type { StatementFormat__Output } from '../generated/settled/v1/StatementFormat.js';
import type { SubmitPaymentResponse__Output } from '../generated/settled/v1/SubmitPaymentResponse.js';
import type { SubmitPaymentsResponse__Output } from '../generated/settled/v1/SubmitPaymentsResponse.js';
import {
  bytes,
  headerFromWire,
  receiptFromWire,
  transactionFromWire,
  transactionToWire,
  u64,
  unspentFromWire,
} from './convert.js';
import { errorFromRefusal, type SettledError, settledError, toSettledError } from './errors.js';
import { BankFollower, type FollowOptions } from './follow.js';
import { openServices, type Services } from './proto.js';

/** How to reach and trust a server. */
export interface ConnectOptions {
  /** The bearer token (`authorization: Bearer <token>`), e.g. a `dev.token` file's text. */
  readonly token?: string | undefined;
  /**
   * The engine key the ledger was given out of band. Without it the
   * server's own key is trusted (after the genesis checks).
   */
  readonly pinEngineKey?: BytesLike | undefined;
  /**
   * The chain id the ledger was given out of band (the hash of its block 0).
   * Without it the server's own chain id is trusted (after the genesis checks).
   */
  readonly pinChainId?: BytesLike | undefined;
  /** Channel credentials: plain TCP (`grpc.credentials.createInsecure()`) unless given, e.g. `createSsl(ca)`. */
  readonly credentials?: grpc.ChannelCredentials | undefined;
}

/** The ledger's public facts (`LedgerService.GetInfo`), its tip header verified. */
export interface LedgerInfo {
  readonly protocolVersion: number;
  readonly chainId: Uint8Array;
  readonly engineKey: Uint8Array;
  readonly genesisHash: Uint8Array;
  readonly currency: string;
  /** The currency's number of decimals: what decimal amounts are parsed with. */
  readonly currencyExponent: number;
  readonly issuerKeys: readonly Uint8Array[];
  readonly issuerThreshold: number;
  /** The ledger day's offset from UTC in minutes (daily limits, statement dates). */
  readonly dayOffsetMinutes: number;
  /** The last durable block's header. */
  readonly tip: SignedBlockHeader;
  readonly nextSequence: bigint;
  readonly unspentTotalMinor: bigint;
  readonly unspentCount: bigint;
}

/** A confirmed transaction: its receipt, verified against the pinned engine key and chain id. */
export interface Confirmation {
  readonly txid: Uint8Array;
  readonly transaction: Transaction;
  readonly receipt: Receipt;
  /** True when the transaction had been confirmed before: the receipt is the original one. */
  readonly duplicate: boolean;
}

/** The answer to one payment of {@link SettledClient.submitStream}. */
export type StreamOutcome = {
  /** The payment's position among those submitted, from 0. */
  readonly index: number;
  readonly transaction: Transaction;
  readonly txid: Uint8Array;
} & (
  | { readonly status: 'confirmed'; readonly receipt: Receipt; readonly duplicate: boolean }
  | { readonly status: 'refused'; readonly error: SettledError }
);

/** An address's unspent money (`WalletService.GetBalance`). */
export interface Balance {
  readonly totalMinor: bigint;
  /** One per programme held, ascending by programme id. */
  readonly balances: readonly { readonly programmeId: number; readonly amountMinor: bigint }[];
  readonly unspentCount: bigint;
  /** The block the balance is read at. */
  readonly height: bigint;
}

/** What the ledger knows of a payment (`PaymentService.GetPayment`). */
export type PaymentRecord =
  | { readonly status: 'confirmed'; readonly receipt: Receipt; readonly transaction: Transaction }
  /** Never submitted, refused, or not yet durable. */
  | { readonly status: 'unknown' };

/** An amount: minor units as a `bigint`, or decimal text in the ledger's currency (`"12.34"`). */
export type Amount = bigint | string;

/** An output to create. */
export interface PaymentOutput {
  readonly address: BytesLike;
  readonly amount: Amount;
  /** 0 (unrestricted money) unless given. */
  readonly programmeId?: number | undefined;
}

/** What {@link SettledClient.buildPayment} builds. */
export interface PaymentOptions {
  /** The payer's key: it owns the inputs and signs. */
  readonly from: SigningKey;
  /** The payee's address. */
  readonly to: BytesLike;
  readonly amount: Amount;
  /** The programme of the money paid: 0 (unrestricted) unless given. */
  readonly programmeId?: number | undefined;
  /**
   * The payer's outputs to spend (an outpoint alone is looked up with
   * `ListUnspent`); by default the fewest of its outputs of the programme
   * that cover the amount, largest first. What they hold beyond the payment
   * goes back to the payer as change, programme by programme.
   */
  readonly inputs?: readonly (UnspentOutput | OutPoint)[] | undefined;
  /** A reference (an invoice number): bytes, or text sent as UTF-8. At most 64 bytes. */
  readonly reference?: Uint8Array | string | undefined;
}

/** The payer's outputs hold less than a payment. */
export class InsufficientFundsError extends Error {
  override readonly name: string = 'InsufficientFundsError';

  constructor(
    readonly requiredMinor: bigint,
    readonly availableMinor: bigint,
    message: string,
  ) {
    super(message);
  }
}

/** The server speaks another protocol version than this client's (2). */
export class ProtocolVersionError extends Error {
  override readonly name: string = 'ProtocolVersionError';

  constructor(readonly serverVersion: number) {
    super(
      `the server speaks protocol version ${serverVersion}; this client (@settled/client 2.x) speaks version ${PROTOCOL_VERSION} only`,
    );
  }
}

/** At most this many inputs in one transaction (PROTOCOL.md §12). */
const INPUTS_MAX = 16;
/** The largest `ListUnspent` page. */
const PAGE_SIZE_MAX = 1000;

const STATEMENT_FORMATS: Record<StatementFormat, StatementFormat__Output> = {
  camt053: 'STATEMENT_FORMAT_CAMT053',
  camt052: 'STATEMENT_FORMAT_CAMT052',
  csv: 'STATEMENT_FORMAT_CSV',
};

/** How many verified block headers a client remembers, to verify each block's signature once. */
const VERIFIED_HEADERS_MAX = 4096;

/** HTTP/2 keepalive, as the reference client: a long-lived bank stream notices a dead peer. */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
};

/**
 * A client of one Settled ledger. {@link SettledClient.connect} checks the
 * server speaks protocol version 2, that its engine key and chain id are the
 * pinned ones (when pinned), and that its genesis and block 0 establish them;
 * from then on every receipt, header and checkpoint is verified against
 * them, and a server presenting others is refused with a
 * {@link VerificationError}. Refusals are {@link SettledError}s.
 */
export class SettledClient {
  readonly #metadata: grpc.Metadata;
  readonly #pins: LedgerPins;
  readonly #exponent: number;
  readonly #currency: string;
  /** Headers (fields, stated hash, signature) already verified against the pins: the receipts of one block share one. */
  readonly #verifiedHeaders = new Set<string>();

  private constructor(
    /** The raw gRPC clients, for calls this class does not wrap (see {@link SettledClient.unary}). */
    readonly services: Services,
    metadata: grpc.Metadata,
    info: LedgerInfo,
  ) {
    this.#metadata = metadata;
    this.#pins = { engineKey: info.engineKey, chainId: info.chainId, genesisHash: info.genesisHash };
    this.#exponent = info.currencyExponent;
    this.#currency = info.currency;
  }

  /**
   * Connects to `target` (`host:port`) and establishes the ledger it serves
   * (PROTOCOL.md §13, step 2).
   *
   * @throws ProtocolVersionError when the server speaks another protocol version.
   * @throws VerificationError when its engine key or chain id is not the
   *   pinned one, or its genesis or block 0 does not check out.
   * @throws SettledError when it cannot be reached or refuses the credential.
   */
  static async connect(target: string, options: ConnectOptions = {}): Promise<SettledClient> {
    const services = openServices(target, options.credentials ?? grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const metadata = new grpc.Metadata();
    if (options.token !== undefined) {
      metadata.set('authorization', `Bearer ${options.token.trim()}`);
    }
    try {
      const info = await unaryCall<GetInfoResponse__Output>(metadata, (md, callback) =>
        services.ledger.GetInfo({ countUnspent: false }, md, callback),
      );
      const ledger = ledgerInfo(info, {
        ...(options.pinEngineKey === undefined
          ? {}
          : { engineKey: toBytes(options.pinEngineKey, 32, 'the pinned engine key') }),
        ...(options.pinChainId === undefined
          ? {}
          : { chainId: toBytes(options.pinChainId, 32, 'the pinned chain id') }),
      });
      const genesis = await unaryCall<GetBlockResponse__Output>(metadata, (md, callback) =>
        services.ledger.GetBlock({ height: '0' }, md, callback),
      );
      if (genesis.header === null) {
        throw new VerificationError('the server returned no block 0');
      }
      const chainId = verifyGenesisBlock(headerFromWire(genesis.header), ledger.genesisHash, ledger.engineKey);
      if (!bytesEqual(chainId, ledger.chainId)) {
        throw new VerificationError(
          `block 0 hashes to ${toHex(chainId)}, not to the chain id ${toHex(ledger.chainId)} the server states`,
        );
      }
      return new SettledClient(services, metadata, ledger);
    } catch (error) {
      closeServices(services);
      throw toSettledError(error);
    }
  }

  /** The engine key every receipt and header is verified against. */
  get engineKey(): Uint8Array {
    return this.#pins.engineKey;
  }

  /** The ledger's chain id: what every signature covers. */
  get chainId(): Uint8Array {
    return this.#pins.chainId;
  }

  /** The currency's exponent, with which decimal text amounts are parsed. */
  get currencyExponent(): number {
    return this.#exponent;
  }

  /**
   * The ledger's public facts now.
   *
   * @throws VerificationError when the server now presents another engine
   *   key or chain id, or a tip header that does not verify.
   */
  async info(): Promise<LedgerInfo> {
    const info = await this.unary<GetInfoResponse__Output>((md, callback) =>
      this.services.ledger.GetInfo({ countUnspent: false }, md, callback),
    );
    return ledgerInfo(info, this.#pins);
  }

  /** Every unspent output of `address`, in outpoint order (all `ListUnspent` pages). */
  async unspent(address: BytesLike): Promise<UnspentOutput[]> {
    const owner = toBytes(address, 32, 'an address');
    const outputs: UnspentOutput[] = [];
    let pageToken = '';
    do {
      const page = await this.unary<ListUnspentResponse__Output>((md, callback) =>
        this.services.wallets.ListUnspent({ address: owner, pageSize: PAGE_SIZE_MAX, pageToken }, md, callback),
      );
      outputs.push(...page.outputs.map(unspentFromWire));
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    return outputs;
  }

  /** What `address` holds, per programme, as of the last durable block. */
  async balance(address: BytesLike): Promise<Balance> {
    const response = await this.unary<GetBalanceResponse__Output>((md, callback) =>
      this.services.wallets.GetBalance({ address: toBytes(address, 32, 'an address') }, md, callback),
    );
    return {
      totalMinor: toU64(response.totalMinor, 'total_minor'),
      balances: response.balances.map((balance) => ({
        programmeId: balance.programmeId,
        amountMinor: toU64(balance.amountMinor, 'amount_minor'),
      })),
      unspentCount: toU64(response.unspentCount, 'unspent_count'),
      height: toU64(response.height, 'height'),
    };
  }

  /**
   * A payment of `amount` from `from` to `to`, with change back to the
   * payer, signed by the payer for this ledger; not submitted.
   *
   * @throws InsufficientFundsError when the payer's outputs hold too little.
   * @throws TypeError or RangeError for a payee that cannot be paid, a zero
   *   amount, or inputs that are not the payer's unspent outputs.
   */
  async buildPayment(options: PaymentOptions): Promise<Transaction> {
    const programmeId = options.programmeId ?? 0;
    const payment = this.#output({ address: options.to, amount: options.amount, programmeId });
    const inputs = await this.#inputs(options, payment.amountMinor, programmeId);
    const held = new Map<number, bigint>();
    for (const { output } of inputs) {
      held.set(output.programmeId, (held.get(output.programmeId) ?? 0n) + output.amountMinor);
    }
    const available = held.get(programmeId) ?? 0n;
    if (available < payment.amountMinor) {
      throw new InsufficientFundsError(
        payment.amountMinor,
        available,
        `the inputs hold ${available} minor units of programme ${programmeId}, less than the ${payment.amountMinor} paid`,
      );
    }
    held.set(programmeId, available - payment.amountMinor);
    const change = [...held.entries()]
      .filter(([, amount]) => amount > 0n)
      .sort(([a], [b]) => a - b)
      .map(([id, amount]) => ({ address: options.from.publicKey, amountMinor: amount, programmeId: id }));
    return signTransaction(
      {
        kind: TransactionKind.Transfer,
        inputs: inputs.map((input) => input.outpoint),
        outputs: [payment, ...change],
        reference: referenceBytes(options.reference),
      },
      this.chainId,
      [options.from],
    );
  }

  /** {@link SettledClient.buildPayment}, then {@link SettledClient.submit}. */
  async pay(options: PaymentOptions): Promise<Confirmation> {
    return this.submit(await this.buildPayment(options));
  }

  /**
   * Submits a transfer, redemption or refund (`PaymentService.SubmitPayment`)
   * and waits until it is confirmed. Resubmitting the same transaction is
   * safe: it is answered with the original receipt (`duplicate`).
   *
   * @throws SettledError when it is refused (e.g. `Declined` with
   *   `REASON_INPUT_SPENT` and `spentBy`).
   * @throws VerificationError when the receipt does not verify.
   */
  async submit(transaction: Transaction): Promise<Confirmation> {
    const response = await this.unary<SubmitPaymentResponse__Output>((md, callback) =>
      this.services.payments.SubmitPayment({ transaction: transactionToWire(transaction) }, md, callback),
    );
    return this.#confirmed(transaction, response.receipt, response.duplicate);
  }

  /**
   * Submits many transfers on one `SubmitPayments` stream and yields each
   * answer as it comes, in any order, matched to its payment by `client_id`
   * (the payment's index). A refusal is an outcome, not an exception; a
   * receipt that does not verify, or a stream that breaks, ends the
   * iteration with an error (resubmit the unanswered payments: it is safe).
   * A payment that spends another's output must wait for that one's receipt.
   */
  async *submitStream(
    transactions: Iterable<Transaction> | AsyncIterable<Transaction>,
  ): AsyncGenerator<StreamOutcome, void, undefined> {
    const call = this.services.payments.SubmitPayments(this.#metadata);
    call.on('error', () => undefined);
    const pending = new Map<string, { index: number; transaction: Transaction; txid: Uint8Array }>();
    let stopped = false;
    let writeError: { error: unknown } | undefined;
    const writing = (async () => {
      let index = 0;
      for await (const transaction of transactions) {
        if (stopped) {
          return;
        }
        const clientId = u64(BigInt(index));
        pending.set(clientId, { index, transaction, txid: txid(transaction) });
        index += 1;
        if (!call.write({ clientId, transaction: transactionToWire(transaction) })) {
          await new Promise<void>((resolve) => {
            const resume = (): void => {
              call.off('drain', resume);
              call.off('close', resume);
              resolve();
            };
            call.on('drain', resume);
            call.on('close', resume);
          });
        }
      }
      call.end();
    })().catch((error: unknown) => {
      writeError = { error };
      call.cancel();
    });
    try {
      for await (const response of call as AsyncIterable<SubmitPaymentsResponse__Output>) {
        const sent = pending.get(response.clientId);
        if (sent === undefined) {
          throw new VerificationError(`an answer for client_id ${response.clientId}, which names no payment in flight`);
        }
        pending.delete(response.clientId);
        if (response.result === 'refusal' && response.refusal) {
          yield { ...sent, status: 'refused', error: errorFromRefusal(response.refusal) };
        } else {
          const { receipt, duplicate } = this.#confirmed(
            sent.transaction,
            response.receipt ?? null,
            response.duplicate,
          );
          yield { ...sent, status: 'confirmed', receipt, duplicate };
        }
      }
    } catch (error) {
      throw writeError === undefined ? toSettledError(error) : writeError.error;
    } finally {
      stopped = true;
      call.cancel();
    }
    await writing;
    if (writeError !== undefined) {
      throw writeError.error;
    }
    if (pending.size > 0) {
      throw settledError(
        grpc.status.UNAVAILABLE,
        `the payment stream ended with ${pending.size} payments unanswered: resubmit them (resubmission is idempotent)`,
        {},
      );
    }
  }

  /**
   * Mints `outputs` (`AdminService.Mint`, the issuer role), signed by
   * `issuerKeys` (at least the ledger's issuer threshold) for this ledger.
   * The reference makes the mint unique: one per disbursement row, so that a
   * re-run pays nobody twice (the same mint again is a duplicate, another
   * with the same reference `REASON_REFERENCE_REUSED`).
   *
   * @param reference - 1 to 64 bytes, or text sent as UTF-8.
   */
  async mint(
    outputs: readonly PaymentOutput[],
    issuerKeys: readonly SigningKey[],
    reference: Uint8Array | string,
  ): Promise<Confirmation> {
    const transaction = signTransaction(
      {
        kind: TransactionKind.Mint,
        outputs: outputs.map((output) => this.#output(output)),
        reference: referenceBytes(reference),
      },
      this.chainId,
      issuerKeys,
    );
    const response = await this.unary<MintResponse__Output>((md, callback) =>
      this.services.admin.Mint({ transaction: transactionToWire(transaction) }, md, callback),
    );
    return this.#confirmed(transaction, response.receipt, response.duplicate);
  }

  /**
   * A payment's status by txid, with its receipt and stored transaction
   * (witnesses included) once confirmed.
   *
   * @throws VerificationError when the receipt or the transaction is not the txid's.
   */
  async payment(transactionId: BytesLike): Promise<PaymentRecord> {
    const id = toBytes(transactionId, 32, 'a txid');
    const response = await this.unary<GetPaymentResponse__Output>((md, callback) =>
      this.services.payments.GetPayment({ txid: id }, md, callback),
    );
    if (response.status !== 'PAYMENT_STATUS_CONFIRMED') {
      return { status: 'unknown' };
    }
    if (response.transaction === null) {
      throw new VerificationError(`payment ${toHex(id)} is confirmed without its transaction`);
    }
    const transaction = transactionFromWire(response.transaction);
    if (!bytesEqual(txid(transaction), id)) {
      throw new VerificationError(`the server returned another transaction than ${toHex(id)}`);
    }
    const { receipt } = this.#confirmed(transaction, response.receipt, false);
    return { status: 'confirmed', receipt, transaction };
  }

  /**
   * Follows a bank's movements and checkpoints (`ReconciliationService.Subscribe`),
   * from `cursor` (from genesis without one), verifying every checkpoint.
   *
   * @param bank - the bank's id; empty for the calling bank.
   */
  follow(bank: string, cursor?: FollowCursor, options: FollowOptions = {}): BankFollower {
    return new BankFollower(
      (request) => this.services.reconciliation.Subscribe(request, this.#metadata),
      this.#pins,
      bank,
      cursor,
      options,
    );
  }

  /**
   * One ledger day's statement of a bank (`ReconciliationService.GetStatement`),
   * reassembled from its chunks and verified: it holds together
   * ({@link verifyStatement}: balances, summary, entries, amounts in the
   * ledger's exponent) and is of the bank (when named) and the day asked
   * for, in the ledger's currency.
   *
   * @param bank - the bank's id; empty for the calling bank.
   * @param date - the ledger day, `YYYY-MM-DD` (see `ledgerDay`).
   * @throws VerificationError when the statement does not hold together or is
   *   of another bank, day or currency than asked.
   * @throws SettledError when the server refuses, or the stream fails midway
   *   (it then delivered no statement).
   */
  async statement(bank: string, date: string, format: StatementFormat = 'camt053'): Promise<string> {
    const call = this.services.reconciliation.GetStatement(
      { bank, date, format: STATEMENT_FORMATS[format] },
      this.#metadata,
    );
    const chunks: Uint8Array[] = [];
    try {
      for await (const chunk of call as AsyncIterable<{ data: Buffer }>) {
        chunks.push(chunk.data);
      }
    } catch (error) {
      throw toSettledError(error);
    }
    const document = Buffer.concat(chunks);
    const checked = verifyStatement(document, format, this.#exponent);
    if (bank !== '' && checked.bankId !== bank) {
      throw new VerificationError(`the statement is bank ${checked.bankId}'s, not bank ${bank}'s as asked`);
    }
    if (checked.date !== date) {
      throw new VerificationError(`the statement is of ${checked.date}, not of ${date} as asked`);
    }
    if (checked.currency !== this.#currency) {
      throw new VerificationError(`the statement is in ${checked.currency}, the ledger in ${this.#currency}`);
    }
    return document.toString('utf8');
  }

  /**
   * Runs a unary call on {@link SettledClient.services} with this client's
   * credential, a refusal as a {@link SettledError}: for the calls this class
   * does not wrap, e.g.
   * `client.unary((md, cb) => client.services.admin.RegisterBank({ bank }, md, cb))`.
   */
  unary<Response>(
    start: (metadata: grpc.Metadata, callback: grpc.requestCallback<Response>) => grpc.ClientUnaryCall,
  ): Promise<Response> {
    return unaryCall(this.#metadata, start);
  }

  /** Closes the connection; calls in flight fail. */
  close(): void {
    closeServices(this.services);
  }

  #confirmed(transaction: Transaction, wire: Receipt__Output | null, duplicate: boolean): Confirmation {
    const id = txid(transaction);
    const receipt = receiptFromWire(wire);
    if (!bytesEqual(receipt.txid, id)) {
      throw new VerificationError(`the receipt is for ${toHex(receipt.txid)}, not for ${toHex(id)}`);
    }
    this.#verifyHeader(receipt.block);
    verifyInclusion(receipt);
    return { txid: id, transaction, receipt, duplicate };
  }

  /** `verifyHeader` against the pins, once per distinct header. */
  #verifyHeader(header: SignedBlockHeader): void {
    const key = [encodeHeader(header), header.hash ?? new Uint8Array(), header.engineSignature].map(toHex).join(':');
    if (this.#verifiedHeaders.has(key)) {
      return;
    }
    verifyHeader(header, this.#pins.engineKey, this.#pins.chainId);
    if (this.#verifiedHeaders.size >= VERIFIED_HEADERS_MAX) {
      const [oldest] = this.#verifiedHeaders;
      this.#verifiedHeaders.delete(oldest ?? '');
    }
    this.#verifiedHeaders.add(key);
  }

  #output(output: PaymentOutput): Output {
    const address = toBytes(output.address, 32, 'an address');
    if (!isValidAddress(address)) {
      throw new TypeError(`${toHex(address)} is not a secp256k1 x-only key: nobody could spend what it is paid`);
    }
    const amountMinor = typeof output.amount === 'string' ? parseAmount(output.amount, this.#exponent) : output.amount;
    if (amountMinor <= 0n) {
      throw new RangeError('an output must be at least 1 minor unit');
    }
    return { address, amountMinor, programmeId: output.programmeId ?? 0 };
  }

  async #inputs(options: PaymentOptions, amountMinor: bigint, programmeId: number): Promise<UnspentOutput[]> {
    const payer = options.from.publicKey;
    if (options.inputs !== undefined) {
      let owned: UnspentOutput[] | undefined;
      const inputs: UnspentOutput[] = [];
      for (const input of options.inputs) {
        if ('outpoint' in input) {
          inputs.push(input);
          continue;
        }
        owned ??= await this.unspent(payer);
        const found = owned.find(
          (unspent) => bytesEqual(unspent.outpoint.txid, input.txid) && unspent.outpoint.index === input.index,
        );
        if (found === undefined) {
          throw new TypeError(`${toHex(input.txid)}:${input.index} is not an unspent output of ${toHex(payer)}`);
        }
        inputs.push(found);
      }
      const foreign = inputs.find((input) => !bytesEqual(input.output.address, payer));
      if (foreign !== undefined) {
        throw new TypeError(
          `${toHex(foreign.outpoint.txid)}:${foreign.outpoint.index} belongs to ${toHex(foreign.output.address)}, not to the payer`,
        );
      }
      return inputs;
    }
    const candidates = (await this.unspent(payer))
      .filter((unspent) => unspent.output.programmeId === programmeId)
      .sort((a, b) =>
        a.output.amountMinor < b.output.amountMinor ? 1 : a.output.amountMinor > b.output.amountMinor ? -1 : 0,
      );
    const chosen: UnspentOutput[] = [];
    let total = 0n;
    for (const candidate of candidates) {
      if (total >= amountMinor || chosen.length === INPUTS_MAX) {
        break;
      }
      chosen.push(candidate);
      total += candidate.output.amountMinor;
    }
    if (total < amountMinor) {
      const available = candidates.reduce((sum, unspent) => sum + unspent.output.amountMinor, 0n);
      throw new InsufficientFundsError(
        amountMinor,
        available,
        available < amountMinor
          ? `${toHex(payer)} holds ${available} minor units of programme ${programmeId}, less than ${amountMinor}`
          : `${amountMinor} minor units of programme ${programmeId} take more than ${INPUTS_MAX} of ${toHex(payer)}'s outputs`,
      );
    }
    return chosen;
  }
}

/**
 * The ledger facts of a `GetInfo` answer, checked: protocol version 2, the
 * pinned engine key, chain id and genesis hash (those given), genesis facts
 * that hash to the genesis hash, a tip signed for the chain.
 */
function ledgerInfo(info: GetInfoResponse__Output, pins: Partial<LedgerPins>): LedgerInfo {
  if (info.protocolVersion !== PROTOCOL_VERSION) {
    throw new ProtocolVersionError(info.protocolVersion);
  }
  const engineKey = toBytes(bytes(info.enginePublicKey), 32, "the server's engine key");
  const chainId = toBytes(bytes(info.chainId), 32, "the server's chain id");
  if (pins.engineKey !== undefined && !bytesEqual(engineKey, pins.engineKey)) {
    throw new VerificationError(
      `the server's engine key ${toHex(engineKey)} is not the pinned key ${toHex(pins.engineKey)}`,
    );
  }
  if (pins.chainId !== undefined && !bytesEqual(chainId, pins.chainId)) {
    throw new VerificationError(
      `the server's chain id ${toHex(chainId)} is not the pinned chain id ${toHex(pins.chainId)}`,
    );
  }
  const genesisHash = bytes(info.genesisHash);
  if (pins.genesisHash !== undefined && !bytesEqual(genesisHash, pins.genesisHash)) {
    throw new VerificationError(`the server's genesis hash ${toHex(genesisHash)} is not ${toHex(pins.genesisHash)}`);
  }
  const issuerKeys = info.issuerPublicKeys.map(bytes);
  const rebuilt = hashGenesis({
    currency: info.currency,
    exponent: info.currencyExponent,
    issuerPublicKeys: issuerKeys,
    issuerThreshold: info.issuerThreshold,
    enginePublicKey: engineKey,
  });
  if (!bytesEqual(rebuilt, genesisHash)) {
    throw new VerificationError(
      `the genesis facts the server states hash to ${toHex(rebuilt)}, not to its genesis hash ${toHex(genesisHash)}`,
    );
  }
  if (info.tip === null) {
    throw new VerificationError('the server states no tip');
  }
  const tip = headerFromWire(info.tip);
  verifyHeader(tip, engineKey, chainId);
  return {
    protocolVersion: info.protocolVersion,
    chainId,
    engineKey,
    genesisHash,
    currency: info.currency,
    currencyExponent: info.currencyExponent,
    issuerKeys,
    issuerThreshold: info.issuerThreshold,
    dayOffsetMinutes: info.dayOffsetMinutes,
    tip,
    nextSequence: toU64(info.nextSequence, 'next_sequence'),
    unspentTotalMinor: toU64(info.unspentTotalMinor, 'unspent_total_minor'),
    unspentCount: toU64(info.unspentCount, 'unspent_count'),
  };
}

function referenceBytes(reference: Uint8Array | string | undefined): Uint8Array {
  return typeof reference === 'string' ? new TextEncoder().encode(reference) : (reference ?? new Uint8Array());
}

function unaryCall<Response>(
  metadata: grpc.Metadata,
  start: (metadata: grpc.Metadata, callback: grpc.requestCallback<Response>) => grpc.ClientUnaryCall,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    start(metadata, (error, response) => {
      if (error !== null) {
        reject(toSettledError(error));
      } else if (response === undefined) {
        reject(settledError(grpc.status.INTERNAL, 'the server answered nothing', {}));
      } else {
        resolve(response);
      }
    });
  });
}

function closeServices(services: Services): void {
  for (const client of Object.values(services) as grpc.Client[]) {
    client.close();
  }
}
