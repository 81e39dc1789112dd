import { describe, expect, it } from 'vitest';
import type { Device } from '../api/types';
import { applyPresence } from './presence';

const dev: Device = {
  id: 'd1', did: 'did:corio:d1', org: 'o', gateway: 'g', online: true, last_seen: 1000,
  last_seq: 5, epoch: 1, metrics: [], messages: 5, missing: 0,
};

describe('applyPresence', () => {
  it('applies an event newer than the poll', () => {
    expect(applyPresence(dev, { online: false, t: 2000, receivedAt: 0 }, 0)).toMatchObject({ online: false, last_seen: 2000 });
  });

  it('is forgotten once the poll has caught up', () => {
    const polled = { ...dev, online: true, last_seen: 3000 };
    expect(applyPresence(polled, { online: false, t: 2000, receivedAt: 0 }, 0)).toBe(polled);
  });

  it('applies an event without time until a later poll', () => {
    const o = { online: false, t: null, receivedAt: 500 };
    expect(applyPresence(dev, o, 400).online).toBe(false);
    expect(applyPresence(dev, o, 600).online).toBe(true);
  });

  it('leaves the device alone without an event', () => {
    expect(applyPresence(dev, undefined, 0)).toBe(dev);
  });
});
