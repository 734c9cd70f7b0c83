// Display helpers. Values are shown as the API sends them (no money math here).

export function num(v: unknown, digits = 2): string {
  if (v === null || v === undefined || v === '') return '—';
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) return String(v);
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function price(v: unknown): string {
  const n = Number(v);
  if (v === null || v === undefined || !Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  return num(n, a >= 1000 ? 2 : a >= 1 ? 4 : 6);
}

export function pct(v: unknown, digits = 2): string {
  const s = num(v, digits);
  return s === '—' ? s : `${s} %`;
}

/** ms since epoch (or RFC 3339 text) → "2024-01-02 03:04" UTC */
export function time(v: unknown): string {
  if (v === null || v === undefined || v === '') return '—';
  const d = typeof v === 'number' ? new Date(v) : new Date(String(v));
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toISOString().slice(0, 16).replace('T', ' ');
}

export function cls(...c: (string | false | null | undefined)[]): string {
  return c.filter(Boolean).join(' ');
}

export function signCls(v: unknown): string {
  const n = Number(v);
  return !Number.isFinite(n) || n === 0 ? '' : n > 0 ? 'pos' : 'neg';
}

/** A JSON value that may arrive as text (older rows) or parsed. */
export function parsed(v: unknown): any {
  if (typeof v === 'string') {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

export function params(p: unknown): string {
  const o = parsed(p);
  if (!o || typeof o !== 'object') return o == null ? '—' : String(o);
  return Object.entries(o)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toPrecision(6) : JSON.stringify(v)}`)
    .join(' ');
}

export function ms(v: unknown): string {
  const n = Number(v);
  if (!Number.isFinite(n)) return '—';
  const h = n / 3_600_000;
  return h >= 48 ? `${num(h / 24, 1)} d` : `${num(h, 1)} h`;
}
