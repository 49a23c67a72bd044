/**
 * Secret key files, as `settled keygen --out` and a development server
 * (`issuer-N.key`) write them: 64 lowercase hex digits and a newline,
 * readable by their owner only (docs/PROTOCOL.md §13.1).
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';

import { SigningKey } from '../core/keys.js';

/**
 * The key in a key file (surrounding whitespace ignored).
 *
 * @throws TypeError when the file does not hold a secret key.
 */
export async function readKeyFile(path: string): Promise<SigningKey> {
  return SigningKey.fromHex(await readFile(path, 'utf8'));
}

/**
 * Writes `key` to a new key file, mode 0600. An existing file is never
 * overwritten (the key it holds may be the only copy).
 */
export async function writeKeyFile(path: string, key: SigningKey): Promise<void> {
  await writeFile(path, `${key.toHex()}\n`, { mode: 0o600, flag: 'wx' });
}
