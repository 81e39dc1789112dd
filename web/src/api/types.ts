// The shapes of corio-cloud's HTTP API (docs/api.md), as the dashboard uses them after
// decoding. Times are milliseconds since the Unix epoch (UTC).

export interface Device {
  id: string;
  did: string;
  org: string;
  gateway: string;
  online: boolean;
  /** null when the cloud has never heard from the device. */
  last_seen: number | null;
  last_seq: number | null;
  epoch: number | null;
  metrics: string[];
  messages: number;
  missing: number;
}

export interface Stats {
  devices: number;
  online: number;
  messages: number;
  samples: number;
  missing: number;
  duplicates: number;
  rejected: number;
  batches: number;
}

/** One raw sample: [time, value]. Only numeric values are charted. */
export type RawPoint = [number, number];

/** One rollup bucket of a stepped series. `sum` is kept so live samples can fold in. */
export interface Bucket {
  t: number;
  min: number;
  max: number;
  sum: number;
  count: number;
}

export type Series =
  | { device: string; metric: string; unit: string; step: 0; points: RawPoint[]; skipped: number }
  | { device: string; metric: string; unit: string; step: number; buckets: Bucket[]; skipped: number };

export type GapKind = 'seq' | 'tail';

export interface Gap {
  epoch: number;
  from_seq: number;
  to_seq: number;
  kind: GapKind;
  detected: number | null;
}

export interface Gaps {
  device: string;
  missing: number;
  gaps: Gap[];
}
