// The one way the dashboard shows that something failed: a banner that says what and
// offers a retry, announced to screen readers. Views keep their last good data under it.
import { ApiError } from '../api/client';

export interface ErrorBannerProps {
  error: Error;
  /** What was being done, e.g. "Loading devices". */
  context?: string;
  onRetry?: () => void;
}

function describe(error: Error): string {
  if (error instanceof ApiError && error.status === 0) return `${error.message}. Is corio-cloud running?`;
  return error.message || String(error);
}

export function ErrorBanner({ error, context, onRetry }: ErrorBannerProps) {
  return (
    <div className="banner banner-error" role="alert" data-testid="error-banner">
      <div className="banner-text">
        {context ? <strong>{context} failed. </strong> : null}
        <span>{describe(error)}</span>
      </div>
      {onRetry ? (
        <button type="button" className="button button-small" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}
