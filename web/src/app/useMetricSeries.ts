// One chart's data: the initial window from GET .../series, then live samples from the
// shared stream folded in, trimmed as the window slides. Samples that arrive while the
// initial request is in flight are kept and merged after it, so nothing between the
// query and the subscription is lost; merging is idempotent on time, so overlap is
// harmless. A reconnect of the stream (new generation) refetches, because events sent
// while disconnected are gone.
import { useCallback, useEffect, useRef, useState } from 'react';
import { isAbort } from '../api/client';
import type { Bucket, RawPoint } from '../api/types';
import { clock } from '../lib/clock';
import { foldIntoBuckets, mergeRaw, trimBuckets, trimRaw } from '../lib/series';
import { maxPointsFor, windowFrom, type TimeWindow } from '../lib/windows';
import { useApi, useHub } from './context';
import { useLinkStatus } from './hooks';

export interface MetricSeriesState {
  step: number;
  points: RawPoint[];
  buckets: Bucket[];
  unit: string;
  loading: boolean;
  error: Error | null;
  /** Values the chart cannot draw (strings, booleans) in the initial load and since. */
  skipped: number;
  /** Window bounds in ms at the last update. */
  from: number;
  to: number;
}

const FLUSH_MS = 200;

export function useMetricSeries(device: string, metric: string, win: TimeWindow): MetricSeriesState & { retry: () => void } {
  const api = useApi();
  const hub = useHub();
  // The first open of the stream is not a reconnect: only later opens refetch.
  const resync = Math.max(useLinkStatus().generation, 1);
  const [attempt, setAttempt] = useState(0);
  const retry = useCallback(() => setAttempt((n) => n + 1), []);
  const [state, setState] = useState<MetricSeriesState>(() => ({
    step: win.step,
    points: [],
    buckets: [],
    unit: '',
    loading: true,
    error: null,
    skipped: 0,
    from: windowFrom(win, clock.now()),
    to: clock.now(),
  }));
  // The series lives in a ref between flushes so a burst of samples costs one render.
  const cur = useRef(state);
  const shownKey = useRef<string | null>(null);

  useEffect(() => {
    let alive = true;
    const ctl = new AbortController();
    let loaded = false;
    let pending: RawPoint[] = [];
    let skippedLive = 0;
    let flushTimer: ReturnType<typeof setTimeout> | null = null;

    const limit = () => ({ from: windowFrom(win, clock.now()), maxPoints: maxPointsFor(win) });

    const publish = (next: MetricSeriesState) => {
      cur.current = next;
      if (alive) setState(next);
    };

    const flush = () => {
      flushTimer = null;
      if (!alive || !loaded) return;
      const lim = limit();
      const s = cur.current;
      const batch = pending;
      pending = [];
      // The answer's step rules, should the server have chosen another than asked.
      const points = s.step === 0 ? mergeRaw(s.points, batch, lim) : s.points;
      const buckets = s.step === 0 ? s.buckets : foldIntoBuckets(s.buckets, batch, s.step * 1000, lim);
      publish({ ...s, points, buckets, skipped: s.skipped + skippedLive, from: lim.from, to: clock.now() });
      skippedLive = 0;
    };

    const start = clock.now();
    const key = `${device}\n${metric}\n${win.key}`;
    if (shownKey.current === key) {
      // A refetch of the same view (reconnect, retry): keep drawing what is there.
      publish({ ...cur.current, loading: true, error: null });
    } else {
      shownKey.current = key;
      publish({
        step: win.step,
        points: [],
        buckets: [],
        unit: cur.current.unit,
        loading: true,
        error: null,
        skipped: 0,
        from: windowFrom(win, start),
        to: start,
      });
    }

    const unsubscribe = hub.subscribe('sample', (ev) => {
      if (ev.device !== device || ev.metric !== metric) return;
      if (typeof ev.v !== 'number') {
        skippedLive++;
        return;
      }
      pending.push([ev.t, ev.v]);
      if (loaded && flushTimer === null) flushTimer = setTimeout(flush, FLUSH_MS);
    });

    api
      .series(device, { metric, from: windowFrom(win, start), step: win.step }, ctl.signal)
      .then((s) => {
        if (!alive) return;
        const lim = limit();
        const base: MetricSeriesState = {
          step: s.step,
          points: 'points' in s ? trimRaw(s.points, lim) : [],
          buckets: 'buckets' in s ? trimBuckets(s.buckets, s.step * 1000, lim) : [],
          unit: s.unit,
          loading: false,
          error: null,
          skipped: s.skipped,
          from: lim.from,
          to: clock.now(),
        };
        cur.current = base;
        loaded = true;
        flush();
      })
      .catch((e: unknown) => {
        if (!alive || isAbort(e)) return;
        // Keep charting live samples even when the history could not be loaded.
        cur.current = { ...cur.current, loading: false, error: e instanceof Error ? e : new Error(String(e)) };
        loaded = true;
        flush();
      });

    // Slide the window even when no sample arrives.
    const tick = setInterval(() => {
      if (!loaded) return;
      const lim = limit();
      const s = cur.current;
      const points = trimRaw(s.points, lim);
      const buckets = s.step > 0 ? trimBuckets(s.buckets, s.step * 1000, lim) : s.buckets;
      publish({ ...s, points, buckets, from: lim.from, to: clock.now() });
    }, win.tickMs);

    return () => {
      alive = false;
      ctl.abort();
      unsubscribe();
      clearInterval(tick);
      if (flushTimer) clearTimeout(flushTimer);
    };
  }, [api, hub, device, metric, win, resync, attempt]);

  return { ...state, retry };
}
