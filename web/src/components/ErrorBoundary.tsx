// Catches a render error in one view so the rest of the dashboard stays usable and the
// error is on screen rather than a blank page.
import { Component, type ReactNode } from 'react';
import { ErrorBanner } from './ErrorBanner';

interface Props {
  children: ReactNode;
}

interface State {
  error: Error | null;
}

export class ErrorBoundary extends Component<Props, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: unknown): State {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  componentDidCatch(error: unknown): void {
    console.error('corio: view failed', error);
  }

  render() {
    if (this.state.error) {
      return (
        <ErrorBanner error={this.state.error} context="Showing this view" onRetry={() => this.setState({ error: null })} />
      );
    }
    return this.props.children;
  }
}
