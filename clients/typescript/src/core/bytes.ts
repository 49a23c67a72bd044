/**
 * Byte helpers of the canonical encodings (docs/PROTOCOL.md §1): lowercase
 * hex, big-endian unsigned integers of fixed size, SHA-256.
 *
 * @module
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';

import { VerificationError } from './errors.js';

/** A byte string given as raw bytes or as hex text (either case). */
export type BytesLike = Uint8Array | string;

/** 2^64 − 1, the largest `u64`: the largest amount in minor units. */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Lowercase hex of `bytes`, in the order they are hashed and sent. */
export function toHex(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

/**
 * Bytes of hex text.
 *
 * @throws TypeError when the text is not an even number of hex digits.
 */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError(`not hex: ${JSON.stringify(hex.length > 80 ? `${hex.slice(0, 80)}…` : hex)}`);
  }
  return hexToBytes(hex);
}

/**
 * `value` as bytes of exactly `length` (hex text is decoded first).
 *
 * @param what - names the value in the error message.
 * @throws TypeError when it is not hex or not `length` bytes long.
 */
export function toBytes(value: BytesLike, length: number, what: string): Uint8Array {
  const bytes = typeof value === 'string' ? fromHex(value) : value;
  if (bytes.length !== length) {
    throw new TypeError(`${what} must be ${length} bytes, not ${bytes.length}`);
  }
  return bytes;
}

/** Whether two byte strings are equal (not constant-time: for public data). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) {
    return false;
  }
  return a.every((byte, index) => byte === b[index]);
}

/** Plain SHA-256 (FIPS 180-4) of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  return nobleSha256(concatBytes(...parts));
}

/** The concatenation of `parts`. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts);
}

/** ASCII bytes of a magic or domain (`STLD`, `STLW`, ...). */
export function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (character) => character.charCodeAt(0));
}

/**
 * Big-endian bytes of an unsigned integer of `size` bytes (1, 2, 4 or 8).
 *
 * @throws RangeError when `value` is negative, not an integer, or does not fit.
 */
export function uintBE(value: number | bigint, size: 1 | 2 | 4 | 8): Uint8Array {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`${value} is not an integer`);
  }
  const big = BigInt(value);
  if (big < 0n || big >= 1n << BigInt(8 * size)) {
    throw new RangeError(`${big} does not fit ${size} byte${size === 1 ? '' : 's'}`);
  }
  const out = new Uint8Array(size);
  let rest = big;
  for (let index = size - 1; index >= 0; index--) {
    out[index] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

/**
 * A `u64` as a bigint, from a bigint, a safe integer or decimal text (as
 * JSON files and protobuf decoders give it).
 *
 * @throws VerificationError when it is not an integer from 0 to 2^64 − 1.
 */
export function toU64(value: bigint | number | string, what: string): bigint {
  let big: bigint;
  if (typeof value === 'bigint') {
    big = value;
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new VerificationError(`${what}: ${value} is not an exact integer (pass it as a bigint or decimal text)`);
    }
    big = BigInt(value);
  } else {
    if (!/^[0-9]+$/.test(value)) {
      throw new VerificationError(`${what}: ${JSON.stringify(value)} is not a decimal integer`);
    }
    big = BigInt(value);
  }
  if (big < 0n || big > U64_MAX) {
    throw new VerificationError(`${what}: ${big} is not a u64`);
  }
  return big;
}
