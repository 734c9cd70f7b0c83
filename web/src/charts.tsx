// Charts: TradingView Lightweight Charts for candles (trade markers, grid-level price lines) and
// uPlot for equity / drawdown / walk-forward windows. Both stay fast at 100k points.
import { useEffect, useRef } from 'preact/hooks';
import {
  CandlestickSeries,
  ColorType,
  createChart,
  createSeriesMarkers,
  LineStyle,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
  type SeriesMarker,
} from 'lightweight-charts';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Candle {
  time: number; // ms, open time
  open: number;
  high: number;
  low: number;
  close: number;
}

export interface TradeMark {
  time: number; // ms
  price: number;
  kind: 'entry' | 'exit';
  side: string; // long | short
  label?: string;
}

export interface Level {
  price: number;
  side?: string;
  label?: string;
}

const sec = (ms: number) => Math.floor(ms / 1000) as UTCTimestamp;

/** Creates the candle chart in `el` and sets the data; returns a remover (cancels a pending
 * history attach, then removes the chart). `lastBars`: show only the newest N bars at first
 * (0 = fit everything). */
export function drawCandles(el: HTMLElement, candles: Candle[], marks: TradeMark[] = [], levels: Level[] = [], lastBars = 0): () => void {
  const { chart, series } = makeCandleChart(el);
  const fill = fillCandleChart(chart, series, candles, marks, levels, lastBars);
  return () => {
    fill.cancel();
    chart.remove();
  };
}

/** The empty candle chart (layout, colours, attribution) and its candlestick series. */
export function makeCandleChart(el: HTMLElement): { chart: IChartApi; series: ISeriesApi<'Candlestick'> } {
  const chart = createChart(el, {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: '#11161d' },
      textColor: '#c9d1d9',
      // The TradingView attribution logo stays on (Lightweight Charts licence, NOTICE).
      attributionLogo: true,
    },
    grid: { vertLines: { color: '#1d2530' }, horzLines: { color: '#1d2530' } },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const series = chart.addSeries(CandlestickSeries, {
    upColor: '#26a69a',
    downColor: '#ef5350',
    borderVisible: false,
    wickUpColor: '#26a69a',
    wickDownColor: '#ef5350',
  });
  return { chart, series };
}

/** Newest bars set first when a chart opens on its newest `lastBars` (see fillCandleChart). */
export const HEAD_BARS = 5_000;

/** What fillCandleChart started: `full` resolves once every candle is in the chart and painted. */
export interface Fill {
  full: Promise<void>;
  /** Stops a pending history attach (call before chart.remove()). */
  cancel(): void;
}

const toBar = (c: Candle) => ({ time: sec(c.time), open: c.open, high: c.high, low: c.low, close: c.close });
const nextFrame = () => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r())));

/**
 * Sets the candles, the trade markers and the level price lines, then the initial view.
 *
 * When the chart opens on its newest `lastBars` (the Trades tab) and the series is longer than
 * HEAD_BARS, the newest HEAD_BARS are set and painted first, and the older history is attached
 * right after that first frame, keeping the same bars in view — the lazy-history pattern of
 * TradingView's own charts. setData of 100k candles costs lightweight-charts ~200 ms of
 * conversion before anything is drawn; the trader sees the newest bars without waiting for it.
 */
export function fillCandleChart(
  chart: IChartApi,
  series: ISeriesApi<'Candlestick'>,
  candles: Candle[],
  marks: TradeMark[] = [],
  levels: Level[] = [],
  lastBars = 0,
): Fill {
  const windowed = lastBars > 0 && candles.length > lastBars;
  const split = windowed && candles.length > HEAD_BARS ? candles.length - HEAD_BARS : 0;
  // Conflation merges bars narrower than half a pixel when zoomed out: it halves the first
  // frame at 100k candles, but made a 20k-candle chart with a thousand markers crawl, so only
  // very long series get it.
  const conflate = candles.length > 50_000;
  chart.applyOptions({ timeScale: { enableConflation: conflate && !split } });
  series.setData((split ? candles.slice(split) : candles).map(toBar));
  if (marks.length) {
    const m: SeriesMarker<UTCTimestamp>[] = marks
      .slice()
      .sort((a, b) => a.time - b.time)
      .map((t) => {
        const long = t.side === 'long';
        const entry = t.kind === 'entry';
        return {
          time: sec(t.time),
          position: entry === long ? 'belowBar' : 'aboveBar',
          shape: entry ? (long ? 'arrowUp' : 'arrowDown') : 'circle',
          color: entry ? (long ? '#26a69a' : '#ef5350') : '#f0b429',
          text: t.label ?? (entry ? `${t.side} entry` : 'exit'),
        };
      });
    createSeriesMarkers(series, m);
  }
  for (const l of levels) {
    series.createPriceLine({
      price: l.price,
      color: l.side === 'short' ? '#ef5350' : '#4c9aff',
      lineWidth: 1,
      lineStyle: LineStyle.Dashed,
      axisLabelVisible: true,
      title: l.label ?? `grid ${l.side ?? ''}`.trim(),
    });
  }
  const shown = candles.length - split;
  if (windowed) {
    chart.timeScale().setVisibleLogicalRange({ from: shown - lastBars, to: shown + 2 });
  } else {
    chart.timeScale().fitContent();
  }
  let cancelled = false;
  const full = (async () => {
    await nextFrame();
    if (!split || cancelled) return;
    // A task of its own after the first painted frame (not in its animation-frame callback),
    // so the browser shows the newest bars before the older ones are converted.
    await new Promise((r) => setTimeout(r, 0));
    if (cancelled) return;
    // The same bars stay in view: logical indices move by the number of bars put in front.
    const r = chart.timeScale().getVisibleLogicalRange();
    if (conflate) chart.applyOptions({ timeScale: { enableConflation: true } });
    series.setData(candles.map(toBar));
    if (r) chart.timeScale().setVisibleLogicalRange({ from: r.from + split, to: r.to + split });
    await nextFrame();
  })();
  return {
    full,
    cancel: () => {
      cancelled = true;
    },
  };
}

