/**
 * gRPC-Web over `fetch` (the protocol of grpc/grpc PROTOCOL-WEB.md, as
 * tonic-web serves it): unary calls and server streams, binary framing,
 * the status from the trailer frame or from the headers of a
 * trailers-only answer, and the `google.rpc.Status` details (ErrorInfo's
 * reason, RetryInfo, BadRequest). No browser API beyond `fetch` and
 * streams, so it runs in Node for its tests.
 *
 * A frame is one flag byte (0x00 a message, 0x80 the trailers), a 4-byte
 * big-endian length, then that many bytes.
 *
 * @module
 */
import { google } from './generated/responses.js';
import { FRAME_BYTES_MAX, TRAILER_BYTES_MAX, UNARY_TIMEOUT_MS } from './limits.js';
import { small } from './wire.js';

/** The gRPC status codes. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type Code = (typeof Code)[keyof typeof Code];

const CODE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(Code).map(([name, code]) => [code, name]));

/** The name of a status code (`PERMISSION_DENIED`), or its number for one this module does not know. */
export function codeName(code: number): string {
  return CODE_NAMES.get(code) ?? String(code);
}

const FLAG_MESSAGE = 0x00;
const FLAG_TRAILERS = 0x80;
const FRAME_HEADER_BYTES = 5;

/** One frame of a gRPC-Web body. */
export interface Frame {
  readonly trailers: boolean;
  readonly payload: Uint8Array;
}

/** What a refusal's `google.rpc.Status` details say, when it has any. */
export interface StatusDetails {
  /** ErrorInfo's reason: a `settled.v1.Reason` name such as `REASON_TOO_MANY_STREAMS`. */
  readonly reason?: string;
  readonly domain?: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** RetryInfo's delay, in milliseconds. */
  readonly retryAfterMs?: number;
  /** BadRequest's field violations. */
  readonly fieldViolations: readonly { readonly field: string; readonly description: string }[];
}

const NO_DETAILS: StatusDetails = { metadata: {}, fieldViolations: [] };

/** A call that did not end with OK: its status code, message and details. */
export class GrpcError extends Error {
  override readonly name: string = 'GrpcError';

  constructor(
    readonly code: number,
    readonly grpcMessage: string,
    readonly details: StatusDetails = NO_DETAILS,
  ) {
    super(`${codeName(code)}: ${grpcMessage}`);
  }

  /** ErrorInfo's reason, if the status carried one. */
  get reason(): string | undefined {
    return this.details.reason;
  }
}

