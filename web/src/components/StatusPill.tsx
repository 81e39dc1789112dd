// Online / offline, said in words as well as colour.
export function StatusPill({ online }: { online: boolean }) {
  return (
    <span className={`pill ${online ? 'pill-online' : 'pill-offline'}`} data-testid="status-pill" data-online={online}>
      <span className="pill-dot" aria-hidden="true" />
      {online ? 'Online' : 'Offline'}
    </span>
  );
}
