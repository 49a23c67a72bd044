/**
 * Typed refusals (docs/PROTOCOL.md §10): every error status of a Settled
 * call, and every refusal on a payment stream, as a {@link SettledError}
 * whose class follows the gRPC code and whose fields carry the
 * `google.rpc.ErrorInfo`, `RetryInfo` and `BadRequest` details.
 *
 * @module
 */
import { type Metadata, type ServiceError, status as Code } from '@grpc/grpc-js';

import { fromHex } from '../core/bytes.js';
import type { OutPoint } from '../core/transaction.js';
import type { Refusal__Output } from '../generated/settled/v1/Refusal.js';
import { Reason as ReasonNames, type Reason__Output } from '../generated/settled/v1/Reason.js';
import { bytes, outPointFromWire } from './convert.js';
import { settledProto } from './proto.js';

/** The names of `settled.v1.Reason`, the `ErrorInfo.reason` of a refusal. */
export const Reason = ReasonNames;

/** Why the engine refused: a `settled.v1.Reason` name such as `REASON_INPUT_SPENT`. */
export type Reason = Reason__Output;

/** The request field at fault (`google.rpc.BadRequest.FieldViolation`). */
export interface FieldViolation {
  /** The path of the field, e.g. `transaction.outputs`. */
  readonly field: string;
  readonly description: string;
}

/** What a refusal says beyond its code and message. */
export interface RefusalDetails {
  readonly reason?: Reason;
  readonly input?: OutPoint;
  readonly spentBy?: Uint8Array;
  readonly retryAfterMs?: number;
  readonly fieldViolations?: readonly FieldViolation[];
  readonly leader?: string;
  readonly outcomeUnknown?: boolean;
  readonly limit?: string;
}

/**
 * A call the server refused or could not serve. Programs act on
 * {@link SettledError.reason} and the class, never on the message text.
 */
export class SettledError extends Error {
  override readonly name: string = 'SettledError';
  /** The gRPC status code (`@grpc/grpc-js` `status`). */
  readonly code: Code;
  /** The `settled.v1.Reason` name, when the refusal has one. */
  readonly reason: Reason | undefined;
  /** The input concerned (spent, unknown, duplicated, not a merchant's). */
  readonly input: OutPoint | undefined;
  /** The txid of the transaction that spent the input, or of the mint that used the reference. */
  readonly spentBy: Uint8Array | undefined;
  /** How long to wait before retrying the same thing (`RetryInfo`), when waiting helps. */
  readonly retryAfterMs: number | undefined;
  /** The request fields at fault, on every `INVALID_ARGUMENT`. */
  readonly fieldViolations: readonly FieldViolation[];
  /** The leader's public API address (`REASON_NOT_LEADER`), when known. */
  readonly leader: string | undefined;
  /** With `REASON_NOT_LEADER`: the payment may yet be committed; resubmit it to the leader. */
  readonly outcomeUnknown: boolean;
  /** The fixed limit passed (`REASON_LIMIT_EXCEEDED`). */
  readonly limit: string | undefined;

  /**
   * @param code - the gRPC status code.
   * @param message - the status message (`REASON_NAME: detail`), for people and logs.
   */
  constructor(code: Code, message: string, details: RefusalDetails = {}) {
    super(message);
    this.code = code;
    this.reason = details.reason;
    this.input = details.input;
    this.spentBy = details.spentBy;
    this.retryAfterMs = details.retryAfterMs;
    this.fieldViolations = details.fieldViolations ?? [];
    this.leader = details.leader;
    this.outcomeUnknown = details.outcomeUnknown ?? false;
    this.limit = details.limit;
  }
}

/** `INVALID_ARGUMENT`: wrong whatever the ledger holds; fix it, do not retry it as is. */
export class InvalidRequest extends SettledError {
  override readonly name: string = 'InvalidRequest';
}

/** `FAILED_PRECONDITION`: declined by the ledger state or the registry (a spent input, a rule). */
export class Declined extends SettledError {
  override readonly name: string = 'Declined';
}

