/**
 * The gRPC-Web transport without a server: framing, trailers, statuses
 * (in the trailer frame, or in the headers of a trailers-only answer), the
 * google.rpc details, and calls over a fetch that answers what a tonic-web
 * server would, cut into chunks of every size.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  Code,
  codeOfHttpStatus,
  decodeGrpcMessage,
  decodeStatusDetails,
  encodeFrame,
  FrameParser,
  GrpcError,
  type Method,
  parseTrailers,
  statusOf,
  Transport,
} from '../../src/grpcweb.js';
import { FRAME_BYTES_MAX } from '../../src/limits.js';
import { any, badRequest, base64, concat, errorInfo, retryInfo, status } from '../helpers/protobuf.js';

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

/** A method whose messages are UTF-8 text, for the transport's tests. */
const ECHO: Method<string, string> = {
  path: '/test.Echo/Say',
  encode: (request) => text(request),
  decode: (bytes) => new TextDecoder().decode(bytes),
};

function trailerFrame(lines: string): Uint8Array {
  return encodeFrame(text(lines), 0x80);
}

/** A fetch answering `body` in chunks of `chunkBytes`, recording what it was asked. */
function fakeFetch(
  body: Uint8Array,
  options: { chunkBytes?: number; headers?: Record<string, string>; status?: number; seen?: { url: string; init: RequestInit }[]; cancelled?: { value: boolean } } = {},
): typeof fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => {
    options.seen?.push({ url: String(url), init: init ?? {} });
    const size = options.chunkBytes ?? body.length;
    let offset = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= body.length) {
          controller.close();
          return;
        }
        controller.enqueue(body.slice(offset, offset + Math.max(1, size)));
        offset += Math.max(1, size);
      },
      cancel() {
        if (options.cancelled !== undefined) options.cancelled.value = true;
      },
    });
    return new Response(stream, {
      status: options.status ?? 200,
      headers: { 'content-type': 'application/grpc-web+proto', ...options.headers },
    });
  }) as typeof fetch;
}

