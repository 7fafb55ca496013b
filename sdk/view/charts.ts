// The view's two charts, both uPlot (canvas; a few ms to draw a 60-point series):
//   - TrendChart: one vital's p75 per stored point over the last hour, over its rating bands;
//   - ActivityChart: page views, errors and failed requests per minute.
// A chart is created once, on its first data, and then only gets new data (`setData`) or a new
// width (a ResizeObserver): a refresh redraws the canvas in place, never rebuilds the DOM.

import uPlot from 'uplot';
import type { ActivityMinute, TrendPoint, VitalInfo } from './api';
import { formatVital } from './format';

/** The rating colours, as the stylesheet's --good / --ni / --poor (canvas cannot read CSS variables cheaply). */
export const COLOURS = { good: '#0a8f4f', needsImprovement: '#e07b00', poor: '#d93025', line: '#1a56db', muted: '#6b7280' };
const BAND_ALPHA = '1f';

const MINUTE_MS = 60_000;
/** What the charts span: the summary's trend and activity cover the last hour. */
const SPAN_MS = 60 * MINUTE_MS;

/** A short axis label of a vital's value ("250ms", "2.5s", "0.10"). */
function axisValue(unit: string, value: number): string {
  if (unit != 's') return value.toFixed(2);
  return value < 1 ? `${Math.round(value * 1000)}ms` : `${Number(value.toFixed(1))}s`;
}

/** The legend's reading of a time (seconds): "14:05". */
const legendTime = (_plot: uPlot, seconds: number | null) =>
  seconds === null ? '--' : new Date(seconds * 1000).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });

/** The x range of both charts: the hour before the summary's current minute, in seconds. */
function hourRange(nowMs: number): [number, number] {
  return [(nowMs - SPAN_MS) / 1000, (nowMs + MINUTE_MS) / 1000];
}

/** Holds a uPlot in `container`, created on first data, resized with the container. */
abstract class Chart {
  protected plot: uPlot | null = null;
  private readonly resize = new ResizeObserver(() => this.fit());

  constructor(
    protected readonly container: HTMLElement,
    protected readonly height: number,
  ) {
    this.resize.observe(container);
  }

  protected abstract options(width: number): uPlot.Options;

  /** Draws `data`: creates the plot the first time the container has a width. */
  protected draw(data: uPlot.AlignedData): void {
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    const width = this.container.clientWidth;
    if (width == 0) return;
    this.plot = new uPlot(this.options(width), data, this.container);
  }

  private fit(): void {
    const width = this.container.clientWidth;
    if (this.plot && width > 0 && width != this.plot.width) this.plot.setSize({ width, height: this.height });
  }
}

/** One vital's p75 over the last hour, on green / amber / red bands at its thresholds. */
export class TrendChart extends Chart {
  private range: [number, number] = [0, 1];

  constructor(
    container: HTMLElement,
    private readonly vital: VitalInfo,
  ) {
    super(container, 96);
  }

  update(points: TrendPoint[], nowMs: number): void {
    this.range = hourRange(nowMs);
    // A point sits in the middle of the minutes it covers (1 for the last 15, else 5).
    const times = points.map((point) => (point.start_ms + (point.minutes * MINUTE_MS) / 2) / 1000);
    const values = points.map((point) => point.vitals[this.vital.metric]?.p75 ?? null);
    this.draw([times, values]);
  }

  protected options(width: number): uPlot.Options {
    const { unit, good, poor } = this.vital;
    return {
      width,
      height: this.height,
      padding: [6, 8, 0, 0],
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      scales: {
        x: { time: true, range: () => this.range },
        // Always show the good threshold, so a flat line near 0 still reads as "good".
        y: { range: (_plot, _min, max) => [0, Math.max(max ?? 0, good) * 1.15] },
      },
      axes: [
        { stroke: COLOURS.muted, size: 24, space: 60, grid: { show: false }, ticks: { size: 3 } },
        {
          stroke: COLOURS.muted,
          size: 52,
          space: 24,
          grid: { stroke: '#e5e7eb', width: 1 },
          ticks: { show: false },
          values: (_plot, splits) => splits.map((value) => axisValue(unit, value)),
        },
      ],
      series: [
        { label: 'at', value: legendTime },
        {
          label: 'p75',
          value: (_plot, value) => formatVital(unit, value),
          stroke: COLOURS.line,
          width: 2,
          spanGaps: false,
          points: { show: true, size: 4, fill: COLOURS.line },
        },
      ],
      hooks: { drawClear: [(plot) => drawBands(plot, good, poor)] },
    };
  }
}

