// Small shared pieces: panels, tables, the refresh bar, grade badges, threshold colours.
import type { ComponentChildren } from 'preact';
import type { Loaded } from './api';
import { cls, time } from './fmt';

export function Panel(props: { title?: ComponentChildren; children: ComponentChildren; class?: string; id?: string }) {
  return (
    <section class={cls('panel', props.class)} id={props.id}>
      {props.title && <h3>{props.title}</h3>}
      {props.children}
    </section>
  );
}

/** Refresh button + last-load time + error line for a polled list. */
export function RefreshBar(props: { l: Loaded<any>; label?: string }) {
  const { l } = props;
  return (
    <div class="refresh-bar">
      <button class="refresh" onClick={() => l.refresh()} disabled={l.loading}>
        {l.loading ? 'Loading…' : 'Refresh'}
      </button>
      <span class="muted">{l.at ? `updated ${time(l.at)} UTC · every 60 s` : ''}</span>
      {l.error && <span class="error">{props.label ? `${props.label}: ` : ''}{l.error}</span>}
    </div>
  );
}

export function Status(props: { l: Loaded<any>; empty?: boolean; emptyText?: string }) {
  if (props.l.error && !props.l.data) return <p class="error">{props.l.error}</p>;
  if (props.l.loading && !props.l.data) return <p class="muted">Loading…</p>;
  if (props.empty) return <p class="muted empty">{props.emptyText ?? 'Nothing yet.'}</p>;
  return null;
}

export function Grade(props: { g: string | null | undefined }) {
  const g = (props.g ?? '?').toUpperCase();
  return <span class={`grade grade-${g}`}>{g}</span>;
}

export type Level = 'good' | 'warn' | 'bad' | 'none';

/** Colour class by threshold: higher is better unless `lowerBetter`. */
export function level(v: unknown, good: number, warn: number, lowerBetter = false): Level {
  const n = Number(v);
  if (v === null || v === undefined || !Number.isFinite(n)) return 'none';
  if (lowerBetter) return n <= good ? 'good' : n <= warn ? 'warn' : 'bad';
  return n >= good ? 'good' : n >= warn ? 'warn' : 'bad';
}

export function Metric(props: { label: string; value: ComponentChildren; lvl?: Level; hint?: string }) {
  return (
    <div class={cls('metric', props.lvl && `lvl-${props.lvl}`)} title={props.hint}>
      <span class="metric-label">{props.label}</span>
      <span class="metric-value">{props.value}</span>
    </div>
  );
}

export function Tabs(props: { items: { id: string; label: string }[]; active: string; onSelect: (id: string) => void; class?: string }) {
  return (
    <nav class={cls('tabs', props.class)} role="tablist">
      {props.items.map((t) => (
        <button
          role="tab"
          aria-selected={t.id === props.active}
          class={cls('tab', t.id === props.active && 'active')}
          data-tab={t.id}
          onClick={() => props.onSelect(t.id)}
        >
          {t.label}
        </button>
      ))}
    </nav>
  );
}
