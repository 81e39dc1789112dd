import { describe, expect, it } from 'vitest';
import { buildChartOption, escapeHtml } from './chartOption';

type Series = { id: string; data: [number, number][]; stack?: string };

describe('buildChartOption', () => {
  it('draws a raw series as one line over the whole window', () => {
    const o = buildChartOption({ metric: 'temp', unit: 'Cel', step: 0, points: [[1, 2], [3, 4]], buckets: [], from: 0, to: 10 });
    const series = o.series as Series[];
    expect(series).toHaveLength(1);
    expect(series[0]?.data).toEqual([[1, 2], [3, 4]]);
    expect(o.xAxis).toMatchObject({ type: 'time', min: 0, max: 10 });
  });

  it('draws a stepped series as a min-max band under the mean', () => {
    const o = buildChartOption({
      metric: 'temp', unit: 'Cel', step: 60, points: [], from: 0, to: 200_000,
      buckets: [{ t: 60_000, min: 1, max: 5, sum: 6, count: 2 }],
    });
    const byId = Object.fromEntries((o.series as Series[]).map((s) => [s.id, s]));
    expect(byId.min?.data).toEqual([[60_000, 1]]);
    expect(byId.range?.data).toEqual([[60_000, 4]]);
    expect(byId.min?.stack).toBe('band');
    expect(byId.range?.stack).toBe('band');
    expect(byId.mean?.data).toEqual([[60_000, 3]]);
  });

  it('escapes text that reaches tooltip HTML', () => {
    expect(escapeHtml('<img src=x onerror="a">&\'')).toBe('&#60;img src=x onerror=&#34;a&#34;&#62;&#38;&#39;');
    const o = buildChartOption({ metric: 'm', unit: '<b>', step: 0, points: [[0, 1]], buckets: [], from: 0, to: 1 });
    const fmt = (o.tooltip as { formatter: (p: { dataIndex: number }[]) => string }).formatter;
    expect(fmt([{ dataIndex: 0 }])).toContain('&#60;b&#62;');
    expect(fmt([{ dataIndex: 5 }])).toBe('');
  });
});
