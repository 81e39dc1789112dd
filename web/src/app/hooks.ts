// React hooks over the non-visual parts: polling with visible errors, live stream
// subscriptions, a ticking clock, and the current route.
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { isAbort } from '../api/client';
import { clock } from '../lib/clock';
import { parseHash, type Location } from '../lib/router';
import type { EventOf, StreamEventType } from '../live/events';
import type { LinkStatus } from '../live/hub';
import { useHub } from './context';

export interface Polled<T> {
  data: T | null;
  error: Error | null;
  loading: boolean;
  /** Local time of the last successful load. */
  updatedAt: number | null;
  reload: () => void;
}

/**
 * Loads `load` now and every `intervalMs`, and again whenever `deps` change. A failed
 * load keeps the last good data (a dashboard that blanks on one lost request is worse
 * than one that shows slightly old numbers under a banner). Loads do not overlap, and a
 * hidden tab does not poll.
 */
export function usePolling<T>(load: (signal: AbortSignal) => Promise<T>, intervalMs: number, deps: readonly unknown[]): Polled<T> {
  const [state, setState] = useState<{ data: T | null; error: Error | null; loading: boolean; updatedAt: number | null }>({
    data: null,
    error: null,
    loading: true,
    updatedAt: null,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  const kick = useRef<() => void>(() => {});

  useEffect(() => {
    let alive = true;
    let inFlight: AbortController | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    setState((s) => ({ ...s, data: null, error: null, loading: true }));

    const run = async () => {
      if (timer) clearTimeout(timer);
      timer = null;
      if (inFlight) return;
      const ctl = new AbortController();
      inFlight = ctl;
      try {
        const data = await loadRef.current(ctl.signal);
        if (alive) setState({ data, error: null, loading: false, updatedAt: Date.now() });
      } catch (e) {
        if (alive && !isAbort(e)) {
          setState((s) => ({ ...s, error: e instanceof Error ? e : new Error(String(e)), loading: false }));
        }
      } finally {
        inFlight = null;
        if (alive) timer = setTimeout(tick, intervalMs);
      }
    };
    const tick = () => {
      if (typeof document !== 'undefined' && document.hidden) {
        timer = setTimeout(tick, intervalMs);
        return;
      }
      void run();
    };
    kick.current = () => void run();
    void run();
    return () => {
      alive = false;
      if (timer) clearTimeout(timer);
      inFlight?.abort();
      kick.current = () => {};
    };
  }, [intervalMs, ...deps]);

  const reload = useCallback(() => kick.current(), []);
  return { ...state, reload };
}

/** Subscribes to one type of live event for the component's lifetime. */
export function useStreamEvent<K extends StreamEventType>(type: K, handler: (ev: EventOf<K>) => void): void {
  const hub = useHub();
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => hub.subscribe(type, (ev) => ref.current(ev)), [hub, type]);
}

/** The live link's status, re-rendering on every change. */
export function useLinkStatus(): LinkStatus {
  const hub = useHub();
  return useSyncExternalStore(
    useCallback((cb: () => void) => hub.onStatus(cb), [hub]),
    () => hub.status,
  );
}

/** Calls `fn` at most once per `ms`, trailing: for refetches triggered by bursts of events. */
export function useDebounced(fn: () => void, ms: number): () => void {
  const ref = useRef(fn);
  ref.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      ref.current();
    }, ms);
  }, [ms]);
}

/** The platform's "now" (see lib/clock.ts), updated every `intervalMs`. */
export function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => clock.now());
  useEffect(() => {
    const id = setInterval(() => setNow(clock.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}

function subscribeHash(cb: () => void): () => void {
  window.addEventListener('hashchange', cb);
  return () => window.removeEventListener('hashchange', cb);
}

/** The current route, from the URL fragment. */
export function useLocation(): Location {
  const hash = useSyncExternalStore(subscribeHash, () => window.location.hash);
  const ref = useRef<{ hash: string; loc: Location } | null>(null);
  if (!ref.current || ref.current.hash !== hash) ref.current = { hash, loc: parseHash(hash) };
  return ref.current.loc;
}
