// Trades: paper trades (sim_trades) with filters, and a candle chart of the selected runner's
// stream with its entries, exits and resting grid levels (plus the open position's stop / take
// profit). Live trades appear when an executor exists.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { LIST_POLL_MS, list, useApi } from '../api';
import { CandleChart, type Candle, type Level, type TradeMark } from '../charts';
import { cls, num, price, signCls, time } from '../fmt';
import { Panel, RefreshBar, Status } from '../ui';

function ChartFor(props: { runner: any; trades: any[]; grid: any; symbol?: string }) {
  const r = props.runner;
  // Runners name the asset ("BTC"), series the exchange symbol ("BTCUSDT"): the symbol of
  // /api/simulator/conditions when it gives one, else the asset itself, then asset + USDT (the
  // quote of assets.toml) when that series is empty.
  const [sym, setSym] = useState(props.symbol ?? r.asset);
  const c = useApi(
    `/api/candles?exchange=${encodeURIComponent(r.exchange)}&symbol=${encodeURIComponent(sym)}&tf=${encodeURIComponent(r.timeframe)}&limit=100000`,
  );
  useEffect(() => {
    if (c.data && !list(c.data, 'candles').length && sym === r.asset && !r.asset.endsWith('USDT')) setSym(`${r.asset}USDT`);
  }, [c.data]);
  const candles: Candle[] = useMemo(
    () => list(c.data, 'candles').map((k: any) => ({ time: k[0], open: k[1], high: k[2], low: k[3], close: k[4] })),
    [c.data],
  );
  const marks: TradeMark[] = useMemo(() => {
    const m: TradeMark[] = [];
    for (const t of props.trades) {
      m.push({ time: t.entry_time, price: t.entry_price, kind: 'entry', side: t.side, label: `${t.side === 'long' ? 'L' : 'S'}${t.entries > 1 ? `×${t.entries}` : ''}` });
      m.push({ time: t.exit_time, price: t.exit_price, kind: 'exit', side: t.side, label: `${t.exit_reason} ${num(t.net_pnl)}` });
    }
    const p = r.position;
    if (p) m.push({ time: p.opened_at, price: p.avg_entry, kind: 'entry', side: p.side, label: `open ${p.side}` });
    return m;
  }, [props.trades, r]);
  const levels: Level[] = useMemo(() => {
    const g = props.grid;
    const out: Level[] = (g?.levels ?? []).map((l: any) => ({ price: l.price, side: l.side, label: `level ${l.side}` }));
    const p = g?.position ?? r.position;
    if (p?.stop) out.push({ price: p.stop, side: 'short', label: 'stop' });
    if (p?.take_profit) out.push({ price: p.take_profit, side: 'long', label: 'take profit' });
    return out;
  }, [props.grid, r]);
  // Markers only inside the loaded candles (lightweight-charts needs them on bars).
  const first = candles.length ? candles[0].time : 0;
  const inRange = useMemo(() => marks.filter((m) => m.time >= first), [marks, first]);
  return (
    <Panel title={`${r.id} · ${r.exchange} ${sym} ${r.timeframe} · ${candles.length} candles · ${props.trades.length} trades · ${levels.length} lines`} id="trade-chart">
      <Status l={c} empty={!c.loading && !candles.length && sym !== r.asset} emptyText="No stored candles for this stream." />
      {candles.length > 0 && <CandleChart candles={candles} marks={inRange} levels={levels} height={420} lastBars={600} />}
    </Panel>
  );
}