/** `NOT_FOUND`: what the call names does not exist (a block, a bank, a programme). */
export class NotFound extends SettledError {
  override readonly name: string = 'NotFound';
}

/** `PERMISSION_DENIED`: the caller's role does not reach what the call touches. */
export class PermissionDenied extends SettledError {
  override readonly name: string = 'PermissionDenied';
}

/** `UNAUTHENTICATED`: no credential, an unknown or revoked one. */
export class Unauthenticated extends SettledError {
  override readonly name: string = 'Unauthenticated';
}

/**
 * `RESOURCE_EXHAUSTED`: backpressure (`REASON_OVERLOADED`, `REASON_TOO_MANY_STREAMS`:
 * retry the same after {@link SettledError.retryAfterMs}) or a fixed limit
 * (`REASON_LIMIT_EXCEEDED`, where waiting does not help).
 */
export class ResourceExhausted extends SettledError {
  override readonly name: string = 'ResourceExhausted';
}

/** `UNAVAILABLE`: the engine cannot confirm now, or cannot be reached; resubmit the same later. */
export class Unavailable extends SettledError {
  override readonly name: string = 'Unavailable';
}

/** `REASON_NOT_LEADER`: this replica of a cluster does not lead; send it to {@link SettledError.leader}. */
export class NotLeader extends Unavailable {
  override readonly name: string = 'NotLeader';
}

type ErrorClass = new (code: Code, message: string, details?: RefusalDetails) => SettledError;

const CLASSES: Partial<Record<Code, ErrorClass>> = {
  [Code.INVALID_ARGUMENT]: InvalidRequest,
  [Code.FAILED_PRECONDITION]: Declined,
  [Code.NOT_FOUND]: NotFound,
  [Code.PERMISSION_DENIED]: PermissionDenied,
  [Code.UNAUTHENTICATED]: Unauthenticated,
  [Code.RESOURCE_EXHAUSTED]: ResourceExhausted,
  [Code.UNAVAILABLE]: Unavailable,
};

/** The refusal of `code` with `details`, of the class its code and reason call for. */
export function settledError(code: Code, message: string, details: RefusalDetails): SettledError {
  const Class = details.reason === 'REASON_NOT_LEADER' ? NotLeader : (CLASSES[code] ?? SettledError);
  return new Class(code, message, details);
}

/**
 * `error` as a {@link SettledError} when it is a failed gRPC call's
 * (`@grpc/grpc-js` `ServiceError`); anything else as it is.
 */
export function toSettledError(error: unknown): unknown {
  const failed = error instanceof Error && 'code' in error && 'details' in error && 'metadata' in error;
  return failed ? errorFromStatus(error as ServiceError) : error;
}

const TYPE_PREFIX = 'type.googleapis.com/';

/**
 * The {@link SettledError} of a failed gRPC call, its details decoded from
 * the `grpc-status-details-bin` trailer (a `google.rpc.Status`).
 */
function errorFromStatus(error: ServiceError): SettledError {
  return settledError(error.code, error.details, statusDetails(error.metadata));
}

function statusDetails(metadata: Metadata | undefined): RefusalDetails {
  const [encoded] = metadata?.get('grpc-status-details-bin') ?? [];
  if (!(encoded instanceof Uint8Array)) {
    return {};
  }
  const rpc = settledProto().google.rpc;
  let details: RefusalDetails = {};
  for (const any of rpc.Status.deserialize(Buffer.from(encoded)).details) {
    const type = any.type_url.startsWith(TYPE_PREFIX) ? any.type_url.slice(TYPE_PREFIX.length) : any.type_url;
    if (type === 'google.rpc.ErrorInfo') {
      const info = rpc.ErrorInfo.deserialize(any.value);
      const { input, spent_by_txid: spentBy, leader, outcome_unknown: outcomeUnknown, limit } = info.metadata;
      details = {
        ...details,
        ...(isReason(info.reason) ? { reason: info.reason } : {}),
        ...(input === undefined ? {} : { input: parseInput(input) }),
        ...(spentBy === undefined ? {} : { spentBy: fromHex(spentBy) }),
        ...(leader === undefined ? {} : { leader }),
        ...(outcomeUnknown === 'true' ? { outcomeUnknown: true } : {}),
        ...(limit === undefined ? {} : { limit }),
      };
    } else if (type === 'google.rpc.RetryInfo') {
      const delay = rpc.RetryInfo.deserialize(any.value).retryDelay;
      if (delay !== null) {
        details = { ...details, retryAfterMs: Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6) };
      }
    } else if (type === 'google.rpc.BadRequest') {
      const violations = rpc.BadRequest.deserialize(any.value).fieldViolations;
      details = {
        ...details,
        fieldViolations: violations.map(({ field, description }) => ({ field, description })),
      };
    }
  }
  return details;
}

