/**
 * The ledger the browser tests look at, set up through the TypeScript SDK
 * as the development token: two banks with their own tokens, wallets and
 * merchants at each, a programme paid to two beneficiaries and spent at
 * two merchant categories, and unrestricted money moving between the two
 * banks' customers in the background (the tip moves, the net positions
 * change) while the tests run. The API's own answers, to compare the
 * pages with, come from here too.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { type Confirmation, sha256, SettledClient, SigningKey } from '@settled/client';

import { SETTLED_BIN } from './paths.js';
import type { ConsoleServer } from './server.js';

export const BANK_A = 'bank-a';
export const BANK_B = 'bank-b';
export const GROCER = 'grocer';
export const CAFE = 'cafe';
export const PROGRAMME = 1;
/** A programme paid per person, once a month. */
export const MONTHLY_PROGRAMME = 2;
/** The ledger day's offset from UTC (the development server's default, UTC+8). */
const DAY_OFFSET_MS = 8 * 3_600_000;
export const GROCERY_MCC = 5411;
export const CAFE_MCC = 5812;

/** The pause between two background payments: a few a second, enough to move the tip. */
const BACKGROUND_PAUSE_MS = 150;

export interface Ledger {
  readonly client: SettledClient;
  readonly bankTokens: { readonly [BANK_A]: string; readonly [BANK_B]: string };
  readonly alice: SigningKey;
  readonly carol: SigningKey;
  readonly grocerPayout: SigningKey;
  readonly cafePayout: SigningKey;
  /** Alice's programme payment at the grocer. */
  readonly groceryPayment: Confirmation;
  /** Stops the background payments (and waits for the one in flight). */
  stopBackground(): Promise<void>;
  /** Starts them again (after a restart of the server). */
  startBackground(): void;
  /** How many background payments were confirmed. */
  backgroundPayments(): number;
}

function hashOf(token: string): Uint8Array {
  return sha256(new TextEncoder().encode(token));
}

export async function setUpLedger(server: ConsoleServer): Promise<Ledger> {
  const client = await SettledClient.connect(server.target, { token: await server.devToken() });
  const issuers = (await server.issuers()).slice(0, 2);
  const admin = client.services.admin;
  const bankTokens = { [BANK_A]: randomBytes(32).toString('hex'), [BANK_B]: randomBytes(32).toString('hex') };
  for (const [id, name] of [
    [BANK_A, 'Bank A'],
    [BANK_B, 'Bank B'],
  ] as const) {
    await client.unary((md, callback) =>
      admin.RegisterBank({ bank: { id, name, credentialSha256: [hashOf(bankTokens[id])] } }, md, callback),
    );
  }
  const alice = SigningKey.generate();
  const carol = SigningKey.generate();
  const bob = SigningKey.generate();
  for (const [key, bank] of [
    [alice, BANK_A],
    [carol, BANK_A],
    [bob, BANK_B],
  ] as const) {
    await client.unary((md, callback) => admin.RegisterWallet({ wallet: { address: key.publicKey, bankId: bank, tier: 3 } }, md, callback));
  }
  const grocerPayout = SigningKey.generate();
  const cafePayout = SigningKey.generate();
  for (const [id, mcc, bank, payout] of [
    [GROCER, GROCERY_MCC, BANK_B, grocerPayout],
    [CAFE, CAFE_MCC, BANK_A, cafePayout],
  ] as const) {
    await client.unary((md, callback) =>
      admin.RegisterMerchant({ merchant: { id, name: id, mcc, bankId: bank, payoutAddresses: [payout.publicKey] } }, md, callback),
    );
  }
  const now = Date.now();
  await client.unary((md, callback) =>
    admin.CreateProgramme(
      {
        programme: {
          id: PROGRAMME,
          name: 'Food support',
          allowedMccs: [GROCERY_MCC, CAFE_MCC],
          validFromUnixMs: String(now - 60_000),
          validUntilUnixMs: String(now + 365 * 24 * 3_600_000),
          treasuryAddress: SigningKey.generate().publicKey,
        },
      },
      md,
      callback,
    ),
  );
  await client.mint(
    [
      { address: alice.publicKey, amount: '500.00', programmeId: PROGRAMME },
      { address: carol.publicKey, amount: '300.00', programmeId: PROGRAMME },
    ],
    issuers,
    'console-test:disbursement-1',
  );
  await client.mint(
    [
      { address: alice.publicKey, amount: '1000.00' },
      { address: bob.publicKey, amount: '1000.00' },
    ],
    issuers,
    'console-test:unrestricted-1',
  );
  await setUpMonthlyProgramme(server, [alice, carol]);
  const groceryPayment = await client.pay({ from: alice, to: grocerPayout.publicKey, amount: '12.50', programmeId: PROGRAMME, reference: 'till-1/0001' });
  await client.pay({ from: carol, to: cafePayout.publicKey, amount: '7.25', programmeId: PROGRAMME });

  // Unrestricted money back and forth between bank A's Alice and bank B's
  // Bob: bank flows, and a tip that moves. Failures (the server stopped
  // on purpose) are waited out.
  let running: Promise<void> | null = null;
  let stopping = false;
  let confirmed = 0;
  const loop = async (): Promise<void> => {
    let turn = 0;
    while (!stopping) {
      const [from, to] = turn % 2 === 0 ? [alice, bob] : [bob, alice];
      try {
        await client.pay({ from, to: to.publicKey, amount: `0.${String((turn % 89) + 10)}` });
        confirmed += 1;
        turn += 1;
      } catch {
        // The server may be away; try again after the pause.
      }
      await new Promise((resolve) => setTimeout(resolve, BACKGROUND_PAUSE_MS));
    }
  };
  const startBackground = (): void => {
    stopping = false;
    running ??= loop().finally(() => {
      running = null;
    });
  };
  startBackground();
  return {
    client,
    bankTokens,
    alice,
    carol,
    grocerPayout,
    cafePayout,
    groceryPayment,
    startBackground,
    stopBackground: async () => {
      stopping = true;
      await running;
    },
    backgroundPayments: () => confirmed,
  };
}

