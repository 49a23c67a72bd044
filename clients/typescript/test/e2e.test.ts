/**
 * End to end against a real `settled serve --dev` (the binary of
 * `SETTLED_BIN`): minting, paying (unary and on a stream), typed refusals,
 * receipts verified offline and tampered ones refused, pins, a bank's
 * verified stream resumed from any cursor, and statements.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import {
  type Confirmation,
  cursorFromJson,
  cursorToJson,
  Declined,
  type FollowCursor,
  type FollowEvent,
  type Movement,
  InsufficientFundsError,
  InvalidRequest,
  ledgerDay,
  NotFound,
  PermissionDenied,
  ProtocolVersionError,
  readKeyFile,
  receiptFromJson,
  receiptToJson,
  sha256,
  SettledClient,
  SettledError,
  signTransaction,
  SigningKey,
  type StreamOutcome,
  toHex,
  type Transaction,
  TransactionKind,
  txid,
  Unauthenticated,
  Unavailable,
  type UnspentOutput,
  VerificationError,
  verifyReceipt,
  writeKeyFile,
} from '@settled/client';

import { type Message, startProxy } from './helpers/proxy.js';
import { type DevServer, startServer } from './helpers/server.js';
import { SETTLED_BIN } from './helpers/paths.js';

let server: DevServer;
let client: SettledClient;
let references = 0;

before(async () => {
  server = await startServer();
  client = await SettledClient.connect(server.target, { token: server.token });
});

after(async () => {
  client?.close();
  await server?.stop();
});

/** Mints `amounts` (decimal text) to `key`, one output each, with the dev issuers 1 and 2. */
async function fund(key: SigningKey | Uint8Array, amounts: readonly string[]): Promise<Confirmation> {
  const address = key instanceof SigningKey ? key.publicKey : key;
  references += 1;
  return client.mint(
    amounts.map((amount) => ({ address, amount })),
    server.issuers.slice(0, 2),
    `ts-e2e:${references}`,
  );
}

/** The outputs of a confirmed transaction paying `key`, as spendable inputs. */
function outputsOf(confirmation: Confirmation, key: SigningKey): UnspentOutput[] {
  return confirmation.transaction.outputs
    .map((output, index) => ({ outpoint: { txid: confirmation.txid, index }, output }))
    .filter(({ output }) => toHex(output.address) === key.address);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) {
    all.push(item);
  }
  return all;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