export function CandleChart(props: { candles: Candle[]; marks?: TradeMark[]; levels?: Level[]; height?: number; lastBars?: number }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    return drawCandles(ref.current, props.candles, props.marks, props.levels, props.lastBars ?? 0);
  }, [props.candles, props.marks, props.levels]);
  return (
    <div class="chart-wrap">
      <div ref={ref} class="candle-chart" style={{ height: `${props.height ?? 380}px` }} data-candles={props.candles.length} />
      <div class="attribution">
        Candle charts by{' '}
        <a href="https://www.tradingview.com/" target="_blank" rel="noopener">
          TradingView Lightweight Charts™
        </a>
      </div>
    </div>
  );
}

export interface LineSeries {
  label: string;
  color: string;
  values: (number | null)[];
  dash?: number[];
  bars?: boolean;
  /** bars only: -1 left of the x value, 1 right of it (grouped bars), 0 centred */
  align?: -1 | 0 | 1;
}

/** uPlot line chart: `x` (ms or index) and one or more series. */
export function LineChart(props: {
  x: number[];
  series: LineSeries[];
  height?: number;
  time?: boolean;
  class?: string;
  xLabel?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const time = props.time !== false;
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 280),
      height: props.height ?? 260,
      scales: {
        x: time
          ? { time }
          : { time, range: (_u: uPlot, lo: number, hi: number): uPlot.Range.MinMax => [lo - 0.6, hi + 0.6] },
      },
      axes: [
        time
          ? { stroke: '#8b949e', grid: { stroke: '#1d2530' }, label: props.xLabel }
          : { stroke: '#8b949e', grid: { stroke: '#1d2530' }, label: props.xLabel, incrs: [1, 2, 5, 10, 20, 50, 100] },
        { stroke: '#8b949e', grid: { stroke: '#1d2530' }, size: 70 },
      ],
      series: [
        {},
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.bars ? 0 : 1.5,
          fill: s.bars ? s.color : undefined,
          dash: s.dash,
          points: { show: s.bars ? false : props.x.length < 60 },
          paths: s.bars ? uPlot.paths.bars!({ size: [s.align ? 0.4 : 0.6, 40], align: s.align ?? 0 }) : undefined,
        })),
      ],
    };
    const data = [time ? props.x.map((t) => t / 1000) : props.x, ...props.series.map((s) => s.values)] as uPlot.AlignedData;
    const plot = new uPlot(opts, data, el);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 280), height: props.height ?? 260 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [props.x, props.series]);
  return <div ref={ref} class={`uplot-wrap ${props.class ?? ''}`} />;
}

/** Tiny SVG sparkline (Scanner rows). */
export function Sparkline(props: { values: number[]; width?: number; height?: number }) {
  const w = props.width ?? 120;
  const h = props.height ?? 28;
  const v = props.values.filter((x) => Number.isFinite(x));
  if (v.length < 2) return <svg class="spark" width={w} height={h} />;
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const span = hi - lo || 1;
  const pts = v.map((y, i) => `${((i / (v.length - 1)) * w).toFixed(1)},${(h - 2 - ((y - lo) / span) * (h - 4)).toFixed(1)}`);
  const up = v[v.length - 1] >= v[0];
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`}>
      <polyline points={pts.join(' ')} fill="none" stroke={up ? '#26a69a' : '#ef5350'} stroke-width="1.5" />
    </svg>
  );
}
