// The scalp-api client: X-API-Key on every request, `?token=` on the WebSocket
// (docs/API.md). The key is asked once and kept in localStorage.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

const KEY = 'scalp_api_key';

export function apiKey(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setApiKey(k: string | null): void {
  if (k) localStorage.setItem(KEY, k);
  else localStorage.removeItem(KEY);
  window.dispatchEvent(new Event('scalp-key'));
}

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

async function errorText(r: Response): Promise<string> {
  const t = await r.text();
  try {
    const j = JSON.parse(t);
    return j.error ?? j.message ?? t;
  } catch {
    return t || r.statusText;
  }
}

export async function getJson<T = any>(path: string): Promise<T> {
  const r = await fetch(path, { headers: { 'X-API-Key': apiKey() ?? '' } });
  if (r.status === 401) {
    const msg = await errorText(r);
    setApiKey(null);
    throw new ApiError(401, msg);
  }
  if (!r.ok) throw new ApiError(r.status, `${r.status}: ${await errorText(r)}`);
  return r.json();
}

export async function postJson<T = any>(path: string, body?: unknown): Promise<T> {
  const r = await fetch(path, {
    method: 'POST',
    headers: { 'X-API-Key': apiKey() ?? '', 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new ApiError(r.status, `${r.status}: ${await errorText(r)}`);
  const t = await r.text();
  return t ? JSON.parse(t) : ({} as T);
}

/** The array inside a response: the response itself, or its first array-valued field. */
export function list<T = any>(x: any, ...keys: string[]): T[] {
  if (Array.isArray(x)) return x;
  if (x && typeof x === 'object') {
    for (const k of keys) if (Array.isArray(x[k])) return x[k];
    for (const v of Object.values(x)) if (Array.isArray(v)) return v as T[];
  }
  return [];
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  at: number | null;
  refresh: () => void;
}

/** GET `path` once (details) or every `pollMs` (lists: 60 s), with a manual refresh. */
export function useApi<T = any>(path: string | null, pollMs = 0): Loaded<T> {
  const [state, set] = useState<{ data: T | null; error: string | null; loading: boolean; at: number | null }>({
    data: null,
    error: null,
    loading: !!path,
    at: null,
  });
  const seq = useRef(0);
  const load = useCallback(() => {
    if (!path) return;
    const my = ++seq.current;
    set((s) => ({ ...s, loading: true }));
    getJson<T>(path).then(
      (data) => my === seq.current && set({ data, error: null, loading: false, at: Date.now() }),
      (e: Error) => my === seq.current && set((s) => ({ ...s, error: e.message, loading: false })),
    );
  }, [path]);
  useEffect(() => {
    set({ data: null, error: null, loading: !!path, at: null });
    load();
    if (!pollMs || !path) return;
    const t = setInterval(load, pollMs);
    return () => clearInterval(t);
  }, [path, pollMs, load]);
  return { ...state, refresh: load };
}

export const LIST_POLL_MS = 60_000;

export interface LiveUpdate {
  type?: string;
  prices?: any;
  strategies?: any;
  ranking?: any;
  executor?: any;
  optimization_progress?: {
    run_id: number;
    strategy: string;
    symbol: string;
    progress_pct: number;
    phase: string;
    detail?: string;
    status?: string;
  };
  [k: string]: any;
}

/** /ws/live with ?token=, reconnecting with backoff; the last `update` message. */
export function useLive(): { last: LiveUpdate | null; connected: boolean } {
  const [last, setLast] = useState<LiveUpdate | null>(null);
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    let ws: WebSocket | null = null;
    let stopped = false;
    let delay = 1000;
    let timer: number | undefined;
    const open = () => {
      const key = apiKey();
      if (!key || stopped) return;
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const base = location.pathname.replace(/[^/]*$/, '');
      ws = new WebSocket(`${proto}//${location.host}${base}ws/live?token=${encodeURIComponent(key)}`);
      ws.onopen = () => {
        delay = 1000;
        setConnected(true);
      };
      ws.onmessage = (ev) => {
        try {
          const m = JSON.parse(ev.data);
          if (!m.type || m.type === 'update') setLast(m);
        } catch {
          /* not JSON: ignored */
        }
      };
      ws.onclose = () => {
        setConnected(false);
        // Nothing stale is shown while offline (an optimization may have ended meanwhile).
        setLast(null);
        if (stopped) return;
        timer = window.setTimeout(open, delay);
        delay = Math.min(delay * 2, 30_000);
      };
    };
    open();
    return () => {
      stopped = true;
      clearTimeout(timer);
      ws?.close();
    };
  }, []);
  return { last, connected };
}