export function Trades() {
  const [source, setSource] = useState<'paper' | 'live'>('paper');
  const [strategy, setStrategy] = useState('');
  const [asset, setAsset] = useState('');
  const [side, setSide] = useState('');
  const [limit, setLimit] = useState(500);
  const [sel, setSel] = useState<string | null>(null);
  const status = useApi('/api/simulator/status', LIST_POLL_MS);
  const grid = useApi('/api/simulator/grid-state', LIST_POLL_MS);
  const exec = useApi('/api/executor/status', LIST_POLL_MS);
  const cond = useApi('/api/simulator/conditions', LIST_POLL_MS);
  const q = new URLSearchParams({ limit: String(limit) });
  if (strategy) q.set('strategy', strategy);
  if (asset) q.set('asset', asset);
  const trades = useApi(source === 'paper' ? `/api/simulator/trades?${q}` : null, LIST_POLL_MS);
  const runners = list(status.data, 'runners');
  const rows = list(trades.data, 'trades').filter((t: any) => !side || t.side === side);
  const strategies = [...new Set(runners.map((r: any) => r.strategy))].sort();
  const assets = [...new Set(runners.map((r: any) => r.asset))].sort();
  const selId = sel ?? rows[0]?.runner_id ?? runners[0]?.id ?? null;
  const runner = runners.find((r: any) => r.id === selId);
  const runnerTrades = useMemo(() => list(trades.data, 'trades').filter((t: any) => t.runner_id === selId), [trades.data, selId]);
  const g = list(grid.data, 'runners').find((r: any) => r.id === selId);
  const executors = list(exec.data, 'executors');
  return (
    <div class="page" id="page-trades">
      <Panel title="Trades">
        <div class="filters">
          <label>
            Source
            <select value={source} onChange={(e) => setSource((e.target as HTMLSelectElement).value as any)} name="source">
              <option value="paper">paper</option>
              <option value="live">live</option>
            </select>
          </label>
          <label>
            Strategy
            <select value={strategy} onChange={(e) => setStrategy((e.target as HTMLSelectElement).value)} name="strategy">
              <option value="">all</option>
              {strategies.map((s) => (
                <option value={s}>{s}</option>
              ))}
            </select>
          </label>
          <label>
            Asset
            <select value={asset} onChange={(e) => setAsset((e.target as HTMLSelectElement).value)} name="asset">
              <option value="">all</option>
              {assets.map((s) => (
                <option value={s}>{s}</option>
              ))}
            </select>
          </label>
          <label>
            Side
            <select value={side} onChange={(e) => setSide((e.target as HTMLSelectElement).value)} name="side">
              <option value="">both</option>
              <option value="long">long</option>
              <option value="short">short</option>
            </select>
          </label>
          <label>
            Last
            <select value={String(limit)} onChange={(e) => setLimit(Number((e.target as HTMLSelectElement).value))} name="limit">
              {[100, 500, 2000, 5000].map((n) => (
                <option value={String(n)}>{n}</option>
              ))}
            </select>
          </label>
        </div>
        {source === 'live' ? (
          <p class="muted" id="live-trades">
            {executors.length
              ? `${executors.length} executor(s) running; their trades are not served by the API yet.`
              : 'No live executor is running: no live trades.'}
          </p>
        ) : (
          <>
            <RefreshBar l={trades} />
            <Status l={trades} empty={!rows.length} emptyText="No paper trade matches." />
            {rows.length > 0 && (
              <div class="table-scroll trades-scroll">
                <table class="trades-table">
                  <thead>
                    <tr>
                      <th>Runner</th>
                      <th>Side</th>
                      <th>Entry</th>
                      <th class="num">Entry price</th>
                      <th>Exit</th>
                      <th class="num">Exit price</th>
                      <th class="num">Qty</th>
                      <th class="num">Fees</th>
                      <th class="num">Net P&amp;L</th>
                      <th>Reason</th>
                      <th>Regime</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((t: any) => (
                      <tr class={cls('clickable', t.runner_id === selId && 'selected')} onClick={() => setSel(t.runner_id)}>
                        <td>{t.runner_id}</td>
                        <td class={t.side === 'long' ? 'pos' : 'neg'}>
                          {t.side}
                          {t.entries > 1 ? ` ×${t.entries}` : ''}
                        </td>
                        <td>{time(t.entry_time)}</td>
                        <td class="num">{price(t.entry_price)}</td>
                        <td>{time(t.exit_time)}</td>
                        <td class="num">{price(t.exit_price)}</td>
                        <td class="num">{num(t.qty, 4)}</td>
                        <td class="num">{num(t.fees)}</td>
                        <td class={cls('num', signCls(t.net_pnl))}>{num(t.net_pnl)}</td>
                        <td>{t.exit_reason}</td>
                        <td>{t.regime}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </>
        )}
      </Panel>
      {source === 'paper' && runner && (cond.data || cond.error) && (
        <ChartFor
          runner={runner}
          trades={runnerTrades}
          grid={g}
          symbol={list(cond.data, 'assets').find((a: any) => a.asset === runner.asset)?.symbol}
          key={runner.id}
        />
      )}
    </div>
  );
}
