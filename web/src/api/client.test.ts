import { describe, expect, it } from 'vitest';
import { Clock } from '../lib/clock';
import { ApiError, createApi, isAbort } from './client';

type Handler = (url: string, init?: RequestInit) => Promise<Response>;

function api(handler: Handler, timeoutMs = 1000) {
  const calls: string[] = [];
  const clock = new Clock(() => Date.parse('2025-11-30T10:00:00Z'));
  const a = createApi({
    fetch: ((input: RequestInfo | URL, init?: RequestInit) => {
      calls.push(String(input));
      return handler(String(input), init);
    }) as typeof fetch,
    timeoutMs,
    clock,
  });
  return { a, calls, clock };
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } }));

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error('expected a failure');
}

const device = {
  id: 'abcd', did: 'did:corio:abcd', org: 'org1', gateway: 'gw1', online: true, last_seen: 1764500000000,
  last_seq: 1234, epoch: 1, metrics: ['temp', 'hum'], messages: 1234, missing: 0,
};

describe('api client', () => {
  it('decodes the documented answers', async () => {
    const { a, calls } = api((url) => {
      if (url === 'api/v1/devices') return json({ devices: [device] });
      if (url === 'api/v1/stats') return json({ devices: 20, online: 20, messages: 12345, samples: 37035, missing: 0, duplicates: 12, rejected: 0, batches: 400 });
      if (url.startsWith('api/v1/devices/abcd/series')) return json({ device: 'abcd', metric: 'temp', unit: 'Cel', step: 0, points: [[2, 21.5], [1, 21], [3, 'x']] });
      if (url === 'api/v1/devices/abcd/gaps') return json({ device: 'abcd', missing: 3, gaps: [{ epoch: 1, from_seq: 17, to_seq: 19, kind: 'seq', detected: 5 }] });
      return json({ error: 'no route' }, 404);
    });
    expect(await a.devices()).toEqual([device]);
    expect((await a.stats()).duplicates).toBe(12);
    const s = await a.series('abcd', { metric: 'temp', from: 1000.7 });
    expect(s).toEqual({ device: 'abcd', metric: 'temp', unit: 'Cel', step: 0, points: [[1, 21], [2, 21.5]], skipped: 1 });
    expect(calls).toContain('api/v1/devices/abcd/series?metric=temp&from=1000');
    expect((await a.gaps('abcd')).gaps[0]).toEqual({ epoch: 1, from_seq: 17, to_seq: 19, kind: 'seq', detected: 5 });
  });

  it('decodes a stepped series into buckets that keep the sum', async () => {
    const { a, calls } = api(() => json({ device: 'd', metric: 'temp', unit: 'Cel', step: 60, points: [[120000, 1, 3, 2, 4], [60000, 0, 0, 0, 0]] }));
    const s = await a.series('d', { metric: 'temp', from: 0, step: 60 });
    expect(s.step).toBe(60);
    expect('buckets' in s && s.buckets).toEqual([{ t: 120000, min: 1, max: 3, sum: 8, count: 4 }]);
    expect(calls[0]).toBe('api/v1/devices/d/series?metric=temp&from=0&step=60');
  });

  it('percent-encodes device ids in paths', async () => {
    const { a, calls } = api(() => json({ ...device, id: 'a/b?c' }));
    await a.device('a/b?c');
    expect(calls[0]).toBe('api/v1/devices/a%2Fb%3Fc');
  });

  it('reports the server\'s error text and status', async () => {
    const { a } = api(() => json({ error: 'unknown device' }, 404));
    const e = await failure(a.device('nope'));
    expect(e.status).toBe(404);
    expect(e.path).toBe('api/v1/devices/nope');
    expect(e.message).toBe('api/v1/devices/nope: 404 unknown device');
  });

  it('reports a non-JSON error body, shortened', async () => {
    const { a } = api(() => Promise.resolve(new Response(`upstream\n\n  ${'x'.repeat(1000)}`, { status: 502, statusText: 'Bad Gateway' })));
    const e = await failure(a.stats());
    expect(e.status).toBe(502);
    expect(e.message.startsWith('api/v1/stats: 502 upstream xxx')).toBe(true);
    expect(e.message.length).toBeLessThan(260);
  });

  it('reads an HTML error page as its text', async () => {
    const page = '<!DOCTYPE html><html><head><title>Error</title><style>p{}</style></head><body><p>File not found.</p></body></html>';
    const { a } = api(() => Promise.resolve(new Response(page, { status: 404 })));
    expect((await failure(a.stats())).message).toBe('api/v1/stats: 404 Error File not found.');
  });

  it('falls back to the status text for an empty error body', async () => {
    const { a } = api(() => Promise.resolve(new Response('', { status: 503, statusText: 'Service Unavailable' })));
    expect((await failure(a.stats())).message).toBe('api/v1/stats: 503 Service Unavailable');
  });

  it('reports a network failure as status 0', async () => {
    const { a } = api(() => Promise.reject(new TypeError('Failed to fetch')));
    const e = await failure(a.devices());
    expect(e.status).toBe(0);
    expect(e.message).toContain('cannot reach corio-cloud (Failed to fetch)');
  });

  it('reports invalid JSON in a 200 answer', async () => {
    const { a } = api(() => Promise.resolve(new Response('{"devices": [', { status: 200 })));
    expect((await failure(a.devices())).message).toBe('api/v1/devices: the answer is not valid JSON');
  });

  it('reports an answer that breaks the contract, naming the field', async () => {
    const { a } = api(() => json({ devices: [device, { ...device, id: 7 }] }));
    expect((await failure(a.devices())).message).toBe('api/v1/devices: unexpected answer: devices[1].id is not a string');
    const b = api(() => json({ device: 'd', metric: 'm', step: 60, points: [[1, 2, 3]] })).a;
    expect((await failure(b.series('d', { metric: 'm', step: 60 }))).message).toContain('has 3 fields');
    const c = api(() => json({ device: 'd', missing: 1, gaps: [{ epoch: 1, from_seq: 1, to_seq: 1, kind: 'lost' }] })).a;
    expect((await failure(c.gaps('d'))).message).toContain('gaps[0].kind is "lost"');
  });

  it('times out a request that never answers', async () => {
    const { a } = api(
      (_url, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
      50,
    );
    const e = await failure(a.stats());
    expect(e.status).toBe(0);
    expect(e.message).toContain('no answer within');
  });

  it('passes the caller\'s abort through as an abort, not as an error to show', async () => {
    const { a } = api(
      (_url, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const ctl = new AbortController();
    const p = a.stats(ctl.signal);
    ctl.abort();
    await expect(p).rejects.toSatisfy(isAbort);
  });

  it('learns the server clock from the Date header', async () => {
    const { a, clock } = api(() => json({ devices: [] }, 200, { Date: 'Sun, 30 Nov 2025 10:10:00 GMT' }));
    await a.devices();
    expect(clock.offset()).toBe(600_000);
  });
});
