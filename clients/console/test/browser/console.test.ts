/**
 * The console in a real browser (Debian's chromium, headless) against a
 * real server with payments flowing: each role signs in and sees its pages
 * and is refused the others, the figures shown are the API's answers, the
 * ledger and a programme move live, an integrity alert appears without a
 * reload, a receipt is verified in the browser and a tampered one shown as
 * failing, a bad txid and an unknown one are told apart, a wrong and a
 * revoked credential end on the sign-in page, and the server stopped and
 * started again is said and survived. Screenshots of every page at desktop
 * and phone widths go to test-artifacts/.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { SettledClient, toHex } from '@settled/client';
import type { Browser, Page } from 'playwright-core';

import { amount, count, ledgerDay, mcc, money, period } from '../../src/format.js';
import {
  APPEAR_MS,
  checkPage,
  type ConsolePage,
  DESKTOP,
  figure,
  launch,
  LOCAL_DIST,
  openPage,
  screenshots,
  signIn,
  tableRows,
} from '../helpers/browser.js';
import { BANK_A, BANK_B, CAFE, GROCER, type Ledger, MONTHLY_PROGRAMME, PROGRAMME, setUpLedger } from '../helpers/ledger.js';
import { DIST, SETTLED_BIN } from '../helpers/paths.js';
import { ConsoleServer } from '../helpers/server.js';

const EXPONENT = 2;
const CURRENCY = 'CNY';

let server: ConsoleServer;
let ledger: Ledger;
let browser: Browser;
const pages: ConsolePage[] = [];

before(async () => {
  server = await ConsoleServer.start();
  ledger = await setUpLedger(server);
  browser = await launch();
});

/**
 * Closes the pages opened so far, checking that none met a content security
 * policy violation. Each part closes its own: every open page holds
 * connections, and the console port takes at most
 * CONSOLE_CONNECTIONS_PER_ADDRESS_MAX (32) from one address.
 */
async function closePages(): Promise<void> {
  for (const opened of pages.splice(0)) {
    assert.deepEqual(
      opened.errors.filter((error) => /Content.Security.Policy|Refused to (load|execute|apply|connect)/i.test(error)),
      [],
      'no content security policy violation',
    );
    await opened.close();
  }
}

after(async () => {
  await closePages().catch(() => undefined);
  await ledger?.stopBackground();
  ledger?.client.close();
  await browser?.close();
  await server?.destroy();
});

/** A new browser context (its own storage) on the console. */
async function open(viewport = DESKTOP): Promise<ConsolePage> {
  const opened = await openPage(browser, server.consoleUrl, viewport);
  pages.push(opened);
  return opened;
}

/** Signs in with `token` in a new context and waits for the first page. */
async function signedIn(token: string): Promise<Page> {
  const { page } = await open();
  await signIn(page, token);
  await page.locator('#nav a').first().waitFor({ timeout: APPEAR_MS });
  return page;
}

async function navLabels(page: Page): Promise<string[]> {
  return page.locator('#nav a').allInnerTexts();
}

/** Goes to `hash` and waits for its h1. */
async function go(page: Page, hash: string, heading: string | RegExp): Promise<void> {
  await page.evaluate((target) => {
    location.hash = target;
  }, hash);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor({ timeout: APPEAR_MS });
}

function streamsOpen(page: Page): Promise<number> {
  return page.evaluate(() => Number(document.documentElement.dataset['streams'] ?? '0'));
}

