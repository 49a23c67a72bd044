/**
 * The calls the console makes, over {@link Transport}, and what they answer
 * as the console's own types: every 64-bit figure a `bigint`, receipts,
 * headers and transactions as `@settled/client/verify` takes them. Only
 * read-only calls: the console's listener serves nothing else.
 *
 * @module
 */
import type { OutPoint, Output, Receipt, SignedBlockHeader, Transaction, TransactionKind } from '@settled/client/verify';

import { settled as sent } from './generated/requests.js';
import { settled as received } from './generated/responses.js';
import { type Method, Transport } from './grpcweb.js';
import { LIST_PAGE_SIZE, LIST_PAGES_MAX } from './limits.js';
import { big, bytes, long, type WireLong } from './wire.js';

import requests = sent.v1;
import v1 = received.v1;

/** The roles of GetCaller, by the names the console shows. */
export type Role = 'operator' | 'issuer' | 'programme_admin' | 'auditor' | 'bank' | 'terminal' | 'development' | 'unknown';

/** Who the signed-in credential is. */
export interface Caller {
  readonly role: Role;
  /** The bank's id (role `bank`) or the terminal's (`terminal`). */
  readonly id: string;
}

/** The ledger's public facts (GetInfo). */
export interface LedgerInfo {
  readonly engineKey: Uint8Array;
  readonly chainId: Uint8Array;
  readonly genesisHash: Uint8Array;
  readonly currency: string;
  readonly exponent: number;
  readonly protocolVersion: number;
  readonly tip: SignedBlockHeader;
}

