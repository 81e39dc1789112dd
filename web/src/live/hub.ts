// The one live connection of the dashboard: a single EventSource on /api/v1/stream,
// shared by every view, that dispatches parsed events to subscribers and reconnects
// for ever with capped exponential backoff.
//
// The browser's EventSource retries by itself after a dropped connection, but gives up
// for good (readyState CLOSED) when the server answers with an error status or a wrong
// content type, e.g. while corio-cloud restarts behind a proxy. The hub then makes a
// new EventSource after a delay. Each successful open increments `generation`: a view
// that sees it change knows it may have missed events and refetches.
import { parseStreamEvent, STREAM_EVENT_TYPES, type EventOf, type StreamEvent, type StreamEventType } from './events';

/** The part of the browser's EventSource the hub uses; tests supply a fake. */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export type LinkState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'stopped';

export interface LinkStatus {
  state: LinkState;
  /** Number of successful opens so far. */
  generation: number;
  /** Delay before the next attempt when the hub is waiting to reconnect, else 0. */
  retryInMs: number;
}

export interface HubOptions {
  createEventSource?: (url: string) => EventSourceLike;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Told about every event that failed to parse (once per reason, at most 20). */
  onMalformed?: (reason: string) => void;
}

const CLOSED = 2;

type Handler = (ev: StreamEvent) => void;

export class StreamHub {
  private es: EventSourceLike | null = null;
  private timer: unknown = null;
  private readonly handlers = new Map<StreamEventType, Set<Handler>>();
  private readonly statusListeners = new Set<(s: LinkStatus) => void>();
  private st: LinkStatus = { state: 'idle', generation: 0, retryInMs: 0 };
  private delayMs: number;
  private readonly reported = new Set<string>();
  readonly counts = { received: 0, malformed: 0 };

  private readonly create: (url: string) => EventSourceLike;
  private readonly setT: (fn: () => void, ms: number) => unknown;
  private readonly clearT: (h: unknown) => void;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly url: string,
    private readonly opts: HubOptions = {},
  ) {
    this.create = opts.createEventSource ?? ((u) => new EventSource(u) as unknown as EventSourceLike);
    this.setT = opts.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    this.clearT = opts.clearTimeout ?? ((h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>));
    this.minDelayMs = opts.minDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 30000;
    this.delayMs = this.minDelayMs;
  }

  get status(): LinkStatus {
    return this.st;
  }

  start(): void {
    if (this.es || this.timer !== null) return;
    this.connect();
  }

  stop(): void {
    if (this.timer !== null) this.clearT(this.timer);
    this.timer = null;
    this.es?.close();
    this.es = null;
    this.setStatus({ state: 'stopped', retryInMs: 0 });
  }

  /** Calls `handler` for every valid event of `type`; returns the unsubscribe function. */
  subscribe<K extends StreamEventType>(type: K, handler: (ev: EventOf<K>) => void): () => void {
    let set = this.handlers.get(type);
    if (!set) {
      set = new Set();
      this.handlers.set(type, set);
    }
    const h = handler as Handler;
    set.add(h);
    return () => {
      set.delete(h);
    };
  }

  /** Calls `listener` on every status change; returns the unsubscribe function. */
  onStatus(listener: (s: LinkStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => {
      this.statusListeners.delete(listener);
    };
  }

  /** Parses and dispatches one event; the EventSource listeners call this. */
  dispatch(type: string, data: string): void {
    const r = parseStreamEvent(type, data);
    if (!r.ok) {
      this.counts.malformed++;
      if (this.opts.onMalformed && !this.reported.has(r.reason) && this.reported.size < 20) {
        this.reported.add(r.reason);
        this.opts.onMalformed(r.reason);
      }
      return;
    }
    this.counts.received++;
    const set = this.handlers.get(r.event.type);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(r.event);
      } catch (e) {
        // One view's bug must not starve the others of events.
        console.error('corio: stream handler failed', e);
      }
    }
  }

  private connect(): void {
    this.timer = null;
    this.setStatus({ state: this.st.generation > 0 ? 'reconnecting' : 'connecting', retryInMs: 0 });
    let es: EventSourceLike;
    try {
      es = this.create(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.es = es;
    es.onopen = () => {
      if (this.es !== es) return;
      this.delayMs = this.minDelayMs;
      this.setStatus({ state: 'open', generation: this.st.generation + 1, retryInMs: 0 });
    };
    es.onerror = () => {
      if (this.es !== es) return;
      if (es.readyState === CLOSED) {
        es.close();
        this.es = null;
        this.scheduleReconnect();
      } else {
        // The browser is retrying on its own.
        this.setStatus({ state: 'reconnecting', retryInMs: 0 });
      }
    };
    for (const type of STREAM_EVENT_TYPES) {
      es.addEventListener(type, (ev: MessageEvent) => {
        if (this.es !== es) return;
        this.dispatch(type, typeof ev.data === 'string' ? ev.data : '');
      });
    }
  }

  private scheduleReconnect(): void {
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs);
    this.setStatus({ state: 'reconnecting', retryInMs: delay });
    this.timer = this.setT(() => this.connect(), delay);
  }

  private setStatus(patch: Partial<LinkStatus>): void {
    const next = { ...this.st, ...patch };
    if (next.state === this.st.state && next.generation === this.st.generation && next.retryInMs === this.st.retryInMs) return;
    this.st = next;
    for (const l of [...this.statusListeners]) l(next);
  }
}
