// The dashboard shell: header with navigation and the live indicator, fleet totals,
// and the routed view, each view inside an error boundary.
import { useEffect } from 'react';
import { ErrorBoundary } from '../components/ErrorBoundary';
import { LiveIndicator } from '../components/LiveIndicator';
import { StatsBar } from '../components/StatsBar';
import { matchRoute } from '../lib/router';
import { useLocation } from './hooks';
import { ROUTES, SECTIONS } from './routes';

export function App() {
  const loc = useLocation();
  const match = matchRoute(ROUTES, loc.path);

  const title = match ? `${match.route.title(match.params)} · Corio` : 'Not found · Corio';
  useEffect(() => {
    document.title = title;
  }, [title]);

  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href="#/" aria-label="Corio dashboard home">
          <svg className="brand-mark" viewBox="0 0 24 24" aria-hidden="true">
            <circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" strokeWidth="2.5" />
            <circle cx="12" cy="12" r="3.5" fill="currentColor" />
          </svg>
          Corio
        </a>
        <nav aria-label="Sections" className="nav">
          <ul>
            {SECTIONS.map((s) => (
              <li key={s.key}>
                <a href={s.href} aria-current={match?.route.section === s.key ? 'page' : undefined} data-testid={`nav-${s.key}`}>
                  {s.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar-end">
          <LiveIndicator />
        </div>
      </header>
      <StatsBar />
      <main className="main" id="main">
        <ErrorBoundary key={loc.path}>
          {match ? (
            match.route.render(match.params, loc.query)
          ) : (
            <div className="page" data-testid="not-found">
              <h1>Page not found</h1>
              <p>
                There is no view at <span className="mono">{loc.path}</span>. <a href="#/devices">Go to the devices</a>.
              </p>
            </div>
          )}
        </ErrorBoundary>
      </main>
    </div>
  );
}