export interface Latency {
  readonly count: bigint;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface AuditResult {
  readonly timeUnixMs: bigint;
  readonly height: bigint;
  readonly blocks: bigint;
  readonly transactions: bigint;
  readonly sound: boolean;
  readonly failures: number;
  readonly firstFailure: string;
}

export interface Replica {
  readonly id: bigint;
  readonly role: string;
  /** The last Raft log index the leader knows it holds (an entry is a block or a membership change). */
  readonly matchedLogIndex: bigint;
  readonly lagEntries: bigint;
}

export interface Cluster {
  readonly nodeId: bigint;
  readonly leading: boolean;
  readonly term: bigint;
  readonly leaderId: bigint;
  readonly leaderAddress: string;
  readonly committedHeight: bigint;
  readonly lagBlocks: bigint;
  readonly replicas: readonly Replica[];
}

/** One status of WatchLedger. */
export interface LedgerStatus {
  readonly tip: SignedBlockHeader;
  readonly transactions: bigint;
  readonly mintedMinor: bigint;
  readonly burnedMinor: bigint;
  readonly outstandingMinor: bigint;
  readonly blocksPerSecond: number;
  readonly transactionsPerSecond: number;
  readonly timeUnixMs: bigint;
  /** Absent, or a count of 0: no payment confirmed in the last minute. */
  readonly confirmation?: Latency;
  readonly lastAudit?: AuditResult;
  readonly cluster?: Cluster;
}

export interface Programme {
  readonly id: number;
  readonly name: string;
  readonly allowedMccs: readonly number[];
  readonly validFromUnixMs: bigint;
  readonly validUntilUnixMs: bigint;
  readonly transferable: boolean;
  readonly perPaymentMaxMinor: bigint;
  /** Paid per person, once a month (claims), rather than per address. */
  readonly perPerson: boolean;
}

export interface MerchantFigures {
  readonly merchantId: string;
  readonly mcc: number;
  readonly payments: bigint;
  readonly spentMinor: bigint;
  readonly refunds: bigint;
  readonly refundedMinor: bigint;
  readonly lastPaymentUnixMs: bigint;
  readonly sharePpm: number;
}

export interface PeriodPaid {
  /** YYYYMM. */
  readonly period: number;
  readonly beneficiaries: bigint;
  readonly amountMinor: bigint;
  readonly duplicateClaimsRefused: bigint;
}

export interface ProgrammeStats {
  readonly programme: Programme;
  readonly height: bigint;
  readonly disbursedMinor: bigint;
  readonly spentMinor: bigint;
  readonly refundedMinor: bigint;
  readonly refundedToTreasuryMinor: bigint;
  readonly clawedBackMinor: bigint;
  readonly outstandingMinor: bigint;
  readonly merchantsPaid: bigint;
  readonly spentByMcc: readonly { readonly mcc: number; readonly amountMinor: bigint }[];
  /** `day` is YYYYMMDD. */
  readonly spentByDay: readonly { readonly day: number; readonly amountMinor: bigint }[];
  readonly paidByPeriod: readonly PeriodPaid[];
  readonly topMerchants: readonly MerchantFigures[];
}

export interface Alert {
  readonly number: bigint;
  readonly rule: string;
  readonly programmeId: number;
  readonly merchantId: string;
  readonly sequence: bigint;
  readonly timeUnixMs: bigint;
  readonly txids: readonly Uint8Array[];
  readonly detail: string;
}

/** GetPayment: confirmed with its receipt and transaction, or unknown. */
export type Payment =
  | { readonly status: 'confirmed'; readonly receipt: Receipt; readonly transaction?: Transaction }
  | { readonly status: 'unknown' };

export interface BankFlow {
  readonly payerBank: string;
  readonly payeeBank: string;
  readonly amountMinor: bigint;
}

export interface NetPosition {
  /** Empty: money held outside any bank. */
  readonly bank: string;
  readonly paidMinor: bigint;
  readonly receivedMinor: bigint;
  readonly issuedMinor: bigint;
  readonly redeemedMinor: bigint;
  /** Signed: received - paid. */
  readonly netMinor: bigint;
}

export interface NetPositions {
  readonly fromHeight: bigint;
  readonly untilHeight: bigint;
  readonly flows: readonly BankFlow[];
  readonly positions: readonly NetPosition[];
}

export interface Bank {
  readonly id: string;
  readonly name: string;
}

interface Encodable<T> {
  encode(message: T): { finish(): Uint8Array };
}

interface Decodable<T> {
  decode(bytes: Uint8Array): T;
}

function method<Request, Response>(
  path: string,
  request: Encodable<Request>,
  response: Decodable<Response>,
): Method<Request, Response> {
  return {
    path,
    encode: (message) => request.encode(message).finish(),
    decode: (data) => response.decode(data),
  };
}

/** The methods, by the paths the console's listener serves. */
const METHODS = {
  getInfo: method('/settled.v1.LedgerService/GetInfo', requests.GetInfoRequest, v1.GetInfoResponse),
  getCaller: method('/settled.v1.LedgerService/GetCaller', requests.GetCallerRequest, v1.GetCallerResponse),
  watchLedger: method('/settled.v1.LedgerService/WatchLedger', requests.WatchLedgerRequest, v1.LedgerStatus),
  listProgrammes: method('/settled.v1.AdminService/ListProgrammes', requests.ListRequest, v1.ListProgrammesResponse),
  getProgrammeStats: method(
    '/settled.v1.AdminService/GetProgrammeStats',
    requests.GetProgrammeStatsRequest,
    v1.GetProgrammeStatsResponse,
  ),
  listBanks: method('/settled.v1.AdminService/ListBanks', requests.ListRequest, v1.ListBanksResponse),
  watchAlerts: method('/settled.v1.AlertService/WatchAlerts', requests.WatchAlertsRequest, v1.WatchAlertsResponse),
  getPayment: method('/settled.v1.PaymentService/GetPayment', requests.GetPaymentRequest, v1.GetPaymentResponse),
  getNetPositions: method(
    '/settled.v1.ReconciliationService/GetNetPositions',
    requests.GetNetPositionsRequest,
    v1.GetNetPositionsResponse,
  ),
} as const;

const ROLES: Readonly<Record<number, Role>> = {
  [v1.CallerRole.CALLER_ROLE_OPERATOR]: 'operator',
  [v1.CallerRole.CALLER_ROLE_ISSUER]: 'issuer',
  [v1.CallerRole.CALLER_ROLE_PROGRAMME_ADMINISTRATOR]: 'programme_admin',
  [v1.CallerRole.CALLER_ROLE_AUDITOR]: 'auditor',
  [v1.CallerRole.CALLER_ROLE_BANK]: 'bank',
  [v1.CallerRole.CALLER_ROLE_TERMINAL]: 'terminal',
  [v1.CallerRole.CALLER_ROLE_DEVELOPMENT]: 'development',
};

/** The console's calls, as one credential. */
export class Api {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  async info(signal?: AbortSignal): Promise<LedgerInfo> {
    const info = await this.#transport.unary(METHODS.getInfo, { countUnspent: false }, signal);
    return {
      engineKey: bytes(info.enginePublicKey),
      chainId: bytes(info.chainId),
      genesisHash: bytes(info.genesisHash),
      currency: info.currency,
      exponent: info.currencyExponent,
      protocolVersion: info.protocolVersion,
      tip: header(info.tip),
    };
  }

