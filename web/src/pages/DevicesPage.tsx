// The device list: every device with its online state, last seen, last sequence number,
// message count and missing count. Polled, and updated at once by presence events.
import { useCallback, useMemo, useState } from 'react';
import { useApi } from '../app/context';
import { useDebounced, useNow, usePolling, useStreamEvent } from '../app/hooks';
import { applyPresence, overrideFrom, type PresenceOverride } from '../app/presence';
import { ErrorBanner } from '../components/ErrorBanner';
import { StatusPill } from '../components/StatusPill';
import { href } from '../lib/router';
import { formatAbsolute, formatCount, formatRelative, formatSeq } from '../lib/time';

const DEVICES_REFRESH_MS = 10_000;

export function DevicesPage() {
  const api = useApi();
  const polled = usePolling(useCallback((signal: AbortSignal) => api.devices(signal), [api]), DEVICES_REFRESH_MS, [api]);
  const [overrides, setOverrides] = useState<ReadonlyMap<string, PresenceOverride>>(new Map());
  const [filter, setFilter] = useState('');
  const now = useNow(1000);
  const reloadSoon = useDebounced(polled.reload, 1000);

  useStreamEvent('presence', (ev) => {
    setOverrides((m) => new Map(m).set(ev.device, overrideFrom(ev, Date.now())));
    if (polled.data && !polled.data.some((d) => d.id === ev.device)) reloadSoon();
  });
  useStreamEvent('gap', reloadSoon);

  const devices = useMemo(() => {
    const list = (polled.data ?? []).map((d) => applyPresence(d, overrides.get(d.id), polled.updatedAt));
    list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return list;
  }, [polled.data, polled.updatedAt, overrides]);

  const needle = filter.trim().toLowerCase();
  const shown = needle
    ? devices.filter((d) => d.id.includes(needle) || d.did.toLowerCase().includes(needle) || d.gateway.toLowerCase().includes(needle))
    : devices;
  const online = devices.filter((d) => d.online).length;

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Devices</h1>
          <p className="muted" data-testid="device-summary">
            {polled.data ? `${devices.length} devices, ${online} online` : polled.loading ? 'Loading…' : 'No data'}
          </p>
        </div>
        <div className="field">
          <label htmlFor="device-filter">Filter</label>
          <input
            id="device-filter"
            type="search"
            placeholder="Device id, DID or gateway"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            data-testid="device-filter"
          />
        </div>
      </div>

      {polled.error ? <ErrorBanner error={polled.error} context="Loading devices" onRetry={polled.reload} /> : null}

      <div className="card table-card">
        <table className="table" data-testid="device-table">
          <caption className="sr-only">Devices, their state and message counts</caption>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Status</th>
              <th scope="col">Last seen</th>
              <th scope="col" className="num">Last seq</th>
              <th scope="col" className="num">Messages</th>
              <th scope="col" className="num">Missing</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((d) => (
              <tr key={d.id} data-testid="device-row" data-device-id={d.id} data-online={d.online}>
                <th scope="row">
                  <a className="device-link mono" href={href(['devices', d.id])} data-testid="device-link" title={d.did}>
                    {d.id}
                  </a>
                  {d.gateway ? <div className="sub muted">via {d.gateway}</div> : null}
                </th>
                <td>
                  <StatusPill online={d.online} />
                </td>
                <td data-testid="last-seen" data-time={d.last_seen ?? ''}>
                  <time dateTime={d.last_seen !== null ? new Date(d.last_seen).toISOString() : undefined} title={formatAbsolute(d.last_seen)}>
                    {formatRelative(d.last_seen, now)}
                  </time>
                </td>
                <td className="num mono" data-testid="last-seq">
                  {formatSeq(d.last_seq)}
                </td>
                <td className="num" data-testid="messages">
                  {formatCount(d.messages)}
                </td>
                <td className={`num${d.missing > 0 ? ' warn-text' : ''}`} data-testid="missing">
                  {formatCount(d.missing)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {polled.data && shown.length === 0 ? (
          <p className="empty" data-testid="devices-empty">
            {devices.length === 0 ? 'No devices yet. Devices appear here once a gateway forwards their first message.' : 'No device matches the filter.'}
          </p>
        ) : null}
        {!polled.data && polled.loading ? <p className="empty">Loading devices…</p> : null}
      </div>
    </div>
  );
}
