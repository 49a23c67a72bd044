// Compiles the tests (and the sources they import) into test-dist/, and
// copies the generated protobuf code beside the compiled sources.
import { spawnSync } from 'node:child_process';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
await rm(join(ROOT, 'test-dist'), { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.test.json'], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (tsc.status !== 0) {
  process.exit(tsc.status ?? 1);
}
await cp(join(ROOT, 'src/generated'), join(ROOT, 'test-dist/src/generated'), {
  recursive: true,
  filter: (path) => !path.endsWith('.d.ts'),
});
