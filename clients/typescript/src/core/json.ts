/**
 * JSON with 64-bit integers. `JSON.parse` turns 72623859790412757 into
 * 72623859790412760; the receipts, cursors and test vectors of Settled hold
 * `u64` values, so this module reads integers beyond 2^53 as `bigint` and
 * writes `bigint` as bare digits.
 *
 * @module
 */
import { VerificationError } from './errors.js';

/** A JSON value, integers beyond `Number.MAX_SAFE_INTEGER` as `bigint`. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Parses JSON text like `JSON.parse`, but an integer literal (no fraction,
 * no exponent) that a `number` cannot hold exactly comes back as a `bigint`.
 *
 * @throws VerificationError when the text is not JSON.
 */
export function parseJson(text: string): JsonValue {
  const parser = new Parser(text);
  const value = parser.value();
  parser.end();
  return value;
}

/** JSON text of `value`, a `bigint` written as its digits; `indent` spaces per level. */
export function stringifyJson(value: JsonValue, indent = 2): string {
  return write(value, indent, '');
}

function write(value: JsonValue, indent: number, margin: string): string {
  if (typeof value === 'bigint') {
    return value.toString();
  }
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value);
  }
  const inner = margin + ' '.repeat(indent);
  const newline = indent > 0 ? '\n' : '';
  const separator = indent > 0 ? ': ' : ':';
  const items = Array.isArray(value)
    ? value.map((item) => inner + write(item, indent, inner))
    : Object.entries(value).map(
        ([key, item]) => `${inner}${JSON.stringify(key)}${separator}${write(item, indent, inner)}`,
      );
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  return items.length === 0 ? open + close : `${open}${newline}${items.join(`,${newline}`)}${newline}${margin}${close}`;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const WHITESPACE = /[ \t\n\r]*/y;

class Parser {
  #position = 0;

  constructor(private readonly text: string) {}

  value(): JsonValue {
    this.#skip();
    const next = this.text[this.#position];
    if (next === '{') {
      return this.#object();
    }
    if (next === '[') {
      return this.#array();
    }
    if (next === '"') {
      return JSON.parse(this.#token(STRING, 'a string')) as string;
    }
    for (const [literal, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.text.startsWith(literal, this.#position)) {
        this.#position += literal.length;
        return value;
      }
    }
    const number = this.#token(NUMBER, 'a value');
    const integer = !/[.eE]/.test(number);
    const asNumber = Number(number);
    return integer && !Number.isSafeInteger(asNumber) ? BigInt(number) : asNumber;
  }

  end(): void {
    this.#skip();
    if (this.#position !== this.text.length) {
      this.#fail('the end of the text');
    }
  }

  #object(): { [key: string]: JsonValue } {
    const object: { [key: string]: JsonValue } = {};
    this.#position++;
    this.#skip();
    if (this.#eat('}')) {
      return object;
    }
    do {
      this.#skip();
      const key = JSON.parse(this.#token(STRING, 'a key')) as string;
      this.#skip();
      if (!this.#eat(':')) {
        this.#fail("':'");
      }
      Object.defineProperty(object, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.#skip();
    } while (this.#eat(','));
    if (!this.#eat('}')) {
      this.#fail("',' or '}'");
    }
    return object;
  }

  #array(): JsonValue[] {
    const array: JsonValue[] = [];
    this.#position++;
    this.#skip();
    if (this.#eat(']')) {
      return array;
    }
    do {
      array.push(this.value());
      this.#skip();
    } while (this.#eat(','));
    if (!this.#eat(']')) {
      this.#fail("',' or ']'");
    }
    return array;
  }

  #token(pattern: RegExp, what: string): string {
    pattern.lastIndex = this.#position;
    const match = pattern.exec(this.text);
    if (match === null) {
      return this.#fail(what);
    }
    this.#position += match[0].length;
    return match[0];
  }

  #eat(character: string): boolean {
    if (this.text[this.#position] === character) {
      this.#position++;
      return true;
    }
    return false;
  }

  #skip(): void {
    this.#token(WHITESPACE, 'whitespace');
  }

  #fail(expected: string): never {
    throw new VerificationError(`not JSON: expected ${expected} at offset ${this.#position}`);
  }
}
