// The dashboard's idea of "now". Chart windows are cut by time (the last 5 minutes)
// and sample times come from the platform, not from the browser, so a browser whose
// clock is off by minutes would show an empty chart. The API client feeds every
// response's Date header here; when the browser is off by more than the header's
// one-second resolution can explain, "now" follows the server.

export class Clock {
  private offsetMs = 0;

  constructor(private readonly localNow: () => number = () => Date.now()) {}

  /** Milliseconds since the epoch, corrected towards the server's clock. */
  now(): number {
    return this.localNow() + this.offsetMs;
  }

  /** The correction in force, for display. */
  offset(): number {
    return this.offsetMs;
  }

  /**
   * Learns from an HTTP Date header (RFC 9110 IMF-fixdate, one-second resolution).
   * Offsets under two seconds are within that resolution plus network delay and are
   * ignored, so a correct clock is never "corrected".
   */
  observeDateHeader(header: string | null): void {
    if (!header) return;
    const server = Date.parse(header);
    if (!Number.isFinite(server)) return;
    const diff = server - this.localNow();
    this.offsetMs = Math.abs(diff) > 2000 ? diff : 0;
  }
}

export const clock = new Clock();
