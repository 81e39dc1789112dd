import { describe, expect, it } from 'vitest';
import { parseStreamEvent } from './events';

describe('parseStreamEvent', () => {
  it('parses a sample with a numeric value', () => {
    const r = parseStreamEvent('sample', '{"device":"dev1","metric":"temp","t":1764500000000,"v":21.5}');
    expect(r).toEqual({ ok: true, event: { type: 'sample', device: 'dev1', metric: 'temp', t: 1764500000000, v: 21.5 } });
  });

  it('keeps string and boolean sample values for the caller to judge', () => {
    const s = parseStreamEvent('sample', '{"device":"d","metric":"state","t":1,"v":"open"}');
    const b = parseStreamEvent('sample', '{"device":"d","metric":"door","t":1,"v":true}');
    expect(s.ok && s.event.type === 'sample' && s.event.v).toBe('open');
    expect(b.ok && b.event.type === 'sample' && b.event.v).toBe(true);
  });

  it('parses presence, with or without a time', () => {
    expect(parseStreamEvent('presence', '{"device":"d","online":false,"t":5}')).toEqual({
      ok: true,
      event: { type: 'presence', device: 'd', online: false, t: 5 },
    });
    expect(parseStreamEvent('presence', '{"device":"d","online":true}')).toEqual({
      ok: true,
      event: { type: 'presence', device: 'd', online: true, t: null },
    });
  });

  it('parses a gap', () => {
    const r = parseStreamEvent('gap', '{"device":"d","epoch":1,"from_seq":17,"to_seq":19,"kind":"seq"}');
    expect(r).toEqual({ ok: true, event: { type: 'gap', device: 'd', epoch: 1, from_seq: 17, to_seq: 19, kind: 'seq' } });
  });

  it.each([
    ['sample', 'not json', 'not JSON'],
    ['sample', '[1,2]', 'not an object'],
    ['sample', 'null', 'not an object'],
    ['sample', '{"metric":"temp","t":1,"v":1}', 'device'],
    ['sample', '{"device":"","metric":"temp","t":1,"v":1}', 'device'],
    ['sample', '{"device":"d","t":1,"v":1}', 'metric'],
    ['sample', '{"device":"d","metric":"m","t":"yesterday","v":1}', 't is not a time'],
    ['sample', '{"device":"d","metric":"m","t":1,"v":null}', 'v is not a value'],
    ['sample', '{"device":"d","metric":"m","t":1,"v":{"x":1}}', 'v is not a value'],
    ['presence', '{"device":"d","online":"yes"}', 'online'],
    ['presence', '{"device":"d","online":true,"t":"x"}', 't is not a time'],
    ['gap', '{"device":"d","epoch":1,"from_seq":5,"to_seq":4,"kind":"seq"}', 'before'],
    ['gap', '{"device":"d","epoch":1,"from_seq":5,"to_seq":6,"kind":"hole"}', 'kind'],
    ['gap', '{"device":"d","from_seq":5,"to_seq":6,"kind":"seq"}', 'epoch'],
    ['message', '{"device":"d"}', 'unknown event type'],
  ])('refuses %s %s', (type, data, reason) => {
    const r = parseStreamEvent(type, data);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });

  it('refuses an absurdly long device id', () => {
    const r = parseStreamEvent('presence', JSON.stringify({ device: 'x'.repeat(300), online: true }));
    expect(r.ok).toBe(false);
  });
});