/** Polls `read` until `check` holds (or fails with the last value). */
async function eventually<T>(what: string, read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = APPEAR_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!check(value)) {
    if (Date.now() > deadline) {
      assert.fail(`${what}: still ${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}

const numberOf = (text: string): bigint => BigInt(text.replace(/[^0-9]/g, '') || '0');

/** The API's figures of a programme (GetProgrammeStats through the SDK). */
function programmeStats(programmeId = PROGRAMME): Promise<{
  disbursedMinor: string;
  spentMinor: string;
  refundedMinor: string;
  clawedBackMinor: string;
  outstandingMinor: string;
  spentByMcc: { mcc: number; amountMinor: string }[];
  spentByDay: { day: number; amountMinor: string }[];
  paidByPeriod: { period: number; beneficiaries: string; amountMinor: string; duplicateClaimsRefused: string }[];
}> {
  return ledger.client.unary((md, callback) => ledger.client.services.admin.GetProgrammeStats({ programmeId }, md, callback));
}

/** The API's net positions (GetNetPositions through the SDK), as `client` (a bank's, or the development token's). */
function netPositions(client: SettledClient, untilHeight: bigint, bank = ''): Promise<{
  flows: { payerBank: string; payeeBank: string; amountMinor: string }[];
  positions: { bank: string; paidMinor: string; receivedMinor: string; issuedMinor: string; redeemedMinor: string; netMinor: string }[];
}> {
  return client.unary((md, callback) =>
    client.services.reconciliation.GetNetPositions({ afterHeight: '0', untilHeight: untilHeight.toString(), bank }, md, callback),
  );
}

/** The API's integrity alerts (`settled programme alerts --json`, the CLI's own client). */
async function apiAlerts(): Promise<{ number: number; rule: string; merchant: string; programme: number; payments: string[] }[]> {
  const { stdout } = await promisify(execFile)(SETTLED_BIN, [
    'programme', 'alerts', '--json',
    '--server', `http://${server.target}`,
    '--token', server.tokens.programmeAdmin,
  ]);
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { number: number; rule: string; merchant: string; programme: number; payments: string[] });
}

/** Programme payments from one payer at one merchant in a row: RAPID_REPEAT's pattern. */
async function rapidRepeat(payer: 'alice' | 'carol', merchant: 'grocer' | 'cafe', times: number): Promise<void> {
  const to = merchant === 'grocer' ? ledger.grocerPayout.publicKey : ledger.cafePayout.publicKey;
  for (let index = 0; index < times; index += 1) {
    await ledger.client.pay({ from: ledger[payer], to, amount: `${index + 2}.00`, programmeId: PROGRAMME });
  }
}

