import { describe, expect, it } from 'vitest';
import { Clock } from './clock';

describe('Clock', () => {
  it('follows the server when the browser is off by more than two seconds', () => {
    let local = Date.parse('2025-11-30T10:00:00Z');
    const c = new Clock(() => local);
    c.observeDateHeader('Sun, 30 Nov 2025 10:05:00 GMT');
    expect(c.offset()).toBe(300_000);
    local += 1000;
    expect(c.now()).toBe(Date.parse('2025-11-30T10:05:01Z'));
  });

  it('ignores differences within the header resolution, and junk headers', () => {
    const local = Date.parse('2025-11-30T10:00:00.900Z');
    const c = new Clock(() => local);
    c.observeDateHeader('Sun, 30 Nov 2025 10:00:00 GMT');
    expect(c.offset()).toBe(0);
    c.observeDateHeader('not a date');
    c.observeDateHeader(null);
    expect(c.now()).toBe(local);
  });
});
