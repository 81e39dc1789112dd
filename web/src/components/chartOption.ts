// The ECharts option for one metric chart, built from plain data so it can be checked
// without a canvas. A raw series is one line; a stepped series is the mean as a line
// over a shaded min–max band (drawn as a transparent "min" series with the "max − min"
// range stacked on it, the usual ECharts band).
import type { Bucket, RawPoint } from '../api/types';
import { bucketMean } from '../lib/series';
import { formatAbsolute, formatValue } from '../lib/time';

export interface ChartInput {
  metric: string;
  unit: string;
  step: number;
  points: RawPoint[];
  buckets: Bucket[];
  from: number;
  to: number;
}

const LINE = '#2563eb';
const BAND = 'rgba(37, 99, 235, 0.16)';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface TooltipParam {
  seriesId?: string;
  dataIndex: number;
}

export function buildChartOption(c: ChartInput): Record<string, unknown> {
  const unit = c.unit ? ` ${escapeHtml(c.unit)}` : '';
  const base = {
    animation: false,
    grid: { left: 56, right: 16, top: 16, bottom: 28 },
    xAxis: {
      type: 'time',
      min: c.from,
      max: c.to,
      axisLine: { lineStyle: { color: '#94a3b8' } },
      axisLabel: { color: '#475569', hideOverlap: true },
      splitLine: { show: false },
    },
    yAxis: {
      type: 'value',
      scale: true,
      axisLabel: { color: '#475569', formatter: (v: number) => formatValue(v) },
      splitLine: { lineStyle: { color: '#e2e8f0' } },
    },
  };
  if (c.step === 0) {
    return {
      ...base,
      tooltip: {
        trigger: 'axis',
        formatter: (params: TooltipParam[]) => {
          const p = c.points[params[0]?.dataIndex ?? -1];
          if (!p) return '';
          return `${escapeHtml(formatAbsolute(p[0]))}<br/><b>${escapeHtml(formatValue(p[1]))}</b>${unit}`;
        },
      },
      series: [
        {
          id: 'value',
          name: c.metric,
          type: 'line',
          data: c.points,
          showSymbol: c.points.length < 60,
          symbolSize: 4,
          sampling: 'lttb',
          lineStyle: { width: 1.6, color: LINE },
          itemStyle: { color: LINE },
        },
      ],
    };
  }
  const b = c.buckets;
  return {
    ...base,
    tooltip: {
      trigger: 'axis',
      formatter: (params: TooltipParam[]) => {
        const k = b[params[0]?.dataIndex ?? -1];
        if (!k) return '';
        return (
          `${escapeHtml(formatAbsolute(k.t))} (${c.step} s)<br/>` +
          `mean <b>${escapeHtml(formatValue(bucketMean(k)))}</b>${unit}<br/>` +
          `min ${escapeHtml(formatValue(k.min))} · max ${escapeHtml(formatValue(k.max))}<br/>` +
          `${k.count} samples`
        );
      },
    },
    series: [
      {
        id: 'min',
        type: 'line',
        stack: 'band',
        data: b.map((k) => [k.t, k.min]),
        showSymbol: false,
        lineStyle: { opacity: 0 },
        silent: true,
      },
      {
        id: 'range',
        type: 'line',
        stack: 'band',
        data: b.map((k) => [k.t, k.max - k.min]),
        showSymbol: false,
        lineStyle: { opacity: 0 },
        areaStyle: { color: BAND },
        silent: true,
      },
      {
        id: 'mean',
        name: c.metric,
        type: 'line',
        data: b.map((k) => [k.t, bucketMean(k)]),
        showSymbol: b.length < 60,
        symbolSize: 4,
        lineStyle: { width: 1.6, color: LINE },
        itemStyle: { color: LINE },
      },
    ],
  };
}