describe('the console listener', () => {
  it('serves the console as built in dist/, under a strict content security policy', async () => {
    const index = await fetch(`${server.consoleUrl}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    if (!LOCAL_DIST) {
      for (const name of ['index.html', 'console.js', 'console.css']) {
        const served = Buffer.from(await (await fetch(`${server.consoleUrl}/${name === 'index.html' ? '' : name}`)).arrayBuffer());
        assert.ok(
          served.equals(await readFile(join(DIST, name))),
          `the server serves another ${name} than dist/ holds: rebuild ${SETTLED_BIN} (it embeds dist/ when compiled), or set SETTLED_CONSOLE_DIST=local while working on the console`,
        );
      }
    }
  });
});

describe('signing in', () => {
  after(closePages);

  it('refuses a wrong token and stays on sign-in', async () => {
    const { page } = await open();
    await page.goto('/');
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.match(await page.locator('#token-help').innerText(), /sessionStorage/);
    assert.equal(await page.getByLabel('Token').getAttribute('type'), 'password');
    await screenshots(page, 'signin');
    await signIn(page, 'not-a-token-the-server-knows');
    await page.locator('#signin-error').waitFor({ timeout: APPEAR_MS });
    assert.match(await page.locator('#signin-error').innerText(), /the server did not accept this credential/i);
    assert.match(page.url(), /#\/signin$/);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  });

  it('pins the engine key and chain id on first use, keeps the token in sessionStorage only, and forgets it on sign-out', async () => {
    const { page } = await open();
    await signIn(page, server.tokens.operator);
    await page.getByRole('heading', { level: 1, name: 'Ledger' }).waitFor({ timeout: APPEAR_MS });
    assert.deepEqual(await navLabels(page), ['Ledger', 'Programmes', 'Alerts', 'Payment', 'Banks']);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('settled.console.token')), server.tokens.operator);
    const stored = await page.evaluate(() => JSON.stringify(localStorage));
    assert.ok(!stored.includes(server.tokens.operator), 'the token is not in localStorage');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('settled.console.token')), null);
    assert.match(await page.locator('#pins-now').innerText(), /pinned on first use/);
    assert.equal(await figure(page, 'pinned-engine-key'), toHex(ledger.client.engineKey));
    assert.equal(await figure(page, 'pinned-chain-id'), toHex(ledger.client.chainId));
  });

  it('says so when the server does not match the pins given', async () => {
    const { page } = await open();
    await signIn(page, server.tokens.auditor, { engineKey: '11'.repeat(32), chainId: toHex(ledger.client.chainId) });
    await page.locator('#pin-mismatch').waitFor({ timeout: APPEAR_MS });
    assert.match(await page.locator('#pin-mismatch').innerText(), /engine key .* is not the pinned 1111/);
    await page.getByRole('button', { name: 'Sign out' }).click();
  });
});

describe('as the operator', () => {
  after(closePages);
  let page: Page;

  before(async () => {
    page = await signedIn(server.tokens.operator);
  });

  it('reaches the navigation from the keyboard, each page with one h1', async () => {
    await go(page, '#/ledger', 'Ledger');
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Ledger' }).waitFor({ timeout: APPEAR_MS });
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'skip-link');
    const reached: string[] = [];
    for (let step = 0; step < 5; step += 1) {
      await page.keyboard.press('Tab');
      reached.push(await page.evaluate(() => document.activeElement?.textContent ?? ''));
    }
    assert.deepEqual(reached, ['Ledger', 'Programmes', 'Alerts', 'Payment', 'Banks']);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Net positions between banks' }).waitFor();
    for (const [hash, heading] of [
      ['#/ledger', 'Ledger'],
      ['#/programmes', 'Programmes'],
      ['#/alerts', 'Integrity alerts'],
      ['#/payment', 'Payment'],
      ['#/banks', 'Net positions between banks'],
    ] as const) {
      await go(page, hash, heading);
      await checkPage(page, hash);
      assert.ok((await streamsOpen(page)) <= 2, `${hash}: at most 2 server streams`);
      assert.equal(await page.locator('#nav a[aria-current="page"]').getAttribute('href'), hash);
    }
  });

  it('shows the ledger live: the tip moves, the supply is the API’s', async () => {
    await go(page, '#/ledger', 'Ledger');
    const first = numberOf(await eventually('the tip height', () => figure(page, 'tip-height'), (text) => /\d/.test(text)));
    await eventually('the tip height moving', () => figure(page, 'tip-height'), (text) => numberOf(text) > first);
    assert.equal(await streamsOpen(page), 1);
    const info = await ledger.client.info();
    assert.equal(await figure(page, 'minted'), money(info.tip.mintedTotalMinor, EXPONENT, CURRENCY));
    assert.equal(await figure(page, 'outstanding'), money(info.tip.mintedTotalMinor - info.tip.burnedTotalMinor, EXPONENT, CURRENCY));
    assert.match(await figure(page, 'tip-signature'), /verified in this browser/);
    // An audit run now is the last audit the page shows.
    await ledger.client.unary((md, callback) => ledger.client.services.ledger.Audit({}, md, callback));
    await eventually('the last audit', () => page.locator('#audit').innerText(), (text) => /Sound: every check held/.test(text));
    await page.locator('.chart svg[role="img"]').first().waitFor({ timeout: APPEAR_MS });
    await screenshots(page, 'ledger');
  });

  it('lists the programmes, and shows one’s figures as the API gives them, live', async () => {
    await go(page, '#/programmes', 'Programmes');
    await page.locator('#programmes-table').waitFor({ timeout: APPEAR_MS });
    assert.deepEqual(
      (await tableRows(page, '#programmes-table')).map((row) => row.slice(0, 2)),
      [
        ['1', 'Food support'],
        ['2', 'Monthly food support'],
      ],
    );
    await screenshots(page, 'programmes');
    await page.getByRole('link', { name: '1', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Programme 1: Food support' }).waitFor({ timeout: APPEAR_MS });
    const stats = await programmeStats();
    for (const [key, value] of [
      ['disbursed', stats.disbursedMinor],
      ['spent', stats.spentMinor],
      ['refunded', stats.refundedMinor],
      ['clawed-back', stats.clawedBackMinor],
      ['outstanding', stats.outstandingMinor],
    ] as const) {
      assert.equal(await figure(page, key), money(BigInt(value), EXPONENT, CURRENCY), key);
    }
    assert.deepEqual(
      await tableRows(page, '#spent-by-mcc'),
      stats.spentByMcc.map((row) => [mcc(row.mcc), amount(BigInt(row.amountMinor), EXPONENT)]),
    );
    assert.equal(await page.locator('#by-mcc svg[role="img"]').count(), 1);
    // By ledger day, as the API counts them: every payment so far was today.
    assert.equal(stats.spentByDay.length, 1);
    assert.deepEqual(
      await tableRows(page, '#spent-by-day'),
      stats.spentByDay.map((row) => [ledgerDay(row.day), amount(BigInt(row.amountMinor), EXPONENT)]),
    );
    await screenshots(page, 'programme');
    // A payment now: the figures follow without a reload.
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));
    await ledger.client.pay({ from: ledger.carol, to: ledger.cafePayout.publicKey, amount: '1.00', programmeId: PROGRAMME });
    const spent = money(BigInt((await programmeStats()).spentMinor), EXPONENT, CURRENCY);
    await eventually('the spent figure following the payment', () => figure(page, 'spent'), (text) => text === spent);
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true);
    assert.ok((await streamsOpen(page)) <= 2);
  });

  it('shows a programme paid per person: beneficiaries paid and claims refused as duplicates, by period, as counts', async () => {
    await go(page, `#/programmes/${MONTHLY_PROGRAMME}`, 'Programme 2: Monthly food support');
    await page.locator('#paid-by-period').waitFor({ timeout: APPEAR_MS });
    const stats = await programmeStats(MONTHLY_PROGRAMME);
    assert.equal(stats.paidByPeriod.length, 1);
    assert.equal(stats.paidByPeriod[0]?.beneficiaries, '2');
    assert.equal(stats.paidByPeriod[0]?.duplicateClaimsRefused, '1', 'the second claim of a paid beneficiary');
    assert.deepEqual(
      await tableRows(page, '#paid-by-period'),
      stats.paidByPeriod.map((row) => [period(row.period), row.beneficiaries, amount(BigInt(row.amountMinor), EXPONENT), row.duplicateClaimsRefused]),
    );
    assert.equal(await figure(page, 'disbursed'), money(BigInt(stats.disbursedMinor), EXPONENT, CURRENCY));
    await screenshots(page, 'programme-monthly');
  });

  it('verifies a payment’s receipt in the browser, and shows a tampered one as failing', async () => {
    const txid = toHex(ledger.groceryPayment.txid);
    await go(page, `#/payment/${txid}`, 'Payment');
    await page.locator('#receipt-verdict').waitFor({ timeout: APPEAR_MS });
    assert.equal(await page.locator('#receipt-verdict').getAttribute('data-verdict'), 'verified');
    assert.match(await page.locator('#receipt-verdict').innerText(), /Receipt verified in this browser against the pinned engine key/);
    assert.equal(await figure(page, 'sequence'), count(ledger.groceryPayment.receipt.sequence));
    assert.equal(await figure(page, 'block-height'), count(ledger.groceryPayment.receipt.block.height));
    assert.equal(await figure(page, 'kind'), 'payment (transfer)');
    assert.equal(await figure(page, 'reference'), 'till-1/0001');
    const outputs = await tableRows(page, '#outputs-table');
    assert.deepEqual(
      outputs.map((row) => [row[1], row[2], row[3]]),
      ledger.groceryPayment.transaction.outputs.map((output) => [toHex(output.address), amount(output.amountMinor, EXPONENT), String(output.programmeId)]),
    );
    await screenshots(page, 'payment');

    // The server's answer with one bit of the engine signature, then of the
    // Merkle root, flipped on its way to the page.
    const block = ledger.groceryPayment.receipt.block;
    for (const [what, bytes] of [
      ['engine signature', block.engineSignature],
      ['Merkle root', block.merkleRoot],
    ] as const) {
      await page.route('**/settled.v1.PaymentService/GetPayment', async (route) => {
        const response = await route.fetch();
        const body = Buffer.from(await response.body());
        const at = body.indexOf(Buffer.from(bytes));
        assert.ok(at > 0, `the ${what} is in the answer`);
        body[at + 5] = (body[at + 5] ?? 0) ^ 0x01;
        await route.fulfill({ response, body });
      });
      await page.reload();
      await page.locator('#receipt-verdict').waitFor({ timeout: APPEAR_MS });
      assert.equal(await page.locator('#receipt-verdict').getAttribute('data-verdict'), 'failed', what);
      assert.equal(await page.locator('#receipt-verdict').getAttribute('role'), 'alert');
      assert.match(await page.locator('#receipt-verdict').innerText(), /Receipt does NOT verify: /);
      if (what === 'engine signature') {
        await screenshots(page, 'payment-tampered');
      }
      await page.unroute('**/settled.v1.PaymentService/GetPayment');
    }
  });

  it('refuses a txid that is not hex without asking the server, and says when one is not known', async () => {
    const asked: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('GetPayment')) asked.push(request.url());
    });
    await go(page, '#/payment', 'Payment');
    await page.getByLabel('Transaction id').fill('not-a-txid');
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.locator('#txid-invalid').waitFor();
    assert.match(await page.locator('#txid-invalid').innerText(), /is not a transaction id/);
    await go(page, `#/payment/${'zz'.repeat(32)}`, 'Payment');
    await page.locator('#txid-invalid').waitFor();
    assert.deepEqual(asked, []);
    await go(page, `#/payment/${'0f'.repeat(32)}`, 'Payment');
    await page.locator('#payment-unknown').waitFor({ timeout: APPEAR_MS });
    assert.match(await page.locator('#payment-unknown').innerText(), /no payment with this txid/i);
    assert.equal(asked.length, 1);
  });

  it('shows the net positions of a range of blocks as the API gives them', async () => {
    const until = (await ledger.client.info()).tip.height;
    await go(page, `#/banks?after=0&until=${until}`, 'Net positions between banks');
    await page.locator('#positions-table').waitFor({ timeout: APPEAR_MS });
    const api = await netPositions(ledger.client, until);
    const name = (bank: string): string => (bank === '' ? '(outside any bank)' : bank);
    assert.deepEqual(
      await tableRows(page, '#positions-table'),
      api.positions.map((p) => [name(p.bank), ...[p.paidMinor, p.receivedMinor, p.issuedMinor, p.redeemedMinor, p.netMinor].map((v) => amount(BigInt(v), EXPONENT))]),
    );
    assert.deepEqual(
      await tableRows(page, '#flows-table'),
      api.flows.map((f) => [name(f.payerBank), name(f.payeeBank), amount(BigInt(f.amountMinor), EXPONENT)]),
    );
    assert.ok(api.flows.some((flow) => flow.payerBank === BANK_A && flow.payeeBank === BANK_B), 'money moved from bank A to bank B');
    const options = await page.locator('#bank-select option').allInnerTexts();
    assert.ok(options.includes(BANK_A) && options.includes(BANK_B), `the banks are offered: ${options.join(', ')}`);
    await screenshots(page, 'banks');
  });
});

