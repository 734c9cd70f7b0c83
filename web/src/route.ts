// Hash routing: #/scanner, #/heatmap, #/risk, #/trades, #/backtest/results[/id],
// #/backtest/optimization[/id]. The API serves index.html for every path, so the hash keeps
// reloads on the same page without server support.
import { useEffect, useState } from 'preact/hooks';

export function parts(): string[] {
  return location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
}

export function go(path: string): void {
  location.hash = `#/${path.replace(/^\//, '')}`;
}

export function useRoute(): string[] {
  const [p, set] = useState(parts());
  useEffect(() => {
    const on = () => set(parts());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return p;
}
