// Heatmap: strategy × asset, grade and score of the latest optimization results
// (/api/optimization/results?latest=1). A cell opens its detail: the result's figures and the
// optimization run that produced it (when it was run on this machine's database).
import { useState } from 'preact/hooks';
import { LIST_POLL_MS, list, useApi } from '../api';
import { cls, num, params, time } from '../fmt';
import { go } from '../route';
import { Grade, Metric, Panel, RefreshBar, Status, level } from '../ui';

function scoreColour(score: number): string {
  // 0 → red, 50 → amber, 100 → green (hsl hue 0..130)
  const s = Math.max(0, Math.min(100, score));
  return `hsl(${(s * 1.3).toFixed(0)} 55% 28%)`;
}

function ResultDetail(props: { r: any }) {
  const r = props.r;
  const runs = useApi(
    `/api/optimization/runs?strategy=${encodeURIComponent(r.strategy_name)}&symbol=${encodeURIComponent(r.asset)}&limit=500`,
  );
  const run = list(runs.data, 'runs').find(
    (x: any) => x.timeframe === r.timeframe && x.result_created_at === r.created_at,
  );
  return (
    <Panel title={<span>{r.strategy_name} · {r.asset} · {r.timeframe} <Grade g={r.grade} /></span>} class="heat-detail" id="heat-detail">
      <div class="metrics-grid">
        <Metric label="Score" value={num(r.total_score)} />
        <Metric label="OOS Sharpe" value={num(r.oos_sharpe)} lvl={level(r.oos_sharpe, 1, 0.3)} />
        <Metric label="Consistency" value={num(r.consistency)} lvl={level(r.consistency, 0.6, 0.4)} />
        <Metric label="OOS/IS" value={num(r.oos_is_ratio)} lvl={level(r.oos_is_ratio, 0.5, 0.25)} />
        <Metric label="DSR" value={num(r.dsr, 3)} lvl={level(r.dsr, 0.95, 0.5)} />
        <Metric label="Stability" value={num(r.param_stability)} lvl={level(r.param_stability, 0.7, 0.4)} />
        <Metric
          label={r.mc_underpowered ? 'Monte Carlo p (underpowered)' : 'Monte Carlo p'}
          value={num(r.monte_carlo_pvalue, 3)}
          lvl={r.mc_underpowered ? 'warn' : level(r.monte_carlo_pvalue, 0.05, 0.1, true)}
        />
        <Metric label="Windows" value={r.n_windows} />
      </div>
      <p class="muted">
        Best params: <code>{params(r.best_params)}</code> · {r.source} · {time(r.created_at)}
      </p>
      {runs.loading ? (
        <p class="muted">Looking for its run…</p>
      ) : run ? (
        <button class="link-button" onClick={() => go(`backtest/optimization/${run.id}`)}>
          Open optimization run #{run.id} (windows, overfitting, validation)
        </button>
      ) : (
        <p class="muted">No optimization run of this database produced it (pushed from a workstation).</p>
      )}
    </Panel>
  );
}

export function Heatmap() {
  const res = useApi('/api/optimization/results?latest=1', LIST_POLL_MS);
  const [sel, setSel] = useState<any | null>(null);
  const rows = list(res.data, 'results');
  const strategies = [...new Set(rows.map((r: any) => r.strategy_name))].sort();
  const assets = [...new Set(rows.map((r: any) => r.asset))].sort();
  const cell = (s: string, a: string) =>
    rows
      .filter((r: any) => r.strategy_name === s && r.asset === a)
      .sort((x: any, y: any) => y.total_score - x.total_score);
  return (
    <div class="page" id="page-heatmap">
      <Panel title="Heatmap — latest optimization grades">
        <RefreshBar l={res} />
        <Status l={res} empty={!rows.length} emptyText="No optimization result yet (optimize run, then sync)." />
        {rows.length > 0 && (
          <div class="table-scroll">
            <table class="heatmap">
              <thead>
                <tr>
                  <th>Strategy \ Asset</th>
                  {assets.map((a) => (
                    <th>{a}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {strategies.map((s) => (
                  <tr>
                    <th class="row-head">{s}</th>
                    {assets.map((a) => {
                      const c = cell(s, a);
                      if (!c.length) return <td class="heat-empty">·</td>;
                      const best = c[0];
                      return (
                        <td
                          class={cls('heat-cell', sel?.id === best.id && 'selected')}
                          style={{ background: scoreColour(best.total_score) }}
                          data-strategy={s}
                          data-asset={a}
                          title={c.map((r: any) => `${r.timeframe}: ${r.grade} ${num(r.total_score)}`).join('\n')}
                          onClick={() => setSel(best)}
                        >
                          <Grade g={best.grade} />
                          <span class="heat-score">{num(best.total_score, 1)}</span>
                          <small>{best.timeframe}{c.length > 1 ? ` +${c.length - 1}` : ''}</small>
                        </td>
                      );
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Panel>
      {sel && <ResultDetail r={sel} key={sel.id} />}
    </div>
  );
}