  async caller(signal?: AbortSignal): Promise<Caller> {
    const caller = await this.#transport.unary(METHODS.getCaller, {}, signal);
    return { role: ROLES[caller.role] ?? 'unknown', id: caller.id };
  }

  /** The ledger's status now, then at each new durable block (at most two a second). */
  async *watchLedger(signal: AbortSignal, opened?: () => void): AsyncGenerator<LedgerStatus, void, undefined> {
    for await (const status of this.#transport.stream(METHODS.watchLedger, {}, signal, opened)) {
      yield ledgerStatus(status);
    }
  }

  /** Every programme, page after page ({@link LIST_PAGES_MAX} pages at most). */
  async programmes(signal?: AbortSignal): Promise<Programme[]> {
    const all: Programme[] = [];
    let pageToken = '';
    for (let page = 0; page < LIST_PAGES_MAX; page += 1) {
      const answer = await this.#transport.unary(METHODS.listProgrammes, { pageSize: LIST_PAGE_SIZE, pageToken }, signal);
      all.push(...answer.programmes.map(programme));
      pageToken = answer.nextPageToken;
      if (pageToken === '') {
        break;
      }
    }
    return all;
  }

  async programmeStats(programmeId: number, signal?: AbortSignal): Promise<ProgrammeStats> {
    const stats = await this.#transport.unary(METHODS.getProgrammeStats, { programmeId }, signal);
    return {
      programme: programme(stats.programme ?? {}),
      height: big(stats.height),
      disbursedMinor: big(stats.disbursedMinor),
      spentMinor: big(stats.spentMinor),
      refundedMinor: big(stats.refundedMinor),
      refundedToTreasuryMinor: big(stats.refundedToTreasuryMinor),
      clawedBackMinor: big(stats.clawedBackMinor),
      outstandingMinor: big(stats.outstandingMinor),
      merchantsPaid: big(stats.merchantsPaid),
      spentByMcc: stats.spentByMcc.map((row) => ({ mcc: row.mcc ?? 0, amountMinor: big(row.amountMinor) })),
      spentByDay: stats.spentByDay.map((row) => ({ day: row.day ?? 0, amountMinor: big(row.amountMinor) })),
      paidByPeriod: stats.paidByPeriod.map((row) => ({
        period: row.period ?? 0,
        beneficiaries: big(row.beneficiaries),
        amountMinor: big(row.amountMinor),
        duplicateClaimsRefused: big(row.duplicateClaimsRefused),
      })),
      topMerchants: stats.topMerchants.map((row) => ({
        merchantId: row.merchantId ?? '',
        mcc: row.mcc ?? 0,
        payments: big(row.payments),
        spentMinor: big(row.spentMinor),
        refunds: big(row.refunds),
        refundedMinor: big(row.refundedMinor),
        lastPaymentUnixMs: big(row.lastPaymentUnixMs),
        sharePpm: row.sharePpm ?? 0,
      })),
    };
  }

