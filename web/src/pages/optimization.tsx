// Backtest › Optimization: optimization runs with their result's grade badge, and a run's
// detail: walk-forward windows (IS vs OOS Sharpe per window, OOS return), the overfitting panel
// (Monte Carlo p, DSR/PSR, parameter stability, convergence, cliff and divergent parameters,
// coloured by the thresholds of docs/OPTIMIZER.md) and the validation panel.
import { useMemo, useState } from 'preact/hooks';
import { LIST_POLL_MS, list, useApi } from '../api';
import { LineChart, type LineSeries } from '../charts';
import { cls, num, params, pct, signCls, time } from '../fmt';
import { go } from '../route';
import { Grade, Metric, Panel, RefreshBar, Status, level } from '../ui';

const PAGE = 50;

export function OptimizationRuns() {
  const [status, setStatus] = useState('');
  const [offset, setOffset] = useState(0);
  const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (status) q.set('status', status);
  const runs = useApi(`/api/optimization/runs?${q}`, LIST_POLL_MS);
  const results = useApi('/api/optimization/results?latest=0&limit=5000', LIST_POLL_MS);
  const rows = list(runs.data, 'runs');
  const total = runs.data?.total ?? rows.length;
  const byKey = new Map(
    list(results.data, 'results').map((r: any) => [`${r.strategy_name}|${r.asset}|${r.timeframe}|${r.created_at}`, r]),
  );
  return (
    <Panel title="Optimization runs" id="optimization-runs">
      <div class="filters">
        <label>
          Status
          <select name="status" value={status} onChange={(e) => (setOffset(0), setStatus((e.target as HTMLSelectElement).value))}>
            <option value="">all</option>
            <option value="running">running</option>
            <option value="completed">completed</option>
            <option value="failed">failed</option>
          </select>
        </label>
        <span class="muted">{total ? `${offset + 1}–${offset + rows.length} of ${total}` : ''}</span>
        <button disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          ‹ Newer
        </button>
        <button disabled={offset + rows.length >= total} onClick={() => setOffset(offset + PAGE)}>
          Older ›
        </button>
      </div>
      <RefreshBar l={runs} />
      <Status l={runs} empty={!rows.length} emptyText="No optimization run stored (optimize run …)." />
      {rows.length > 0 && (
        <div class="table-scroll">
          <table class="runs-table">
            <thead>
              <tr>
                <th>#</th>
                <th>Grade</th>
                <th class="num">Score</th>
                <th>Strategy</th>
                <th>Asset</th>
                <th>TF</th>
                <th>Started</th>
                <th>Status</th>
                <th class="num">Windows</th>
                <th class="num">Duration</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r: any) => {
                const res = r.result_created_at ? byKey.get(`${r.strategy_name}|${r.asset}|${r.timeframe}|${r.result_created_at}`) : null;
                return (
                  <tr class="clickable" data-run={r.id} onClick={() => go(`backtest/optimization/${r.id}`)}>
                    <td>{r.id}</td>
                    <td>{res ? <Grade g={res.grade} /> : <span class="muted">—</span>}</td>
                    <td class="num">{res ? num(res.total_score) : '—'}</td>
                    <td>{r.strategy_name}</td>
                    <td>{r.asset}</td>
                    <td>{r.timeframe}</td>
                    <td>{time(r.started_at)}</td>
                    <td class={cls(r.status === 'failed' && 'neg', r.status === 'running' && 'warn')}>
                      {r.status}
                      {r.status === 'running' ? ` · ${r.phase} ${num(r.progress_pct, 0)} %` : ''}
                    </td>
                    <td class="num">{r.n_windows}</td>
                    <td class="num">{r.duration_seconds == null ? '—' : `${num(r.duration_seconds, 1)} s`}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}

/** "cliff parameters: a, b" → ["a", "b"] from the stored warnings. */
function fromWarnings(warnings: string[], prefix: string): string[] | null {
  const w = warnings.find((x) => x.startsWith(prefix));
  return w ? w.slice(prefix.length).split(',').map((s) => s.trim()).filter(Boolean) : null;
}

function WindowsChart(props: { windows: any[] }) {
  const w = props.windows;
  const x = useMemo(() => w.map((_, i) => i + 1), [w]);
  const sharpe: LineSeries[] = useMemo(
    () => [
      { label: 'IS Sharpe', color: '#4c9aff', values: w.map((v) => v.is_sharpe), bars: true, align: -1 },
      { label: 'OOS Sharpe', color: '#f0b429', values: w.map((v) => v.oos_sharpe), bars: true, align: 1 },
    ],
    [w],
  );
  const ret: LineSeries[] = useMemo(() => [{ label: 'OOS return %', color: '#26a69a', values: w.map((v) => v.oos_return_pct), bars: true }], [w]);
  return (
    <>
      <LineChart x={x} series={sharpe} time={false} xLabel="window" class="wfo-chart" />
      <LineChart x={x} series={ret} time={false} height={160} xLabel="window" class="wfo-return-chart" />
    </>
  );
}

export function OptimizationDetail(props: { id: string }) {
  const d = useApi(`/api/optimization/runs/${encodeURIComponent(props.id)}`);
  const wl = useApi(`/api/optimization/runs/${encodeURIComponent(props.id)}/windows`);
  const r = d.data;
  const res = r?.result;
  const windows = list(wl.data, 'windows');
  const warnings: string[] = Array.isArray(res?.warnings) ? res.warnings : [];
  const mc = res?.monte_carlo_summary ?? {};
  const val = res?.validation_summary ?? null;
  const cliff = res?.cliff_params ?? fromWarnings(warnings, 'cliff parameters:') ?? [];
  const divergent = res?.divergent_params ?? fromWarnings(warnings, 'divergent parameters:') ?? [];
  const cliffWindows = Array.isArray(res?.wfo_windows) ? res.wfo_windows.filter((x: any) => x.cliff).length : null;
  // The run's walk-forward summary (optimization_runs.summary: the report's `wfo`).
  const convergence = r?.summary?.wfo?.convergence ?? res?.convergence ?? null;
  const regimes = res?.regime_analysis && typeof res.regime_analysis === 'object' ? Object.entries(res.regime_analysis) : [];
  return (
    <div class="page" id="optimization-detail">
      <button class="link-button" onClick={() => go('backtest/optimization')}>
        ‹ All optimization runs
      </button>
      <Status l={d} />
      {r && (
        <>
          <Panel
            title={
              <span>
                Optimization #{r.id} · {r.strategy_name} · {r.asset} · {r.exchange} {r.timeframe} {res && <Grade g={res.grade} />}
              </span>
            }
          >
            <p class="muted">
              {r.status} · {r.phase} · started {time(r.started_at)} · finished {time(r.finished_at)}
              {r.duration_seconds != null && ` · ${num(r.duration_seconds, 1)} s`}
              {r.error && <span class="neg"> · {r.error}</span>}
            </p>
            {res ? (
              <div class="metrics-grid">
                <Metric label="Score" value={num(res.total_score)} />
                <Metric label="Avg OOS Sharpe" value={num(res.oos_sharpe)} lvl={level(res.oos_sharpe, 1, 0.3)} />
                <Metric label="Consistency" value={num(res.consistency)} lvl={level(res.consistency, 0.6, 0.4)} />
                <Metric label="OOS / IS" value={num(res.oos_is_ratio)} lvl={level(res.oos_is_ratio, 0.5, 0.25)} />
                <Metric label="Windows" value={res.n_windows} />
                <Metric label="Combos (N)" value={res.n_distinct_combos ?? '—'} />
              </div>
            ) : (
              <p class="muted">No saved result yet.</p>
            )}
            {res && (
              <p>
                Best params: <code>{params(res.best_params)}</code>
              </p>
            )}
          </Panel>
          <Panel title={`Walk-forward windows (${windows.length}) — IS vs OOS`} id="wfo-windows">
            <Status l={wl} empty={!windows.length} emptyText="No window stored." />
            {windows.length > 0 && <WindowsChart windows={windows} />}
            {windows.length > 0 && (
              <div class="table-scroll">
                <table>
                  <thead>
                    <tr>
                      <th>#</th>
                      <th>IS</th>
                      <th>OOS</th>
                      <th class="num">IS Sharpe</th>
                      <th class="num">OOS Sharpe</th>
                      <th class="num">OOS return</th>
                      <th class="num">OOS trades</th>
                      <th>Regime</th>
                      <th>Best params</th>
                    </tr>
                  </thead>
                  <tbody>
                    {windows.map((w: any) => (
                      <tr data-window={w.window_index}>
                        <td>{w.window_index + 1}</td>
                        <td class="muted">
                          {time(w.is_start).slice(0, 10)} → {time(w.is_end).slice(0, 10)}
                        </td>
                        <td class="muted">
                          {time(w.oos_start).slice(0, 10)} → {time(w.oos_end).slice(0, 10)}
                        </td>
                        <td class="num">{num(w.is_sharpe)}</td>
                        <td class={cls('num', signCls(w.oos_sharpe))}>{num(w.oos_sharpe)}</td>
                        <td class={cls('num', signCls(w.oos_return_pct))}>{pct(w.oos_return_pct)}</td>
                        <td class="num">{w.oos_trades}</td>
                        <td>{w.regime}</td>
                        <td>
                          <code>{params(w.best_params)}</code>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Panel>
          {res && (
            <Panel title="Overfitting" id="overfitting">
              <div class="metrics-grid">
                <Metric
                  label="Monte Carlo p"
                  value={
                    <span>
                      {num(res.monte_carlo_pvalue, 4)}
                      {res.mc_underpowered && <small class="warn"> underpowered ({mc.n_trades} trades)</small>}
                    </span>
                  }
                  lvl={res.mc_underpowered ? 'warn' : level(res.monte_carlo_pvalue, 0.05, 0.1, true)}
                  hint="≤ 0.05 green, ≤ 0.10 amber, else red"
                />
                <Metric
                  label="Null test p"
                  value={mc.null_p == null ? 'not run' : `${num(mc.null_p, 3)} (${mc.null_permutations} permuted histories)`}
                  lvl={mc.null_p == null ? 'warn' : level(mc.null_p, 0.01, 0.05, true)}
                  hint="share of bar-permuted (no-edge) histories the walk-forward scores as well; A/B needs ≤ 0.05, live ≤ 0.01"
                />
                <Metric
                  label="PBO"
                  value={mc.pbo == null ? 'not computed' : `${num(mc.pbo, 2)} (${mc.pbo_splits} CSCV splits)`}
                  lvl={mc.pbo == null ? 'warn' : level(mc.pbo, 0.3, 0.5, true)}
                  hint="probability of backtest overfitting (Bailey et al. 2017); live needs ≤ 0.5"
                />
                <Metric label="DSR" value={num(res.dsr, 4)} lvl={level(res.dsr, 0.95, 0.5)} hint="≥ 0.95 green (live gate), ≥ 0.5 amber" />
                <Metric label="PSR" value={num(mc.psr, 4)} lvl={level(mc.psr, 0.95, 0.5)} />
                <Metric label="Parameter stability" value={num(res.param_stability)} lvl={level(res.param_stability, 0.7, 0.4)} hint="≥ 0.7 green, ≥ 0.4 amber" />
                <Metric
                  label="Convergence"
                  value={convergence == null ? 'not stored' : num(convergence)}
                  lvl={level(convergence, 0.7, 0.4)}
                  hint="fraction of windows whose best combo is within one grid step of the recommendation"
                />
                {r?.summary?.wfo && (
                  <Metric
                    label="Stitched OOS Sharpe"
                    value={`${num(r.summary.wfo.stitched_oos_sharpe)} (Lo-corrected ${num(r.summary.wfo.stitched_oos_sharpe_lo)})`}
                    lvl={level(r.summary.wfo.stitched_oos_sharpe_lo, 1, 0)}
                    hint="every OOS window joined into one record; Lo (2002) corrects the annualisation for autocorrelation"
                  />
                )}
                {r?.summary && (
                  <Metric
                    label="Live eligible"
                    value={r.summary.live_eligible ? 'yes' : 'no'}
                    lvl={r.summary.live_eligible ? 'good' : 'warn'}
                    hint="every live gate term passed (docs/OPTIMIZER.md)"
                  />
                )}
                <Metric
                  label="Cliff params"
                  value={cliff.length ? cliff.join(', ') : 'none'}
                  lvl={cliff.length ? 'bad' : 'good'}
                  hint={cliffWindows == null ? '' : `${cliffWindows} window(s) with a cliff`}
                />
                <Metric label="Divergent params" value={divergent.length ? divergent.join(', ') : 'none'} lvl={divergent.length ? 'bad' : 'good'} />
                <Metric label="MC max DD p50 / p95" value={`${pct(mc.shuffled_max_dd_p50)} / ${pct(mc.shuffled_max_dd_p95)}`} />
                <Metric label="Stitched OOS return" value={pct(mc.stitched_return_pct)} lvl={mc.stitched_return_pct == null ? 'none' : mc.stitched_return_pct >= 0 ? 'good' : 'bad'} />
              </div>
              {regimes.length > 0 && (
                <table class="regimes">
                  <thead>
                    <tr>
                      <th>OOS regime</th>
                      <th class="num">Windows</th>
                      <th class="num">Avg OOS Sharpe</th>
                      <th class="num">Avg OOS return</th>
                    </tr>
                  </thead>
                  <tbody>
                    {regimes.map(([k, v]: [string, any]) => (
                      <tr>
                        <td>{k}</td>
                        <td class="num">{v.windows}</td>
                        <td class="num">{num(v.avg_oos_sharpe)}</td>
                        <td class={cls('num', signCls(v.avg_oos_return_pct))}>{pct(v.avg_oos_return_pct)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </Panel>
          )}
          {res && (
            <Panel title="Validation" id="validation">
              {!val ? (
                <p class="muted">No validation summary.</p>
              ) : val.skipped ? (
                <p class="lvl-warn validation-skipped">Skipped: {val.reason}</p>
              ) : (
                <div class="metrics-grid">
                  <Metric label="Exchange" value={val.exchange} />
                  <Metric label="Days" value={num(val.days, 0)} />
                  <Metric label="Sharpe" value={num(val.sharpe)} lvl={level(val.sharpe, 1, 0)} />
                  <Metric label="Sharpe 95 % CI" value={Array.isArray(val.sharpe_ci95) ? `${num(val.sharpe_ci95[0])} … ${num(val.sharpe_ci95[1])}` : '—'} />
                  <Metric label="Return" value={pct(val.return_pct)} />
                  <Metric label="Trades" value={val.n_trades} />
                  <Metric label="Transfer ratio" value={num(val.transfer_ratio)} lvl={level(val.transfer_ratio, 0.5, 0.25)} hint="≥ 0.5 green (live gate)" />
                  <Metric label="Median daily volume" value={num(val.median_daily_quote_volume, 0)} lvl={level(val.median_daily_quote_volume, 5e6, 1e6)} />
                </div>
              )}
              {warnings.length > 0 && (
                <ul class="warnings">
                  {warnings.map((w) => (
                    <li>{w}</li>
                  ))}
                </ul>
              )}
            </Panel>
          )}
        </>
      )}
    </div>
  );
}
