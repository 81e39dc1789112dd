// One device: its record, a live chart per metric over a chosen time window, and its
// gaps. The window is part of the URL (?window=1h) so a view can be shared.
import { useCallback, useMemo, useState } from 'react';
import { ApiError } from '../api/client';
import { useApi } from '../app/context';
import { useDebounced, useNow, usePolling, useStreamEvent } from '../app/hooks';
import { applyPresence, overrideFrom, type PresenceOverride } from '../app/presence';
import { ErrorBanner } from '../components/ErrorBanner';
import { GapsTable } from '../components/GapsTable';
import { MetricChart } from '../components/MetricChart';
import { StatusPill } from '../components/StatusPill';
import { WindowSelector } from '../components/WindowSelector';
import { href } from '../lib/router';
import { formatAbsolute, formatCount, formatRelative, formatSeq } from '../lib/time';
import { windowByKey, type TimeWindow } from '../lib/windows';

const DEVICE_REFRESH_MS = 10_000;
const GAPS_REFRESH_MS = 30_000;

export function DevicePage({ id, query }: { id: string; query: URLSearchParams }) {
  const api = useApi();
  const win = windowByKey(query.get('window'));
  const now = useNow(1000);
  const device = usePolling(useCallback((signal: AbortSignal) => api.device(id, signal), [api, id]), DEVICE_REFRESH_MS, [api, id]);
  const gaps = usePolling(useCallback((signal: AbortSignal) => api.gaps(id, signal), [api, id]), GAPS_REFRESH_MS, [api, id]);
  const [presence, setPresence] = useState<{ id: string; o: PresenceOverride } | null>(null);
  const [liveMetrics, setLiveMetrics] = useState<{ id: string; names: string[] }>({ id, names: [] });
  const gapsSoon = useDebounced(gaps.reload, 500);
  const deviceSoon = useDebounced(device.reload, 500);

  useStreamEvent('presence', (ev) => {
    if (ev.device === id) setPresence({ id, o: overrideFrom(ev, Date.now()) });
  });
  useStreamEvent('gap', (ev) => {
    if (ev.device !== id) return;
    gapsSoon();
    deviceSoon();
  });
  useStreamEvent('sample', (ev) => {
    if (ev.device !== id || typeof ev.v !== 'number') return;
    setLiveMetrics((cur) => {
      const names = cur.id === id ? cur.names : [];
      return names.includes(ev.metric) ? cur : { id, names: [...names, ev.metric] };
    });
  });

  const d = device.data && device.data.id === id ? applyPresence(device.data, presence?.id === id ? presence.o : undefined, device.updatedAt) : null;

  const metrics = useMemo(() => {
    const set = new Set<string>(d?.metrics ?? []);
    if (liveMetrics.id === id) for (const m of liveMetrics.names) set.add(m);
    return [...set].sort();
  }, [d?.metrics, liveMetrics, id]);

  const setWindow = (w: TimeWindow) => {
    window.location.hash = href(['devices', id], { window: w.key }).slice(1);
  };

  const notFound = device.error instanceof ApiError && device.error.status === 404;

  return (
    <div className="page" data-testid="device-page" data-device-id={id}>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <a href={href(['devices'])}>Devices</a>
        <span aria-hidden="true"> / </span>
        <span className="mono" aria-current="page">
          {id}
        </span>
      </nav>

      <div className="page-head">
        <div>
          <h1 className="device-title">
            <span className="mono">{id}</span>
            {d ? <StatusPill online={d.online} /> : null}
          </h1>
          {d ? <p className="muted mono small">{d.did}</p> : null}
        </div>
        <WindowSelector value={win} onChange={setWindow} />
      </div>

      {notFound ? (
        <div className="banner banner-error" role="alert" data-testid="error-banner">
          <div className="banner-text">
            <strong>Unknown device. </strong>corio-cloud has no device <span className="mono">{id}</span>.{' '}
            <a href={href(['devices'])}>Back to the device list</a>
          </div>
        </div>
      ) : device.error ? (
        <ErrorBanner error={device.error} context="Loading the device" onRetry={device.reload} />
      ) : null}

      {d ? (
        <section className="card facts" aria-label="Device record" data-testid="device-facts">
          <dl>
            <div>
              <dt>Last seen</dt>
              <dd>
                <time title={formatAbsolute(d.last_seen)}>{formatRelative(d.last_seen, now)}</time>
              </dd>
            </div>
            <div>
              <dt>Last seq</dt>
              <dd className="mono">{formatSeq(d.last_seq)}</dd>
            </div>
            <div>
              <dt>Epoch</dt>
              <dd className="mono">{formatSeq(d.epoch)}</dd>
            </div>
            <div>
              <dt>Messages</dt>
              <dd>{formatCount(d.messages)}</dd>
            </div>
            <div className={d.missing > 0 ? 'warn-text' : undefined}>
              <dt>Missing</dt>
              <dd data-testid="device-missing">{formatCount(d.missing)}</dd>
            </div>
            <div className="fact-wide">
              <dt>Gateway</dt>
              <dd className="mono small">{d.gateway || '—'}</dd>
            </div>
            <div className="fact-wide">
              <dt>Organisation</dt>
              <dd className="mono small">{d.org || '—'}</dd>
            </div>
          </dl>
        </section>
      ) : device.loading ? (
        <p className="muted">Loading device…</p>
      ) : null}

      {!notFound ? (
        <section aria-labelledby="metrics-title">
          <h2 id="metrics-title">Metrics</h2>
          {metrics.length === 0 && d ? (
            <p className="empty card" data-testid="no-metrics">
              This device has sent no numeric samples yet.
            </p>
          ) : null}
          <div className="charts">
            {metrics.map((m) => (
              <MetricChart key={`${id}/${m}`} device={id} metric={m} win={win} />
            ))}
          </div>
        </section>
      ) : null}

      {!notFound ? (
        <section aria-labelledby="gaps-title" data-testid="gaps">
          <h2 id="gaps-title">
            Gaps{' '}
            {gaps.data ? (
              <span className={`count-badge${gaps.data.missing > 0 ? ' count-badge-warn' : ''}`} data-testid="gaps-missing">
                {formatCount(gaps.data.missing)} missing
              </span>
            ) : null}
          </h2>
          {gaps.error ? <ErrorBanner error={gaps.error} context="Loading gaps" onRetry={gaps.reload} /> : null}
          <div className="card table-card">
            {gaps.data ? <GapsTable gaps={gaps.data.gaps} now={now} /> : gaps.loading ? <p className="empty">Loading gaps…</p> : null}
          </div>
        </section>
      ) : null}
    </div>
  );
}