  /** Every bank, page after page ({@link LIST_PAGES_MAX} pages at most). */
  async banks(signal?: AbortSignal): Promise<Bank[]> {
    const all: Bank[] = [];
    let pageToken = '';
    for (let page = 0; page < LIST_PAGES_MAX; page += 1) {
      const answer = await this.#transport.unary(METHODS.listBanks, { pageSize: LIST_PAGE_SIZE, pageToken }, signal);
      all.push(...answer.banks.map((bank) => ({ id: bank.id ?? '', name: bank.name ?? '' })));
      pageToken = answer.nextPageToken;
      if (pageToken === '') {
        break;
      }
    }
    return all;
  }

  /** The alerts after `afterAlert` (of one programme, or all with 0), then new ones as they are raised. */
  async *watchAlerts(
    programmeId: number,
    afterAlert: bigint,
    signal: AbortSignal,
    opened?: () => void,
  ): AsyncGenerator<Alert, void, undefined> {
    const request = { programmeId, afterAlert: long(afterAlert), follow: true };
    for await (const item of this.#transport.stream(METHODS.watchAlerts, request, signal, opened)) {
      const alert = item.alert ?? {};
      yield {
        number: big(alert.number),
        rule: alert.rule ?? '',
        programmeId: alert.programmeId ?? 0,
        merchantId: alert.merchantId ?? '',
        sequence: big(alert.sequence),
        timeUnixMs: big(alert.timeUnixMs),
        txids: (alert.txids ?? []).map(bytes),
        detail: alert.detail ?? '',
      };
    }
  }

  async payment(txid: Uint8Array, signal?: AbortSignal): Promise<Payment> {
    const answer = await this.#transport.unary(METHODS.getPayment, { txid }, signal);
    if (answer.status !== v1.PaymentStatus.PAYMENT_STATUS_CONFIRMED || answer.receipt === null || answer.receipt === undefined) {
      return { status: 'unknown' };
    }
    const found = answer.receipt;
    const receipt: Receipt = {
      txid: bytes(found.txid),
      sequence: big(found.sequence),
      block: header(found.block),
      indexInBlock: found.indexInBlock ?? 0,
      merklePath: (found.merklePath ?? []).map((step) => ({
        sibling: bytes(step.sibling),
        siblingOnLeft: step.siblingOnLeft ?? false,
      })),
    };
    const tx = answer.transaction;
    return tx === null || tx === undefined
      ? { status: 'confirmed', receipt }
      : { status: 'confirmed', receipt, transaction: transaction(tx) };
  }

