import { describe, expect, it } from 'vitest';
import type { Bucket, RawPoint } from '../api/types';
import { bucketMean, bucketStart, foldIntoBuckets, mergeRaw, trimBuckets, trimRaw } from './series';

const wide = { from: 0, maxPoints: 1000 };

describe('mergeRaw', () => {
  it('appends newer points in order', () => {
    const a: RawPoint[] = [[1, 10], [2, 20]];
    expect(mergeRaw(a, [[3, 30], [4, 40]], wide)).toEqual([[1, 10], [2, 20], [3, 30], [4, 40]]);
  });

  it('does not mutate its input', () => {
    const a: RawPoint[] = [[1, 10], [2, 20]];
    const copy = JSON.parse(JSON.stringify(a));
    mergeRaw(a, [[0, 0], [2, 99], [3, 30]], wide);
    expect(a).toEqual(copy);
  });

  it('inserts late points where they belong', () => {
    const a: RawPoint[] = [[10, 1], [30, 3]];
    expect(mergeRaw(a, [[20, 2], [5, 0]], wide)).toEqual([[5, 0], [10, 1], [20, 2], [30, 3]]);
  });

  it('replaces the value at an existing time instead of duplicating it', () => {
    const a: RawPoint[] = [[10, 1], [20, 2]];
    expect(mergeRaw(a, [[20, 5], [10, 1]], wide)).toEqual([[10, 1], [20, 5]]);
  });

  it('returns the same array when nothing changes', () => {
    const a: RawPoint[] = [[10, 1], [20, 2]];
    expect(mergeRaw(a, [[10, 1]], wide)).toBe(a);
    expect(mergeRaw(a, [], wide)).toBe(a);
  });

  it('drops points older than the window, incoming or held', () => {
    const a: RawPoint[] = [[10, 1], [20, 2], [30, 3]];
    expect(mergeRaw(a, [[15, 9], [40, 4]], { from: 20, maxPoints: 100 })).toEqual([[20, 2], [30, 3], [40, 4]]);
  });

  it('keeps only the newest maxPoints', () => {
    const a: RawPoint[] = [[1, 1], [2, 2], [3, 3]];
    expect(mergeRaw(a, [[4, 4], [5, 5]], { from: 0, maxPoints: 3 })).toEqual([[3, 3], [4, 4], [5, 5]]);
  });

  it('ignores non-finite points', () => {
    const a: RawPoint[] = [[1, 1]];
    expect(mergeRaw(a, [[NaN, 1], [2, Infinity], [3, 3]], wide)).toEqual([[1, 1], [3, 3]]);
  });

  it('stays sorted under a random stream of points', () => {
    let pts: RawPoint[] = [];
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const want = new Map<number, number>();
    for (let i = 0; i < 500; i++) {
      const t = Math.floor(rnd() * 300);
      const v = Math.floor(rnd() * 1000);
      want.set(t, v);
      pts = mergeRaw(pts, [[t, v]], wide);
    }
    expect(pts.map((p) => p[0])).toEqual([...want.keys()].sort((a, b) => a - b));
    for (const [t, v] of pts) expect(want.get(t)).toBe(v);
  });
});

describe('trimRaw', () => {
  it('cuts at the window start and the point limit', () => {
    const a: RawPoint[] = [[1, 1], [2, 2], [3, 3], [4, 4]];
    expect(trimRaw(a, { from: 2, maxPoints: 10 })).toEqual([[2, 2], [3, 3], [4, 4]]);
    expect(trimRaw(a, { from: 0, maxPoints: 2 })).toEqual([[3, 3], [4, 4]]);
    expect(trimRaw(a, { from: 0, maxPoints: 10 })).toBe(a);
    expect(trimRaw(a, { from: 100, maxPoints: 10 })).toEqual([]);
  });
});

describe('foldIntoBuckets', () => {
  const step = 60_000;

  it('aligns buckets to the step', () => {
    expect(bucketStart(125_000, step)).toBe(120_000);
    expect(bucketStart(120_000, step)).toBe(120_000);
  });

  it('updates the bucket that holds the sample', () => {
    const b: Bucket[] = [{ t: 60_000, min: 1, max: 3, sum: 4, count: 2 }];
    const out = foldIntoBuckets(b, [[90_000, 5], [100_000, 0]], step, wide);
    expect(out).toEqual([{ t: 60_000, min: 0, max: 5, sum: 9, count: 4 }]);
    expect(bucketMean(out[0] as Bucket)).toBe(2.25);
    expect(b[0]).toEqual({ t: 60_000, min: 1, max: 3, sum: 4, count: 2 });
  });

  it('opens new buckets in time order, late ones included', () => {
    const b: Bucket[] = [{ t: 120_000, min: 1, max: 1, sum: 1, count: 1 }];
    const out = foldIntoBuckets(b, [[200_000, 7], [30_000, 2]], step, wide);
    expect(out.map((k) => k.t)).toEqual([0, 120_000, 180_000]);
    expect(out[0]).toEqual({ t: 0, min: 2, max: 2, sum: 2, count: 1 });
  });

  it('drops buckets that end before the window and samples that fall there', () => {
    const b: Bucket[] = [
      { t: 0, min: 1, max: 1, sum: 1, count: 1 },
      { t: 60_000, min: 2, max: 2, sum: 2, count: 1 },
    ];
    // The window starts inside the second bucket: it stays, the first goes.
    const out = foldIntoBuckets(b, [[10_000, 9]], step, { from: 90_000, maxPoints: 10 });
    expect(out).toEqual([{ t: 60_000, min: 2, max: 2, sum: 2, count: 1 }]);
    expect(trimBuckets(b, step, { from: 0, maxPoints: 1 })).toEqual([{ t: 60_000, min: 2, max: 2, sum: 2, count: 1 }]);
  });

  it('returns the same array when nothing changes and refuses a zero step', () => {
    const b: Bucket[] = [{ t: 0, min: 1, max: 1, sum: 1, count: 1 }];
    expect(foldIntoBuckets(b, [], step, wide)).toBe(b);
    expect(() => foldIntoBuckets(b, [[1, 1]], 0, wide)).toThrow(RangeError);
  });
});
