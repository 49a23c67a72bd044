/**
 * The ledger, live from WatchLedger: the tip (its engine signature checked
 * in this browser against the pins), rates and their chart over the last
 * minutes (kept here from the stream), confirmation latency, supply, the
 * last audit, and the cluster.
 *
 * @module
 */
import { type SignedBlockHeader, toHex, VerificationError, verifyHeader } from '@settled/client/verify';

import type { LedgerStatus } from '../api.js';
import type { PageContext } from '../app.js';
import { lineChart, type Point } from '../chart.js';
import { type Child, empty, type Figure, figures, h, notice, replace, section, table } from '../dom.js';
import { ABSENT, count, milliseconds, money, rate, shortHex, utcTime } from '../format.js';
import { LEDGER_HISTORY_MS, LEDGER_SAMPLES_MAX } from '../limits.js';

interface Sample {
  readonly timeMs: number;
  readonly blocksPerSecond: number;
  readonly transactionsPerSecond: number;
}

export function ledgerPage(context: PageContext): void {
  const { main, session } = context;
  const { exponent, currency } = session.info;
  const samples: Sample[] = [];
  const signature = new TipSignature(session.pins.engineKey, session.pins.chainId, (problem) => context.distrust(problem));
  const waiting = h('p', { class: 'loading' }, 'Waiting for the ledger’s first status…');
  const problem = h('div');
  const charts = h('div', { class: 'charts' });
  const minutes = h('div');
  replace(main, h('h1', { tabindex: -1 }, 'Ledger'), problem, waiting, skeleton(charts, minutes));

  const show = (status: LedgerStatus): void => {
    waiting.remove();
    replace(problem);
    const nowMs = Number(status.timeUnixMs);
    samples.push({ timeMs: nowMs, blocksPerSecond: status.blocksPerSecond, transactionsPerSecond: status.transactionsPerSecond });
    while (samples.length > LEDGER_SAMPLES_MAX || (samples[0] !== undefined && nowMs - samples[0].timeMs > LEDGER_HISTORY_MS)) {
      samples.shift();
    }
    for (const [key, value] of Object.entries(figuresOf(status, exponent, currency, signature.check(status.tip)))) {
      const target = main.querySelector(`[data-figure="${key}"]`);
      const next = h('div', {}, value);
      // Only what changed is redrawn: a live region (the last audit) speaks when redrawn.
      if (target !== null && target.textContent !== next.textContent) {
        replace(target, [...next.childNodes]);
      }
    }
    replace(charts, ...rateCharts(samples, nowMs));
    replace(minutes, minuteTable(samples, nowMs));
  };

  context.live(
    'ledger',
    (signal, opened) => session.api.watchLedger(signal, opened),
    show,
    (error) => replace(problem, context.problem(error, 'the ledger’s status')),
  );
}

/** The page's sections, every figure absent until the first status. */
function skeleton(charts: HTMLElement, minutes: HTMLElement): HTMLElement {
  const absent = (key: string, label: string, wide = false): Figure => ({ key, label, value: ABSENT, wide });
  return h(
    'div',
    { class: 'grid' },
    section(
      'tip',
      'Tip',
      figures([
        absent('tip-height', 'Height'),
        absent('tip-time', 'Block time'),
        absent('transactions', 'Transactions confirmed'),
        absent('tip-hash', 'Block hash', true),
        absent('tip-signature', 'Engine signature', true),
      ]),
    ),
    section('supply', 'Supply', figures([absent('minted', 'Minted'), absent('burned', 'Burned'), absent('outstanding', 'Outstanding')])),
    section(
      'latency',
      'Confirmation latency',
      h('p', { class: 'help' }, 'From a payment’s arrival at the server to its durable answer, over the payments of the last minute.'),
      figures([
        absent('latency-count', 'Payments measured'),
        absent('latency-p50', 'p50'),
        absent('latency-p90', 'p90'),
        absent('latency-p99', 'p99'),
        absent('latency-max', 'Max'),
      ]),
    ),
    section(
      'throughput',
      'Throughput',
      figures([absent('blocks-per-second', 'Blocks per second'), absent('payments-per-second', 'Payments per second')]),
      h('p', { class: 'help' }, 'Over the last minute, every confirmed transaction counted; the chart keeps what this page has seen of the last 5 minutes.'),
      charts,
      minutes,
    ),
    section('audit', 'Last audit', h('div', { 'data-figure': 'audit', 'aria-live': 'polite' }, ABSENT)),
    section('cluster', 'Cluster', h('div', { 'data-figure': 'cluster' }, ABSENT)),
  );
}

/**
 * Each tip header's engine signature, checked once per height against the
 * pins; a failure is reported (the page shows it as a banner).
 */
class TipSignature {
  #height: bigint | null = null;
  #verdict = 'not checked yet';

  constructor(
    readonly engineKey: Uint8Array,
    readonly chainId: Uint8Array,
    readonly report: (problem: string) => void,
  ) {}

  /** What to say of `tip`'s signature. */
  check(tip: SignedBlockHeader): string {
    if (this.#height !== tip.height) {
      this.#height = tip.height;
      try {
        verifyHeader(tip, this.engineKey, this.chainId);
        this.#verdict = 'verified in this browser against the pinned engine key';
      } catch (error) {
        const why = error instanceof VerificationError ? error.message : String(error);
        this.#verdict = `does NOT verify: ${why}`;
        this.report(`the tip block ${tip.height} does not verify: ${why}`);
      }
    }
    return this.#verdict;
  }
}

