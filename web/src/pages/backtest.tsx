// Backtest › Results: the backtest_runs table (60 s poll, filters, paging) and a run's detail:
// equity curve with the initial-capital line, drawdown, metrics grouped performance / risk /
// costs, the regime breakdown and the trade list.
import { useMemo, useState } from 'preact/hooks';
import { LIST_POLL_MS, list, useApi } from '../api';
import { LineChart, type LineSeries } from '../charts';
import { cls, ms, num, params, pct, price, signCls, time } from '../fmt';
import { go } from '../route';
import { Panel, RefreshBar, Status, level } from '../ui';

const PAGE = 50;

export function BacktestRuns() {
  const [strategy, setStrategy] = useState('');
  const [symbol, setSymbol] = useState('');
  const [offset, setOffset] = useState(0);
  const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (strategy) q.set('strategy', strategy);
  if (symbol) q.set('symbol', symbol);
  const runs = useApi(`/api/backtest/runs?${q}`, LIST_POLL_MS);
  const rows = list(runs.data, 'runs');
  const total = runs.data?.total ?? rows.length;
  return (
    <Panel title="Backtest runs" id="backtest-runs">
      <div class="filters">
        <label>
          Strategy
          <input name="strategy" value={strategy} placeholder="all" onChange={(e) => (setOffset(0), setStrategy((e.target as HTMLInputElement).value.trim()))} />
        </label>
        <label>
          Asset
          <input name="symbol" value={symbol} placeholder="all" onChange={(e) => (setOffset(0), setSymbol((e.target as HTMLInputElement).value.trim()))} />
        </label>
        <span class="muted">
          {total ? `${offset + 1}–${offset + rows.length} of ${total}` : ''}
        </span>
        <button disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          ‹ Newer
        </button>
        <button disabled={offset + rows.length >= total} onClick={() => setOffset(offset + PAGE)}>
          Older ›
        </button>
      </div>
      <RefreshBar l={runs} />
      <Status l={runs} empty={!rows.length} emptyText="No backtest run stored (optimize backtest …)." />
      {rows.length > 0 && (
        <div class="table-scroll">
          <table class="runs-table">
            <thead>
              <tr>
                <th>#</th>
                <th>Created</th>
                <th>Strategy</th>
                <th>Asset</th>
                <th>TF</th>
                <th>Period</th>
                <th class="num">Return</th>
                <th class="num">Sharpe</th>
                <th class="num">Max DD</th>
                <th class="num">Trades</th>
                <th class="num">Win rate</th>
                <th class="num">PF</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r: any) => (
                <tr class="clickable" data-run={r.id} onClick={() => go(`backtest/results/${r.id}`)}>
                  <td>{r.id}</td>
                  <td>{time(r.created_at)}</td>
                  <td>{r.strategy_name}</td>
                  <td>{r.asset}</td>
                  <td>{r.timeframe}</td>
                  <td class="muted">
                    {time(r.period_start).slice(0, 10)} → {time(r.period_end).slice(0, 10)}
                  </td>
                  <td class={cls('num', signCls(r.return_pct))}>{pct(r.return_pct)}</td>
                  <td class="num">{num(r.sharpe)}</td>
                  <td class="num">{pct(r.max_drawdown_pct)}</td>
                  <td class="num">{r.n_trades}</td>
                  <td class="num">{pct(r.win_rate, 1)}</td>
                  <td class="num">{num(r.profit_factor)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}

function Group(props: { title: string; items: [string, any, string?][] }) {
  return (
    <div class="metric-group">
      <h4>{props.title}</h4>
      <table class="kv">
        <tbody>
          {props.items.map(([k, v, c]) => (
            <tr>
              <th>{k}</th>
              <td class={cls('num', c)}>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function BacktestDetail(props: { id: string }) {
  const d = useApi(`/api/backtest/runs/${encodeURIComponent(props.id)}`);
  const r = d.data;
  const curve: [number, number][] = Array.isArray(r?.equity_curve) ? r.equity_curve : [];
  const { x, eq, dd } = useMemo(() => {
    const x = curve.map((p) => p[0]);
    const eq = curve.map((p) => p[1]);
    let peak = -Infinity;
    const dd = eq.map((v) => {
      peak = Math.max(peak, v);
      return peak > 0 ? (v / peak - 1) * 100 : 0;
    });
    return { x, eq, dd };
  }, [r]);
  const eqSeries: LineSeries[] = useMemo(
    () => [
      { label: 'Equity', color: '#4c9aff', values: eq },
      { label: 'Initial capital', color: '#8b949e', values: eq.map(() => r?.capital ?? null), dash: [6, 4] },
    ],
    [eq, r],
  );
  const ddSeries: LineSeries[] = useMemo(() => [{ label: 'Drawdown %', color: '#ef5350', values: dd }], [dd]);
  const regimes = r?.regime_stats && typeof r.regime_stats === 'object' ? Object.entries(r.regime_stats) : [];
  const trades: any[] = Array.isArray(r?.trades_summary) ? r.trades_summary : [];
  return (
    <div class="page" id="backtest-detail">
      <button class="link-button" onClick={() => go('backtest/results')}>
        ‹ All backtest runs
      </button>
      <Status l={d} />
      {r && (
        <>
          <Panel title={`Backtest #${r.id} · ${r.strategy_name} · ${r.asset} · ${r.exchange} ${r.timeframe}`}>
            <p class="muted">
              {time(r.period_start)} → {time(r.period_end)} · {r.n_candles} candles · params <code>{params(r.params)}</code> · {r.fill_mode}, sizing{' '}
              {r.sizing}, leverage {r.leverage}× · created {time(r.created_at)}
              {r.killed && <span class="neg"> · kill switch: {r.killed}</span>}
            </p>
            <h4>Equity (initial capital {num(r.capital)})</h4>
            {x.length > 1 ? <LineChart x={x} series={eqSeries} class="equity-chart" /> : <p class="muted">No equity curve stored.</p>}
            <h4>Drawdown</h4>
            {x.length > 1 && <LineChart x={x} series={ddSeries} height={160} class="drawdown-chart" />}
          </Panel>
          <Panel title="Metrics" id="bt-metrics">
            <div class="groups">
              <Group
                title="Performance"
                items={[
                  ['Final equity', num(r.final_equity)],
                  ['Net P&L', num(r.net_pnl), signCls(r.net_pnl)],
                  ['Return', pct(r.return_pct), signCls(r.return_pct)],
                  ['Trades', r.n_trades],
                  ['Wins / losses', `${r.wins} / ${r.losses}`],
                  ['Win rate', pct(r.win_rate, 1)],
                  ['Profit factor', num(r.profit_factor)],
                  ['Avg win / loss', `${num(r.avg_win)} / ${num(r.avg_loss)}`],
                  ['Risk/reward', num(r.risk_reward)],
                  ['Expectancy', num(r.expectancy)],
                ]}
              />
              <Group
                title="Risk"
                items={[
                  ['Sharpe', num(r.sharpe), `lvl-${level(r.sharpe, 1, 0.3)}`],
                  ['Sortino', num(r.sortino)],
                  ['Max drawdown', pct(r.max_drawdown_pct), `lvl-${level(r.max_drawdown_pct, 15, 30, true)}`],
                  ['Max DD duration', ms(r.max_drawdown_duration_ms)],
                  ['Exposure', pct(r.exposure_pct, 1)],
                  ['Leverage', `${r.leverage}×`],
                  ['Liquidations', r.liquidations, r.liquidations ? 'neg' : ''],
                  ['Kill switch', r.killed ?? 'not tripped'],
                ]}
              />
              <Group
                title="Costs"
                items={[
                  ['Gross P&L', num(r.gross_pnl), signCls(r.gross_pnl)],
                  ['Fees', num(r.fees)],
                  ['Slippage', num(r.slippage_cost)],
                  ['Funding', num(r.funding)],
                  ['Fee drag', pct(r.fee_drag_pct, 1)],
                  ['Gross PF', num(r.gross_profit_factor)],
                  ['Maker / taker fee', `${num(r.maker_fee * 100, 3)} % / ${num(r.taker_fee * 100, 3)} %`],
                  ['Funding rate', r.funding_rate == null ? 'off' : `${num(r.funding_rate * 100, 4)} %/8 h`],
                ]}
              />
            </div>
          </Panel>
          <Panel title="Regime breakdown" id="bt-regimes">
            {regimes.length ? (
              <table>
                <thead>
                  <tr>
                    <th>Regime</th>
                    <th class="num">Trades</th>
                    <th class="num">Win rate</th>
                    <th class="num">Net P&amp;L</th>
                    <th class="num">Profit factor</th>
                  </tr>
                </thead>
                <tbody>
                  {regimes.map(([k, v]: [string, any]) => (
                    <tr data-regime={k}>
                      <td>{k}</td>
                      <td class="num">{v.n_trades ?? v.trades}</td>
                      <td class="num">{pct(v.win_rate, 1)}</td>
                      <td class={cls('num', signCls(v.net_pnl))}>{num(v.net_pnl)}</td>
                      <td class="num">{num(v.profit_factor)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No trade, no regime.</p>
            )}
          </Panel>
          <Panel title={`Trades (${trades.length})`} id="bt-trades">
            <div class="table-scroll trades-scroll">
              <table>
                <thead>
                  <tr>
                    <th>Entry</th>
                    <th>Exit</th>
                    <th>Side</th>
                    <th class="num">Entry price</th>
                    <th class="num">Exit price</th>
                    <th class="num">Net P&amp;L</th>
                    <th>Reason</th>
                    <th>Regime</th>
                  </tr>
                </thead>
                <tbody>
                  {trades.slice(0, 1000).map((t: any) =>
                    Array.isArray(t) ? (
                      <tr>
                        <td>{time(t[0])}</td>
                        <td>{time(t[1])}</td>
                        <td class={t[2] === 'long' ? 'pos' : 'neg'}>{t[2]}</td>
                        <td class="num">{price(t[3])}</td>
                        <td class="num">{price(t[4])}</td>
                        <td class={cls('num', signCls(t[6]))}>{num(t[6])}</td>
                        <td>{t[7]}</td>
                        <td>{t[8]}</td>
                      </tr>
                    ) : (
                      <tr>
                        <td colSpan={8}>{JSON.stringify(t)}</td>
                      </tr>
                    ),
                  )}
                </tbody>
              </table>
            </div>
          </Panel>
        </>
      )}
    </div>
  );
}