describe('as a programme administrator', () => {
  after(closePages);
  let page: Page;

  before(async () => {
    page = await signedIn(server.tokens.programmeAdmin);
  });

  it('sees the programmes, alerts and payments, and is told it may not read the banks’ positions', async () => {
    assert.deepEqual(await navLabels(page), ['Ledger', 'Programmes', 'Alerts', 'Payment']);
    await go(page, '#/banks', 'Net positions between banks');
    await page.locator('.denied').waitFor({ timeout: APPEAR_MS });
    assert.match(await page.locator('.denied').innerText(), /a programme administrator's credential may not read net positions/i);
    await go(page, '#/programmes', 'Programmes');
    await page.locator('#programmes-table').waitFor({ timeout: APPEAR_MS });
    await go(page, `#/programmes/${PROGRAMME}`, /Programme 1/);
    await eventually('the programme figures', () => figure(page, 'disbursed').catch(() => ''), (text) => text === money(80000n, EXPONENT, CURRENCY));
  });

  it('sees a new integrity alert appear live, announced, with the API’s numbers', async () => {
    await go(page, '#/alerts', 'Integrity alerts');
    await eventually('the alerts read', () => page.locator('#alerts-state').innerText(), (text) => /No alert yet|alerts?\. New ones/.test(text));
    const before = (await apiAlerts()).length;
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));
    await rapidRepeat('alice', 'grocer', 3);
    const rows = await eventually('a RAPID_REPEAT alert on the page', () => tableRows(page, '#alerts-table'), (found) => found.some((row) => row[1] === 'RAPID_REPEAT' && row[3] === GROCER));
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, 'no reload');
    await eventually('the announcement', () => page.locator('#alerts-announcer').innerText(), (text) => /New alert \d+: RAPID_REPEAT at merchant grocer/.test(text));
    const api = await apiAlerts();
    assert.ok(api.length > before);
    assert.deepEqual(
      rows.map((row) => Number(row[0])),
      api.map((alert) => alert.number).reverse(),
      'every alert, newest first, none twice',
    );
    const alert = api.find((found) => found.rule === 'RAPID_REPEAT');
    assert.ok(alert !== undefined);
    const shown = rows.find((row) => Number(row[0]) === alert.number);
    assert.equal(shown?.[2], String(PROGRAMME));
    assert.equal(await page.locator(`tr[data-alert="${alert.number}"] .txids li`).count(), alert.payments.length);
    assert.equal(await streamsOpen(page), 1);
    await screenshots(page, 'alerts');
    // The payments behind it are links to their receipts.
    await page.locator(`tr[data-alert="${alert.number}"] .txids a`).first().click();
    await page.locator('#receipt-verdict[data-verdict="verified"]').waitFor({ timeout: APPEAR_MS });
    assert.equal(page.url().split('#/payment/')[1], alert.payments[0]);
  });
});

