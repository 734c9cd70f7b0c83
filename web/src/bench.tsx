// #/bench?n=100000[&last=600]: the candle chart of the Trades tab (makeCandleChart +
// fillCandleChart) on N generated candles, timed in the page from the call of fillCandleChart:
// `data-draw-ms` to the first painted frame (two animation frames; with `last`, the newest
// `last` bars in view as the Trades tab opens, every bar fitted when `last` is 0 or absent) and
// `data-full-ms` until every candle is in the chart and painted (the history attached after the
// first frame, charts.tsx HEAD_BARS). The browser
// test asserts the budget (≤ 500 ms for 100k candles) from `data-draw-ms`.
import { useEffect, useRef, useState } from 'preact/hooks';
import { fillCandleChart, makeCandleChart, type Candle, type Fill } from './charts';

export function candles(n: number): Candle[] {
  const out: Candle[] = new Array(n);
  let p = 30000;
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const t0 = Date.UTC(2020, 0, 1);
  for (let i = 0; i < n; i++) {
    const o = p;
    const c = o * (1 + (rnd() - 0.5) * 0.01);
    out[i] = { time: t0 + i * 60_000, open: o, high: Math.max(o, c) * (1 + rnd() * 0.002), low: Math.min(o, c) * (1 - rnd() * 0.002), close: c };
    p = c;
  }
  return out;
}

// The generated series, made once per page: its garbage is the harness's, not the chart's.
const generated = new Map<number, Candle[]>();

export function Bench() {
  const ref = useRef<HTMLDivElement>(null);
  const [ms, setMs] = useState<{ first: number; full: number } | null>(null);
  const [run, setRun] = useState(0);
  const q = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const n = Number(q.get('n') ?? 100000);
  const last = Number(q.get('last') ?? 0);
  useEffect(() => {
    const data = generated.get(n) ?? candles(n);
    generated.set(n, data);
    const { chart, series } = makeCandleChart(ref.current!);
    let fill: Fill | null = null;
    let gone = false;
    requestAnimationFrame(() => {
      const t0 = performance.now();
      fill = fillCandleChart(chart, series, data, [], [], last);
      // First painted frame: two animation frames after the synchronous part.
      requestAnimationFrame(() =>
        requestAnimationFrame(() => {
          const first = performance.now() - t0;
          fill!.full.then(() => {
            if (!gone) setMs({ first, full: performance.now() - t0 });
          });
        }),
      );
    });
    return () => {
      gone = true;
      fill?.cancel();
      chart.remove();
    };
  }, [n, last, run]);
  return (
    <div class="bench">
      <p
        id="bench-result"
        data-draw-ms={ms == null ? '' : ms.first.toFixed(1)}
        data-full-ms={ms == null ? '' : ms.full.toFixed(1)}
        data-n={n}
        data-last={last}
        data-run={run}
      >
        {ms == null
          ? `drawing ${n} candles…`
          : `${n} candles: first frame in ${ms.first.toFixed(1)} ms, all in the chart and painted in ${ms.full.toFixed(1)} ms`}
      </p>
      <button
        id="bench-again"
        disabled={ms == null}
        onClick={() => {
          setMs(null);
          setRun(run + 1);
        }}
      >
        Draw again
      </button>
      <div ref={ref} style={{ height: '500px' }} />
    </div>
  );
}
