/** Where things are, from the compiled tests (test-dist/test/helpers/). */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** clients/console: the package's root. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The settled binary the browser tests start: `SETTLED_BIN`, or the repository's debug build. */
export const SETTLED_BIN = resolve(PACKAGE_ROOT, process.env['SETTLED_BIN'] ?? '../../target/debug/settled');

/** Debian's chromium, driven by playwright-core (which downloads no browser). */
export const CHROMIUM = process.env['CHROMIUM_BIN'] ?? '/usr/bin/chromium';

/** The committed build the server embeds. */
export const DIST = resolve(PACKAGE_ROOT, 'dist');

/** Where the screenshots go (gitignored). */
export const ARTIFACTS = resolve(PACKAGE_ROOT, 'test-artifacts');
