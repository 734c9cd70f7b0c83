// Sidebar: connection, paper-trading summary, live optimization progress (from /ws/live; the
// block is gone when no optimization runs) and executor status.
import type { LiveUpdate } from './api';
import { cls, num, pct, time } from './fmt';
import { go } from './route';

export function Sidebar(props: { live: LiveUpdate | null; connected: boolean; onLogout: () => void }) {
  const l = props.live;
  const sim = l?.simulator;
  const op = l?.optimization_progress;
  const ex: any[] = Array.isArray(l?.executor) ? l!.executor : [];
  const gk = sim?.global_kill_switch;
  return (
    <aside class="sidebar">
      <div class="brand">Scalp Radar</div>
      <div class={cls('conn', props.connected ? 'pos' : 'neg')} id="ws-state">
        {props.connected ? '● live' : '○ offline'}
        {l?.time && <small class="muted"> {time(l.time)}</small>}
      </div>
      <div class="side-block" id="side-sim">
        <h4>Paper trading</h4>
        {sim ? (
          <>
            <div>
              Equity <strong>{num(sim.equity)}</strong> / {num(sim.capital)}
            </div>
            <div class={sim.healthy ? 'pos' : 'warn'}>{sim.healthy ? 'healthy' : 'lagging'}</div>
            {gk?.active ? <div class="neg strong">GLOBAL KILL SWITCH</div> : <div class="muted">drawdown {pct(gk?.drawdown_pct)}</div>}
            {(sim.halted_strategies ?? []).length > 0 && <div class="warn">stopped: {sim.halted_strategies.join(', ')}</div>}
          </>
        ) : (
          <div class="muted">simulator not running</div>
        )}
      </div>
      {op && (
        <div class="side-block" id="opt-progress" data-run={op.run_id}>
          <h4>Optimization running</h4>
          <div>
            <a href={`#/backtest/optimization/${op.run_id}`} onClick={(e) => (e.preventDefault(), go(`backtest/optimization/${op.run_id}`))}>
              #{op.run_id} {op.strategy} {op.symbol}
            </a>
          </div>
          <div class="progress" role="progressbar" aria-valuenow={op.progress_pct} aria-valuemin={0} aria-valuemax={100}>
            <div class="progress-fill" style={{ width: `${Math.max(0, Math.min(100, op.progress_pct))}%` }} />
          </div>
          <div class="muted">
            <span class="opt-phase">{op.phase}</span> · <span class="opt-detail">{op.detail}</span> · {num(op.progress_pct, 0)} %
          </div>
        </div>
      )}
      <div class="side-block" id="side-executor">
        <h4>Executor</h4>
        {ex.length ? (
          ex.map((e) => (
            <div class={cls(e.kill_switch?.active && 'neg')}>
              {e.strategy}: {e.healthy === false ? 'unhealthy' : 'running'}
              {e.age_s != null && <small class="muted"> ({num(e.age_s, 0)} s)</small>}
            </div>
          ))
        ) : (
          <div class="muted">no live executor</div>
        )}
      </div>
      <button class="logout" onClick={props.onLogout}>
        Forget API key
      </button>
    </aside>
  );
}
