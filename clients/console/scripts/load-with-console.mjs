#!/usr/bin/env node
/**
 * The console's effect on the payment rate, measured in one run: one
 * release server with its console port, the load generator
 * (`settled-simulations load --server`) run again and again against it,
 * alternately with no browser and with a headless Chromium holding the
 * console open, signed in, on every page (ledger, programmes, alerts, a
 * payment, banks: each live on its streams), so that the two figures of
 * each pair come minutes apart on the same machine.
 *
 * Usage (from clients/console, after `npm ci`; a release build of the
 * workspace first):
 *   node scripts/load-with-console.mjs --settled-bin ../../target/release/settled \
 *     --simulations-bin ../../target/release/settled-simulations --rounds 3 --duration-s 20
 *
 * Prints one line per run and a summary, and writes the reports to
 * --out-dir (default target/console-load under the repository).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

/** Chromium flags for this machine: headless, no sandbox as root, no calls home. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** How long the server may take to write its token and answer. */
const SERVER_READY_MS = 30_000;

const { values } = parseArgs({
  options: {
    'settled-bin': { type: 'string', default: '../../target/release/settled' },
    'simulations-bin': { type: 'string', default: '../../target/release/settled-simulations' },
    rounds: { type: 'string', default: '3' },
    'duration-s': { type: 'string', default: '20' },
    'out-dir': { type: 'string', default: '../../target/console-load' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
const rounds = Number(values.rounds);
const outDir = resolve(values['out-dir']);
mkdirSync(outDir, { recursive: true });

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

const dataDir = mkdtempSync(join(tmpdir(), 'settled-console-load-'));
const [apiPort, consolePort] = [await freePort(), await freePort()];
const server = spawn(
  resolve(values['settled-bin']),
  ['serve', '--dev', '--data-dir', dataDir, '--listen', `127.0.0.1:${apiPort}`, '--console-listen', `127.0.0.1:${consolePort}`],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const tokenFile = join(dataDir, 'dev.token');
const deadline = Date.now() + SERVER_READY_MS;
while (!existsSync(tokenFile)) {
  if (Date.now() > deadline) throw new Error('the server did not start');
  await sleep(100);
}
await sleep(500);
const token = readFileSync(tokenFile, 'utf8').trim();
const consoleUrl = `http://127.0.0.1:${consolePort}`;

function load(tag) {
  const out = join(outDir, `${tag}.json`);
  const run = spawnSync(
    resolve(values['simulations-bin']),
    [
      'load', '--workload', 'retail', '--mode', 'streaming', '--duration-s', values['duration-s'],
      '--server', `http://127.0.0.1:${apiPort}`, '--token', token,
      '--issuer-key-files', `${join(dataDir, 'issuer-1.key')},${join(dataDir, 'issuer-2.key')}`,
      '--server-pid', String(server.pid), '--out', out, '--svg', join(outDir, `${tag}.svg`),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (run.status !== 0) throw new Error(`the load run ${tag} failed`);
  const report = JSON.parse(readFileSync(out, 'utf8'));
  return {
    confirmed_per_s: report.figures.confirmed_per_s,
    p99_ms: (report.latency_distribution.find((p) => p.percentile >= 99)?.latency_us ?? 0) / 1000,
    verify_ceiling_per_s: report.ceiling.before.per_s,
    server_cpu_cores: report.figures.server_cpu_cores,
  };
}

/** Reads the fields of a protobuf message: field number -> values (varints as bigint, others as bytes). */
function fields(bytes) {
  const out = new Map();
  let at = 0;
  const varint = () => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = bytes[at++];
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const [number, wire] = [key >> 3, key & 7];
    let value;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const length = Number(varint());
      value = bytes.subarray(at, at + length);
      at += length;
    } else if (wire === 1) { value = bytes.subarray(at, at + 8); at += 8; }
    else if (wire === 5) { value = bytes.subarray(at, at + 4); at += 4; }
    else throw new Error(`wire type ${wire}`);
    out.set(number, [...(out.get(number) ?? []), value]);
  }
  return out;
}

/** One unary gRPC-Web call to the console port: the response message's bytes. */
async function call(path, message) {
  const frame = new Uint8Array(5 + message.length);
  new DataView(frame.buffer).setUint32(1, message.length);
  frame.set(message, 5);
  const response = await fetch(`${consoleUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1', authorization: `Bearer ${token}` },
    body: frame,
  });
  const body = new Uint8Array(await response.arrayBuffer());
  if (body.length < 5 || body[0] !== 0) throw new Error(`${path}: ${response.headers.get('grpc-message')}`);
  return body.subarray(5, 5 + new DataView(body.buffer, body.byteOffset).getUint32(1));
}

/** A txid for the payment page: a payment of the block before the tip. */
async function someTxid() {
  const info = fields(await call('/settled.v1.LedgerService/GetInfo', new Uint8Array()));
  const tip = fields(info.get(6)[0]).get(1)[0];
  const height = tip > 1n ? tip - 1n : tip;
  const request = [0x08];
  for (let v = height; ; v >>= 7n) {
    if (v < 0x80n) { request.push(Number(v)); break; }
    request.push(Number(v & 0x7fn) | 0x80);
  }
  const block = fields(await call('/settled.v1.LedgerService/GetBlock', new Uint8Array(request)));
  return Buffer.from(block.get(2)[0]).toString('hex');
}

async function openEveryPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const pages = [];
  for (const route of ['#/ledger', '#/programmes', '#/alerts', '#/banks', '#/ledger']) {
    const page = await context.newPage();
    await page.goto(`${consoleUrl}/`);
    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: /sign in/i }).click();
    await page.waitForFunction(() => !location.hash.startsWith('#/signin'));
    await page.goto(`${consoleUrl}/${route}`);
    pages.push(page);
  }
  // The payment page shows one real payment, verified in the browser.
  await pages[4].goto(`${consoleUrl}/#/payment/${await someTxid()}`);
  return context;
}

const runs = [];
const browser = await chromium.launch({ executablePath: values.chromium, args: CHROMIUM_ARGS });
try {
  // A first run warms the server (and mints the wallets' money) for both modes.
  load('warmup');
  for (let round = 1; round <= rounds; round += 1) {
    const off = load(`round-${round}-closed`);
    runs.push({ round, console: 'closed', ...off });
    console.log(JSON.stringify(runs.at(-1)));
    const context = await openEveryPage(browser);
    try {
      const on = load(`round-${round}-open`);
      runs.push({ round, console: 'open on 5 pages', ...on });
      console.log(JSON.stringify(runs.at(-1)));
    } finally {
      await context.close();
    }
  }
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
const mean = (mode) => {
  const rates = runs.filter((r) => r.console === mode).map((r) => r.confirmed_per_s);
  return rates.reduce((a, b) => a + b, 0) / rates.length;
};
const summary = {
  closed: mean('closed'),
  open: mean('open on 5 pages'),
  pairs: runs.filter((r) => r.console === 'closed').map((r) => {
    const open = runs.find((o) => o.round === r.round && o.console !== 'closed');
    return open.confirmed_per_s / r.confirmed_per_s;
  }),
};
writeFileSync(join(outDir, 'summary.json'), JSON.stringify({ runs, summary }, null, 2));
console.log(JSON.stringify(summary));