async function rejection(promise: Promise<unknown>): Promise<GrpcError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof GrpcError, `expected a GrpcError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe('framing', () => {
  it('frames a message: flag 0, its length big-endian, the bytes', () => {
    assert.deepEqual([...encodeFrame(Uint8Array.from([7, 8, 9]))], [0, 0, 0, 0, 3, 7, 8, 9]);
    assert.deepEqual([...encodeFrame(new Uint8Array(0))], [0, 0, 0, 0, 0]);
  });

  it('cuts frames out of chunks of every size, a frame over many chunks or many frames in one', () => {
    const body = concat(encodeFrame(text('one')), encodeFrame(new Uint8Array(0)), encodeFrame(text('three!')), trailerFrame('grpc-status:0\r\n'));
    for (let size = 1; size <= body.length; size += 1) {
      const parser = new FrameParser();
      const frames = [];
      for (let offset = 0; offset < body.length; offset += size) {
        frames.push(...parser.push(body.slice(offset, offset + size)));
      }
      assert.deepEqual(
        frames.map((frame) => [frame.trailers, new TextDecoder().decode(frame.payload)]),
        [
          [false, 'one'],
          [false, ''],
          [false, 'three!'],
          [true, 'grpc-status:0\r\n'],
        ],
        `chunks of ${size} bytes`,
      );
      assert.equal(parser.pendingBytes, 0);
    }
  });

  it('keeps an incomplete frame until the rest arrives', () => {
    const parser = new FrameParser();
    const frame = encodeFrame(text('hello'));
    assert.deepEqual(parser.push(frame.slice(0, 7)), []);
    assert.equal(parser.pendingBytes, 7);
    assert.equal(parser.push(frame.slice(7)).length, 1);
  });

  it('refuses a frame longer than FRAME_BYTES_MAX, and accepts one of exactly that length announced', () => {
    const header = (length: number): Uint8Array => {
      const bytes = new Uint8Array(5);
      new DataView(bytes.buffer).setUint32(1, length, false);
      return bytes;
    };
    assert.deepEqual(new FrameParser().push(header(FRAME_BYTES_MAX)), []);
    assert.throws(() => new FrameParser().push(header(FRAME_BYTES_MAX + 1)), (error: unknown) => error instanceof GrpcError && error.code === Code.INTERNAL);
  });

  it('refuses a compressed frame (flag 0x01): the console never asks for compression', () => {
    assert.throws(
      () => new FrameParser().push(Uint8Array.from([1, 0, 0, 0, 0])),
      (error: unknown) => error instanceof GrpcError && /compressed/.test(error.message),
    );
  });
});

describe('trailers and statuses', () => {
  it('reads trailers: CRLF lines, names lowercased, values trimmed, a colon in a value kept', () => {
    const trailers = parseTrailers(text('grpc-status:7\r\nGrpc-Message: no%20way: at all\r\n\r\nbroken line\r\n'));
    assert.equal(trailers.get('grpc-status'), '7');
    assert.equal(trailers.get('grpc-message'), 'no%20way: at all');
    assert.equal(trailers.size, 2);
  });

  it('percent-decodes grpc-message as UTF-8, and keeps a malformed one as sent', () => {
    assert.equal(decodeGrpcMessage('caf%C3%A9%20%25%20ok'), 'café % ok');
    assert.equal(decodeGrpcMessage('100%'), '100%');
  });

  it('gives undefined without grpc-status, null for OK, and the error otherwise', () => {
    assert.equal(statusOf(() => null), undefined);
    assert.equal(statusOf((name) => (name === 'grpc-status' ? '0' : null)), null);
    const error = statusOf((name) => ({ 'grpc-status': '16', 'grpc-message': 'unknown%20credential' })[name]);
    assert.ok(error instanceof GrpcError);
    assert.equal(error.code, Code.UNAUTHENTICATED);
    assert.equal(error.grpcMessage, 'unknown credential');
    assert.equal(error.reason, undefined);
    assert.equal(statusOf((name) => (name === 'grpc-status' ? 'x' : null))?.code, Code.UNKNOWN);
  });

  it('decodes grpc-status-details-bin: ErrorInfo reason and metadata, RetryInfo, BadRequest, unpadded base64', () => {
    const details = base64(
      status(8, 'too many', [
        any('google.rpc.ErrorInfo', errorInfo('REASON_TOO_MANY_STREAMS', 'settled.v1', { limit: '16', streams: 'ledger' })),
        any('google.rpc.RetryInfo', retryInfo(1_250)),
        any('google.rpc.BadRequest', badRequest('txid', 'is not 32 bytes')),
        any('example.Unknown', text('ignored')),
      ]),
    ).replace(/=+$/, '');
    const decoded = decodeStatusDetails(details);
    assert.equal(decoded.reason, 'REASON_TOO_MANY_STREAMS');
    assert.equal(decoded.domain, 'settled.v1');
    assert.deepEqual(decoded.metadata, { limit: '16', streams: 'ledger' });
    assert.equal(decoded.retryAfterMs, 1_250);
    assert.deepEqual(decoded.fieldViolations, [{ field: 'txid', description: 'is not 32 bytes' }]);
  });

  it('ignores details that do not decode: the code and message still stand', () => {
    assert.deepEqual(decodeStatusDetails('!!!not base64'), { metadata: {}, fieldViolations: [] });
    const error = statusOf((name) => ({ 'grpc-status': '7', 'grpc-message': 'denied', 'grpc-status-details-bin': 'AAAA' })[name]);
    assert.equal(error?.code, Code.PERMISSION_DENIED);
    assert.equal(error?.grpcMessage, 'denied');
  });

  it('maps HTTP errors without a gRPC status as gRPC-Web says', () => {
    assert.equal(codeOfHttpStatus(401), Code.UNAUTHENTICATED);
    assert.equal(codeOfHttpStatus(403), Code.PERMISSION_DENIED);
    assert.equal(codeOfHttpStatus(404), Code.UNIMPLEMENTED);
    assert.equal(codeOfHttpStatus(503), Code.UNAVAILABLE);
    assert.equal(codeOfHttpStatus(500), Code.UNKNOWN);
  });
});

describe('calls over fetch', () => {
  it('sends a unary call as gRPC-Web with the bearer token, and reads its one message and OK', async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const body = concat(encodeFrame(text('pong')), trailerFrame('grpc-status:0\r\ngrpc-message:\r\n'));
    const transport = new Transport({ baseUrl: 'http://console.test', token: 'secret', fetch: fakeFetch(body, { chunkBytes: 3, seen }) });
    assert.equal(await transport.unary(ECHO, 'ping'), 'pong');
    assert.equal(seen.length, 1);
    const [call] = seen;
    assert.equal(call?.url, 'http://console.test/test.Echo/Say');
    assert.equal(call?.init.method, 'POST');
    const headers = call?.init.headers as Record<string, string>;
    assert.equal(headers['content-type'], 'application/grpc-web+proto');
    assert.equal(headers['x-grpc-web'], '1');
    assert.equal(headers['authorization'], 'Bearer secret');
    assert.deepEqual([...(call?.init.body as Uint8Array)], [...encodeFrame(text('ping'))]);
  });

  it('reads a trailers-only refusal from the headers, with its reason', async () => {
    const details = base64(status(7, 'no', [any('google.rpc.ErrorInfo', errorInfo('REASON_PERMISSION_DENIED', 'settled.v1', {}))]));
    const transport = new Transport({
      baseUrl: '',
      fetch: fakeFetch(new Uint8Array(0), { headers: { 'grpc-status': '7', 'grpc-message': 'Bank(%22bank-a%22)%20may%20not', 'grpc-status-details-bin': details } }),
    });
    const error = await rejection(transport.unary(ECHO, 'x'));
    assert.equal(error.code, Code.PERMISSION_DENIED);
    assert.equal(error.grpcMessage, 'Bank("bank-a") may not');
    assert.equal(error.reason, 'REASON_PERMISSION_DENIED');
  });

  it('streams messages as they come, then throws the status of the trailer frame', async () => {
    const details = base64(status(14, 'stopping', [any('google.rpc.ErrorInfo', errorInfo('REASON_UNAVAILABLE', 'settled.v1', {}))]));
    const body = concat(encodeFrame(text('a')), encodeFrame(text('b')), trailerFrame(`grpc-status:14\r\ngrpc-message:the%20server%20is%20stopping\r\ngrpc-status-details-bin:${details}\r\n`));
    const transport = new Transport({ baseUrl: '', fetch: fakeFetch(body, { chunkBytes: 2 }) });
    const got: string[] = [];
    const error = await rejection(
      (async () => {
        for await (const message of transport.stream(ECHO, 'x')) got.push(message);
      })(),
    );
    assert.deepEqual(got, ['a', 'b']);
    assert.equal(error.code, Code.UNAVAILABLE);
    assert.equal(error.grpcMessage, 'the server is stopping');
    assert.equal(error.reason, 'REASON_UNAVAILABLE');
  });

  it('tells that the stream is open before any message (a quiet stream is still a live one)', async () => {
    const body = trailerFrame('grpc-status:0\r\n');
    const transport = new Transport({ baseUrl: '', fetch: fakeFetch(body) });
    let opened = 0;
    assert.deepEqual(await collect(transport.stream(ECHO, 'x', undefined, () => (opened += 1))), []);
    assert.equal(opened, 1);
  });

  it('takes a body that ends without trailers for a lost connection (UNAVAILABLE)', async () => {
    const transport = new Transport({ baseUrl: '', fetch: fakeFetch(encodeFrame(text('half'))) });
    assert.equal((await rejection(collect(transport.stream(ECHO, 'x')))).code, Code.UNAVAILABLE);
  });

  it('takes a fetch that fails for a server away (UNAVAILABLE), and an HTTP 503 too', async () => {
    const failing = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    assert.equal((await rejection(new Transport({ baseUrl: '', fetch: failing }).unary(ECHO, 'x'))).code, Code.UNAVAILABLE);
    const unavailable = new Transport({ baseUrl: '', fetch: fakeFetch(new Uint8Array(0), { status: 503 }) });
    assert.equal((await rejection(unavailable.unary(ECHO, 'x'))).code, Code.UNAVAILABLE);
  });

  it('refuses a unary answer of two messages, or of none', async () => {
    const two = concat(encodeFrame(text('a')), encodeFrame(text('b')), trailerFrame('grpc-status:0\r\n'));
    assert.equal((await rejection(new Transport({ baseUrl: '', fetch: fakeFetch(two) }).unary(ECHO, 'x'))).code, Code.INTERNAL);
    const none = trailerFrame('grpc-status:0\r\n');
    assert.equal((await rejection(new Transport({ baseUrl: '', fetch: fakeFetch(none) }).unary(ECHO, 'x'))).code, Code.INTERNAL);
  });

  it('closes the HTTP stream when the reader stops early', async () => {
    const cancelled = { value: false };
    const body = concat(encodeFrame(text('a')), encodeFrame(text('b')), encodeFrame(text('c')), trailerFrame('grpc-status:0\r\n'));
    const transport = new Transport({ baseUrl: '', fetch: fakeFetch(body, { chunkBytes: 6, cancelled }) });
    for await (const message of transport.stream(ECHO, 'x')) {
      assert.equal(message, 'a');
      break;
    }
    assert.equal(cancelled.value, true);
  });

  it('reports an aborted call as CANCELLED', async () => {
    const controller = new AbortController();
    const hanging = ((_url: string, init?: RequestInit) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      })) as typeof fetch;
    const call = new Transport({ baseUrl: '', fetch: hanging }).unary(ECHO, 'x', controller.signal);
    controller.abort();
    assert.equal((await rejection(call)).code, Code.CANCELLED);
  });

  it('refuses trailers without a grpc-status (INTERNAL), rather than taking them for OK', async () => {
    const body = concat(encodeFrame(text('a')), trailerFrame('grpc-message:what\r\n'));
    assert.equal((await rejection(collect(new Transport({ baseUrl: '', fetch: fakeFetch(body) }).stream(ECHO, 'x')))).code, Code.INTERNAL);
  });

  it('refuses a frame after the trailers', async () => {
    const body = concat(trailerFrame('grpc-status:0\r\n'), encodeFrame(text('late')));
    assert.equal((await rejection(collect(new Transport({ baseUrl: '', fetch: fakeFetch(body) }).stream(ECHO, 'x')))).code, Code.INTERNAL);
  });
});
