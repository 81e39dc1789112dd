// The time windows a device chart offers. The short window charts raw samples; the
// longer ones ask the API for one point per `step` seconds, which corio-cloud answers
// from its 1-minute and 1-hour rollups (DESIGN.md §5), so a week charts as fast as five
// minutes. Each step is a multiple of a rollup tier and keeps a chart under ~300 points.

export interface TimeWindow {
  key: string;
  label: string;
  /** Spoken label for the selector button. */
  title: string;
  ms: number;
  /** Seconds per point; 0 for raw samples. */
  step: number;
  /** How often the window slides (and old points fall out). */
  tickMs: number;
}

export const WINDOWS: readonly TimeWindow[] = [
  { key: '5m', label: '5 min', title: 'last 5 minutes', ms: 5 * 60_000, step: 0, tickMs: 1000 },
  { key: '1h', label: '1 h', title: 'last hour', ms: 3_600_000, step: 60, tickMs: 5000 },
  { key: '24h', label: '24 h', title: 'last 24 hours', ms: 86_400_000, step: 300, tickMs: 30_000 },
  { key: '7d', label: '7 d', title: 'last 7 days', ms: 7 * 86_400_000, step: 3600, tickMs: 60_000 },
];

export const DEFAULT_WINDOW = WINDOWS[0] as TimeWindow;

/** The window named by `key`, or the default one for a missing or unknown key. */
export function windowByKey(key: string | null | undefined): TimeWindow {
  return WINDOWS.find((w) => w.key === key) ?? DEFAULT_WINDOW;
}

/** The most raw points the API returns for one query (docs/api.md). */
export const RAW_POINT_LIMIT = 10_000;

/** How many points a chart of window `w` keeps at most. */
export function maxPointsFor(w: TimeWindow): number {
  return w.step === 0 ? RAW_POINT_LIMIT : Math.ceil(w.ms / (w.step * 1000)) + 2;
}

/**
 * The `from` of the query for window `w` at time `now`: for stepped windows aligned down
 * to a step boundary, so the first bucket is whole.
 */
export function windowFrom(w: TimeWindow, now: number): number {
  const from = now - w.ms;
  return w.step === 0 ? from : Math.floor(from / (w.step * 1000)) * w.step * 1000;
}
