// The state of the live stream, in the header: people should know whether what they
// see is moving or frozen.
import { useLinkStatus } from '../app/hooks';

export function LiveIndicator() {
  const st = useLinkStatus();
  let text: string;
  let tone: 'ok' | 'warn' | 'bad';
  switch (st.state) {
    case 'open':
      text = 'Live';
      tone = 'ok';
      break;
    case 'reconnecting':
      text = st.retryInMs > 0 ? `Reconnecting in ${Math.ceil(st.retryInMs / 1000)} s` : 'Reconnecting…';
      tone = 'warn';
      break;
    case 'stopped':
      text = 'Live updates off';
      tone = 'bad';
      break;
    default:
      text = 'Connecting…';
      tone = 'warn';
  }
  return (
    <span className={`live live-${tone}`} role="status" aria-live="polite" data-testid="live-status" data-state={st.state}>
      <span className="live-dot" aria-hidden="true" />
      {text}
    </span>
  );
}