describe('as an issuer and as an auditor', () => {
  after(closePages);

  it('an issuer reads programmes, alerts, payments and positions', async () => {
    const page = await signedIn(server.tokens.issuer);
    assert.deepEqual(await navLabels(page), ['Ledger', 'Programmes', 'Alerts', 'Payment', 'Banks']);
    await go(page, '#/programmes', 'Programmes');
    await page.locator('#programmes-table').waitFor({ timeout: APPEAR_MS });
    await go(page, `#/programmes/${PROGRAMME}`, /Programme 1/);
    await page.locator('[data-figure="disbursed"]').waitFor({ timeout: APPEAR_MS });
    await go(page, `#/payment/${toHex(ledger.groceryPayment.txid)}`, 'Payment');
    await page.locator('#receipt-verdict[data-verdict="verified"]').waitFor({ timeout: APPEAR_MS });
  });

  it('an auditor reads every page', async () => {
    const page = await signedIn(server.tokens.auditor);
    assert.deepEqual(await navLabels(page), ['Ledger', 'Programmes', 'Alerts', 'Payment', 'Banks']);
    await go(page, '#/programmes', 'Programmes');
    await page.locator('#programmes-table').waitFor({ timeout: APPEAR_MS });
    await go(page, '#/alerts', 'Integrity alerts');
    await page.locator('#alerts-table').waitFor({ timeout: APPEAR_MS });
    assert.equal(await page.locator('.denied').count(), 0);
  });
});

