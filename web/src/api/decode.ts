// Checks API responses against docs/api.md before the UI touches them. The dashboard
// treats the network as hostile like every other Corio part: a malformed answer becomes
// a DecodeError naming the offending field, which the UI shows in a banner, instead of
// an exception deep inside a render that would blank the page.
import type { Bucket, Device, Gap, Gaps, RawPoint, Series, Stats } from './types';

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

type Obj = Record<string, unknown>;

function obj(v: unknown, where: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DecodeError(`${where} is not an object`);
  return v as Obj;
}

function arr(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new DecodeError(`${where} is not an array`);
  return v;
}

function num(o: Obj, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new DecodeError(`${where}.${key} is not a number`);
  return v;
}

function numOrNull(o: Obj, key: string, where: string): number | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  return num(o, key, where);
}

function str(o: Obj, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new DecodeError(`${where}.${key} is not a string`);
  return v;
}

function strOr(o: Obj, key: string, where: string, dflt: string): string {
  return o[key] === undefined || o[key] === null ? dflt : str(o, key, where);
}

export function decodeDevice(v: unknown, where = 'device'): Device {
  const o = obj(v, where);
  const id = str(o, 'id', where);
  if (id.length === 0) throw new DecodeError(`${where}.id is empty`);
  if (typeof o.online !== 'boolean') throw new DecodeError(`${where}.online is not a boolean`);
  const metrics = o.metrics === undefined || o.metrics === null ? [] : arr(o.metrics, `${where}.metrics`);
  return {
    id,
    did: strOr(o, 'did', where, `did:corio:${id}`),
    org: strOr(o, 'org', where, ''),
    gateway: strOr(o, 'gateway', where, ''),
    online: o.online,
    last_seen: numOrNull(o, 'last_seen', where),
    last_seq: numOrNull(o, 'last_seq', where),
    epoch: numOrNull(o, 'epoch', where),
    metrics: metrics.map((m, i) => {
      if (typeof m !== 'string' || m.length === 0) throw new DecodeError(`${where}.metrics[${i}] is not a metric name`);
      return m;
    }),
    messages: num(o, 'messages', where),
    missing: num(o, 'missing', where),
  };
}

export function decodeDevices(v: unknown): Device[] {
  const o = obj(v, 'response');
  return arr(o.devices, 'devices').map((d, i) => decodeDevice(d, `devices[${i}]`));
}

export function decodeStats(v: unknown): Stats {
  const o = obj(v, 'stats');
  return {
    devices: num(o, 'devices', 'stats'),
    online: num(o, 'online', 'stats'),
    messages: num(o, 'messages', 'stats'),
    samples: numOrNull(o, 'samples', 'stats') ?? 0,
    missing: num(o, 'missing', 'stats'),
    duplicates: num(o, 'duplicates', 'stats'),
    rejected: num(o, 'rejected', 'stats'),
    batches: numOrNull(o, 'batches', 'stats') ?? 0,
  };
}

/**
 * Decodes a series. Raw points whose value is not a finite number (SenML string,
 * boolean or data values) cannot be drawn on a line chart; they are counted in
 * `skipped` rather than silently dropped, so the page can say so.
 */
export function decodeSeries(v: unknown): Series {
  const o = obj(v, 'series');
  const device = str(o, 'device', 'series');
  const metric = str(o, 'metric', 'series');
  const unit = strOr(o, 'unit', 'series', '');
  const step = numOrNull(o, 'step', 'series') ?? 0;
  if (step < 0) throw new DecodeError('series.step is negative');
  const pts = arr(o.points, 'series.points');
  let skipped = 0;
  if (step === 0) {
    const points: RawPoint[] = [];
    pts.forEach((p, i) => {
      const a = arr(p, `series.points[${i}]`);
      const t = a[0];
      const val = a[1];
      if (typeof t !== 'number' || !Number.isFinite(t)) throw new DecodeError(`series.points[${i}][0] is not a time`);
      if (typeof val === 'number' && Number.isFinite(val)) points.push([t, val]);
      else skipped++;
    });
    points.sort((a, b) => a[0] - b[0]);
    return { device, metric, unit, step: 0, points, skipped };
  }
  const buckets: Bucket[] = [];
  pts.forEach((p, i) => {
    const a = arr(p, `series.points[${i}]`);
    if (a.length < 5) throw new DecodeError(`series.points[${i}] has ${a.length} fields, want [t, min, max, mean, count]`);
    const [t, min, max, mean, count] = a;
    for (const [name, x] of [['t', t], ['min', min], ['max', max], ['mean', mean], ['count', count]] as const) {
      if (typeof x !== 'number' || !Number.isFinite(x)) throw new DecodeError(`series.points[${i}].${name} is not a number`);
    }
    const c = count as number;
    if (c <= 0) return; // an empty bucket carries no value to draw
    buckets.push({ t: t as number, min: min as number, max: max as number, sum: (mean as number) * c, count: c });
  });
  buckets.sort((a, b) => a.t - b.t);
  return { device, metric, unit, step, buckets, skipped };
}

function decodeGap(v: unknown, where: string): Gap {
  const o = obj(v, where);
  const kind = str(o, 'kind', where);
  if (kind !== 'seq' && kind !== 'tail') throw new DecodeError(`${where}.kind is "${kind}", want "seq" or "tail"`);
  return {
    epoch: num(o, 'epoch', where),
    from_seq: num(o, 'from_seq', where),
    to_seq: num(o, 'to_seq', where),
    kind,
    detected: numOrNull(o, 'detected', where),
  };
}

export function decodeGaps(v: unknown): Gaps {
  const o = obj(v, 'gaps');
  return {
    device: str(o, 'device', 'gaps'),
    missing: num(o, 'missing', 'gaps'),
    gaps: arr(o.gaps, 'gaps.gaps').map((g, i) => decodeGap(g, `gaps[${i}]`)),
  };
}
