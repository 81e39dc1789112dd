// The events of GET /api/v1/stream (docs/api.md): their types and a parser that checks
// every field, since an event's data is input from outside like any other.

export interface SampleEvent {
  type: 'sample';
  device: string;
  metric: string;
  t: number;
  /** SenML values may be numbers, strings or booleans; only numbers are charted. */
  v: number | string | boolean;
}

export interface PresenceEvent {
  type: 'presence';
  device: string;
  online: boolean;
  t: number | null;
}

export interface GapEvent {
  type: 'gap';
  device: string;
  epoch: number;
  from_seq: number;
  to_seq: number;
  kind: 'seq' | 'tail';
}

export type StreamEvent = SampleEvent | PresenceEvent | GapEvent;
export type StreamEventType = StreamEvent['type'];
export type EventOf<K extends StreamEventType> = Extract<StreamEvent, { type: K }>;

export const STREAM_EVENT_TYPES: readonly StreamEventType[] = ['sample', 'presence', 'gap'];

export type ParseResult = { ok: true; event: StreamEvent } | { ok: false; reason: string };

function fail(reason: string): ParseResult {
  return { ok: false, reason };
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 256;
}

/** Parses one SSE event given its `event:` name and its `data:` text. */
export function parseStreamEvent(type: string, data: string): ParseResult {
  if (!(STREAM_EVENT_TYPES as readonly string[]).includes(type)) return fail(`unknown event type "${type}"`);
  let j: unknown;
  try {
    j = JSON.parse(data);
  } catch {
    return fail(`${type}: data is not JSON`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return fail(`${type}: data is not an object`);
  const o = j as Record<string, unknown>;
  if (!isId(o.device)) return fail(`${type}: device is missing`);
  switch (type) {
    case 'sample': {
      if (!isId(o.metric)) return fail('sample: metric is missing');
      if (!isNum(o.t)) return fail('sample: t is not a time');
      const v = o.v;
      if (!(isNum(v) || typeof v === 'string' || typeof v === 'boolean')) return fail('sample: v is not a value');
      return { ok: true, event: { type: 'sample', device: o.device, metric: o.metric, t: o.t, v } };
    }
    case 'presence': {
      if (typeof o.online !== 'boolean') return fail('presence: online is not a boolean');
      if (o.t !== undefined && o.t !== null && !isNum(o.t)) return fail('presence: t is not a time');
      return { ok: true, event: { type: 'presence', device: o.device, online: o.online, t: isNum(o.t) ? o.t : null } };
    }
    default: {
      if (!isNum(o.epoch) || !isNum(o.from_seq) || !isNum(o.to_seq)) return fail('gap: epoch, from_seq or to_seq is not a number');
      if (o.kind !== 'seq' && o.kind !== 'tail') return fail('gap: kind is not "seq" or "tail"');
      if (o.to_seq < o.from_seq) return fail('gap: to_seq is before from_seq');
      return {
        ok: true,
        event: { type: 'gap', device: o.device, epoch: o.epoch, from_seq: o.from_seq, to_seq: o.to_seq, kind: o.kind },
      };
    }
  }
}