/** A message in a frame of its own. */
export function encodeFrame(message: Uint8Array, flag: number = FLAG_MESSAGE): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + message.length);
  frame[0] = flag;
  new DataView(frame.buffer).setUint32(1, message.length, false);
  frame.set(message, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Cuts a body into frames as its chunks arrive, whatever their sizes: a
 * frame split over chunks, or many frames in one chunk.
 */
export class FrameParser {
  #buffer: Uint8Array = new Uint8Array(0);

  /**
   * The frames completed by `chunk`, in order.
   *
   * @throws GrpcError (INTERNAL) for a compressed or unknown frame, or one
   *   larger than {@link FRAME_BYTES_MAX}.
   */
  push(chunk: Uint8Array): Frame[] {
    this.#buffer = concat(this.#buffer, chunk);
    const frames: Frame[] = [];
    let offset = 0;
    while (this.#buffer.length - offset >= FRAME_HEADER_BYTES) {
      const flag = this.#buffer[offset] ?? 0;
      if (flag !== FLAG_MESSAGE && flag !== FLAG_TRAILERS) {
        throw new GrpcError(Code.INTERNAL, `a gRPC-Web frame with flag 0x${flag.toString(16)} (compressed or unknown)`);
      }
      const length = new DataView(this.#buffer.buffer, this.#buffer.byteOffset + offset + 1, 4).getUint32(0, false);
      if (length > FRAME_BYTES_MAX) {
        throw new GrpcError(Code.INTERNAL, `a gRPC-Web frame of ${length} bytes (at most ${FRAME_BYTES_MAX})`);
      }
      const end = offset + FRAME_HEADER_BYTES + length;
      if (this.#buffer.length < end) {
        break;
      }
      frames.push({ trailers: flag === FLAG_TRAILERS, payload: this.#buffer.slice(offset + FRAME_HEADER_BYTES, end) });
      offset = end;
    }
    this.#buffer = this.#buffer.slice(offset);
    return frames;
  }

  /** Bytes received that do not make a whole frame yet. */
  get pendingBytes(): number {
    return this.#buffer.length;
  }
}

/**
 * The trailers of a trailer frame: `name:value` lines separated by CRLF,
 * names lowercased, values trimmed.
 *
 * @throws GrpcError (INTERNAL) for trailers larger than {@link TRAILER_BYTES_MAX}.
 */
export function parseTrailers(payload: Uint8Array): Map<string, string> {
  if (payload.length > TRAILER_BYTES_MAX) {
    throw new GrpcError(Code.INTERNAL, `trailers of ${payload.length} bytes (at most ${TRAILER_BYTES_MAX})`);
  }
  const trailers = new Map<string, string>();
  for (const line of new TextDecoder().decode(payload).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) {
      continue;
    }
    trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return trailers;
}

/** A `grpc-message` as sent: percent-encoded UTF-8 (left as is when it is not valid). */
export function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * The status a set of trailers (or the headers of a trailers-only answer)
 * carries: `undefined` without `grpc-status`, `null` for OK, else the error.
 */
export function statusOf(get: (name: string) => string | null | undefined): GrpcError | null | undefined {
  const status = get('grpc-status');
  if (status === null || status === undefined) {
    return undefined;
  }
  const code = /^\d+$/.test(status) ? Number(status) : Code.UNKNOWN;
  if (code === Code.OK) {
    return null;
  }
  const message = decodeGrpcMessage(get('grpc-message') ?? '');
  const details = get('grpc-status-details-bin');
  return new GrpcError(code, message, details ? decodeStatusDetails(details) : NO_DETAILS);
}

const TYPE_PREFIX = 'type.googleapis.com/';

/**
 * The details of a `grpc-status-details-bin` value (base64, padded or not,
 * of a `google.rpc.Status`). Details that do not decode are ignored: the
 * code and message still stand.
 */
export function decodeStatusDetails(base64: string): StatusDetails {
  let status: google.rpc.Status;
  try {
    status = google.rpc.Status.decode(fromBase64(base64));
  } catch {
    return NO_DETAILS;
  }
  let details: StatusDetails = NO_DETAILS;
  for (const any of status.details) {
    const typeUrl = any.type_url ?? '';
    const value = any.value ?? new Uint8Array(0);
    try {
      switch (typeUrl.startsWith(TYPE_PREFIX) ? typeUrl.slice(TYPE_PREFIX.length) : typeUrl) {
        case 'google.rpc.ErrorInfo': {
          const info = google.rpc.ErrorInfo.decode(value);
          details = { ...details, reason: info.reason, domain: info.domain, metadata: { ...info.metadata } };
          break;
        }
        case 'google.rpc.RetryInfo': {
          const delay = google.rpc.RetryInfo.decode(value).retryDelay;
          const seconds = small(delay?.seconds);
          const nanos = delay?.nanos ?? 0;
          details = { ...details, retryAfterMs: seconds * 1000 + Math.floor(nanos / 1_000_000) };
          break;
        }
        case 'google.rpc.BadRequest': {
          const violations = google.rpc.BadRequest.decode(value).fieldViolations.map((violation) => ({
            field: violation.field ?? '',
            description: violation.description ?? '',
          }));
          details = { ...details, fieldViolations: violations };
          break;
        }
        default:
          break;
      }
    } catch {
      // A detail that does not decode says nothing more than the status.
    }
  }
  return details;
}

/** The status of an HTTP error answer without a gRPC status (a proxy's, or no gRPC-Web at all). */
export function codeOfHttpStatus(status: number): number {
  switch (status) {
    case 400:
      return Code.INTERNAL;
    case 401:
      return Code.UNAUTHENTICATED;
    case 403:
      return Code.PERMISSION_DENIED;
    case 404:
      return Code.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.UNAVAILABLE;
    default:
      return Code.UNKNOWN;
  }
}

/** A method: its path, and how its request and response are (de)serialised. */
export interface Method<Request, Response> {
  /** `/settled.v1.LedgerService/GetInfo`. */
  readonly path: string;
  encode(request: Request): Uint8Array;
  decode(bytes: Uint8Array): Response;
}

/** Where and as whom calls go. */
export interface TransportOptions {
  /** The server's origin (`''`: the page's own). */
  readonly baseUrl: string;
  /** The bearer token; none: calls go without a credential. */
  readonly token?: string;
  /** For tests: another `fetch`. */
  readonly fetch?: typeof fetch;
}

/** Calls over gRPC-Web; every failure is a {@link GrpcError}. */
export class Transport {
  readonly #options: TransportOptions;

  constructor(options: TransportOptions) {
    this.#options = options;
  }

  /**
   * A unary call, abandoned after {@link UNARY_TIMEOUT_MS}
   * (DEADLINE_EXCEEDED) or when `signal` aborts (CANCELLED).
   */
  async unary<Request, Response>(method: Method<Request, Response>, request: Request, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(UNARY_TIMEOUT_MS);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    let response: Response | undefined;
    try {
      for await (const message of this.stream(method, request, combined)) {
        if (response !== undefined) {
          throw new GrpcError(Code.INTERNAL, `${method.path} answered more than one message`);
        }
        response = message;
      }
    } catch (error) {
      if (timeout.aborted && !(signal?.aborted ?? false)) {
        throw new GrpcError(Code.DEADLINE_EXCEEDED, `no answer within ${UNARY_TIMEOUT_MS} ms`);
      }
      throw error;
    }
    if (response === undefined) {
      throw new GrpcError(Code.INTERNAL, `${method.path} answered no message`);
    }
    return response;
  }

  /**
   * A server stream: each message as it arrives, then the end (OK) or a
   * {@link GrpcError}. Breaking out of the iteration, or aborting
   * `signal`, closes the HTTP stream. `opened` is called once the server
   * has answered the call (before any message: a stream may be quiet).
   */
  async *stream<Request, Response>(
    method: Method<Request, Response>,
    request: Request,
    signal?: AbortSignal,
    opened?: () => void,
  ): AsyncGenerator<Response, void, undefined> {
    const response = await this.#post(method.path, encodeFrame(method.encode(request)), signal);
    const early = statusOf((name) => response.headers.get(name));
    if (early !== undefined) {
      await response.body?.cancel().catch(() => undefined);
      if (early === null) {
        return;
      }
      throw early;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw new GrpcError(codeOfHttpStatus(response.status), `HTTP ${response.status} ${response.statusText}`.trim());
    }
    if (response.body === null) {
      throw new GrpcError(Code.UNAVAILABLE, 'the answer has no body');
    }
    opened?.();
    const reader = response.body.getReader();
    const parser = new FrameParser();
    let status: GrpcError | null | undefined;
    try {
      for (;;) {
        const read = await readChunk(reader, signal);
        if (read.done) {
          break;
        }
        for (const frame of parser.push(read.value)) {
          if (status !== undefined) {
            throw new GrpcError(Code.INTERNAL, 'a frame after the trailers');
          }
          if (frame.trailers) {
            const trailers = parseTrailers(frame.payload);
            const found = statusOf((name) => trailers.get(name));
            status = found === undefined ? new GrpcError(Code.INTERNAL, 'trailers without grpc-status') : found;
          } else {
            yield decodeMessage(method, frame.payload);
          }
        }
      }
    } finally {
      reader.cancel().catch(() => undefined);
    }
    if (status === undefined) {
      throw new GrpcError(Code.UNAVAILABLE, 'the connection closed before the call ended');
    }
    if (status !== null) {
      throw status;
    }
  }

  async #post(path: string, body: Uint8Array, signal: AbortSignal | undefined): Promise<globalThis.Response> {
    const headers: Record<string, string> = {
      'content-type': 'application/grpc-web+proto',
      accept: 'application/grpc-web+proto',
      'x-grpc-web': '1',
    };
    if (this.#options.token !== undefined) {
      headers['authorization'] = `Bearer ${this.#options.token}`;
    }
    const doFetch = this.#options.fetch ?? globalThis.fetch.bind(globalThis);
    try {
      return await doFetch(`${this.#options.baseUrl}${path}`, {
        method: 'POST',
        headers,
        body: body as Uint8Array<ArrayBuffer>,
        cache: 'no-store',
        credentials: 'omit',
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      throw transportError(error, signal);
    }
  }
}

async function readChunk(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  signal: AbortSignal | undefined,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  try {
    return await reader.read();
  } catch (error) {
    throw transportError(error, signal);
  }
}

function decodeMessage<Request, Response>(method: Method<Request, Response>, payload: Uint8Array): Response {
  try {
    return method.decode(payload);
  } catch (error) {
    throw new GrpcError(Code.INTERNAL, `${method.path}: a message that does not decode (${String(error)})`);
  }
}

/** A failure of the connection itself: cancelled when we aborted, else the server is away. */
function transportError(error: unknown, signal: AbortSignal | undefined): GrpcError {
  if (error instanceof GrpcError) {
    return error;
  }
  if (signal?.aborted ?? false) {
    return new GrpcError(Code.CANCELLED, 'the call was cancelled');
  }
  return new GrpcError(Code.UNAVAILABLE, `the server could not be reached (${error instanceof Error ? error.message : String(error)})`);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) {
    return b;
  }
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return joined;
}

/** Base64 (standard or URL alphabet, padded or not) to bytes. */
export function fromBase64(text: string): Uint8Array {
  const standard = text.trim().replace(/-/g, '+').replace(/_/g, '/');
  const padded = standard + '='.repeat((4 - (standard.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index += 1) {
    bytes[index] = binary.charCodeAt(index);
  }
  return bytes;
}
