import { describe, expect, it } from 'vitest';
import { href, matchRoute, parseHash } from './router';

const routes = [{ pattern: '/' }, { pattern: '/devices' }, { pattern: '/devices/:id' }] as const;

describe('parseHash', () => {
  it('normalises the path and splits the query', () => {
    expect(parseHash('').path).toBe('/');
    expect(parseHash('#').path).toBe('/');
    expect(parseHash('#/devices/').path).toBe('/devices');
    const loc = parseHash('#/devices/abc?window=1h&x=2');
    expect(loc.path).toBe('/devices/abc');
    expect(loc.query.get('window')).toBe('1h');
  });
});

describe('matchRoute', () => {
  it('matches literal and parameter segments', () => {
    expect(matchRoute(routes, '/')?.route.pattern).toBe('/');
    expect(matchRoute(routes, '/devices')?.route.pattern).toBe('/devices');
    const m = matchRoute(routes, '/devices/abc%2Fdef');
    expect(m?.route.pattern).toBe('/devices/:id');
    expect(m?.params).toEqual({ id: 'abc/def' });
  });

  it('does not match other shapes or broken percent-encoding', () => {
    expect(matchRoute(routes, '/gateways')).toBeNull();
    expect(matchRoute(routes, '/devices/a/b')).toBeNull();
    expect(matchRoute(routes, '/devices/%E0%A4%A')).toBeNull();
  });
});

describe('href', () => {
  it('encodes segments and query and round-trips through the matcher', () => {
    const h = href(['devices', 'a b/c'], { window: '24h', skip: undefined });
    expect(h).toBe('#/devices/a%20b%2Fc?window=24h');
    const loc = parseHash(h);
    expect(matchRoute(routes, loc.path)?.params.id).toBe('a b/c');
    expect(href(['devices'])).toBe('#/devices');
  });
});
