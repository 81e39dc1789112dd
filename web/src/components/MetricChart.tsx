// One live line chart for one metric of one device. The container carries
// data-testid="chart", data-metric and data-points (how many points the chart holds
// now) so browser tests can wait on the chart without reading pixels.
import { useEffect, useRef } from 'react';
import * as echarts from 'echarts/core';
import { LineChart } from 'echarts/charts';
import { GridComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { useMetricSeries } from '../app/useMetricSeries';
import { bucketMean } from '../lib/series';
import { formatValue } from '../lib/time';
import type { TimeWindow } from '../lib/windows';
import { buildChartOption } from './chartOption';
import { ErrorBanner } from './ErrorBanner';

echarts.use([LineChart, GridComponent, TooltipComponent, CanvasRenderer]);

export interface MetricChartProps {
  device: string;
  metric: string;
  win: TimeWindow;
}

export function MetricChart({ device, metric, win }: MetricChartProps) {
  const s = useMetricSeries(device, metric, win);
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);

  useEffect(() => {
    const node = el.current;
    if (!node) return;
    const c = echarts.init(node, undefined, { renderer: 'canvas' });
    chart.current = c;
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(node);
    return () => {
      ro.disconnect();
      c.dispose();
      chart.current = null;
    };
  }, []);

  // Series keep their ids across updates, so ECharts merges new data in place; only a
  // change between raw and stepped (different series) replaces the whole option.
  const drawnStep = useRef<number | null>(null);
  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    const replace = drawnStep.current !== s.step;
    drawnStep.current = s.step;
    c.setOption(
      buildChartOption({ metric, unit: s.unit, step: s.step, points: s.points, buckets: s.buckets, from: s.from, to: s.to }),
      { notMerge: replace, lazyUpdate: true },
    );
  }, [metric, s.unit, s.step, s.points, s.buckets, s.from, s.to]);

  const count = s.step === 0 ? s.points.length : s.buckets.length;
  const lastRaw = s.points[s.points.length - 1];
  const lastBucket = s.buckets[s.buckets.length - 1];
  const latest = s.step === 0 ? lastRaw?.[1] : lastBucket ? bucketMean(lastBucket) : undefined;
  const titleId = `chart-title-${metric.replace(/[^A-Za-z0-9_-]/g, '_')}`;

  return (
    <section className="card chart-card" aria-labelledby={titleId} data-testid="chart-card" data-metric={metric}>
      <header className="chart-head">
        <h3 id={titleId}>
          {metric}
          {s.unit ? <span className="unit"> ({s.unit})</span> : null}
        </h3>
        <div className="chart-latest" data-testid="chart-latest">
          {latest !== undefined ? (
            <>
              <span className="latest-value">{formatValue(latest)}</span>
              {s.unit ? <span className="unit"> {s.unit}</span> : null}
              <span className="muted">{s.step === 0 ? ' latest' : ' latest mean'}</span>
            </>
          ) : null}
        </div>
      </header>
      {s.error ? <ErrorBanner error={s.error} context={`Loading ${metric} history`} onRetry={s.retry} /> : null}
      <div className="chart-wrap">
        <div
          ref={el}
          className="chart"
          role="img"
          aria-label={`${metric} over the ${win.title}: ${count} ${s.step === 0 ? 'samples' : `${s.step}-second buckets`}`}
          data-testid="chart"
          data-metric={metric}
          data-points={count}
          data-step={s.step}
          data-loading={s.loading}
        />
        {!s.loading && count === 0 ? (
          <p className="chart-empty" data-testid="chart-empty">
            No samples in the {win.title}.
          </p>
        ) : null}
        {s.loading && count === 0 ? <p className="chart-empty">Loading…</p> : null}
      </div>
      {s.skipped > 0 ? (
        <p className="note muted">{s.skipped} non-numeric values are not charted.</p>
      ) : null}
    </section>
  );
}