/** Fills the plot area by rating: up to `good` green, to `poor` amber, above red. */
function drawBands(plot: uPlot, good: number, poor: number): void {
  const { ctx, bbox } = plot;
  const top = bbox.top;
  const bottom = bbox.top + bbox.height;
  const y = (value: number) => Math.min(bottom, Math.max(top, plot.valToPos(value, 'y', true)));
  const bands: [number, number, string][] = [
    [bottom, y(good), COLOURS.good],
    [y(good), y(poor), COLOURS.needsImprovement],
    [y(poor), top, COLOURS.poor],
  ];
  ctx.save();
  for (const [from, to, colour] of bands) {
    if (from <= to) continue;
    ctx.fillStyle = colour + BAND_ALPHA;
    ctx.fillRect(bbox.left, to, bbox.width, from - to);
  }
  ctx.restore();
}

/** Page views (bars, left axis), errors and failed requests (lines, right axis) per minute. */
export class ActivityChart extends Chart {
  private range: [number, number] = [0, 1];

  constructor(container: HTMLElement) {
    super(container, 180);
  }

  update(minutes: ActivityMinute[], nowMs: number): void {
    this.range = hourRange(nowMs);
    // Minutes without beacons are absent from the answer: they are zeros, not gaps.
    const byStart = new Map(minutes.map((minute) => [minute.start_ms, minute]));
    const last = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
    const times: number[] = [];
    const pageViews: number[] = [];
    const errors: number[] = [];
    const failed: number[] = [];
    for (let start = last - SPAN_MS + MINUTE_MS; start <= last; start += MINUTE_MS) {
      const minute = byStart.get(start);
      times.push(start / 1000);
      pageViews.push(minute?.page_views ?? 0);
      errors.push(minute?.errors ?? 0);
      failed.push(minute?.requests_failed ?? 0);
    }
    this.draw([times, pageViews, errors, failed]);
  }

  protected options(width: number): uPlot.Options {
    const whole = (_plot: uPlot, splits: number[]) => splits.map((value) => (Number.isInteger(value) ? String(value) : ''));
    return {
      width,
      height: this.height,
      padding: [8, 0, 0, 0],
      cursor: { drag: { x: false, y: false } },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      scales: {
        x: { time: true, range: () => this.range },
        views: { range: (_plot, _min, max) => [0, Math.max(4, max ?? 0) * 1.1] },
        events: { range: (_plot, _min, max) => [0, Math.max(4, max ?? 0) * 1.1] },
      },
      axes: [
        { stroke: COLOURS.muted, size: 28, space: 60, grid: { show: false } },
        { scale: 'views', stroke: COLOURS.muted, size: 40, grid: { stroke: '#e5e7eb', width: 1 }, values: whole },
        { scale: 'events', side: 1, stroke: COLOURS.muted, size: 36, grid: { show: false }, values: whole },
      ],
      series: [
        { label: 'minute', value: legendTime },
        {
          label: 'Page views',
          scale: 'views',
          stroke: COLOURS.line,
          fill: COLOURS.line + '33',
          paths: uPlot.paths.bars?.({ size: [0.7, 24] }),
          points: { show: false },
        },
        { label: 'Errors', scale: 'events', stroke: COLOURS.poor, width: 2, points: { show: false } },
        { label: 'Failed requests', scale: 'events', stroke: COLOURS.needsImprovement, width: 2, dash: [5, 3], points: { show: false } },
      ],
    };
  }
}
