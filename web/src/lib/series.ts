// Keeping a chart's data inside its time window while live samples stream in. A raw
// series is a time-sorted list of [t, v]; a stepped series is a list of rollup buckets
// that live samples fold into, the same way the cloud's rollups are built, so a 24-hour
// chart keeps moving without refetching. Functions here never mutate their inputs:
// React sees a new array whenever something changed.
import type { Bucket, RawPoint } from '../api/types';

export interface WindowLimit {
  /** Points older than this (ms) fall out of the window. */
  from: number;
  /** At most this many points are kept (the newest). */
  maxPoints: number;
}

function lowerBound(points: RawPoint[], t: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((points[mid] as RawPoint)[0] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Merges `incoming` raw points into `points` (sorted by time). A point at a time that is
 * already present replaces the old value: the platform deduplicates messages, so a
 * second value for the same instant is a correction, not a new sample. The result is
 * sorted, holds no point older than `limit.from` and at most `limit.maxPoints` points.
 * Returns `points` itself when nothing changed.
 */
export function mergeRaw(points: RawPoint[], incoming: readonly RawPoint[], limit: WindowLimit): RawPoint[] {
  let out: RawPoint[] | null = null;
  const fresh = incoming.filter((p) => p[0] >= limit.from && Number.isFinite(p[0]) && Number.isFinite(p[1]));
  for (const p of fresh) {
    const cur: RawPoint[] = out ?? points;
    const last = cur[cur.length - 1];
    if (last === undefined || p[0] > last[0]) {
      out = out ?? points.slice();
      out.push([p[0], p[1]]);
      continue;
    }
    const i = lowerBound(cur, p[0]);
    const at = cur[i];
    if (at && at[0] === p[0]) {
      if (at[1] === p[1]) continue;
      out = out ?? points.slice();
      out[i] = [p[0], p[1]];
    } else {
      out = out ?? points.slice();
      out.splice(i, 0, [p[0], p[1]]);
    }
  }
  return trimRaw(out ?? points, limit);
}

/** Drops points older than the window and beyond the point limit. */
export function trimRaw(points: RawPoint[], limit: WindowLimit): RawPoint[] {
  let start = lowerBound(points, limit.from);
  if (points.length - start > limit.maxPoints) start = points.length - limit.maxPoints;
  return start > 0 ? points.slice(start) : points;
}

/** The start of the bucket of `stepMs` that holds time `t`. */
export function bucketStart(t: number, stepMs: number): number {
  return Math.floor(t / stepMs) * stepMs;
}

/**
 * Folds live samples into rollup buckets of `stepMs`. A sample updates the bucket that
 * holds its time (min, max, sum, count), creating it in time order when absent.
 * Buckets that end before `limit.from` fall out. Returns `buckets` itself when nothing
 * changed.
 */
export function foldIntoBuckets(
  buckets: Bucket[],
  samples: readonly RawPoint[],
  stepMs: number,
  limit: WindowLimit,
): Bucket[] {
  if (!(stepMs > 0)) throw new RangeError('stepMs must be positive');
  let out: Bucket[] | null = null;
  for (const [t, v] of samples) {
    if (!Number.isFinite(t) || !Number.isFinite(v)) continue;
    const start = bucketStart(t, stepMs);
    if (start + stepMs <= limit.from) continue;
    out = out ?? buckets.slice();
    let i = out.length;
    while (i > 0 && (out[i - 1] as Bucket).t > start) i--;
    const prev = out[i - 1];
    if (prev && prev.t === start) {
      out[i - 1] = {
        t: start,
        min: Math.min(prev.min, v),
        max: Math.max(prev.max, v),
        sum: prev.sum + v,
        count: prev.count + 1,
      };
    } else {
      out.splice(i, 0, { t: start, min: v, max: v, sum: v, count: 1 });
    }
  }
  return trimBuckets(out ?? buckets, stepMs, limit);
}

/** Drops buckets that end before the window starts and beyond the point limit. */
export function trimBuckets(buckets: Bucket[], stepMs: number, limit: WindowLimit): Bucket[] {
  let start = 0;
  while (start < buckets.length && (buckets[start] as Bucket).t + stepMs <= limit.from) start++;
  if (buckets.length - start > limit.maxPoints) start = buckets.length - limit.maxPoints;
  return start > 0 ? buckets.slice(start) : buckets;
}

export function bucketMean(b: Bucket): number {
  return b.sum / b.count;
}
