// How times and counts read on the dashboard: relative ages ("12 s ago") for liveness,
// absolute UTC times in tooltips, and grouped integers for counters.

/**
 * A short relative age of `then` seen from `now` (both ms since the epoch): "just now",
 * "42 s ago", "5 min ago", "3 h ago", "2 d ago"; "never" for null. A time slightly in the
 * future (clock skew between browser and platform) reads "just now"; further ahead it
 * reads "in 5 min", which makes a wrong clock visible instead of hiding it.
 */
export function formatRelative(then: number | null | undefined, now: number): string {
  if (then === null || then === undefined || !Number.isFinite(then)) return 'never';
  const diff = now - then;
  if (diff > -5000 && diff < 5000) return 'just now';
  const future = diff < 0;
  const s = Math.floor(Math.abs(diff) / 1000);
  let text: string;
  if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min`;
  else if (s < 86400) text = `${Math.floor(s / 3600)} h`;
  else text = `${Math.floor(s / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

/** An absolute time, e.g. "2025-11-30 11:33:20 UTC"; "never" for null. */
export function formatAbsolute(t: number | null | undefined): string {
  if (t === null || t === undefined || !Number.isFinite(t)) return 'never';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return 'invalid time';
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** An integer counter with thousands separators; "—" when unknown. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return grouped.format(n);
}

/** A sequence number or other identifier-like integer: no grouping; "—" when unknown. */
export function formatSeq(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return String(n);
}

/** A measured value with a sensible number of digits. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(Number(v.toFixed(a >= 100 ? 1 : 3)));
}
