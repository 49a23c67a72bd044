/**
 * Keys, addresses and signatures: BIP340 Schnorr over secp256k1
 * (docs/PROTOCOL.md §3). An address is a 32-byte x-only public key.
 *
 * @module
 */
import { schnorr } from '@noble/curves/secp256k1.js';

import { type BytesLike, fromHex, toBytes, toHex } from './bytes.js';

/**
 * A BIP340 secret key (a wallet's, an issuer's) and its address. The secret
 * never leaves the object but through {@link SigningKey.toHex}, for a key
 * file.
 */
export class SigningKey {
  readonly #secret: Uint8Array;

  /** The x-only public key: the address outputs pay and witnesses name. */
  readonly publicKey: Uint8Array;

  private constructor(secret: Uint8Array) {
    // Throws for 0 and for n or more: a secret key is 1 ≤ d ≤ n − 1.
    this.publicKey = schnorr.getPublicKey(secret);
    this.#secret = Uint8Array.from(secret);
  }

  /**
   * The key of a 32-byte big-endian secret (either of the two secrets with
   * the same x-only key, PROTOCOL.md §3).
   *
   * @throws TypeError when it is not 32 bytes, or not from 1 to n − 1.
   */
  static fromBytes(secret: Uint8Array): SigningKey {
    const bytes = toBytes(secret, 32, 'a secret key');
    try {
      return new SigningKey(bytes);
    } catch {
      throw new TypeError('a secret key must be from 1 to n − 1 (the order of secp256k1)');
    }
  }

  /**
   * The key of 64 hex digits, as key files hold it (`settled keygen --out`,
   * `issuer-N.key`): surrounding whitespace, such as the final newline, is
   * ignored.
   *
   * @throws TypeError when it is not a secret key.
   */
  static fromHex(text: string): SigningKey {
    return SigningKey.fromBytes(fromHex(text.trim()));
  }

  /** A new random key. */
  static generate(): SigningKey {
    return new SigningKey(schnorr.utils.randomSecretKey());
  }

  /** The address (the x-only public key) as lowercase hex. */
  get address(): string {
    return toHex(this.publicKey);
  }

  /**
   * The 64-byte BIP340 signature of a 32-byte message, passed to BIP340 as
   * is (a signed message of PROTOCOL.md §3.1, never a bare txid).
   *
   * @param auxRand - the auxiliary randomness: fresh random bytes unless
   *   given (the test vectors give theirs, to check signing byte for byte).
   */
  sign(message: Uint8Array, auxRand?: Uint8Array): Uint8Array {
    toBytes(message, 32, 'a signed message');
    return schnorr.sign(message, this.#secret, auxRand);
  }

  /** The secret as 64 lowercase hex digits, the body of a key file. */
  toHex(): string {
    return toHex(this.#secret);
  }
}

/**
 * Whether `signature` is a valid BIP340 signature of the 32-byte `message`
 * by `publicKey`. False, never an exception, for malformed input.
 */
export function verifySignature(signature: Uint8Array, message: Uint8Array, publicKey: BytesLike): boolean {
  try {
    const key = toBytes(publicKey, 32, 'a public key');
    return signature.length === 64 && message.length === 32 && schnorr.verify(signature, message, key);
  } catch {
    return false;
  }
}

/**
 * Whether `address` can be paid: 32 bytes that are the x coordinate of a
 * point of secp256k1 (BIP340 `lift_x` succeeds). The engine refuses an
 * output to any other address with `REASON_BAD_ADDRESS`: nobody could
 * spend it.
 */
export function isValidAddress(address: BytesLike): boolean {
  try {
    const bytes = toBytes(address, 32, 'an address');
    schnorr.utils.lift_x(BigInt(`0x${toHex(bytes)}`));
    return true;
  } catch {
    return false;
  }
}
