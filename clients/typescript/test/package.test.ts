/**
 * The package itself: its proto/ is the repository's, its browser-safe
 * entry point imports nothing of Node or gRPC, and its refusal classes
 * follow the code table of PROTOCOL.md §10.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

import { codeOfReason, PROTOCOL_VERSION, Reason } from '@settled/client';

import { PACKAGE_ROOT, REPO_ROOT } from './helpers/paths.js';

function files(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe('the package', () => {
  it('ships a copy of the repository proto/ that equals it', () => {
    const source = join(REPO_ROOT, 'proto');
    const copy = join(PACKAGE_ROOT, 'proto');
    const sourceFiles = files(source)
      .map((path) => relative(source, path))
      .sort();
    const copiedFiles = files(join(copy, 'settled'))
      .map((path) => relative(copy, path))
      .sort();
    assert.ok(sourceFiles.length > 0);
    assert.deepEqual(copiedFiles, sourceFiles);
    for (const file of sourceFiles) {
      assert.equal(readFileSync(join(copy, file), 'utf8'), readFileSync(join(source, file), 'utf8'), file);
    }
  });

  it('is version 2.x of @settled/client, for protocol version 2', () => {
    const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
    };
    assert.equal(manifest.name, '@settled/client');
    assert.equal(manifest.version.split('.')[0], String(PROTOCOL_VERSION));
  });

  it('keeps @settled/client/verify free of Node APIs and gRPC', () => {
    const seen = new Set<string>();
    const external = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) {
        return;
      }
      seen.add(file);
      const code = readFileSync(file, 'utf8');
      for (const match of code.matchAll(
        /(?:^|[;\s])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
      )) {
        const specifier = match[1] ?? match[2] ?? '';
        if (specifier.startsWith('.')) {
          visit(resolve(dirname(file), specifier));
        } else {
          external.add(specifier);
        }
      }
      const withoutComments = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
      assert.doesNotMatch(
        withoutComments,
        /\b(?:Buffer|process|require|global)\b/,
        `${relative(PACKAGE_ROOT, file)} uses a Node global`,
      );
    };
    visit(join(PACKAGE_ROOT, 'dist/verify.js'));
    assert.ok(seen.size > 5);
    for (const specifier of external) {
      assert.match(specifier, /^(?:@noble\/(?:curves|hashes)\/|saxes$)/, `the verify entry point imports ${specifier}`);
    }
    assert.ok(external.has('saxes'), 'statements are read with saxes');
  });

  it('gives each reason the gRPC code of PROTOCOL.md §10', () => {
    const ledger = readFileSync(join(REPO_ROOT, 'proto/settled/v1/ledger.proto'), 'utf8');
    const numbers = new Map(
      [...ledger.matchAll(/^\s*(REASON_[A-Z_]+) = (\d+);/gm)].map((m) => [m[1] ?? '', Number(m[2])]),
    );
    assert.deepEqual([...numbers.keys()].sort(), Object.keys(Reason).sort());
    const expected = (value: number): number => {
      if ((value >= 1 && value <= 19) || value === 50) return 3; // INVALID_ARGUMENT
      if (value === 60) return 7; // PERMISSION_DENIED
      if ([64, 69, 70].includes(value)) return 8; // RESOURCE_EXHAUSTED
      if ([65, 66].includes(value)) return 14; // UNAVAILABLE
      return 9; // FAILED_PRECONDITION: 32-49, 51-59, 61-63, 67, 68, 71, 72
    };
    for (const [name, value] of numbers) {
      if (value !== 0) {
        assert.equal(codeOfReason(name as Reason), expected(value), name);
      }
    }
  });
});
