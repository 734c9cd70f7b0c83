// Scanner: one row per asset traded by a paper runner — last close (live from /ws/live), 24 h
// change, sparkline of the last 48 closes, nearest resting grid level, and each runner's signal
// (position side / entries, kill switch, stopped).
import { LIST_POLL_MS, list, useApi, type LiveUpdate } from '../api';
import { Sparkline } from '../charts';
import { cls, pct, price, signCls, time } from '../fmt';
import { Panel, RefreshBar, Status } from '../ui';

function signal(r: any) {
  if (r.kill_switch) return <span class="sig sig-kill" title={r.kill_switch.reason ?? ''}>{r.strategy}: kill switch</span>;
  if (r.halted) return <span class="sig sig-halt">{r.strategy}: stopped</span>;
  const p = r.position;
  if (p && p.side) {
    return (
      <span class={cls('sig', p.side === 'long' ? 'sig-long' : 'sig-short')}>
        {r.strategy}: {p.side.toUpperCase()} ×{p.entries ?? 1}
      </span>
    );
  }
  const n = Array.isArray(r.levels) ? r.levels.length : Number(r.levels) || 0;
  return <span class="sig sig-flat">{r.strategy}: flat{n ? ` · ${n} levels` : ''}</span>;
}

export function Scanner(props: { live: LiveUpdate | null }) {
  const cond = useApi('/api/simulator/conditions', LIST_POLL_MS);
  const status = useApi('/api/simulator/status', LIST_POLL_MS);
  const assets = list(cond.data, 'assets');
  const runners = list(status.data, 'runners');
  const livePrices = props.live?.prices ?? {};
  return (
    <div class="page" id="page-scanner">
      <Panel title="Scanner">
        <RefreshBar l={cond} />
        <Status l={cond} empty={!assets.length} emptyText="No asset is paper-traded yet (is scalp-simulator running?)." />
        {assets.length > 0 && (
          <div class="table-scroll">
            <table class="scanner-table">
              <thead>
                <tr>
                  <th>Asset</th>
                  <th>Stream</th>
                  <th class="num">Last close</th>
                  <th class="num">24 h</th>
                  <th>Last 48</th>
                  <th>Nearest level</th>
                  <th>Signals</th>
                </tr>
              </thead>
              <tbody>
                {assets.map((a: any) => {
                  const lp = livePrices[a.asset];
                  const close = lp?.close ?? a.last_close;
                  const at = lp?.open_time ?? a.last_open_time;
                  const nl = a.nearest_level;
                  return (
                    <tr data-asset={a.asset}>
                      <td class="strong">{a.asset}</td>
                      <td class="muted">
                        {a.exchange} {a.symbol ?? ''} {a.timeframe}
                        <br />
                        <small>{time(at)}</small>
                      </td>
                      <td class="num">{price(close)}</td>
                      <td class={cls('num', signCls(a.change_24h_pct))}>{pct(a.change_24h_pct)}</td>
                      <td>
                        <Sparkline values={a.sparkline ?? []} />
                      </td>
                      <td>
                        {nl ? (
                          <span>
                            {nl.side} {price(nl.price)} <span class={signCls(nl.distance_pct)}>({pct(nl.distance_pct)})</span>
                          </span>
                        ) : (
                          <span class="muted">—</span>
                        )}
                      </td>
                      <td class="signals">{runners.filter((r: any) => r.asset === a.asset).map(signal)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Panel>
    </div>
  );
}
