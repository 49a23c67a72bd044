// Builds the console into dist/ (committed: the server embeds it with
// include_bytes! when it is compiled): the protobuf code (scripts/proto.mjs),
// a strict type check of src/, the bundle dist/console.js (esbuild: one
// minified file, no source map, deterministic), and the static files.
//
//   node scripts/build.mjs            build into dist/
//   node scripts/build.mjs --check    build into a scratch directory and fail
//                                     unless dist/ holds exactly those bytes
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
/** The files of dist/ besides the bundle, copied from src/ as they are. */
const STATIC_FILES = ['index.html', 'console.css', 'favicon.svg'];

function run(command, args) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`build: ${command} ${args.join(' ')} failed`);
    process.exit(result.status ?? 1);
  }
}

async function buildInto(out) {
  run(process.execPath, ['scripts/proto.mjs']);
  run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await build({
    absWorkingDir: ROOT,
    entryPoints: ['src/main.ts'],
    outfile: join(out, 'console.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: false,
    legalComments: 'eof',
    charset: 'utf8',
    logLevel: 'warning',
  });
  for (const name of STATIC_FILES) {
    await copyFile(join(ROOT, 'src', name), join(out, name));
  }
}

async function filesOf(dir) {
  const names = (await readdir(dir).catch(() => [])).sort();
  return new Map(await Promise.all(names.map(async (name) => [name, await readFile(join(dir, name))])));
}

if (process.argv.includes('--check')) {
  const scratch = await mkdtemp(join(tmpdir(), 'settled-console-'));
  try {
    await buildInto(scratch);
    const fresh = await filesOf(scratch);
    const committed = await filesOf(DIST);
    const problems = [];
    for (const [name, bytes] of fresh) {
      const old = committed.get(name);
      if (old === undefined) problems.push(`dist/${name} is missing`);
      else if (!old.equals(bytes)) problems.push(`dist/${name} differs from a fresh build (${old.length} bytes committed, ${bytes.length} built)`);
    }
    for (const name of committed.keys()) {
      if (!fresh.has(name)) problems.push(`dist/${name} is not made by the build`);
    }
    if (problems.length > 0) {
      console.error(
        `The committed clients/console/dist/ is not what its sources build:\n  ${problems.join('\n  ')}\n` +
          'Run `npm run build` in clients/console and commit dist/ (the server embeds it when compiled).',
      );
      process.exit(1);
    }
    console.log(`dist/ is a fresh build of the sources (${fresh.size} files)`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
} else {
  await buildInto(DIST);
  const files = await filesOf(DIST);
  console.log(`built dist/: ${[...files].map(([name, bytes]) => `${name} ${bytes.length} B`).join(', ')}`);
}
