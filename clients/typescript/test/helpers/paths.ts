/** Where things are, from the compiled tests (test-dist/helpers/). */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** clients/typescript: the package's root. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The repository's root. */
export const REPO_ROOT = resolve(PACKAGE_ROOT, '../..');

/** The settled binary the end-to-end tests start: `SETTLED_BIN`, or the repository's debug build. */
export const SETTLED_BIN = resolve(PACKAGE_ROOT, process.env['SETTLED_BIN'] ?? '../../target/debug/settled');
