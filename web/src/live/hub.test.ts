import { describe, expect, it, vi } from 'vitest';
import type { EventOf } from './events';
import { StreamHub, type EventSourceLike, type LinkStatus } from './hub';

class FakeEventSource implements EventSourceLike {
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  readonly listeners = new Map<string, ((ev: MessageEvent) => void)[]>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (ev: MessageEvent) => void): void {
    const l = this.listeners.get(type) ?? [];
    l.push(listener);
    this.listeners.set(type, l);
  }

  close(): void {
    this.closed = true;
    this.readyState = 2;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  emit(type: string, data: string): void {
    for (const l of this.listeners.get(type) ?? []) l({ data } as MessageEvent);
  }

  /** The server answered with an error status: the browser gives up. */
  fail(): void {
    this.readyState = 2;
    this.onerror?.(new Event('error'));
  }

  /** The connection dropped: the browser retries by itself. */
  drop(): void {
    this.readyState = 0;
    this.onerror?.(new Event('error'));
  }
}

function setup(opts: { minDelayMs?: number; maxDelayMs?: number } = {}) {
  const sources: FakeEventSource[] = [];
  const timers: { fn: () => void; ms: number; cleared: boolean }[] = [];
  const statuses: LinkStatus[] = [];
  const malformed: string[] = [];
  const hub = new StreamHub('api/v1/stream', {
    createEventSource: (url) => {
      const es = new FakeEventSource(url);
      sources.push(es);
      return es;
    },
    setTimeout: (fn, ms) => {
      const t = { fn, ms, cleared: false };
      timers.push(t);
      return t;
    },
    clearTimeout: (h) => {
      (h as { cleared: boolean }).cleared = true;
    },
    onMalformed: (r) => malformed.push(r),
    ...opts,
  });
  hub.onStatus((s) => statuses.push(s));
  const fire = () => {
    const t = timers.shift();
    if (!t) throw new Error('no timer pending');
    if (!t.cleared) t.fn();
    return t.ms;
  };
  const last = () => sources[sources.length - 1] as FakeEventSource;
  return { hub, sources, timers, statuses, malformed, fire, last };
}

describe('StreamHub', () => {
  it('opens one EventSource and dispatches parsed events by type', () => {
    const { hub, sources, last } = setup();
    hub.start();
    hub.start();
    expect(sources).toHaveLength(1);
    expect(last().url).toBe('api/v1/stream');
    const samples: EventOf<'sample'>[] = [];
    const presences: EventOf<'presence'>[] = [];
    hub.subscribe('sample', (e) => samples.push(e));
    hub.subscribe('presence', (e) => presences.push(e));
    last().open();
    last().emit('sample', '{"device":"d1","metric":"temp","t":10,"v":1.5}');
    last().emit('presence', '{"device":"d1","online":false,"t":11}');
    expect(samples).toEqual([{ type: 'sample', device: 'd1', metric: 'temp', t: 10, v: 1.5 }]);
    expect(presences).toEqual([{ type: 'presence', device: 'd1', online: false, t: 11 }]);
    expect(hub.counts.received).toBe(2);
  });

  it('stops dispatching to a handler after unsubscribe', () => {
    const { hub, last } = setup();
    hub.start();
    const fn = vi.fn();
    const off = hub.subscribe('gap', fn);
    last().emit('gap', '{"device":"d","epoch":1,"from_seq":1,"to_seq":2,"kind":"tail"}');
    off();
    last().emit('gap', '{"device":"d","epoch":1,"from_seq":3,"to_seq":4,"kind":"tail"}');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('counts malformed events, reports each reason once, and keeps going', () => {
    const { hub, last, malformed } = setup();
    hub.start();
    const fn = vi.fn();
    hub.subscribe('sample', fn);
    last().emit('sample', '{oops');
    last().emit('sample', '{oops');
    last().emit('sample', '{"device":"d","metric":"m","t":1,"v":2}');
    expect(hub.counts.malformed).toBe(2);
    expect(malformed).toEqual(['sample: data is not JSON']);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('keeps dispatching to other handlers when one throws', () => {
    const { hub, last } = setup();
    hub.start();
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const good = vi.fn();
    hub.subscribe('presence', () => {
      throw new Error('view bug');
    });
    hub.subscribe('presence', good);
    last().emit('presence', '{"device":"d","online":true}');
    expect(good).toHaveBeenCalledTimes(1);
    expect(err).toHaveBeenCalled();
    err.mockRestore();
  });

  it('reconnects with capped exponential backoff after the browser gives up, and resets the delay on open', () => {
    const { hub, sources, last, fire, statuses } = setup({ minDelayMs: 100, maxDelayMs: 350 });
    hub.start();
    last().open();
    expect(hub.status).toEqual({ state: 'open', generation: 1, retryInMs: 0 });

    last().fail();
    expect(sources[0]?.closed).toBe(true);
    expect(hub.status.state).toBe('reconnecting');
    expect(hub.status.retryInMs).toBe(100);
    expect(fire()).toBe(100);
    expect(sources).toHaveLength(2);
    last().fail();
    expect(fire()).toBe(200);
    last().fail();
    expect(fire()).toBe(350);
    last().fail();
    expect(fire()).toBe(350);
    expect(sources).toHaveLength(5);

    last().open();
    expect(hub.status).toEqual({ state: 'open', generation: 2, retryInMs: 0 });
    last().fail();
    expect(fire()).toBe(100);
    expect(statuses.some((s) => s.state === 'reconnecting')).toBe(true);
  });

  it('lets the browser retry a dropped connection itself, and counts the reopen as a new generation', () => {
    const { hub, sources, last, timers } = setup();
    hub.start();
    last().open();
    last().drop();
    expect(hub.status.state).toBe('reconnecting');
    expect(timers).toHaveLength(0);
    expect(sources).toHaveLength(1);
    last().open();
    expect(hub.status).toEqual({ state: 'open', generation: 2, retryInMs: 0 });
  });

  it('ignores events and errors from a replaced EventSource', () => {
    const { hub, sources, fire } = setup();
    hub.start();
    const first = sources[0] as FakeEventSource;
    first.fail();
    fire();
    const fn = vi.fn();
    hub.subscribe('sample', fn);
    first.emit('sample', '{"device":"d","metric":"m","t":1,"v":2}');
    first.onerror?.(new Event('error'));
    expect(fn).not.toHaveBeenCalled();
    expect(sources).toHaveLength(2);
  });

  it('stop() closes the connection and cancels a pending reconnect', () => {
    const { hub, sources, last, timers } = setup();
    hub.start();
    last().fail();
    expect(timers).toHaveLength(1);
    hub.stop();
    expect(timers[0]?.cleared).toBe(true);
    expect(hub.status.state).toBe('stopped');
    hub.start();
    expect(sources).toHaveLength(2);
    hub.stop();
    expect(sources[1]?.closed).toBe(true);
  });

  it('retries when the EventSource constructor itself throws', () => {
    let calls = 0;
    const timers: (() => void)[] = [];
    const hub = new StreamHub('x', {
      createEventSource: () => {
        calls++;
        throw new SyntaxError('bad url');
      },
      setTimeout: (fn) => timers.push(fn),
      clearTimeout: () => {},
    });
    hub.start();
    expect(hub.status.state).toBe('reconnecting');
    timers.shift()?.();
    expect(calls).toBe(2);
  });
});
