// Risk: paper capital and equity, the global kill switch (drawdown over its window), open
// positions with margin and notional exposure, per-runner kill switches and the executors'.
// Reset buttons POST the control routes; the request's status is then followed through
// /api/control/{request_id} until the daemon acknowledges it.
import { useEffect, useState } from 'preact/hooks';
import { LIST_POLL_MS, getJson, list, postJson, useApi } from '../api';
import { cls, num, pct, price, signCls, time } from '../fmt';
import { Metric, Panel, RefreshBar, Status, level } from '../ui';

function ControlStatus(props: { id: string; onDone: () => void }) {
  const [st, set] = useState<any>({ status: 'pending' });
  useEffect(() => {
    let stop = false;
    let n = 0;
    const poll = async () => {
      try {
        const s = await getJson(`/api/control/${encodeURIComponent(props.id)}`);
        if (stop) return;
        set(s);
        if (s.status !== 'pending') {
          props.onDone();
          return;
        }
      } catch (e: any) {
        if (!stop) set({ status: 'error', result: e.message });
      }
      if (!stop && ++n < 60) setTimeout(poll, 1000);
    };
    poll();
    return () => {
      stop = true;
    };
  }, [props.id]);
  return (
    <span class={cls('control-status', `cs-${st.status}`)} data-request={props.id}>
      {st.status}
      {st.result ? `: ${st.result}` : ''}
    </span>
  );
}

function ResetButton(props: { path: string; what: string; onDone: () => void }) {
  const [req, setReq] = useState<string | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const click = async () => {
    if (!confirm(`Reset ${props.what}?`)) return;
    setErr(null);
    try {
      const r = await postJson(props.path);
      const id = r.request_id ?? r.requests?.[0]?.request_id;
      setReq(id ?? null);
    } catch (e: any) {
      setErr(e.message);
    }
  };
  return (
    <span class="reset">
      <button class="danger" onClick={click}>
        Reset
      </button>
      {req && <ControlStatus id={req} onDone={props.onDone} />}
      {err && <span class="error">{err}</span>}
    </span>
  );
}

