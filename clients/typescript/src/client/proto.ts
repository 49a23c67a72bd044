/**
 * The protobuf definitions shipped in this package's `proto/` directory
 * (a copy of the repository's `proto/settled`, plus the google.rpc error
 * details), loaded with `@grpc/proto-loader`.
 *
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

import type { ProtoGrpcType as AdminProto } from '../generated/admin.js';
import type { ProtoGrpcType as AlertsProto } from '../generated/alerts.js';
import type { BadRequest, BadRequest__Output } from '../generated/google/rpc/BadRequest.js';
import type { ErrorInfo, ErrorInfo__Output } from '../generated/google/rpc/ErrorInfo.js';
import type { RetryInfo, RetryInfo__Output } from '../generated/google/rpc/RetryInfo.js';
import type { Status, Status__Output } from '../generated/google/rpc/Status.js';
import type { ProtoGrpcType as LedgerProto } from '../generated/ledger.js';
import type { ProtoGrpcType as PaymentProto } from '../generated/payment.js';
import type { ProtoGrpcType as ReconciliationProto } from '../generated/reconciliation.js';
import type { AdminServiceClient } from '../generated/settled/v1/AdminService.js';
import type { AlertServiceClient } from '../generated/settled/v1/AlertService.js';
import type { LedgerServiceClient } from '../generated/settled/v1/LedgerService.js';
import type { PaymentServiceClient } from '../generated/settled/v1/PaymentService.js';
import type { ReconciliationServiceClient } from '../generated/settled/v1/ReconciliationService.js';
import type { WalletServiceClient } from '../generated/settled/v1/WalletService.js';
import type { ProtoGrpcType as WalletProto } from '../generated/wallet.js';

/** Where the `.proto` files are: `proto/` at the package's root. */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

/** The files loaded, relative to {@link PROTO_DIR} (the cluster-internal raft.proto is not). */
const PROTO_FILES = [
  'settled/v1/ledger.proto',
  'settled/v1/payment.proto',
  'settled/v1/wallet.proto',
  'settled/v1/admin.proto',
  'settled/v1/reconciliation.proto',
  'settled/v1/alerts.proto',
  'google/rpc/status.proto',
  'google/rpc/error_details.proto',
] as const;

/**
 * How messages are converted. The generated types (`npm run proto:types`)
 * are made with the same options: 64-bit integers as decimal strings (this
 * package turns them into `bigint`), enums as their names, defaults filled
 * in, and the name of the set member of each oneof.
 */
const LOADER_OPTIONS: protoLoader.Options = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/** The google.rpc messages of an error status's details. */
interface ErrorDetailsProto {
  google: {
    rpc: {
      Status: protoLoader.MessageTypeDefinition<Status, Status__Output>;
      ErrorInfo: protoLoader.MessageTypeDefinition<ErrorInfo, ErrorInfo__Output>;
      RetryInfo: protoLoader.MessageTypeDefinition<RetryInfo, RetryInfo__Output>;
      BadRequest: protoLoader.MessageTypeDefinition<BadRequest, BadRequest__Output>;
    };
  };
}

/** Every service and message of the loaded files. */
export type SettledProto = AdminProto &
  AlertsProto &
  ErrorDetailsProto &
  LedgerProto &
  PaymentProto &
  ReconciliationProto &
  WalletProto;

/** The raw gRPC clients of the six Settled services, typed by the generated definitions. */
export interface Services {
  readonly payments: PaymentServiceClient;
  readonly wallets: WalletServiceClient;
  readonly admin: AdminServiceClient;
  readonly ledger: LedgerServiceClient;
  readonly reconciliation: ReconciliationServiceClient;
  readonly alerts: AlertServiceClient;
}

let loaded: SettledProto | undefined;

/** The loaded definitions (read from disk once). */
export function settledProto(): SettledProto {
  loaded ??= grpc.loadPackageDefinition(
    protoLoader.loadSync([...PROTO_FILES], LOADER_OPTIONS),
  ) as unknown as SettledProto;
  return loaded;
}

/**
 * Clients of every service on one channel to `target`.
 *
 * @param options - channel options, shared by all six.
 */
export function openServices(
  target: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions,
): Services {
  const v1 = settledProto().settled.v1;
  const ledger = new v1.LedgerService(target, credentials, options);
  const shared = { ...options, channelOverride: ledger.getChannel() };
  return {
    ledger,
    payments: new v1.PaymentService(target, credentials, shared),
    wallets: new v1.WalletService(target, credentials, shared),
    admin: new v1.AdminService(target, credentials, shared),
    reconciliation: new v1.ReconciliationService(target, credentials, shared),
    alerts: new v1.AlertService(target, credentials, shared),
  };
}