/** The figures of one status, by their `data-figure` keys. */
function figuresOf(status: LedgerStatus, exponent: number, currency: string, signature: string): Record<string, Child> {
  const confirmation = status.confirmation;
  const measured = confirmation !== undefined && confirmation.count > 0n;
  const latency = (ms: number | undefined): string => (measured && ms !== undefined ? milliseconds(ms) : ABSENT);
  const hash = toHex(status.tip.hash ?? new Uint8Array());
  return {
    'tip-height': count(status.tip.height),
    'tip-time': utcTime(status.tip.timeUnixMs),
    transactions: count(status.transactions),
    'tip-hash': h('code', { title: hash }, shortHex(hash)),
    'tip-signature': signature,
    'blocks-per-second': rate(status.blocksPerSecond),
    'payments-per-second': rate(status.transactionsPerSecond),
    'latency-count': measured ? count(confirmation.count) : 'none yet',
    'latency-p50': latency(confirmation?.p50Ms),
    'latency-p90': latency(confirmation?.p90Ms),
    'latency-p99': latency(confirmation?.p99Ms),
    'latency-max': latency(confirmation?.maxMs),
    minted: money(status.mintedMinor, exponent, currency),
    burned: money(status.burnedMinor, exponent, currency),
    outstanding: money(status.outstandingMinor, exponent, currency),
    audit: auditView(status),
    cluster: clusterView(status),
  };
}

function auditView(status: LedgerStatus): Child {
  const last = status.lastAudit;
  if (last === undefined) {
    return 'none yet';
  }
  return [
    last.sound
      ? h('p', { class: 'verdict-good' }, 'Sound: every check held.')
      : h('p', { class: 'verdict-bad' }, `${count(last.failures)} failed; the first: ${last.firstFailure}`),
    figures([
      { key: 'audit-time', label: 'Finished', value: utcTime(last.timeUnixMs) },
      { key: 'audit-height', label: 'Up to height', value: count(last.height) },
      { key: 'audit-blocks', label: 'Blocks checked', value: count(last.blocks) },
      { key: 'audit-transactions', label: 'Transactions checked', value: count(last.transactions) },
    ]),
  ];
}

function clusterView(status: LedgerStatus): Child {
  const cluster = status.cluster;
  if (cluster === undefined) {
    return h('p', {}, 'A single server (not a cluster).');
  }
  return [
    figures([
      { key: 'cluster-node', label: 'This node', value: String(cluster.nodeId) },
      { key: 'cluster-leading', label: 'Leading', value: cluster.leading ? 'yes' : 'no' },
      { key: 'cluster-term', label: 'Term', value: count(cluster.term) },
      { key: 'cluster-leader', label: 'Leader', value: cluster.leaderId === 0n ? 'none known' : String(cluster.leaderId) },
      { key: 'cluster-committed', label: 'Committed height', value: count(cluster.committedHeight) },
      { key: 'cluster-lag', label: 'Lag (blocks)', value: count(cluster.lagBlocks) },
    ]),
    cluster.replicas.length === 0
      ? empty(cluster.leading ? 'No replica reported yet.' : 'Only the leader knows every replica’s progress.')
      : table(
          'Replicas, as the leader sees them',
          [{ heading: 'Replica' }, { heading: 'Role' }, { heading: 'Matched log index', numeric: true }, { heading: 'Lag (log entries)', numeric: true }],
          cluster.replicas.map((replica) => [String(replica.id), replica.role, count(replica.matchedLogIndex), count(replica.lagEntries)]),
        ),
  ];
}

function rateCharts(samples: readonly Sample[], nowMs: number): Child[] {
  if (samples.length < 2) {
    return [notice('note', 'The chart starts with the second status.')];
  }
  const startMs = nowMs - LEDGER_HISTORY_MS;
  const points = (of: (sample: Sample) => number): Point[] => samples.map((sample) => ({ timeMs: sample.timeMs, value: of(sample) }));
  const last = samples[samples.length - 1];
  const tps = last?.transactionsPerSecond ?? 0;
  const bps = last?.blocksPerSecond ?? 0;
  return [
    lineChart(
      'Payments per second, last 5 minutes',
      [{ name: 'payments per second', className: 'series-payments', points: points((sample) => sample.transactionsPerSecond) }],
      startMs,
      nowMs,
      `Now ${rate(tps)}; the table below gives each minute's mean.`,
    ),
    lineChart(
      'Blocks per second, last 5 minutes',
      [{ name: 'blocks per second', className: 'series-blocks', points: points((sample) => sample.blocksPerSecond) }],
      startMs,
      nowMs,
      `Now ${rate(bps)}; the table below gives each minute's mean.`,
    ),
  ];
}

/** Each of the last minutes' mean rates: the charts as a table. */
function minuteTable(samples: readonly Sample[], nowMs: number): HTMLElement {
  const rows: Child[][] = [];
  const minutes = Math.ceil(LEDGER_HISTORY_MS / 60_000);
  for (let ago = minutes - 1; ago >= 0; ago -= 1) {
    const inMinute = samples.filter((sample) => {
      const age = nowMs - sample.timeMs;
      return age >= ago * 60_000 && age < (ago + 1) * 60_000;
    });
    if (inMinute.length === 0) {
      continue;
    }
    const mean = (of: (sample: Sample) => number): number => inMinute.reduce((sum, sample) => sum + of(sample), 0) / inMinute.length;
    rows.push([
      ago === 0 ? 'this minute' : `${ago}–${ago + 1} min ago`,
      rate(mean((sample) => sample.transactionsPerSecond)),
      rate(mean((sample) => sample.blocksPerSecond)),
      count(inMinute.length),
    ]);
  }
  return table(
    'Rates by minute (means of the statuses this page received)',
    [{ heading: 'Minute' }, { heading: 'Payments per second', numeric: true }, { heading: 'Blocks per second', numeric: true }, { heading: 'Statuses', numeric: true }],
    rows,
  );
}
