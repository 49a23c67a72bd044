// Prepares a clean build (run by `npm run build`): copies the repository's
// protocol definitions (../../proto/settled, the one source of truth) into
// this package's proto/ directory, which is shipped with the package and
// loaded at run time, and clears what the previous build made: dist/ and
// the message types generated from the previous copy (`npm run proto:types`
// writes them again).
import { cp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const at = (path) => fileURLToPath(new URL(`../${path}`, import.meta.url));

for (const made of ['proto/settled/', 'src/generated/', 'dist/']) {
  await rm(at(made), { recursive: true, force: true });
}
await cp(at('../../proto/settled/'), at('proto/settled/'), { recursive: true });