describe('connecting', () => {
  it('establishes the ledger: protocol version 2, block 0, the chain id', async () => {
    const info = await client.info();
    assert.equal(info.protocolVersion, 2);
    assert.equal(info.currency, 'CNY');
    assert.equal(client.currencyExponent, info.currencyExponent);
    assert.deepEqual(info.chainId, client.chainId);
    assert.deepEqual(info.engineKey, client.engineKey);
    assert.equal(info.issuerThreshold, 2);
    assert.deepEqual(
      info.issuerKeys.map(toHex),
      server.issuers.map((key) => key.address),
    );
    const pinned = await SettledClient.connect(server.target, {
      token: `${server.token}\n`,
      pinEngineKey: toHex(client.engineKey),
      pinChainId: client.chainId,
    });
    assert.deepEqual((await pinned.info()).chainId, client.chainId);
    pinned.close();
  });

  it('refuses a server presenting another chain id than the pinned one', async () => {
    const error = await rejection(
      SettledClient.connect(server.target, { token: server.token, pinChainId: sha256(client.chainId) }),
    );
    assert.ok(error instanceof VerificationError);
    assert.match(error.message, /chain id .* is not the pinned chain id/);
  });

  it('refuses a server presenting another engine key than the pinned one', async () => {
    const error = await rejection(
      SettledClient.connect(server.target, { token: server.token, pinEngineKey: SigningKey.generate().publicKey }),
    );
    assert.ok(error instanceof VerificationError);
    assert.match(error.message, /engine key .* is not the pinned key/);
  });

  it('refuses a server speaking another protocol version', async () => {
    const proxy = await startProxy(server.target, {
      'LedgerService/GetInfo': (info) => ({ ...info, protocolVersion: 3 }),
    });
    try {
      const error = await rejection(SettledClient.connect(proxy.target, { token: server.token }));
      assert.ok(error instanceof ProtocolVersionError);
      assert.equal(error.serverVersion, 3);
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a server whose genesis facts do not hash to its genesis hash', async () => {
    const proxy = await startProxy(server.target, {
      'LedgerService/GetInfo': (info) => ({ ...info, issuerThreshold: 1 }),
    });
    try {
      assert.ok(
        (await rejection(SettledClient.connect(proxy.target, { token: server.token }))) instanceof VerificationError,
      );
    } finally {
      await proxy.stop();
    }
  });

  it('is Unavailable when nothing serves', async () => {
    const error = await rejection(SettledClient.connect('127.0.0.1:1', { token: server.token }));
    assert.ok(error instanceof Unavailable);
    assert.equal(error.code, 14);
  });

  it('is Unauthenticated with an unknown token', async () => {
    const error = await rejection(SettledClient.connect(server.target, { token: 'not-a-token' }));
    assert.ok(error instanceof Unauthenticated);
  });
});

describe('keys', () => {
  it('reads the key files of settled keygen and of the development issuers, and writes its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'settled-ts-keys-'));
    try {
      const { stdout } = await promisify(execFile)(SETTLED_BIN, ['keygen', '--out', join(dir, 'k.key')]);
      assert.equal((await readKeyFile(join(dir, 'k.key'))).address, stdout.trim());
      const mine = SigningKey.generate();
      await writeKeyFile(join(dir, 'mine.key'), mine);
      assert.equal((await readKeyFile(join(dir, 'mine.key'))).address, mine.address);
      await assert.rejects(writeKeyFile(join(dir, 'mine.key'), SigningKey.generate()), /EEXIST/);
      assert.equal(server.issuers.length, 3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('minting and paying', () => {
  const alice = SigningKey.generate();
  const bob = SigningKey.generate();
  let minted: Confirmation;

  it('mints with the development issuer keys, 2 of 3; the same mint again is a duplicate', async () => {
    minted = await fund(alice, ['100.00', '50.00']);
    assert.equal(minted.duplicate, false);
    verifyReceipt(minted.receipt, client.engineKey, client.chainId);
    const balance = await client.balance(alice.publicKey);
    assert.equal(balance.totalMinor, 15000n);
    assert.equal(balance.unspentCount, 2n);
    const again = await client.mint(
      minted.transaction.outputs.map((output) => ({ address: output.address, amount: output.amountMinor })),
      server.issuers.slice(1, 3),
      minted.transaction.reference,
    );
    assert.equal(again.duplicate, true);
    assert.deepEqual(again.txid, minted.txid);
    assert.equal(again.receipt.sequence, minted.receipt.sequence);
  });

  it('declines a mint below the issuer threshold', async () => {
    const error = await rejection(
      client.mint([{ address: alice.publicKey, amount: 1n }], server.issuers.slice(0, 1), 'ts-e2e:one-issuer'),
    );
    assert.ok(error instanceof Declined);
    assert.equal(error.reason, 'REASON_MINT_THRESHOLD');
  });

  it('pays on a unary call, with change; the receipt verifies offline', async () => {
    const paid = await client.pay({ from: alice, to: bob.publicKey, amount: '12.34', reference: 'inv-000123' });
    assert.equal(paid.duplicate, false);
    assert.equal((await client.balance(bob.publicKey)).totalMinor, 1234n);
    assert.equal((await client.balance(alice.publicKey)).totalMinor, 15000n - 1234n);
    const [payment, change] = paid.transaction.outputs;
    assert.equal(payment?.amountMinor, 1234n);
    assert.equal(toHex(change?.address ?? new Uint8Array()), alice.address);
    verifyReceipt(receiptFromJson(receiptToJson(paid.receipt, client.chainId)), client.engineKey, client.chainId);
    const record = await client.payment(paid.txid);
    assert.equal(record.status, 'confirmed');
    assert.ok(record.status === 'confirmed');
    assert.deepEqual(record.transaction.outputs, paid.transaction.outputs);
    assert.deepEqual(record.receipt, paid.receipt);
    assert.equal((await client.payment(sha256(paid.txid))).status, 'unknown');
    const resubmitted = await client.submit(paid.transaction);
    assert.equal(resubmitted.duplicate, true);
  });

  it('pays many on a stream, each answer matched to its payment', async () => {
    const carol = SigningKey.generate();
    const funded = await fund(carol, ['1.00', '2.00', '3.00', '4.00', '5.00', '6.00']);
    const payments = await Promise.all(
      outputsOf(funded, carol).map((input) =>
        client.buildPayment({ from: carol, to: bob.publicKey, amount: '0.50', inputs: [input], reference: 'stream' }),
      ),
    );
    const zero = signTransaction(
      {
        kind: TransactionKind.Transfer,
        inputs: [{ txid: funded.txid, index: 0 }],
        outputs: [{ address: bob.publicKey, amountMinor: 0n, programmeId: 0 }],
      },
      client.chainId,
      [carol],
    );
    async function* sent(): AsyncGenerator<Transaction> {
      yield* payments;
      yield zero;
    }
    const outcomes: StreamOutcome[] = await collect(client.submitStream(sent()));
    assert.equal(outcomes.length, 7);
    const byIndex = [...outcomes].sort((a, b) => a.index - b.index);
    byIndex.slice(0, 6).forEach((outcome, index) => {
      assert.equal(outcome.index, index);
      assert.equal(outcome.status, 'confirmed');
      assert.deepEqual(outcome.transaction, payments[index]);
      if (outcome.status === 'confirmed') {
        assert.deepEqual(outcome.receipt.txid, outcome.txid);
        verifyReceipt(outcome.receipt, client.engineKey, client.chainId);
      }
    });
    const refused = byIndex[6];
    assert.ok(refused?.status === 'refused');
    assert.ok(refused.error instanceof InvalidRequest);
    assert.equal(refused.error.reason, 'REASON_ZERO_AMOUNT');
    assert.equal((await client.balance(bob.publicKey)).totalMinor, 1234n + 6n * 50n);
  });

  it('keeps more payments in flight on a stream than the server takes at once (1024)', async () => {
    const frank = SigningKey.generate();
    const mints = await Promise.all(
      Array.from({ length: 69 }, () =>
        fund(
          frank,
          Array.from({ length: 16 }, () => '0.10'),
        ),
      ),
    );
    const inputs = mints.flatMap((minted) => outputsOf(minted, frank));
    const payments = await Promise.all(
      inputs.map((input) => client.buildPayment({ from: frank, to: bob.publicKey, amount: '0.01', inputs: [input] })),
    );
    const outcomes = await collect(client.submitStream(payments));
    assert.equal(outcomes.length, 1104);
    assert.deepEqual(
      outcomes.map((outcome) => outcome.index).sort((a, b) => a - b),
      payments.map((_, index) => index),
    );
    for (const outcome of outcomes) {
      assert.equal(outcome.status, 'confirmed');
      assert.deepEqual(outcome.txid, txid(payments[outcome.index] ?? outcome.transaction));
    }
    assert.equal((await client.balance(frank.publicKey)).totalMinor, 1104n * 9n);
  });

  it('declines a double spend with REASON_INPUT_SPENT, naming the input and the spender', async () => {
    const dave = SigningKey.generate();
    const [input] = outputsOf(await fund(dave, ['10.00']), dave);
    assert.ok(input !== undefined);
    const first = await client.pay({ from: dave, to: bob.publicKey, amount: '1.00', inputs: [input] });
    const second = await client.buildPayment({ from: dave, to: alice.publicKey, amount: '2.00', inputs: [input] });
    const error = await rejection(client.submit(second));
    assert.ok(error instanceof Declined);
    assert.ok(error instanceof SettledError);
    assert.equal(error.code, 9);
    assert.equal(error.reason, 'REASON_INPUT_SPENT');
    assert.deepEqual(error.spentBy, first.txid);
    assert.deepEqual(error.input, input.outpoint);
    assert.match(error.message, /^REASON_INPUT_SPENT: /);
    const streamed = await collect(client.submitStream([second]));
    assert.ok(streamed[0]?.status === 'refused');
    assert.ok(streamed[0].error instanceof Declined);
    assert.deepEqual(streamed[0].error.spentBy, first.txid);
    assert.deepEqual(streamed[0].error.input, input.outpoint);
  });

  it('refuses a bad signature as InvalidRequest with REASON_BAD_SIGNATURE and the field at fault', async () => {
    const [input] = outputsOf(minted, alice).slice(-1);
    assert.ok(input !== undefined);
    const forOtherLedger = signTransaction(
      {
        kind: TransactionKind.Transfer,
        inputs: [input.outpoint],
        outputs: [{ address: bob.publicKey, amountMinor: input.output.amountMinor, programmeId: 0 }],
      },
      sha256(client.chainId),
      [alice],
    );
    const error = await rejection(client.submit(forOtherLedger));
    assert.ok(error instanceof InvalidRequest);
    assert.equal(error.reason, 'REASON_BAD_SIGNATURE');
    assert.deepEqual(
      error.fieldViolations.map((violation) => violation.field),
      ['transaction.witnesses'],
    );
    assert.equal(error.retryAfterMs, undefined);
  });

  it('refuses a zero amount as InvalidRequest with REASON_ZERO_AMOUNT and the field at fault', async () => {
    const [input] = outputsOf(minted, alice);
    assert.ok(input !== undefined);
    const zero = signTransaction(
      {
        kind: TransactionKind.Transfer,
        inputs: [input.outpoint],
        outputs: [{ address: bob.publicKey, amountMinor: 0n, programmeId: 0 }],
      },
      client.chainId,
      [alice],
    );
    const error = await rejection(client.submit(zero));
    assert.ok(error instanceof InvalidRequest);
    assert.equal(error.reason, 'REASON_ZERO_AMOUNT');
    assert.deepEqual(
      error.fieldViolations.map((violation) => violation.field),
      ['transaction.outputs'],
    );
    assert.ok((error.fieldViolations[0]?.description.length ?? 0) > 0);
  });

  it('builds no payment it cannot make', async () => {
    await assert.rejects(
      client.buildPayment({ from: bob, to: alice.publicKey, amount: '1000.00' }),
      InsufficientFundsError,
    );
    await assert.rejects(client.buildPayment({ from: bob, to: alice.publicKey, amount: 0n }), RangeError);
    await assert.rejects(client.buildPayment({ from: bob, to: new Uint8Array(32).fill(0xff), amount: 1n }), TypeError);
    await assert.rejects(client.buildPayment({ from: bob, to: alice.publicKey, amount: '1.001' }), /too_precise/);
  });

  it('answers NotFound for a block that does not exist', async () => {
    const error = await rejection(
      client.unary((md, callback) => client.services.ledger.GetBlock({ height: '1000000000' }, md, callback)),
    );
    assert.ok(error instanceof NotFound);
  });
});

describe('tampered receipts', () => {
  const erin = SigningKey.generate();
  let paid: Confirmation;

  before(async () => {
    const funded = await fund(erin, ['5.00', '5.00', '5.00']);
    const payments = await Promise.all(
      outputsOf(funded, erin).map((input) =>
        client.buildPayment({ from: erin, to: erin.publicKey, amount: '1.00', inputs: [input] }),
      ),
    );
    const outcomes = await collect(client.submitStream(payments));
    const confirmed = outcomes.flatMap((outcome) =>
      outcome.status === 'confirmed'
        ? [
            {
              txid: outcome.txid,
              transaction: outcome.transaction,
              receipt: outcome.receipt,
              duplicate: outcome.duplicate,
            },
          ]
        : [],
    );
    const longest = confirmed.sort((a, b) => b.receipt.merklePath.length - a.receipt.merklePath.length)[0];
    assert.ok(longest !== undefined);
    paid = longest;
  });

  it('refuses a receipt with a changed header byte, signature, Merkle path or txid', () => {
    const { receipt } = paid;
    verifyReceipt(receipt, client.engineKey, client.chainId);
    const flip = (bytes: Uint8Array, index: number) => bytes.map((byte, i) => (i === index ? byte ^ 0x80 : byte));
    const sibling = receipt.merklePath[0]?.sibling ?? sha256(receipt.txid);
    const tampered = [
      { ...receipt, block: { ...receipt.block, previousHash: flip(receipt.block.previousHash, 3) } },
      { ...receipt, block: { ...receipt.block, burnedTotalMinor: receipt.block.burnedTotalMinor + 1n } },
      { ...receipt, block: { ...receipt.block, engineSignature: flip(receipt.block.engineSignature, 63) } },
      {
        ...receipt,
        merklePath: [
          { sibling: flip(sibling, 0), siblingOnLeft: receipt.merklePath[0]?.siblingOnLeft ?? false },
          ...receipt.merklePath.slice(1),
        ],
      },
      { ...receipt, merklePath: [...receipt.merklePath, { sibling, siblingOnLeft: true }] },
      { ...receipt, txid: flip(receipt.txid, 0) },
    ];
    for (const forged of tampered) {
      assert.throws(() => verifyReceipt(forged, client.engineKey, client.chainId), VerificationError);
    }
  });

  it('refuses a tampered receipt on the wire, and one for another transaction', async () => {
    const tamperReceipt = (answer: Message): Message => {
      const receipt = answer['receipt'] as Message;
      const block = receipt['block'] as Message;
      return {
        ...answer,
        receipt: {
          ...receipt,
          block: { ...block, timeUnixMs: (BigInt(block['timeUnixMs'] as string) + 1n).toString() },
        },
      };
    };
    const proxy = await startProxy(server.target, {
      'PaymentService/SubmitPayment': tamperReceipt,
      'PaymentService/GetPayment': tamperReceipt,
      'AdminService/Mint': (answer) => ({
        ...answer,
        receipt: { ...(answer['receipt'] as Message), txid: Buffer.alloc(32) },
      }),
    });
    const viaProxy = await SettledClient.connect(proxy.target, { token: server.token });
    try {
      assert.ok((await rejection(viaProxy.submit(paid.transaction))) instanceof VerificationError);
      assert.ok((await rejection(viaProxy.payment(paid.txid))) instanceof VerificationError);
      const error = await rejection(
        viaProxy.mint([{ address: erin.publicKey, amount: 1n }], server.issuers, 'ts-e2e:proxy'),
      );
      assert.ok(error instanceof VerificationError);
      assert.match(error.message, /the receipt is for 0{64}/);
    } finally {
      viaProxy.close();
      await proxy.stop();
    }
  });
});

describe('bank reconciliation', () => {
  const bank = 'bank-ts';
  const bankToken = toHex(sha256(new TextEncoder().encode(`bank token ${Date.now()}`)));
  const wallet = SigningKey.generate();
  const outsider = SigningKey.generate();
  let bankClient: SettledClient;
  let tip: bigint;
  let events: FollowEvent[];
  /** The bank's customers' transactions, in ledger (sequence) order once sorted. */
  const confirmed: Confirmation[] = [];
  let txids: string[];
  const liveMovements: Movement[] = [];

  before(async () => {
    await client.unary((md, callback) =>
      client.services.admin.RegisterBank(
        {
          bank: {
            id: bank,
            name: 'Bank of TypeScript',
            credentialSha256: [sha256(new TextEncoder().encode(bankToken))],
          },
        },
        md,
        callback,
      ),
    );
    await client.unary((md, callback) =>
      client.services.admin.RegisterWallet(
        { wallet: { address: wallet.publicKey, bankId: bank, tier: 3 } },
        md,
        callback,
      ),
    );
    bankClient = await SettledClient.connect(server.target, {
      token: bankToken,
      pinEngineKey: client.engineKey,
      pinChainId: client.chainId,
    });
    const funded = await fund(
      wallet,
      Array.from({ length: 16 }, () => '5.00'),
    );
    confirmed.push(funded);
    const payments = await Promise.all(
      outputsOf(funded, wallet).map((input, index) =>
        client.buildPayment({
          from: wallet,
          to: outsider.publicKey,
          amount: `1.${String(index).padStart(2, '0')}`,
          inputs: [input],
        }),
      ),
    );
    for (const outcome of await collect(client.submitStream(payments))) {
      assert.ok(outcome.status === 'confirmed');
      confirmed.push({ ...outcome, receipt: outcome.receipt });
    }
    const [back] = outputsOf(await fund(outsider, ['3.00']), outsider);
    assert.ok(back !== undefined);
    confirmed.push(await client.pay({ from: outsider, to: wallet.publicKey, amount: '3.00', inputs: [back] }));
    txids = confirmed
      .sort((a, b) => (a.receipt.sequence < b.receipt.sequence ? -1 : 1))
      .map((confirmation) => toHex(confirmation.txid));
    tip = (await client.info()).tip.height;
  });

  after(() => bankClient?.close());

  it('follows the bank up to the tip: every movement, every checkpoint verified', async () => {
    events = await collect(bankClient.follow(bank, undefined, { untilHeight: tip }));
    const movements = events.flatMap((event) => (event.type === 'movement' ? [event.movement] : []));
    const checkpoints = events.flatMap((event) => (event.type === 'checkpoint' ? [event.checkpoint] : []));
    assert.deepEqual(
      movements.map((movement) => toHex(movement.txid)),
      txids,
    );
    assert.deepEqual(
      movements.map((movement) => movement.kind),
      ['mint', ...Array(16).fill('payment'), 'payment'],
    );
    assert.equal(movements[0]?.entries[0]?.direction, 'credit');
    assert.equal(movements[0]?.entries[0]?.amountMinor, 8000n);
    assert.equal(movements[1]?.entries[0]?.direction, 'debit');
    assert.deepEqual(movements[1]?.entries[0]?.counterparty, outsider.publicKey);
    assert.deepEqual(
      checkpoints.map((checkpoint) => checkpoint.block.height),
      Array.from({ length: Number(tip) + 1 }, (_, h) => BigInt(h)),
    );
    const last = events.at(-1);
    assert.ok(last?.type === 'checkpoint');
    assert.equal(last.cursor.afterHeight, tip);
    assert.deepEqual(last.cursor.totals, last.checkpoint.totals);
    assert.equal(last.checkpoint.totals.movements, 18n);
    assert.equal(last.checkpoint.totals.creditsMinor, 8000n + 300n);
    assert.equal(last.checkpoint.totals.debitsMinor, 16n * 100n + 120n);
  });

  it('resumes from any cursor with no gap and no duplicate', async () => {
    const describe = (event: FollowEvent) =>
      event.type === 'movement' ? `movement ${event.movement.sequence}` : `checkpoint ${event.checkpoint.block.height}`;
    const positions = [
      0,
      1,
      events.findIndex((event) => event.type === 'movement') + 1,
      Math.floor(events.length / 2),
      events.length - 2,
    ];
    for (const position of positions) {
      const saved = events[position]?.cursor;
      assert.ok(saved !== undefined);
      const cursor: FollowCursor = cursorFromJson(cursorToJson(saved));
      assert.deepEqual(cursor, saved);
      const rest = await collect(bankClient.follow(bank, cursor, { untilHeight: tip }));
      assert.deepEqual(rest.map(describe), events.slice(position + 1).map(describe), `resumed after item ${position}`);
    }
    assert.deepEqual(await collect(bankClient.follow(bank, events.at(-1)?.cursor, { untilHeight: tip })), []);
  });

  it('follows live past the tip, as the calling bank', async () => {
    const start = events.at(-1)?.cursor;
    assert.ok(start !== undefined);
    const follower = bankClient.follow(bank, start);
    const seen: FollowEvent[] = [];
    const [input] = outputsOf(await fund(outsider, ['2.00']), outsider);
    assert.ok(input !== undefined);
    const paid = await client.pay({ from: outsider, to: wallet.publicKey, amount: '2.00', inputs: [input] });
    for await (const event of follower) {
      seen.push(event);
      if (event.type === 'checkpoint' && event.checkpoint.block.height === paid.receipt.block.height) {
        break;
      }
    }
    liveMovements.push(...seen.flatMap((event) => (event.type === 'movement' ? [event.movement] : [])));
    assert.deepEqual(
      liveMovements.map((movement) => toHex(movement.txid)),
      [toHex(paid.txid)],
    );
    assert.equal(follower.cursor.afterHeight, paid.receipt.block.height);
    assert.equal(follower.cursor.totals.movements, 19n);
  });

  it('refuses a tampered checkpoint: totals, header or signature', async () => {
    const tamperings: [string, (checkpoint: Message) => Message][] = [
      [
        'totals',
        (checkpoint) => {
          const totals = checkpoint['totals'] as Message;
          return {
            ...checkpoint,
            totals: { ...totals, creditsMinor: (BigInt(totals['creditsMinor'] as string) + 1n).toString() },
          };
        },
      ],
      [
        'header',
        (checkpoint) => {
          const block = checkpoint['block'] as Message;
          return {
            ...checkpoint,
            block: { ...block, mintedTotalMinor: (BigInt(block['mintedTotalMinor'] as string) + 1n).toString() },
          };
        },
      ],
      [
        'signature',
        (checkpoint) => {
          const block = checkpoint['block'] as Message;
          const signature = Buffer.from(block['engineSignature'] as Buffer);
          signature[0] = (signature[0] ?? 0) ^ 1;
          return { ...checkpoint, block: { ...block, engineSignature: signature } };
        },
      ],
    ];
    for (const [what, tamper] of tamperings) {
      let checkpoints = 0;
      const proxy = await startProxy(server.target, {
        'ReconciliationService/Subscribe': (item) => {
          if (item['item'] !== 'checkpoint') {
            return item;
          }
          checkpoints += 1;
          return checkpoints === 3 ? { ...item, checkpoint: tamper(item['checkpoint'] as Message) } : item;
        },
      });
      const viaProxy = await SettledClient.connect(proxy.target, { token: bankToken, pinChainId: client.chainId });
      try {
        const seen: FollowEvent[] = [];
        const error = await rejection(
          (async () => {
            for await (const event of viaProxy.follow(bank, undefined, { untilHeight: tip })) {
              seen.push(event);
            }
          })(),
        );
        assert.ok(error instanceof VerificationError, `a tampered checkpoint ${what} is refused: ${String(error)}`);
        assert.equal(seen.filter((event) => event.type === 'checkpoint').length, 2);
      } finally {
        viaProxy.close();
        await proxy.stop();
      }
    }
  });

  it('is PermissionDenied where a bank role does not reach', async () => {
    assert.ok(
      (await rejection(
        bankClient.mint([{ address: wallet.publicKey, amount: 1n }], server.issuers, 'ts-e2e:bank'),
      )) instanceof PermissionDenied,
    );
    assert.ok(
      (await rejection(collect(bankClient.follow('another-bank', undefined, { untilHeight: 0n })))) instanceof
        PermissionDenied,
    );
  });

  it('downloads the day statement as camt.053, camt.052 and CSV', async () => {
    const info = await client.info();
    const date = ledgerDay(info.tip.timeUnixMs, info.dayOffsetMinutes);
    // The movements of the ledger day of the tip (all of them, unless the test crossed midnight there).
    const today = [
      ...events.flatMap((event) => (event.type === 'movement' ? [event.movement] : [])),
      ...liveMovements,
    ].filter((movement) => ledgerDay(movement.timeUnixMs, info.dayOffsetMinutes) === date);
    const entries = today.flatMap((movement) => movement.entries).length;
    const camt053 = await bankClient.statement('', date, 'camt053');
    assert.match(camt053, /^<\?xml/);
    assert.match(camt053, /urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.08/);
    assert.match(camt053, /<\/Document>\s*$/);
    assert.equal(camt053.match(/<Ntry>/g)?.length, entries);
    for (const movement of today) {
      assert.ok(camt053.includes(`txid ${toHex(movement.txid)}`), `the statement holds ${toHex(movement.txid)}`);
    }
    assert.ok(Buffer.byteLength(camt053) > 32 * 1024, 'the statement came in several chunks');
    const camt052 = await bankClient.statement(bank, date, 'camt052');
    assert.match(camt052, /camt\.052\.001\.08/);
    assert.equal(camt052.match(/<Ntry>/g)?.length, entries);
    const csv = await bankClient.statement(bank, date, 'csv');
    const lines = csv.trimEnd().split('\n');
    const header = lines.findIndex((line) => line.startsWith('booking_date,sequence,'));
    assert.ok(header > 0);
    assert.equal(lines.length - header - 1, entries);
    assert.ok(lines.some((line) => line.startsWith(`# bank,${bank}`)));
    const error = await rejection(bankClient.statement(bank, 'yesterday', 'csv'));
    assert.ok(error instanceof InvalidRequest);
    assert.equal(error.fieldViolations[0]?.field, 'date');
  });
});
