import { useEffect, useState } from 'preact/hooks';
import { apiKey, setApiKey, useLive } from './api';
import { go, useRoute } from './route';
import { Sidebar } from './sidebar';
import { Tabs } from './ui';
import { Scanner } from './pages/scanner';
import { Heatmap } from './pages/heatmap';
import { Risk } from './pages/risk';
import { Trades } from './pages/trades';
import { BacktestDetail, BacktestRuns } from './pages/backtest';
import { OptimizationDetail, OptimizationRuns } from './pages/optimization';
import { Bench } from './bench';

const TABS = [
  { id: 'scanner', label: 'Scanner' },
  { id: 'heatmap', label: 'Heatmap' },
  { id: 'risk', label: 'Risk' },
  { id: 'trades', label: 'Trades' },
  { id: 'backtest', label: 'Backtest' },
];

/** Asks for the API key once; checks it against the API before keeping it. */
function KeyForm(props: { onKey: () => void; reason?: string }) {
  const [k, setK] = useState('');
  const [err, setErr] = useState<string | null>(props.reason ?? null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const key = k.trim();
    // Checked against the API before it is kept (a 401 names what is wrong).
    try {
      const r = await fetch('/api/simulator/ranking', { headers: { 'X-API-Key': key } });
      if (r.status === 401) {
        const t = await r.text();
        let msg = t;
        try {
          msg = JSON.parse(t).error ?? t;
        } catch {
          /* plain text */
        }
        setErr(msg);
        return;
      }
    } catch (x: any) {
      setErr(`API unreachable: ${x.message}`);
      return;
    }
    setApiKey(key);
    props.onKey();
  };
  return (
    <form class="key-form" onSubmit={submit}>
      <h2>Scalp Radar</h2>
      <p>Enter the API key (SCALP_API_KEY of the server). It is kept in this browser only.</p>
      <input type="password" name="api-key" autoComplete="current-password" value={k} onInput={(e) => setK((e.target as HTMLInputElement).value)} autofocus />
      <button type="submit" disabled={!k.trim()}>
        Connect
      </button>
      {err && <p class="error">{err}</p>}
    </form>
  );
}

function Dashboard() {
  const route = useRoute();
  const { last, connected } = useLive();
  const tab = TABS.some((t) => t.id === route[0]) ? route[0] : 'scanner';
  const sub = route[1] === 'optimization' ? 'optimization' : 'results';
  const id = route[2];
  let page;
  switch (tab) {
    case 'heatmap':
      page = <Heatmap />;
      break;
    case 'risk':
      page = <Risk />;
      break;
    case 'trades':
      page = <Trades />;
      break;
    case 'backtest':
      page = (
        <div class="page" id="page-backtest">
          <Tabs
            class="subtabs"
            items={[
              { id: 'results', label: 'Results' },
              { id: 'optimization', label: 'Optimization' },
            ]}
            active={sub}
            onSelect={(s) => go(`backtest/${s}`)}
          />
          {sub === 'results' ? id ? <BacktestDetail id={id} key={id} /> : <BacktestRuns /> : id ? <OptimizationDetail id={id} key={id} /> : <OptimizationRuns />}
        </div>
      );
      break;
    default:
      page = <Scanner live={last} />;
  }
  return (
    <div class="layout">
      <Sidebar live={last} connected={connected} onLogout={() => setApiKey(null)} />
      <main>
        <Tabs items={TABS} active={tab} onSelect={(t) => go(t === 'backtest' ? 'backtest/results' : t)} />
        {page}
      </main>
    </div>
  );
}

export function App() {
  const [key, setKey] = useState(apiKey());
  useEffect(() => {
    const on = () => setKey(apiKey());
    window.addEventListener('scalp-key', on);
    return () => window.removeEventListener('scalp-key', on);
  }, []);
  if (location.hash.startsWith('#/bench')) return <Bench />;
  if (!key) return <KeyForm onKey={() => setKey(apiKey())} />;
  return <Dashboard />;
}