/** `<txid hex>:<index decimal>`, as `ErrorInfo.metadata.input` names an input. */
function parseInput(text: string): OutPoint {
  const [txid = '', index = ''] = text.split(':');
  return { txid: fromHex(txid), index: Number(index) };
}

function isReason(name: string): name is Reason {
  return Object.hasOwn(Reason, name);
}

const INVALID_ARGUMENT_REASONS: ReadonlySet<Reason> = new Set<Reason>([
  'REASON_MALFORMED',
  'REASON_UNSUPPORTED_VERSION',
  'REASON_UNSUPPORTED_KIND',
  'REASON_NO_INPUTS',
  'REASON_NO_OUTPUTS',
  'REASON_TOO_MANY_INPUTS',
  'REASON_TOO_MANY_OUTPUTS',
  'REASON_TOO_MANY_WITNESSES',
  'REASON_REFERENCE_TOO_LONG',
  'REASON_ZERO_AMOUNT',
  'REASON_AMOUNT_OVERFLOW',
  'REASON_DUPLICATE_INPUT',
  'REASON_DUPLICATE_WITNESS',
  'REASON_BAD_SIGNATURE',
  'REASON_BAD_ADDRESS',
  'REASON_MINT_HAS_INPUTS',
  'REASON_MINT_NEEDS_REFERENCE',
  'REASON_WRONG_SERVICE',
  'REASON_NO_WITNESSES',
  'REASON_INVALID_REGISTRATION',
]);

/**
 * The gRPC code a reason comes with as a status (PROTOCOL.md §10.1), for
 * a refusal on a payment stream, which carries none.
 */
export function codeOfReason(reason: Reason): Code {
  if (INVALID_ARGUMENT_REASONS.has(reason)) {
    return Code.INVALID_ARGUMENT;
  }
  switch (reason) {
    case 'REASON_PERMISSION_DENIED':
      return Code.PERMISSION_DENIED;
    case 'REASON_OVERLOADED':
    case 'REASON_TOO_MANY_STREAMS':
    case 'REASON_LIMIT_EXCEEDED':
      return Code.RESOURCE_EXHAUSTED;
    case 'REASON_UNAVAILABLE':
    case 'REASON_NOT_LEADER':
      return Code.UNAVAILABLE;
    default:
      return Code.FAILED_PRECONDITION;
  }
}

/** The {@link SettledError} of a refusal on a `SubmitPayments` stream. */
export function errorFromRefusal(refusal: Refusal__Output): SettledError {
  const { reason } = refusal;
  return settledError(codeOfReason(reason), `${reason}: ${refusal.message}`, {
    reason,
    ...(refusal.input === null ? {} : { input: outPointFromWire(refusal.input) }),
    ...(refusal.spentByTxid.length === 0 ? {} : { spentBy: bytes(refusal.spentByTxid) }),
    ...(refusal.retryAfterMs === 0 ? {} : { retryAfterMs: refusal.retryAfterMs }),
    ...(refusal.leader === '' ? {} : { leader: refusal.leader }),
    ...(refusal.outcomeUnknown ? { outcomeUnknown: true } : {}),
  });
}
