// Applying live presence events on top of the last polled device list. The poll is
// authoritative but periodic; an event is applied while it is newer than what the poll
// knows (its time is after the device's last_seen), and forgotten once a later poll has
// caught up.
import type { Device } from '../api/types';
import type { PresenceEvent } from '../live/events';

export interface PresenceOverride {
  online: boolean;
  t: number | null;
  /** Local time the event arrived, for events without a time. */
  receivedAt: number;
}

/** Whether `o` still says something the polled device `d` (loaded at `polledAt`) does not. */
export function overrideApplies(d: Device, o: PresenceOverride, polledAt: number | null): boolean {
  if (o.t === null) return polledAt === null || o.receivedAt > polledAt;
  return d.last_seen === null || o.t > d.last_seen || (o.t === d.last_seen && o.online !== d.online);
}

export function applyPresence(d: Device, o: PresenceOverride | undefined, polledAt: number | null): Device {
  if (!o || !overrideApplies(d, o, polledAt)) return d;
  const last = o.t === null ? d.last_seen : Math.max(o.t, d.last_seen ?? o.t);
  return { ...d, online: o.online, last_seen: last };
}

export function overrideFrom(ev: PresenceEvent, receivedAt: number): PresenceOverride {
  return { online: ev.online, t: ev.t, receivedAt };
}