/**
 * Programme 2, paid per person once a month, through the CLI as an
 * authority runs it (README "Paying people, not addresses"): two people
 * paid this month, then a second claim for one of them, refused as a
 * duplicate.
 */
async function setUpMonthlyProgramme(server: ConsoleServer, wallets: readonly SigningKey[]): Promise<void> {
  const token = await server.devToken();
  /** A command of the CLI; `input` on its stdin. */
  const settled = (args: readonly string[], input = ''): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = execFile(SETTLED_BIN, [...args], (error, stdout) => (error ? reject(error) : resolve(stdout.trim())));
      child.stdin?.end(input);
    });
  /** A command of the CLI that calls the server. */
  const call = (args: readonly string[]): Promise<string> => settled([...args, '--server', `http://${server.target}`, '--token', token]);
  const dir = server.dataDir;
  const issuers = ['--issuer-key-file', join(dir, 'issuer-1.key'), '--issuer-key-file', join(dir, 'issuer-2.key')];
  await settled(['keygen', '--out', join(dir, 'person.key')]);
  const treasury = await settled(['keygen', '--out', join(dir, 'treasury-2.key')]);
  await call([
    'programme', 'create', '--id', String(MONTHLY_PROGRAMME), '--name', 'Monthly food support',
    '--mcc', String(GROCERY_MCC), '--valid-until', 'now+31536000', '--treasury', treasury, '--monthly',
  ]);
  const people = (await settled(['person-ref', '--key-file', join(dir, 'person.key')], '110105194912310021\n110105195001010012\n')).split('\n');
  for (const [index, person] of people.entries()) {
    const wallet = wallets[index]?.address ?? '';
    await call(['beneficiary', 'register', '--person', person, '--wallet', wallet, '--designate', `${MONTHLY_PROGRAMME}=${wallet}`]);
  }
  const month = new Date(Date.now() + DAY_OFFSET_MS).toISOString().slice(0, 7).replace('-', '');
  const rows = join(dir, 'month.csv');
  await writeFile(rows, `person,amount,period\n${people.map((person) => `${person},400.00,${month}`).join('\n')}\n`);
  await call(['disburse', '--programme', String(MONTHLY_PROGRAMME), ...issuers, rows]);
  const again = join(dir, 'again.csv');
  await writeFile(again, `person,amount,period\n${people[0]},450.00,${month}\n`);
  await call(['disburse', '--programme', String(MONTHLY_PROGRAMME), ...issuers, again]).then(
    () => {
      throw new Error('a second claim of the month was paid');
    },
    () => undefined,
  );
}
