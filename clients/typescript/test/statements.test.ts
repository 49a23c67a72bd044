/**
 * Statements: verified as the engine's checker verifies them, and tampered
 * copies refused.
 *
 * Offline, on statements saved from a run of `settled serve --dev`
 * (`test/statements/`): a bank `bank.with-a:long_id-x...` (longer than the
 * account id's 34 characters, so fitted) named `Bank & Co <"Tests">, Ltd`
 * with two wallets; 100.00 and 5.00 minted to the first, which paid 12.34 to
 * the second and 0.05 to a stranger, and received 7.77 from one. Then end to
 * end: the same kind of day against a development server, downloaded with
 * `SettledClient.statement` in the three formats, and tampered on the way by
 * a man in the middle.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  type Confirmation,
  ledgerDay,
  sha256,
  SettledClient,
  SigningKey,
  toHex,
  VerificationError,
} from '@settled/client';
import {
  CAMT052_NAMESPACE,
  CAMT053_NAMESPACE,
  type CheckedStatement,
  fittedId,
  STATEMENT_CSV_HEADER,
  type StatementEntry,
  type StatementFormat,
  statementId,
  verifyStatement,
} from '@settled/client/verify';

import { PACKAGE_ROOT } from './helpers/paths.js';
import { type Message, startProxy } from './helpers/proxy.js';
import { type DevServer, startServer } from './helpers/server.js';

const SAVED_BANK = `bank.with-a:long_id-${'x'.repeat(30)}`;
const SAVED_DATE = '2026-12-07';

function saved(name: string): string {
  return readFileSync(join(PACKAGE_ROOT, 'test/statements', name), 'utf8');
}

/** The message of the VerificationError that verifying `document` throws. */
function reason(document: string | Uint8Array, format: StatementFormat = 'camt053', exponent = 2): string {
  try {
    verifyStatement(document, format, exponent);
  } catch (error) {
    assert.ok(error instanceof VerificationError, `a VerificationError, not ${String(error)}`);
    return error.message;
  }
  assert.fail('the statement was accepted');
}

/** `document` with the first `count` `from` after the first `after` replaced by `to`. */
function tampered(document: string, after: string, from: string, to: string, count = 1): string {
  const start = document.indexOf(after);
  assert.ok(start >= 0 && document.indexOf(from, start) >= 0, `${from} after ${after}`);
  let rest = document.slice(start);
  for (let n = 0; n < count; n++) {
    rest = rest.replace(from, to);
  }
  return document.slice(0, start) + rest;
}

function entryBlock(document: string, number: number): string {
  const blocks = document.match(/\s*<Ntry>[\s\S]*?<\/Ntry>/g) ?? [];
  const block = blocks[number - 1];
  assert.ok(block !== undefined, `entry ${number}`);
  return block;
}

function closingCode(document: string): string {
  return document.includes('<Cd>CLBD</Cd>') ? '<Cd>CLBD</Cd>' : '<Cd>ITBD</Cd>';
}

function flipFirstEntryToDebit(document: string): string {
  const entry = entryBlock(document, 1);
  return document.replace(entry, entry.replaceAll('<CdtDbtInd>CRDT</CdtDbtInd>', '<CdtDbtInd>DBIT</CdtDbtInd>'));
}

function dropFirstEntry(document: string): string {
  return document.replace(entryBlock(document, 1), '');
}

/** A billion laughs: expanded, `&lol9;` would be 10^9 times "lol". */
function bomb(document: string): string {
  let entities = '<!ENTITY lol "lol">';
  for (let n = 1; n < 10; n++) {
    entities += `<!ENTITY lol${n} "${(n > 1 ? `&lol${n - 1};` : '&lol;').repeat(10)}">`;
  }
  const declared = document.replace('?>\n', `?>\n<!DOCTYPE Document [${entities}]>\n`);
  return declared.replace('<Nm>Bank &amp; Co', '<Nm>&lol9; Bank &amp; Co');
}

const entriesOf = (checked: CheckedStatement) =>
  checked.entries.map((entry) => [entry.direction, entry.amountMinor] as const);