describe('as a bank', () => {
  after(closePages);

  it('bank A sees only its own figures, and is refused bank B’s and the alerts', async () => {
    const page = await signedIn(ledger.bankTokens[BANK_A]);
    assert.deepEqual(await navLabels(page), ['Ledger', 'Payment', 'Banks']);
    assert.match(await page.locator('#session').innerText(), /bank bank-a/);
    const until = (await ledger.client.info()).tip.height;
    await go(page, `#/banks?after=0&until=${until}`, 'Net positions between banks');
    await page.locator('#positions-table').waitFor({ timeout: APPEAR_MS });
    const bankClient = await SettledClient.connect(server.target, { token: ledger.bankTokens[BANK_A] });
    try {
      const api = await netPositions(bankClient, until, BANK_A);
      assert.deepEqual(api.positions.map((p) => p.bank), [BANK_A]);
      assert.deepEqual(
        await tableRows(page, '#positions-table'),
        api.positions.map((p) => [p.bank, ...[p.paidMinor, p.receivedMinor, p.issuedMinor, p.redeemedMinor, p.netMinor].map((v) => amount(BigInt(v), EXPONENT))]),
      );
    } finally {
      bankClient.close();
    }
    await go(page, `#/payment/${toHex(ledger.groceryPayment.txid)}`, 'Payment');
    await page.locator('#receipt-verdict[data-verdict="verified"]').waitFor({ timeout: APPEAR_MS });
    await go(page, `#/banks?after=0&until=0&bank=${BANK_B}`, 'Net positions between banks');
    await page.locator('.denied').waitFor({ timeout: APPEAR_MS });
    assert.match(await page.locator('.denied').innerText(), /this credential may not read bank bank-b's figures/i);
    await screenshots(page, 'banks-denied');
    await go(page, '#/alerts', 'Integrity alerts');
    await page.locator('.denied').waitFor({ timeout: APPEAR_MS });
    assert.match(await page.locator('.denied').innerText(), /a bank's credential may not read integrity alerts/i);
  });

  it('bank B, its credential revoked while signed in, is back on sign-in with why', async () => {
    const page = await signedIn(ledger.bankTokens[BANK_B]);
    await page.getByRole('heading', { level: 1, name: 'Ledger' }).waitFor();
    await ledger.client.unary((md, callback) => ledger.client.services.admin.SetCredentials({ bankId: BANK_B, credentialSha256: [] }, md, callback));
    await page.locator('#session-ended').waitFor({ timeout: APPEAR_MS });
    assert.match(await page.locator('#session-ended').innerText(), /the server did not accept this credential/i);
    assert.match(page.url(), /#\/signin$/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('settled.console.token')), null);
  });
});

describe('the server going away', () => {
  after(closePages);

  it('says the connection is lost, then resumes the live figures and the alerts with no gap and no repeat', async () => {
    const ledgerPage = await signedIn(server.tokens.operator);
    await go(ledgerPage, '#/ledger', 'Ledger');
    await eventually('the tip', () => figure(ledgerPage, 'tip-height'), (text) => /\d/.test(text));
    const alertsPage = await signedIn(server.tokens.issuer);
    await go(alertsPage, '#/alerts', 'Integrity alerts');
    await eventually('the alerts read', () => alertsPage.locator('#alerts-state').innerText(), (text) => /No alert yet|alerts?\. New ones/.test(text));

    await ledger.stopBackground();
    await server.stop();
    for (const page of [ledgerPage, alertsPage]) {
      await page.locator('#connection-lost').waitFor({ timeout: APPEAR_MS });
      assert.match(await page.locator('#connection-lost').innerText(), /connection to the server lost; retrying/i);
    }
    await screenshots(ledgerPage, 'connection-lost');
    const heightWhileAway = numberOf(await figure(ledgerPage, 'tip-height'));

    await server.resume();
    ledger.startBackground();
    for (const page of [ledgerPage, alertsPage]) {
      await page.locator('#connection-lost').waitFor({ state: 'detached', timeout: 30_000 });
    }
    await eventually('the tip moving again', () => figure(ledgerPage, 'tip-height'), (text) => numberOf(text) > heightWhileAway, 30_000);

    await rapidRepeat('carol', 'cafe', 3);
    await eventually('a new alert after the restart', () => tableRows(alertsPage, '#alerts-table'), (rows) => rows.some((row) => row[3] === CAFE));
    await screenshots(alertsPage, 'alerts-resumed');
    const api = await apiAlerts();
    const numbers = (await tableRows(alertsPage, '#alerts-table')).map((row) => Number(row[0]));
    assert.deepEqual(numbers, api.map((alert) => alert.number).reverse(), 'the alerts once each, none missing');
    assert.ok((await streamsOpen(ledgerPage)) <= 2 && (await streamsOpen(alertsPage)) <= 2);
  });
});