  /**
   * Net positions over the blocks after `afterHeight` up to `untilHeight`
   * (0: the tip); of one bank, or of every bank with `bank` empty.
   */
  async netPositions(afterHeight: bigint, untilHeight: bigint, bank: string, signal?: AbortSignal): Promise<NetPositions> {
    const request = { afterHeight: long(afterHeight), untilHeight: long(untilHeight), bank };
    const answer = await this.#transport.unary(METHODS.getNetPositions, request, signal);
    return {
      fromHeight: big(answer.fromBlock?.height),
      untilHeight: big(answer.untilBlock?.height),
      flows: answer.flows.map((flow) => ({
        payerBank: flow.payerBank ?? '',
        payeeBank: flow.payeeBank ?? '',
        amountMinor: big(flow.amountMinor),
      })),
      positions: answer.positions.map((position) => ({
        bank: position.bank ?? '',
        paidMinor: big(position.paidMinor),
        receivedMinor: big(position.receivedMinor),
        issuedMinor: big(position.issuedMinor),
        redeemedMinor: big(position.redeemedMinor),
        netMinor: big(position.netMinor),
      })),
    };
  }
}

function header(wire: v1.BlockHeader.$Properties | null | undefined): SignedBlockHeader {
  const h = wire ?? {};
  return {
    height: big(h.height),
    previousHash: bytes(h.previousHash),
    merkleRoot: bytes(h.merkleRoot),
    firstSequence: big(h.firstSequence),
    txCount: h.txCount ?? 0,
    timeUnixMs: big(h.timeUnixMs),
    mintedTotalMinor: big(h.mintedTotalMinor),
    burnedTotalMinor: big(h.burnedTotalMinor),
    hash: bytes(h.hash),
    engineSignature: bytes(h.engineSignature),
  };
}

function ledgerStatus(status: v1.LedgerStatus): LedgerStatus {
  const { confirmation, lastAudit, cluster } = status;
  return {
    tip: header(status.tip),
    transactions: big(status.transactions),
    mintedMinor: big(status.mintedTotalMinor),
    burnedMinor: big(status.burnedTotalMinor),
    outstandingMinor: big(status.outstandingMinor),
    blocksPerSecond: status.blocksPerSecond,
    transactionsPerSecond: status.transactionsPerSecond,
    timeUnixMs: big(status.timeUnixMs),
    ...(confirmation === null || confirmation === undefined
      ? {}
      : {
          confirmation: {
            count: big(confirmation.count),
            p50Ms: confirmation.p50Ms ?? 0,
            p90Ms: confirmation.p90Ms ?? 0,
            p99Ms: confirmation.p99Ms ?? 0,
            maxMs: confirmation.maxMs ?? 0,
          },
        }),
    ...(lastAudit === null || lastAudit === undefined
      ? {}
      : {
          lastAudit: {
            timeUnixMs: big(lastAudit.timeUnixMs),
            height: big(lastAudit.height),
            blocks: big(lastAudit.blocks),
            transactions: big(lastAudit.transactions),
            sound: lastAudit.sound ?? false,
            failures: lastAudit.failures ?? 0,
            firstFailure: lastAudit.firstFailure ?? '',
          },
        }),
    ...(cluster === null || cluster === undefined
      ? {}
      : {
          cluster: {
            nodeId: big(cluster.nodeId),
            leading: cluster.leading ?? false,
            term: big(cluster.term),
            leaderId: big(cluster.leaderId),
            leaderAddress: cluster.leaderAddress ?? '',
            committedHeight: big(cluster.committedHeight),
            lagBlocks: big(cluster.lagBlocks),
            replicas: (cluster.replicas ?? []).map((replica) => ({
              id: big(replica.id),
              role: replica.role ?? '',
              matchedLogIndex: big(replica.matchedLogIndex),
              lagEntries: big(replica.lagEntries),
            })),
          },
        }),
  };
}

function programme(wire: v1.Programme.$Properties): Programme {
  return {
    id: wire.id ?? 0,
    name: wire.name ?? '',
    allowedMccs: wire.allowedMccs ?? [],
    validFromUnixMs: big(wire.validFromUnixMs),
    validUntilUnixMs: big(wire.validUntilUnixMs),
    transferable: wire.transferable ?? false,
    perPaymentMaxMinor: big(wire.perPaymentMaxMinor),
    perPerson: (wire.paymentPeriod ?? 0) !== v1.PaymentPeriod.PAYMENT_PERIOD_UNSPECIFIED,
  };
}

/** A transaction as `@settled/client/verify` encodes it (its kind byte as sent, even one it does not name). */
function transaction(wire: v1.Transaction.$Properties): Transaction {
  return {
    version: wire.version ?? 0,
    kind: (wire.kind ?? 0) as TransactionKind,
    inputs: (wire.inputs ?? []).map((input): OutPoint => ({ txid: bytes(input.txid), index: input.index ?? 0 })),
    outputs: (wire.outputs ?? []).map(
      (output): Output => ({
        address: bytes(output.address),
        amountMinor: big(output.amountMinor as WireLong),
        programmeId: output.programmeId ?? 0,
      }),
    ),
    reference: bytes(wire.reference),
    witnesses: (wire.witnesses ?? []).map((witness) => ({
      publicKey: bytes(witness.publicKey),
      signature: bytes(witness.signature),
    })),
  };
}
