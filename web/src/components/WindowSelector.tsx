// The chart time window: a group of toggle buttons, one pressed.
import { WINDOWS, type TimeWindow } from '../lib/windows';

export function WindowSelector({ value, onChange }: { value: TimeWindow; onChange: (w: TimeWindow) => void }) {
  return (
    <div className="segmented" role="group" aria-label="Time window" data-testid="window-selector">
      {WINDOWS.map((w) => (
        <button
          key={w.key}
          type="button"
          className="segment"
          aria-pressed={w.key === value.key}
          title={w.step ? `${w.title}, one point per ${w.step >= 3600 ? `${w.step / 3600} h` : `${w.step / 60} min`}` : `${w.title}, every sample`}
          onClick={() => onChange(w)}
          data-testid={`window-${w.key}`}
        >
          {w.label}
        </button>
      ))}
    </div>
  );
}
