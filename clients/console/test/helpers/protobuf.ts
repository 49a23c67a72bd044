/**
 * A few protobuf encodings written by hand, for the tests to make what a
 * server sends (the console's generated code only decodes answers): an
 * independent check of the decoding.
 */

/** A varint. */
export function varint(value: number | bigint): Uint8Array {
  let rest = BigInt(value);
  const bytes: number[] = [];
  do {
    let byte = Number(rest & 0x7fn);
    rest >>= 7n;
    if (rest !== 0n) byte |= 0x80;
    bytes.push(byte);
  } while (rest !== 0n);
  return Uint8Array.from(bytes);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A varint field. */
export function uintField(field: number, value: number | bigint): Uint8Array {
  return concat(varint((field << 3) | 0), varint(value));
}

/** A length-delimited field (bytes, a string, a message). */
export function bytesField(field: number, value: Uint8Array | string): Uint8Array {
  const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
  return concat(varint((field << 3) | 2), varint(bytes.length), bytes);
}

/** A google.protobuf.Any of `typeName` holding `message`. */
export function any(typeName: string, message: Uint8Array): Uint8Array {
  return concat(bytesField(1, `type.googleapis.com/${typeName}`), bytesField(2, message));
}

/** A google.rpc.Status with its details. */
export function status(code: number, message: string, details: Uint8Array[]): Uint8Array {
  return concat(uintField(1, code), bytesField(2, message), ...details.map((detail) => bytesField(3, detail)));
}

/** A google.rpc.ErrorInfo. */
export function errorInfo(reason: string, domain: string, metadata: Record<string, string>): Uint8Array {
  return concat(
    bytesField(1, reason),
    bytesField(2, domain),
    ...Object.entries(metadata).map(([key, value]) => bytesField(3, concat(bytesField(1, key), bytesField(2, value)))),
  );
}

/** A google.rpc.RetryInfo of `ms`. */
export function retryInfo(ms: number): Uint8Array {
  return bytesField(1, concat(uintField(1, Math.floor(ms / 1000)), uintField(2, (ms % 1000) * 1_000_000)));
}

/** A google.rpc.BadRequest of one field violation. */
export function badRequest(field: string, description: string): Uint8Array {
  return bytesField(1, concat(bytesField(1, field), bytesField(2, description)));
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
