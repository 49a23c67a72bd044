/**
 * The README's two examples work when copied into a fresh project: the
 * package is packed (`npm pack`), installed into a new project with
 * TypeScript, each example type-checked and compiled there, and run against
 * a development server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { SettledClient, sha256, SigningKey, toHex, writeKeyFile } from '@settled/client';

import { PACKAGE_ROOT } from './helpers/paths.js';
import { type DevServer, startServer } from './helpers/server.js';

const run = promisify(execFile);

/** The ```ts blocks of the README that are meant to run, in order. */
async function examples(): Promise<string[]> {
  const readme = await readFile(join(PACKAGE_ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? '');
}

describe('the README examples, in a fresh project', { timeout: 600_000 }, () => {
  let server: DevServer;
  let client: SettledClient;
  let project: string;
  const bank = 'readme-bank';
  const bankToken = toHex(sha256(new TextEncoder().encode(`readme ${Date.now()}`)));
  const payer = SigningKey.generate();
  const payee = SigningKey.generate();

  /** Runs a compiled example in the project with the server's address and `env`. */
  async function example(name: string, env: Record<string, string>): Promise<string> {
    const { stdout } = await run(process.execPath, [join(project, `${name}.js`)], {
      cwd: project,
      env: { ...process.env, SETTLED_SERVER: server.target, ...env },
    });
    return stdout;
  }

  before(async () => {
    const [pay, follow, ...others] = await examples();
    assert.ok(pay !== undefined && follow !== undefined && others.length === 0, 'two runnable examples');
    project = await mkdtemp(join(tmpdir(), 'settled-ts-readme-'));
    const npm = (args: string[]) =>
      run('npm', args, { cwd: project, env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' } });
    const { stdout } = await run('npm', ['pack', '--pack-destination', project], { cwd: PACKAGE_ROOT });
    const tarball = join(project, stdout.trim().split('\n').at(-1) ?? '');
    const ours = JSON.parse(await readFile(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'readme-examples', private: true, type: 'module' }),
    );
    await npm([
      'install',
      '--prefer-offline',
      tarball,
      `typescript@${ours.devDependencies['typescript']}`,
      `@types/node@${ours.devDependencies['@types/node']}`,
    ]);
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'es2022', module: 'nodenext', strict: true, types: ['node'], skipLibCheck: false },
        files: ['pay.ts', 'follow.ts'],
      }),
    );
    await writeFile(join(project, 'pay.ts'), pay);
    await writeFile(join(project, 'follow.ts'), follow);
    await npm(['exec', '--', 'tsc', '-p', 'tsconfig.json']);

    server = await startServer();
    client = await SettledClient.connect(server.target, { token: server.token });
    await client.unary((md, callback) =>
      client.services.admin.RegisterBank(
        { bank: { id: bank, name: 'README bank', credentialSha256: [sha256(new TextEncoder().encode(bankToken))] } },
        md,
        callback,
      ),
    );
    await client.unary((md, callback) =>
      client.services.admin.RegisterWallet(
        { wallet: { address: payer.publicKey, bankId: bank, tier: 1 } },
        md,
        callback,
      ),
    );
    const funding = await client.mint(
      [{ address: payer.publicKey, amount: '100.00' }],
      server.issuers.slice(0, 2),
      'readme:1',
    );
    assert.equal(funding.receipt.sequence, 1n);
    await writeKeyFile(join(project, 'wallet.key'), payer);
  });

  after(async () => {
    client?.close();
    await server?.stop();
    if (project !== undefined) {
      await rm(project, { recursive: true, force: true });
    }
  });

  it('pays and verifies a receipt', async () => {
    const stdout = await example('pay', {
      SETTLED_TOKEN: server.token,
      SETTLED_PAYEE: payee.address,
      SETTLED_ENGINE_KEY: toHex(client.engineKey),
      SETTLED_CHAIN_ID: toHex(client.chainId),
    });
    const paid = /^paid ([0-9a-f]{64}): sequence 2 in block \d+$/m.exec(stdout);
    assert.ok(paid?.[1] !== undefined, stdout);
    const record = await client.payment(paid[1]);
    assert.ok(record.status === 'confirmed');
    assert.equal(toHex(record.transaction.outputs[0]?.address ?? new Uint8Array()), payee.address);
    assert.equal((await client.balance(payee.publicKey)).totalMinor, 1234n);
  });

  it('follows a bank stream, and resumes from its saved cursor', async () => {
    const env = { SETTLED_BANK_TOKEN: bankToken, SETTLED_BANK: bank };
    const first = (await example('follow', env)).trim().split('\n');
    assert.deepEqual(first, [`1 mint credit 100.00 ${payer.address}`, `2 payment debit 12.34 ${payer.address}`]);
    const again = await client.pay({ from: payer, to: payee.publicKey, amount: '0.66' });
    assert.equal(again.receipt.sequence, 3n);
    const second = (await example('follow', env)).trim().split('\n');
    assert.deepEqual(second, [`3 payment debit 0.66 ${payer.address}`]);
    assert.equal((await example('follow', env)).trim(), '');
  });
});