describe('statements saved from a run', () => {
  const files: Record<StatementFormat, string> = {
    camt053: 'day.camt053.xml',
    camt052: 'day.camt052.xml',
    csv: 'day.csv',
  };

  it('verify in each format, and say the same', () => {
    const checked = (Object.entries(files) as [StatementFormat, string][]).map(([format, name]) => {
      const statement = verifyStatement(readFileSync(join(PACKAGE_ROOT, 'test/statements', name)), format, 2);
      assert.equal(statement.bankId, SAVED_BANK);
      assert.equal(statement.date, SAVED_DATE);
      assert.equal(statement.currency, 'CNY');
      assert.deepEqual([statement.openingMinor, statement.closingMinor], [0n, 11272n]);
      assert.deepEqual([statement.creditEntries, statement.creditsMinor], [3n, 10500n + 1234n + 777n]);
      assert.deepEqual([statement.debitEntries, statement.debitsMinor], [2n, 1234n + 5n]);
      assert.deepEqual(entriesOf(statement), [
        ['credit', 10500n],
        ['credit', 1234n],
        ['debit', 1234n],
        ['debit', 5n],
        ['credit', 777n],
      ]);
      assert.equal(statement.closed, format === 'csv' ? undefined : false, "today's statement is interim (ITBD)");
      // The one payment within the bank gives a credit and a debit of one transaction.
      assert.deepEqual(statement.entries[1]?.txid, statement.entries[2]?.txid);
      return statement;
    });
    const [camt053, camt052, csv] = checked;
    assert.deepEqual(camt052, camt053);
    assert.deepEqual(csv, { ...camt053, closed: undefined });
    assert.equal(
      toHex(camt053?.entries[0]?.txid ?? new Uint8Array()),
      '05b1a33659d8dba7dd4703e844c31597531b988683aa3565cd61f0a0ee3391ff',
    );
  });

  it('reads a closed day as closed', () => {
    const checked = verifyStatement(saved('closed-day.camt053.xml'), 'camt053', 2);
    assert.equal(checked.closed, true);
    assert.deepEqual(checked.entries, []);
    assert.deepEqual([checked.date, checked.openingMinor, checked.closingMinor], ['2026-12-06', 0n, 0n]);
  });

  it('fits ids as the engine fits them', () => {
    assert.equal(fittedId(SAVED_BANK, 34), 'bank.with-a:long_id-xxxxx~d63c7498');
    assert.equal(fittedId(SAVED_BANK, 35), 'bank.with-a:long_id-xxxxxx~d63c7498');
    assert.equal(fittedId('bank-a', 34), 'bank-a');
    assert.equal(statementId(SAVED_BANK, SAVED_DATE), 'STLD-20261207-d63c7498bb62957f97fe');
  });

  // [tampering, how, what the error must say]: each a way a statement may be forged.
  const camtTamperings: [string, (document: string) => string, string][] = [
    [
      'an entry amount',
      (d) => tampered(d, '<Ntry>', '>105.00<', '>106.00<', 2),
      'the entries hold 3 credits of 12611 minor units, TtlCdtNtries says 3 of 12511',
    ],
    [
      "an entry amount, not its transaction's",
      (d) => tampered(d, '<Ntry>', '>105.00<', '>106.00<'),
      "entry 1's transaction details differ from its amount",
    ],
    ['an entry removed', dropFirstEntry, 'the entries hold 2 credits of 2011 minor units, TtlCdtNtries says 3 of 12511'],
    [
      'the closing balance',
      (d) => tampered(d, closingCode(d), '>112.72<', '>112.73<'),
      'opening 0 + credits 12511 - debits 1239 (minor units) is not the closing balance 11273',
    ],
    ['a credit flipped to a debit', flipFirstEntryToDebit, 'the entries hold 2 credits of 2011 minor units'],
    [
      'a txid not hex',
      (d) => tampered(d, '<AddtlTxInf>', 'txid 05b1a336', 'txid g5b1a336'),
      "entry 1's reference g5b1a33659d8dba7dd4703e844c31597531b988683aa3565cd61f0a0ee3391ff is not a txid",
    ],
    [
      'a txid other than the end-to-end id',
      (d) => tampered(d, '<AddtlTxInf>', 'txid 05b1a336', 'txid 15b1a336'),
      "entry 1's EndToEndId 05b1a33659d8dba7dd4703e844c31597 is not its txid",
    ],
    [
      "another bank's id",
      (d) => d.replace(/<(AddtlStmtInf|AddtlRptInf)>bank [^;]*;/, '<$1>bank another-bank;'),
      "the account bank.with-a:long_id-xxxxx~d63c7498 is not bank another-bank's",
    ],
    [
      'another namespace',
      (d) => d.replaceAll('.001.08', '.001.02'),
      '<Document> is not in the namespace urn:iso:std:iso:20022:tech:xsd:camt.05',
    ],
    ['a DTD with entities (XML bomb)', bomb, 'a statement has no DOCTYPE'],
    [
      'the summary count',
      (d) => tampered(d, '<TtlDbtNtries>', '<NbOfNtries>2<', '<NbOfNtries>3<'),
      'the entries hold 2 debits of 1239 minor units, TtlDbtNtries says 3 of 1239',
    ],
    ['the net entry', (d) => tampered(d, '<TtlNetNtry>', '>112.72<', '>112.71<'), 'TtlNetNtry is not credits minus debits'],
    [
      'the opening balance',
      (d) => tampered(d, '<Cd>OPBD</Cd>', '>0.00<', '>1.00<'),
      'opening 100 + credits 12511 - debits 1239 (minor units) is not the closing balance 11272',
    ],
    [
      'more decimals than the currency',
      (d) => d.replaceAll('>7.77<', '>7.770<'),
      "entry 5 amount: '7.770' has more than 2 decimal places",
    ],
    [
      'another currency',
      (d) => tampered(d, '<Ntry>', 'Ccy="CNY"', 'Ccy="USD"'),
      '<Ntry/Amt> is in USD, the account in CNY (entry 1)',
    ],
    [
      'an entry booked on another day',
      (d) => tampered(d, '<BookgDt>', '2026-12-07', '2026-12-08'),
      'entry 1 is booked on 2026-12-08, the statement is of 2026-12-07',
    ],
    [
      'a balance of another day',
      (d) => tampered(d, '<Cd>OPBD</Cd>', '<Dt>2026-12-07</Dt>', '<Dt>2026-12-06</Dt>'),
      'the OPBD balance is dated 2026-12-06, the statement 2026-12-07',
    ],
    ['two statements', (d) => d.replace(/(<\/(Stmt|Rpt)>)/, '$1<$2/>'), 'in the document'],
    ['a cut', (d) => d.slice(0, d.indexOf('</TxsSummry>')), 'not well-formed XML'],
    ['a control character', (d) => d.replace('Bank &amp; Co', 'Bank &#1; Co'), 'not well-formed XML'],
    ['no closing balance', (d) => d.replace(/<Cd>(CLBD|ITBD)<\/Cd>/, '<Cd>PRCD</Cd>'), 'no CLBD (or ITBD) balance'],
    [
      'two transactions in an entry',
      (d) => tampered(d, '<NtryDtls>', '<TxDtls>', '<TxDtls/><TxDtls>'),
      'entry 1 holds more than one transaction',
    ],
  ];

  for (const format of ['camt053', 'camt052'] as const) {
    it(`refuses a tampered ${format}, each with its reason`, () => {
      const document = saved(files[format]);
      for (const [what, tamper, expected] of camtTamperings) {
        const forged = tamper(document);
        assert.notEqual(forged, document, what);
        const message = reason(new TextEncoder().encode(forged), format);
        const wanted =
          what === 'two statements' ? `more than one <${format === 'camt053' ? 'Stmt' : 'Rpt'}> ${expected}` : expected;
        assert.ok(message.includes(wanted), `${what}: ${message}`);
      }
    });
  }

  it('refuses a DTD before its entities are expanded', () => {
    const forged = bomb(saved('day.camt053.xml'));
    assert.ok(forged.includes('&lol9;') && forged.includes('<!ENTITY lol9'));
    assert.match(reason(forged), /DOCTYPE/);
    const external = saved('day.camt053.xml').replace('?>\n', '?>\n<!DOCTYPE Document SYSTEM "file:///etc/passwd">\n');
    assert.match(reason(external), /DOCTYPE/);
  });

  it('takes a report for no statement, nor the other way round', () => {
    assert.ok(reason(saved('day.camt052.xml'), 'camt053').includes(`is not in the namespace ${CAMT053_NAMESPACE}`));
    assert.ok(reason(saved('day.camt053.xml'), 'camt052').includes(`is not in the namespace ${CAMT052_NAMESPACE}`));
    assert.ok(reason(saved('day.camt053.xml'), 'csv').includes('record 1 of the CSV: a quote inside an unquoted field'));
  });

  it('refuses elements of no namespace, nested too deep, or another root', () => {
    const document = saved('day.camt053.xml');
    assert.ok(reason(document.replace('<Sts>', '<Extra xmlns=""/><Sts>')).includes('<Extra> is not in the namespace'));
    const deep = '<X>'.repeat(40) + '</X>'.repeat(40);
    assert.ok(reason(document.replace('<Sts>', `${deep}<Sts>`)).includes('elements nest deeper than 32'));
    assert.ok(reason(document.replaceAll('Document', 'Statement')).includes('the root element is <Statement>'));
    assert.ok(reason(new Uint8Array([0x3c, 0xff, 0xfe])).includes('the document is not UTF-8'));
  });

  it('refuses an exponent beyond 8, and amounts beyond the exponent', () => {
    assert.ok(reason(saved('day.camt053.xml'), 'camt053', 9).includes('currency exponent 9 is above 8'));
    assert.ok(reason(saved('day.camt053.xml'), 'camt053', 1).includes('decimal places'));
  });

  const csvTamperings: [string, (document: string) => string, string][] = [
    [
      'an entry amount',
      (d) => d.replace(',mint,credit,105.00,', ',mint,credit,106.00,'),
      'the entries hold 3 credits of 12611 minor units, the statement says 3 of 12511',
    ],
    [
      'an entry removed',
      (d) => d.replace(/\n2026-12-07,1,[^\n]*/, ''),
      'the entries hold 2 credits of 2011 minor units, the statement says 3 of 12511',
    ],
    [
      'the closing balance',
      (d) => d.replace('# closing_balance,112.72', '# closing_balance,112.73'),
      'opening 0 + credits 12511 - debits 1239 (minor units) is not the closing balance 11273',
    ],
    ['a credit flipped to a debit', (d) => d.replace(',mint,credit,', ',mint,debit,'), 'the entries hold 2 credits of 2011'],
    [
      'a txid not hex',
      (d) => d.replace(',05b1a336', ',g5b1a336'),
      "entry 1's txid g5b1a33659d8dba7dd4703e844c31597531b988683aa3565cd61f0a0ee3391ff is not a txid",
    ],
    [
      "another bank's id",
      (d) => d.replace(`# bank,${SAVED_BANK}`, '# bank,another-bank'),
      "statement STLD-20261207-d63c7498bb62957f97fe is not the id of bank another-bank's statement of 2026-12-07",
    ],
    ['the header', (d) => d.replace('merchant,counterparty', 'counterparty,merchant'), "the CSV's header is not"],
    ['a line of figures', (d) => d.replace('# currency,CNY\n', ''), "line 6 of the CSV is not '# currency,<value>'"],
    ['a cut', (d) => d.slice(0, -30), 'the CSV does not end with a line break'],
    [
      'an entry booked on another day',
      (d) => d.replace('\n2026-12-07,1,', '\n2026-12-08,1,'),
      'entry 1 is booked on 2026-12-08, the statement is of 2026-12-07',
    ],
    [
      'a time outside the day',
      (d) => d.replace('2026-12-07T07:38:59.770Z', '2026-12-07T16:38:59.770Z'),
      "was booked at 2026-12-07T16:38:59.770Z, outside the statement's day",
    ],
    ['ledger order', (d) => d.replace('\n2026-12-07,5,8,', '\n2026-12-07,2,8,'), 'entry 5 (sequence 2, txid 2525feb1'],
    [
      'a block outside the day',
      (d) => d.replace('\n2026-12-07,5,8,', '\n2026-12-07,5,9,'),
      "is in block 9, outside the day's blocks 1..=8",
    ],
    ['another currency', (d) => d.replace(',105.00,CNY,', ',105.00,USD,'), 'entry 1 is in USD, the statement in CNY'],
    ['more decimals', (d) => d.replace(',7.77,', ',7.770,'), "entry 5 amount: '7.770' has more than 2 decimal places"],
    ['a field more', (d) => d.replace(',mint,credit,', ',mint,,credit,'), 'entry 1 has 15 fields, not 14'],
  ];

  it('refuses a tampered CSV, each with its reason', () => {
    const document = saved('day.csv');
    for (const [what, tamper, expected] of csvTamperings) {
      const forged = tamper(document);
      assert.notEqual(forged, document, what);
      const message = reason(forged, 'csv');
      assert.ok(message.includes(expected), `${what}: ${message}`);
    }
  });

  it('reads CSV fields as RFC 4180', () => {
    const document = saved('day.csv');
    assert.ok(document.includes('# bank_name,"Bank & Co <""Tests"">, Ltd"\n'));
    assert.deepEqual(verifyStatement(document.replaceAll('\n', '\r\n'), 'csv', 2), verifyStatement(document, 'csv', 2));
    assert.ok(reason(document.replace('Ltd"\n', 'Ltd\n'), 'csv').includes('a quoted field is not closed'));
    assert.ok(reason(document.replace(',mint,', ',mi"nt,'), 'csv').includes('a quote inside an unquoted field'));
    assert.equal(document.split('\n')[15], STATEMENT_CSV_HEADER);
    const bytes = new TextEncoder().encode(document);
    bytes[bytes.indexOf(0x4c)] = 0xff; // an 'L' of "Ltd"
    assert.ok(reason(bytes, 'csv').includes('not UTF-8'));
  });
});

