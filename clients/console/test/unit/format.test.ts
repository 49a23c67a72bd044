/**
 * How figures read: amounts with the currency exponent (exact at every
 * size, grouped, signed for net positions), counts, times, days, rates;
 * and the pure pieces of the pages (routes, pin comparison, the receipt
 * verdict).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  headerHash,
  merkleRoot,
  merklePath,
  signedMessage,
  SigningKey,
  signTransaction,
  TransactionKind,
  toHex,
  txid,
  U64_MAX,
} from '@settled/client/verify';

import type { LedgerInfo } from '../../src/api.js';
import { parseRoute } from '../../src/app.js';
import { ABSENT, amount, count, ledgerDay, milliseconds, money, period, rate, sharePercent, shortHex, utcTime } from '../../src/format.js';
import { receiptProblems } from '../../src/pages/payment.js';
import { isHex32, pinMismatches } from '../../src/session.js';
import { big, long } from '../../src/wire.js';

describe('amounts', () => {
  it('writes minor units with the exponent, never through floating point', () => {
    assert.equal(amount(0n, 2), '0.00');
    assert.equal(amount(5n, 2), '0.05');
    assert.equal(amount(123456789n, 2), '1,234,567.89');
    assert.equal(amount(100n, 0), '100');
    assert.equal(amount(1234n, 0), '1,234');
    assert.equal(amount(1n, 8), '0.00000001');
    assert.equal(amount(U64_MAX, 2), '184,467,440,737,095,516.15');
    assert.equal(amount(9007199254740993n, 2), '90,071,992,547,409.93');
  });

  it('writes a negative amount (a net position) with a minus sign', () => {
    assert.equal(amount(-123456n, 2), '-1,234.56');
    assert.equal(amount(-1n, 2), '-0.01');
  });

  it('names the currency after the amount', () => {
    assert.equal(money(150000n, 2, 'CNY'), '1,500.00 CNY');
  });

  it('refuses an exponent the ledger cannot have', () => {
    assert.throws(() => amount(1n, 9), RangeError);
  });
});

describe('other figures', () => {
  it('groups counts', () => {
    assert.equal(count(0n), '0');
    assert.equal(count(999), '999');
    assert.equal(count(1000), '1,000');
    assert.equal(count(12345678901234567890n), '12,345,678,901,234,567,890');
  });

  it('writes ledger times in UTC, and 0 as absent', () => {
    assert.equal(utcTime(1765098753000n), '2025-12-07 09:12:33 UTC');
    assert.equal(utcTime(0n), ABSENT);
  });

  it('writes days and periods', () => {
    assert.equal(ledgerDay(20261207), '2026-12-07');
    assert.equal(period(202612), '2026-12');
  });

  it('writes rates, latencies and shares', () => {
    assert.equal(rate(0), '0.0/s');
    assert.equal(rate(1234.56), '1,234.6/s');
    assert.equal(rate(Number.NaN), ABSENT);
    assert.equal(milliseconds(1.234), '1.23 ms');
    assert.equal(milliseconds(42.19), '42.2 ms');
    assert.equal(milliseconds(1234.4), '1,234 ms');
    assert.equal(sharePercent(123456), '12.34 %');
    assert.equal(sharePercent(1_000_000), '100.00 %');
    assert.equal(shortHex('0123456789abcdef0123456789abcdef'), '01234567…89abcdef');
  });

  it('turns protobufjs 64-bit values into exact bigints and back', () => {
    assert.equal(big({ toString: () => '18446744073709551615' }), U64_MAX);
    assert.equal(big(null), 0n);
    assert.equal(big(42), 42n);
    assert.equal(long(9007199254740991n), 9007199254740991);
    assert.throws(() => long(9007199254740992n), RangeError);
  });
});

describe('routes', () => {
  it('reads the page, its segments and its query from the address', () => {
    assert.deepEqual(parseRoute('#/programmes/7'), { page: 'programmes', path: ['7'], query: new URLSearchParams() });
    const alerts = parseRoute('#/alerts?programme=2&merchant=corner%20shop');
    assert.equal(alerts?.page, 'alerts');
    assert.equal(alerts?.query.get('merchant'), 'corner shop');
    assert.equal(parseRoute('#/payment/ab')?.path[0], 'ab');
    assert.equal(parseRoute('#/nowhere'), null);
    assert.equal(parseRoute(''), null);
  });
});

describe('pins', () => {
  const info = (engineKey: Uint8Array, chainId: Uint8Array): LedgerInfo => ({
    engineKey,
    chainId,
    genesisHash: new Uint8Array(32),
    currency: 'CNY',
    exponent: 2,
    protocolVersion: 2,
    tip: {
      height: 0n,
      previousHash: new Uint8Array(32),
      merkleRoot: new Uint8Array(32),
      firstSequence: 1n,
      txCount: 0,
      timeUnixMs: 0n,
      mintedTotalMinor: 0n,
      burnedTotalMinor: 0n,
      engineSignature: new Uint8Array(64),
    },
  });

  it('finds nothing when the server is the pinned ledger, and names each fact that differs', () => {
    const key = new Uint8Array(32).fill(1);
    const chain = new Uint8Array(32).fill(2);
    const pins = { engineKey: key, chainId: chain, how: 'first-use' as const, since: '2026-01-01T00:00:00Z' };
    assert.deepEqual(pinMismatches(pins, info(key, chain)), []);
    const problems = pinMismatches(pins, info(new Uint8Array(32).fill(9), chain));
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /engine key 0909.* is not the pinned 0101/);
    assert.equal(pinMismatches(pins, info(new Uint8Array(32), new Uint8Array(32))).length, 2);
  });

  it('takes 64 hex digits, either case, and nothing else', () => {
    assert.ok(isHex32('Ab'.repeat(32)));
    assert.ok(!isHex32('ab'.repeat(31)));
    assert.ok(!isHex32('zz'.repeat(32)));
  });
});

describe('the receipt verdict', () => {
  const engine = SigningKey.generate();
  const chainId = new Uint8Array(32).fill(7);
  const payer = SigningKey.generate();
  const tx = signTransaction(
    { kind: TransactionKind.Transfer, inputs: [{ txid: new Uint8Array(32).fill(3), index: 0 }], outputs: [{ address: SigningKey.generate().publicKey, amountMinor: 1250n, programmeId: 1 }] },
    chainId,
    [payer],
  );
  const other = txid({ ...tx, reference: Uint8Array.of(1) });
  const leaves = [other, txid(tx)];
  const header = {
    height: 5n,
    previousHash: new Uint8Array(32).fill(4),
    merkleRoot: merkleRoot(leaves),
    firstSequence: 10n,
    txCount: 2,
    timeUnixMs: 1_765_098_753_000n,
    mintedTotalMinor: 100_000n,
    burnedTotalMinor: 0n,
  };
  const signature = engine.sign(signedMessage('STLH', chainId, headerHash(header)));
  const receipt = { txid: txid(tx), sequence: 11n, block: { ...header, engineSignature: signature }, indexInBlock: 1, merklePath: merklePath(leaves, 1) };
  const wanted = toHex(txid(tx));

  it('accepts a receipt the engine signed for the pinned chain, of the transaction asked for', () => {
    assert.deepEqual(receiptProblems(wanted, receipt, tx, engine.publicKey, chainId), []);
  });

  it('refuses a receipt whose engine signature was tampered with', () => {
    const tampered = Uint8Array.from(signature);
    tampered[10] = (tampered[10] ?? 0) ^ 1;
    const problems = receiptProblems(wanted, { ...receipt, block: { ...receipt.block, engineSignature: tampered } }, tx, engine.publicKey, chainId);
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /not signed by engine key/);
  });

  it('refuses a receipt checked against another engine key or chain', () => {
    assert.equal(receiptProblems(wanted, receipt, tx, SigningKey.generate().publicKey, chainId).length, 1);
    assert.equal(receiptProblems(wanted, receipt, tx, engine.publicKey, new Uint8Array(32)).length, 1);
  });

  it('refuses a transaction that does not hash to the txid asked for', () => {
    const changed = { ...tx, outputs: [{ ...tx.outputs[0]!, amountMinor: 1251n }] };
    const problems = receiptProblems(wanted, receipt, changed, engine.publicKey, chainId);
    assert.match(problems[0] ?? '', /canonical encoding hashes to/);
  });
});

