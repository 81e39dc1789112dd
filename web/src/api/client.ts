// The HTTP client for corio-cloud's API (docs/api.md). Every failure, whatever its
// cause, comes out as an ApiError whose message a person can act on: the path, the
// status, and the server's own {"error": ...} text when it sent one.
import { clock as defaultClock, type Clock } from '../lib/clock';
import { decodeDevice, decodeDevices, decodeGaps, decodeSeries, decodeStats, DecodeError } from './decode';
import type { Device, Gaps, Series, Stats } from './types';

export class ApiError extends Error {
  /** HTTP status, or 0 when no HTTP answer arrived (network error, timeout). */
  readonly status: number;
  readonly path: string;

  constructor(path: string, status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.path = path;
    this.status = status;
  }
}

/** True for the rejection a caller's own AbortSignal caused: not an error to show. */
export function isAbort(e: unknown): boolean {
  return e instanceof DOMException ? e.name === 'AbortError' : (e as { name?: string } | null)?.name === 'AbortError';
}

export interface ApiOptions {
  /** Prefix of API paths; relative by default so the dashboard works under any path. */
  base?: string;
  fetch?: typeof fetch;
  /** A request that has not answered by then fails with status 0. */
  timeoutMs?: number;
  clock?: Clock;
}

export interface SeriesQuery {
  metric: string;
  from?: number;
  to?: number;
  /** Seconds per point; 0 or absent for raw samples. */
  step?: number;
}

export interface Api {
  stats(signal?: AbortSignal): Promise<Stats>;
  devices(signal?: AbortSignal): Promise<Device[]>;
  device(id: string, signal?: AbortSignal): Promise<Device>;
  series(id: string, q: SeriesQuery, signal?: AbortSignal): Promise<Series>;
  gaps(id: string, signal?: AbortSignal): Promise<Gaps>;
}

const MAX_ERROR_TEXT = 200;

async function errorText(res: Response): Promise<string> {
  let body = '';
  try {
    body = await res.text();
  } catch {
    return res.statusText || 'no body';
  }
  try {
    const j: unknown = JSON.parse(body);
    if (j && typeof j === 'object' && typeof (j as { error?: unknown }).error === 'string') {
      return (j as { error: string }).error.slice(0, MAX_ERROR_TEXT);
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  // An HTML error page (a proxy, a static server) reads better as its text.
  const plain = /^\s*</.test(body) ? body.replace(/<(script|style)[^]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' ') : body;
  const text = plain.trim().replace(/\s+/g, ' ');
  return text ? text.slice(0, MAX_ERROR_TEXT) : res.statusText || 'no body';
}

export function createApi(opts: ApiOptions = {}): Api {
  const base = opts.base ?? 'api/v1';
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const timeoutMs = opts.timeoutMs ?? 15000;
  const clk = opts.clock ?? defaultClock;

  async function getJson<T>(path: string, decode: (v: unknown) => T, signal?: AbortSignal): Promise<T> {
    const url = `${base}${path}`;
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, timeoutMs);
    const onCallerAbort = () => ctl.abort();
    if (signal) {
      if (signal.aborted) ctl.abort();
      else signal.addEventListener('abort', onCallerAbort, { once: true });
    }
    try {
      let res: Response;
      try {
        res = await doFetch(url, { signal: ctl.signal, headers: { Accept: 'application/json' } });
      } catch (e) {
        if (timedOut) throw new ApiError(url, 0, `${url}: no answer within ${Math.round(timeoutMs / 1000)} s`);
        if (isAbort(e)) throw e;
        throw new ApiError(url, 0, `${url}: cannot reach corio-cloud (${e instanceof Error ? e.message : String(e)})`);
      }
      clk.observeDateHeader(res.headers.get('Date'));
      if (!res.ok) {
        throw new ApiError(url, res.status, `${url}: ${res.status} ${await errorText(res)}`);
      }
      let body: unknown;
      try {
        body = await res.json();
      } catch (e) {
        if (timedOut) throw new ApiError(url, 0, `${url}: no answer within ${Math.round(timeoutMs / 1000)} s`);
        if (isAbort(e)) throw e;
        throw new ApiError(url, res.status, `${url}: the answer is not valid JSON`);
      }
      try {
        return decode(body);
      } catch (e) {
        if (e instanceof DecodeError) throw new ApiError(url, res.status, `${url}: unexpected answer: ${e.message}`);
        throw e;
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  const dev = (id: string) => `/devices/${encodeURIComponent(id)}`;

  return {
    stats: (signal) => getJson('/stats', decodeStats, signal),
    devices: (signal) => getJson('/devices', decodeDevices, signal),
    device: (id, signal) => getJson(dev(id), (v) => decodeDevice(v), signal),
    series: (id, q, signal) => {
      const p = new URLSearchParams({ metric: q.metric });
      if (q.from !== undefined) p.set('from', String(Math.floor(q.from)));
      if (q.to !== undefined) p.set('to', String(Math.floor(q.to)));
      if (q.step) p.set('step', String(Math.floor(q.step)));
      return getJson(`${dev(id)}/series?${p.toString()}`, decodeSeries, signal);
    },
    gaps: (id, signal) => getJson(`${dev(id)}/gaps`, decodeGaps, signal),
  };
}