export function Risk() {
  const status = useApi('/api/simulator/status', LIST_POLL_MS);
  const grid = useApi('/api/simulator/grid-state', LIST_POLL_MS);
  const exec = useApi('/api/executor/status', LIST_POLL_MS);
  const s = status.data;
  const runners = list(s, 'runners');
  const ranking = list(s, 'ranking');
  const lastClose = new Map(list(grid.data, 'runners').map((r: any) => [r.id, r.last_close]));
  const open = runners.filter((r: any) => r.position);
  const margin = open.reduce((a: number, r: any) => a + (Number(r.position.margin) || 0), 0);
  const notional = open.reduce(
    (a: number, r: any) => a + Math.abs(Number(r.position.qty) || 0) * (Number(lastClose.get(r.id) ?? r.position.avg_entry) || 0),
    0,
  );
  const equity = Number(s?.equity) || 0;
  const gk = s?.global_kill_switch;
  const refresh = () => {
    status.refresh();
    grid.refresh();
    exec.refresh();
  };
  const executors = list(exec.data, 'executors');
  return (
    <div class="page" id="page-risk">
      <Panel title="Risk — paper trading">
        <RefreshBar l={status} />
        <Status l={status} />
        {s && (
          <div class="metrics-grid">
            <Metric label="Capital" value={num(s.capital)} />
            <Metric label="Equity" value={<span class={signCls(equity - s.capital)}>{num(equity)}</span>} />
            <Metric label="Open positions" value={open.length} />
            <Metric label="Margin in use" value={num(margin)} />
            <Metric label="Exposure (notional)" value={num(notional)} />
            <Metric label="Exposure / equity" value={equity ? `${num(notional / equity, 2)}×` : '—'} lvl={level(equity ? notional / equity : null, 1.5, 3, true)} />
            <Metric
              label={`Drawdown (${num(gk?.window_hours, 0)} h window)`}
              value={pct(gk?.drawdown_pct)}
              lvl={level(gk?.drawdown_pct, (gk?.threshold_pct ?? 30) / 2, gk?.threshold_pct ?? 30, true)}
            />
          </div>
        )}
      </Panel>
      {s && (
        <Panel title="Kill switches" id="kill-switches">
          <div class="table-scroll">
          <table>
            <thead>
              <tr>
                <th>Switch</th>
                <th>State</th>
                <th>Since</th>
                <th>Reason</th>
                <th />
              </tr>
            </thead>
            <tbody>
              <tr data-switch="global">
                <td>Global (threshold {pct(gk?.threshold_pct, 1)} in {num(gk?.window_hours, 0)} h)</td>
                <td class={gk?.active ? 'neg strong' : 'pos'}>{gk?.active ? 'TRIPPED' : 'armed'}</td>
                <td>{time(gk?.since)}</td>
                <td>{gk?.reason ?? '—'}</td>
                <td>
                  <ResetButton path="/api/simulator/kill-switch/reset" what="the global kill switch" onDone={refresh} />
                </td>
              </tr>
              {runners
                .filter((r: any) => r.kill_switch)
                .map((r: any) => (
                  <tr data-switch={r.id}>
                    <td>{r.id}</td>
                    <td class="neg strong">{r.kill_switch.kind === 'stopped' ? 'STOPPED' : 'TRIPPED'}</td>
                    <td>{time(r.kill_switch.time)}</td>
                    <td>{r.kill_switch.reason ?? '—'}</td>
                    <td>
                      <ResetButton
                        path={`/api/simulator/kill-switch/reset?strategy=${encodeURIComponent(r.strategy)}`}
                        what={`the kill switch of ${r.strategy}`}
                        onDone={refresh}
                      />
                    </td>
                  </tr>
                ))}
              {executors.map((e: any) => (
                <tr data-switch={`executor-${e.strategy}`}>
                  <td>Executor {e.strategy}</td>
                  <td>{e.kill_switch?.active ? 'TRIPPED' : 'armed'}</td>
                  <td>{time(e.kill_switch?.since)}</td>
                  <td>{e.kill_switch?.reason ?? '—'}</td>
                  <td>
                    <ResetButton
                      path={`/api/executor/kill-switch/reset?strategy=${encodeURIComponent(e.strategy)}`}
                      what={`the executor kill switch of ${e.strategy}`}
                      onDone={refresh}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
          {!executors.length && <p class="muted">No live executor is running (executor kill switches appear here when one does).</p>}
        </Panel>
      )}
      {s && (
        <Panel title="Runners" id="risk-runners">
          <div class="table-scroll">
            <table>
              <thead>
                <tr>
                  <th>Runner</th>
                  <th>Position</th>
                  <th class="num">Qty</th>
                  <th class="num">Avg entry</th>
                  <th class="num">Last</th>
                  <th class="num">Liquidation</th>
                  <th class="num">Margin</th>
                  <th class="num">Unrealised</th>
                  <th class="num">Equity</th>
                  <th class="num">Max DD</th>
                </tr>
              </thead>
              <tbody>
                {runners.map((r: any) => {
                  const p = r.position;
                  const rk = ranking.find((x: any) => x.id === r.id);
                  return (
                    <tr data-runner={r.id}>
                      <td>
                        {r.id} <small class="muted">×{r.leverage}</small>
                      </td>
                      <td class={p ? (p.side === 'long' ? 'pos' : 'neg') : 'muted'}>{p ? `${p.side} ×${p.entries}` : 'flat'}</td>
                      <td class="num">{p ? num(p.qty, 4) : '—'}</td>
                      <td class="num">{p ? price(p.avg_entry) : '—'}</td>
                      <td class="num">{price(lastClose.get(r.id))}</td>
                      <td class="num">{p ? price(p.liquidation) : '—'}</td>
                      <td class="num">{p ? num(p.margin) : '—'}</td>
                      <td class={cls('num', p && signCls(p.unrealized_pnl))}>{p ? num(p.unrealized_pnl) : '—'}</td>
                      <td class={cls('num', signCls(r.equity - r.capital))}>{num(r.equity)}</td>
                      <td class="num">{rk ? pct(rk.max_drawdown_pct) : '—'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </Panel>
      )}
    </div>
  );
}
