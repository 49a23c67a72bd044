/**
 * Charts drawn by hand in SVG: bars (a programme's spending by category or
 * by day) and a line (the ledger's rates over the last minutes). Each is an
 * image to assistive technology (`role="img"` with a summary as its label);
 * the page puts the table of the same figures beside it.
 *
 * @module
 */
import { CHART_BARS_MAX } from './limits.js';
import { h, svg } from './dom.js';

/** One bar: its label and value. */
export interface Bar {
  readonly label: string;
  readonly value: bigint;
}

// In the SVG's own units: the chart is drawn at most 40 rem wide, and
// scaled down on a phone, where its 15-unit text still reads.
const BAR_CHART_WIDTH = 480;
const BAR_ROW_HEIGHT = 30;
const BAR_LABEL_WIDTH = 104;
const BAR_VALUE_WIDTH = 120;

/**
 * Horizontal bars, longest the largest value; {@link CHART_BARS_MAX} bars
 * at most (the largest).
 */
export function barChart(title: string, bars: readonly Bar[], format: (value: bigint) => string): HTMLElement {
  const shown = [...bars]
    .sort((a, b) => (a.value === b.value ? 0 : a.value > b.value ? -1 : 1))
    .slice(0, CHART_BARS_MAX);
  const top = shown.reduce((max, bar) => (bar.value > max ? bar.value : max), 0n);
  const height = Math.max(1, shown.length) * BAR_ROW_HEIGHT;
  const span = BAR_CHART_WIDTH - BAR_LABEL_WIDTH - BAR_VALUE_WIDTH;
  const summary = shown.map((bar) => `${bar.label}: ${format(bar.value)}`).join('; ');
  return h(
    'figure',
    { class: 'chart' },
    svg(
      'svg',
      {
        viewBox: `0 0 ${BAR_CHART_WIDTH} ${height}`,
        role: 'img',
        'aria-label': `${title}. ${summary === '' ? 'Nothing yet.' : summary}`,
        preserveAspectRatio: 'xMinYMin meet',
      },
      shown.map((bar, index) => {
        const y = index * BAR_ROW_HEIGHT;
        const width = top === 0n ? 0 : Math.max(1, Math.round((Number(bar.value) / Number(top)) * span));
        return svg(
          'g',
          {},
          svg('text', { x: BAR_LABEL_WIDTH - 8, y: y + 20, class: 'chart-label', 'text-anchor': 'end' }, bar.label),
          svg('rect', { x: BAR_LABEL_WIDTH, y: y + 5, width, height: BAR_ROW_HEIGHT - 10, class: 'chart-bar' }),
          svg('text', { x: BAR_LABEL_WIDTH + width + 6, y: y + 20, class: 'chart-value' }, format(bar.value)),
        );
      }),
    ),
    h('figcaption', {}, bars.length > shown.length ? `${title} (the ${shown.length} largest of ${bars.length})` : title),
  );
}

/** A point of a line chart: a time (ms) and a value. */
export interface Point {
  readonly timeMs: number;
  readonly value: number;
}

const LINE_CHART_WIDTH = 480;
const LINE_CHART_HEIGHT = 180;
const LINE_CHART_PADDING = 32;

/**
 * Lines over `[startMs, endMs]`, on a scale from 0 to the largest value of
 * any of them.
 */
export function lineChart(
  title: string,
  series: readonly { readonly name: string; readonly className: string; readonly points: readonly Point[] }[],
  startMs: number,
  endMs: number,
  summary: string,
): HTMLElement {
  const top = Math.max(1, ...series.flatMap((line) => line.points.map((point) => point.value)));
  const plotWidth = LINE_CHART_WIDTH - 2 * LINE_CHART_PADDING;
  const plotHeight = LINE_CHART_HEIGHT - 2 * LINE_CHART_PADDING;
  const x = (timeMs: number): number =>
    LINE_CHART_PADDING + (endMs === startMs ? plotWidth : ((timeMs - startMs) / (endMs - startMs)) * plotWidth);
  const y = (value: number): number => LINE_CHART_PADDING + plotHeight - (value / top) * plotHeight;
  const bottom = LINE_CHART_PADDING + plotHeight;
  return h(
    'figure',
    { class: 'chart' },
    svg(
      'svg',
      { viewBox: `0 0 ${LINE_CHART_WIDTH} ${LINE_CHART_HEIGHT}`, role: 'img', 'aria-label': `${title}. ${summary}` },
      svg('line', { x1: LINE_CHART_PADDING, y1: bottom, x2: LINE_CHART_PADDING + plotWidth, y2: bottom, class: 'chart-axis' }),
      svg('line', { x1: LINE_CHART_PADDING, y1: LINE_CHART_PADDING, x2: LINE_CHART_PADDING, y2: bottom, class: 'chart-axis' }),
      svg('text', { x: LINE_CHART_PADDING + 4, y: LINE_CHART_PADDING - 8, class: 'chart-label' }, `${Math.round(top)}/s`),
      svg('text', { x: LINE_CHART_PADDING, y: LINE_CHART_HEIGHT - 6, class: 'chart-label' }, `${Math.round((endMs - startMs) / 60_000)} min ago`),
      svg('text', { x: LINE_CHART_PADDING + plotWidth, y: LINE_CHART_HEIGHT - 6, class: 'chart-label', 'text-anchor': 'end' }, 'now'),
      series.map((line) =>
        svg('polyline', {
          points: line.points.map((point) => `${x(point.timeMs).toFixed(1)},${y(point.value).toFixed(1)}`).join(' '),
          class: `chart-line ${line.className}`,
        }),
      ),
    ),
    h(
      'figcaption',
      {},
      title,
      ': ',
      series.map((line, index) => [index > 0 ? ', ' : '', h('span', { class: `legend ${line.className}` }, line.name)]),
    ),
  );
}
