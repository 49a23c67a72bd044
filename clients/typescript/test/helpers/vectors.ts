/** docs/test-vectors.json, read with 64-bit integers intact, and typed accessors. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { fromHex, type JsonValue, parseJson } from '@settled/client/verify';

import { REPO_ROOT } from './paths.js';

export type JsonObject = { [key: string]: JsonValue };

/** The vectors file. */
export const vectors: JsonObject = object(parseJson(readFileSync(join(REPO_ROOT, 'docs/test-vectors.json'), 'utf8')));

/** `value` as an object. */
export function object(value: JsonValue | undefined): JsonObject {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`not an object: ${String(value)}`);
  }
  return value;
}

/** `value[key]` as an array of objects. */
export function objects(value: JsonObject, key: string): JsonObject[] {
  const items = value[key];
  if (!Array.isArray(items)) {
    throw new TypeError(`${key} is not an array`);
  }
  return items.map(object);
}

/** `value[key]` as a string. */
export function text(value: JsonObject, key: string): string {
  const item = value[key];
  if (typeof item !== 'string') {
    throw new TypeError(`${key} is not a string`);
  }
  return item;
}

/** `value[key]` (hex) as bytes. */
export function hex(value: JsonObject, key: string): Uint8Array {
  return fromHex(text(value, key));
}

/** `value[key]` as a bigint (any JSON integer). */
export function integer(value: JsonObject, key: string): bigint {
  const item = value[key];
  if (typeof item === 'bigint') {
    return item;
  }
  if (typeof item !== 'number' || !Number.isInteger(item)) {
    throw new TypeError(`${key} is not an integer`);
  }
  return BigInt(item);
}

/** `value[key]` as a number (a JSON integer of at most 2^53). */
export function small(value: JsonObject, key: string): number {
  return Number(integer(value, key));
}
