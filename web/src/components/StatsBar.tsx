// Fleet totals from GET /api/v1/stats, refreshed periodically and soon after presence
// or gap events. Loss counters turn amber when non-zero: every loss is shown.
import { useCallback } from 'react';
import { useApi } from '../app/context';
import { useDebounced, usePolling, useStreamEvent } from '../app/hooks';
import type { Stats } from '../api/types';
import { formatCount } from '../lib/time';
import { ErrorBanner } from './ErrorBanner';

const STATS_REFRESH_MS = 5000;

interface Tile {
  key: keyof Stats;
  label: string;
  help: string;
  /** Non-zero is worth attention. */
  alarm?: boolean;
}

const TILES: readonly Tile[] = [
  { key: 'devices', label: 'Devices', help: 'Devices known to the cloud' },
  { key: 'online', label: 'Online', help: 'Devices connected to a gateway now' },
  { key: 'messages', label: 'Messages', help: 'Messages stored' },
  { key: 'missing', label: 'Missing', help: 'Sequence numbers counted as gaps', alarm: true },
  { key: 'duplicates', label: 'Duplicates', help: 'Messages received again and deduplicated' },
  { key: 'rejected', label: 'Rejected', help: 'Messages or batches refused (bad signature, wrong organisation)', alarm: true },
];

export function StatsBar() {
  const api = useApi();
  const stats = usePolling(useCallback((signal: AbortSignal) => api.stats(signal), [api]), STATS_REFRESH_MS, [api]);
  const soon = useDebounced(stats.reload, 1000);
  useStreamEvent('presence', soon);
  useStreamEvent('gap', soon);
  const s = stats.data;
  return (
    <section className="stats" aria-label="Fleet totals" data-testid="stats">
      <dl className="stats-grid">
        {TILES.map((t) => {
          const v = s ? s[t.key] : null;
          const warn = t.alarm && v !== null && v > 0;
          return (
            <div key={t.key} className={`stat${warn ? ' stat-warn' : ''}`} title={t.help}>
              <dt>{t.label}</dt>
              <dd data-testid={`stat-${t.key}`} data-value={v ?? ''}>
                {formatCount(v)}
                {t.key === 'online' && s ? <span className="stat-of"> / {formatCount(s.devices)}</span> : null}
              </dd>
            </div>
          );
        })}
      </dl>
      {stats.error ? <ErrorBanner error={stats.error} context="Loading totals" onRetry={stats.reload} /> : null}
    </section>
  );
}
