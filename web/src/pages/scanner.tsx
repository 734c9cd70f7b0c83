// Scanner: one row per asset traded by a paper runner — last close (live from /ws/live), 24 h
// change, sparkline of the last 48 closes, the regime and the indicators the strategies read
// (RSI, ATR %, ADX, distance to SMA 20/50, Bollinger %B; computed by the API at the newest
// stored candle), nearest resting grid level, and each runner's signal (position side / entries,
// kill switch, stopped).
import { LIST_POLL_MS, list, useApi, type LiveUpdate } from '../api';
import { Sparkline } from '../charts';
import { cls, num, pct, price, signCls, time } from '../fmt';
import { Panel, RefreshBar, Status } from '../ui';

const REGIME_CLS: Record<string, string> = { TRENDING_UP: 'pos', TRENDING_DOWN: 'neg', VOLATILE: 'warn' };

function Indicators(props: { i: any }) {
  const i = props.i;
  if (!i || typeof i !== 'object') return <span class="muted">—</span>;
  const rsi = Number(i.rsi_14);
  return (
    <span class="indicators">
      <span data-ind="rsi_14" class={cls(rsi >= 70 ? 'neg' : rsi <= 30 ? 'pos' : '')}>RSI {num(i.rsi_14, 1)}</span>{' '}
      <span data-ind="adx_14">ADX {num(i.adx_14, 1)}</span>{' '}
      <span data-ind="atr_14_pct">ATR {pct(i.atr_14_pct)}</span>
      <br />
      <small>
        <span data-ind="close_vs_sma_20_pct" class={signCls(i.close_vs_sma_20_pct)}>SMA20 {pct(i.close_vs_sma_20_pct)}</span>{' '}
        <span data-ind="close_vs_sma_50_pct" class={signCls(i.close_vs_sma_50_pct)}>SMA50 {pct(i.close_vs_sma_50_pct)}</span>{' '}
        <span data-ind="bb_20_2_pct_b">%B {num(i.bb_20_2_pct_b, 2)}</span>
      </small>
    </span>
  );
}

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
                  <th>Regime</th>
                  <th>Indicators</th>
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
                      <td class={cls('regime', REGIME_CLS[a.regime] ?? '')}>{a.regime ?? '—'}</td>
                      <td>
                        <Indicators i={a.indicators} />
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
