import { describe, expect, it } from 'vitest';
import { formatAbsolute, formatCount, formatRelative, formatValue } from './time';

const now = 1_764_500_000_000;

describe('formatRelative', () => {
  it.each([
    [now, 'just now'],
    [now - 4_999, 'just now'],
    [now - 5_000, '5 s ago'],
    [now - 59_999, '59 s ago'],
    [now - 60_000, '1 min ago'],
    [now - 59 * 60_000 - 59_000, '59 min ago'],
    [now - 3_600_000, '1 h ago'],
    [now - 23 * 3_600_000, '23 h ago'],
    [now - 86_400_000, '1 d ago'],
    [now - 40 * 86_400_000, '40 d ago'],
    [now + 3_000, 'just now'],
    [now + 120_000, 'in 2 min'],
  ])('%d reads "%s"', (then, want) => {
    expect(formatRelative(then, now)).toBe(want);
  });

  it('says never for a device never seen', () => {
    expect(formatRelative(null, now)).toBe('never');
    expect(formatRelative(undefined, now)).toBe('never');
    expect(formatRelative(NaN, now)).toBe('never');
  });
});

describe('formatAbsolute', () => {
  it('prints UTC to the second', () => {
    expect(formatAbsolute(now)).toBe('2025-11-30 10:53:20 UTC');
    expect(formatAbsolute(null)).toBe('never');
    expect(formatAbsolute(1e20)).toBe('invalid time');
  });
});

describe('formatCount and formatValue', () => {
  it('groups thousands', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(0)).toBe('0');
    expect(formatCount(null)).toBe('—');
  });

  it('shows values with sensible precision', () => {
    expect(formatValue(21.5)).toBe('21.5');
    expect(formatValue(21.123456)).toBe('21.123');
    expect(formatValue(1013.25)).toBe('1013.3');
    expect(formatValue(0)).toBe('0');
    expect(formatValue(2.5e7)).toBe('2.500e+7');
    expect(formatValue(Infinity)).toBe('—');
  });
});