describe('statements downloaded from a server', { timeout: 300_000 }, () => {
  let server: DevServer;
  let operator: SettledClient;
  let bankClient: SettledClient;
  const bank = `stmt-ts-${Date.now()}`;
  const bankToken = toHex(sha256(new TextEncoder().encode(`statement bank ${Date.now()}`)));
  const wallet = SigningKey.generate();
  const other = SigningKey.generate();
  const outsider = SigningKey.generate();
  let date: string;
  /** What the day should hold: each transaction with the bank's entries in it. */
  const expected: { confirmation: Confirmation; entries: [StatementEntry['direction'], bigint][] }[] = [];
  let references = 0;

  async function mint(address: Uint8Array, amounts: string[]): Promise<Confirmation> {
    references += 1;
    return operator.mint(
      amounts.map((amount) => ({ address, amount })),
      server.issuers.slice(0, 2),
      `ts-statements:${references}`,
    );
  }

  async function register(id: string, name: string, token?: string): Promise<void> {
    const credentialSha256 = token === undefined ? [] : [sha256(new TextEncoder().encode(token))];
    await operator.unary((md, callback) =>
      operator.services.admin.RegisterBank({ bank: { id, name, credentialSha256 } }, md, callback),
    );
  }

  before(async () => {
    server = await startServer();
    operator = await SettledClient.connect(server.target, { token: server.token });
    await register(bank, 'Statement Bank', bankToken);
    for (const key of [wallet, other]) {
      await operator.unary((md, callback) =>
        operator.services.admin.RegisterWallet({ wallet: { address: key.publicKey, bankId: bank, tier: 2 } }, md, callback),
      );
    }
    await mint(outsider.publicKey, ['50.00']);
    expected.push({ confirmation: await mint(wallet.publicKey, ['200.00', '3.00']), entries: [['credit', 20300n]] });
    // Within the bank: the one transaction is a debit and a credit of it.
    expected.push({
      confirmation: await operator.pay({ from: wallet, to: other.publicKey, amount: '45.60' }),
      entries: [
        ['credit', 4560n],
        ['debit', 4560n],
      ],
    });
    expected.push({
      confirmation: await operator.pay({ from: wallet, to: SigningKey.generate().publicKey, amount: '1.23' }),
      entries: [['debit', 123n]],
    });
    expected.push({
      confirmation: await operator.pay({ from: outsider, to: wallet.publicKey, amount: '9.99' }),
      entries: [['credit', 999n]],
    });
    expected.push({
      confirmation: await operator.pay({ from: other, to: outsider.publicKey, amount: '0.01' }),
      entries: [['debit', 1n]],
    });
    const { dayOffsetMinutes } = await operator.info();
    const dates = new Set(
      expected.map(({ confirmation }) => ledgerDay(confirmation.receipt.block.timeUnixMs, dayOffsetMinutes)),
    );
    assert.equal(dates.size, 1, 'the payments crossed the ledger day');
    [date] = [...dates] as [string];
    bankClient = await SettledClient.connect(server.target, { token: bankToken, pinChainId: operator.chainId });
  });

  after(async () => {
    bankClient?.close();
    operator?.close();
    await server?.stop();
  });

  const key = (entry: StatementEntry) => `${toHex(entry.txid)} ${entry.direction} ${entry.amountMinor}`;

  for (const format of ['camt053', 'camt052', 'csv'] as const) {
    it(`verifies the day's ${format}, which adds up to the payments made`, async () => {
      const document = await bankClient.statement('', date, format); // verified already, as the calling bank
      const checked = verifyStatement(document, format, bankClient.currencyExponent);
      assert.deepEqual([checked.bankId, checked.date, checked.currency], [bank, date, 'CNY']);
      const entries: StatementEntry[] = expected.flatMap(({ confirmation, entries }) =>
        entries.map(([direction, amountMinor]) => ({ txid: confirmation.txid, direction, amountMinor })),
      );
      // Entries of one transaction come in (address, programme) order: compare them as sets.
      assert.deepEqual(checked.entries.map(key).sort(), entries.map(key).sort());
      assert.deepEqual(
        checked.entries.map((entry) => toHex(entry.txid)),
        entries.map((entry) => toHex(entry.txid)),
      );
      assert.deepEqual([checked.creditEntries, checked.creditsMinor], [3n, 20300n + 4560n + 999n]);
      assert.deepEqual([checked.debitEntries, checked.debitsMinor], [3n, 4560n + 123n + 1n]);
      assert.deepEqual([checked.openingMinor, checked.closingMinor], [0n, 25859n - 4684n]);
      assert.equal(checked.closed, format === 'csv' ? undefined : false);
    });
  }

  it('verifies a past day: closed, without entries', async () => {
    const yesterday = ledgerDay(Date.parse(`${date}T12:00:00Z`) - 86_400_000, 0);
    const checked = verifyStatement(await bankClient.statement(bank, yesterday), 'camt053', 2);
    assert.equal(checked.closed, true);
    assert.deepEqual([checked.date, checked.entries.length], [yesterday, 0]);
  });

  /** A client whose GetStatement answers pass through a man in the middle changing the document. */
  async function withTampering(
    change: (document: string, index: number) => string,
    use: (client: SettledClient) => Promise<void>,
    token = bankToken,
  ): Promise<void> {
    const proxy = await startProxy(server.target, {
      'ReconciliationService/GetStatement': (chunk: Message, index: number) => ({
        ...chunk,
        data: Buffer.from(change(Buffer.from(chunk['data'] as Buffer).toString('utf8'), index)),
      }),
    });
    const viaProxy = await SettledClient.connect(proxy.target, { token, pinChainId: operator.chainId });
    try {
      await use(viaProxy);
    } finally {
      viaProxy.close();
      await proxy.stop();
    }
  }

  async function refusal(promise: Promise<unknown>): Promise<VerificationError> {
    try {
      await promise;
    } catch (error) {
      assert.ok(error instanceof VerificationError, `a VerificationError, not ${String(error)}`);
      return error;
    }
    assert.fail('the statement was accepted');
  }

  const camtOnTheWay: [string, (document: string) => string, string][] = [
    ['an entry amount', (d) => tampered(d, '<Ntry>', '>203.00<', '>203.01<', 2), 'the entries hold 3 credits'],
    ['an entry removed', dropFirstEntry, 'the entries hold 2 credits of 5559 minor units'],
    ['the closing balance', (d) => tampered(d, closingCode(d), '>211.75<', '>211.76<'), 'is not the closing balance'],
    ['a credit flipped to a debit', flipFirstEntryToDebit, 'the entries hold 2 credits of 5559 minor units'],
    ['a txid not hex', (d) => d.replace(/<AddtlTxInf>txid [0-9a-f]/, '<AddtlTxInf>txid x'), 'is not a txid'],
    [
      "another bank's id",
      (d) => d.replace(/<(AddtlStmtInf|AddtlRptInf)>bank [^;]*;/, '<$1>bank stmt-other;'),
      "is not bank stmt-other's",
    ],
    ['another namespace', (d) => d.replace('tech:xsd:camt.05', 'tech:xsd:camt.15'), 'is not in the namespace'],
    ['a DTD with entities (XML bomb)', bomb, 'a statement has no DOCTYPE'],
  ];

  for (const format of ['camt053', 'camt052'] as const) {
    it(`refuses a ${format} tampered on the way`, async () => {
      const genuine = await bankClient.statement(bank, date, format);
      assert.ok(new TextEncoder().encode(genuine).length < 32 * 1024, 'one chunk');
      for (const [what, tamper, expected] of camtOnTheWay) {
        assert.ok(!genuine.includes(expected), what);
        await withTampering(tamper, async (viaProxy) => {
          const error = await refusal(viaProxy.statement(bank, date, format));
          assert.ok(error.message.includes(expected), `${what}: ${error.message}`);
        });
      }
    });
  }

  it('refuses a CSV tampered on the way', async () => {
    const csvOnTheWay: [string, (document: string) => string, string][] = [
      ['an entry amount', (d) => d.replace(',credit,203.00,', ',credit,203.01,'), 'the entries hold 3 credits'],
      ['an entry removed', (d) => d.replace(/\n[^#\n][^\n]*,credit,203\.00,[^\n]*/, ''), 'the entries hold 2 credits'],
      ['the closing balance', (d) => d.replace('# closing_balance,211.75', '# closing_balance,211.76'), 'closing'],
      ['a credit flipped to a debit', (d) => d.replace(',credit,203.00,', ',debit,203.00,'), 'the entries hold 2 credits'],
      ['a txid not hex', (d) => d.replace(/(\n[0-9-]+,[0-9]+,[0-9]+,[^,]+,)[0-9a-f]/, '$1z'), 'is not a txid'],
      ["another bank's id", (d) => d.replace(/# bank,[^\n]*/, '# bank,stmt-other'), "is not the id of bank stmt-other's"],
    ];
    for (const [what, tamper, expected] of csvOnTheWay) {
      await withTampering(tamper, async (viaProxy) => {
        const error = await refusal(viaProxy.statement('', date, 'csv'));
        assert.ok(error.message.includes(expected), `${what}: ${error.message}`);
      });
    }
  });

  it("refuses another bank's statement, or another day's, that holds together", async () => {
    const otherBank = `${bank}-other`;
    await register(otherBank, 'Another Bank');
    const theirs = await operator.statement(otherBank, date, 'camt053');
    const answer = (document: string) => (_: string, index: number) => (index === 0 ? document : '');
    await withTampering(
      answer(theirs),
      async (viaProxy) => {
        const error = await refusal(viaProxy.statement(bank, date, 'camt053'));
        assert.match(error.message, new RegExp(`is bank ${otherBank}'s, not bank ${bank}'s as asked`));
      },
      server.token,
    );
    const yesterday = ledgerDay(Date.parse(`${date}T12:00:00Z`) - 86_400_000, 0);
    for (const format of ['camt052', 'csv'] as const) {
      const earlier = await operator.statement(bank, yesterday, format);
      await withTampering(answer(earlier), async (viaProxy) => {
        const error = await refusal(viaProxy.statement(bank, date, format));
        assert.match(error.message, new RegExp(`is of ${yesterday}, not of ${date} as asked`));
      });
    }
  });
});
