// A small router over the URL fragment (#/devices/abc?window=1h). The fragment never
// reaches the server, so corio-cloud serves one index.html for the whole dashboard and
// every view has a URL a person can bookmark or share. Routes are declared as patterns
// ("/devices/:id"); matching is pure and unit-tested, the React side only listens to
// hashchange.

export interface Location {
  path: string;
  query: URLSearchParams;
}

export interface Match<R> {
  route: R;
  params: Record<string, string>;
}

/** Splits a fragment ("#/a/b?x=1") into a normalised path and its query. */
export function parseHash(hash: string): Location {
  let h = hash.startsWith('#') ? hash.slice(1) : hash;
  const q = h.indexOf('?');
  const query = new URLSearchParams(q >= 0 ? h.slice(q + 1) : '');
  if (q >= 0) h = h.slice(0, q);
  if (!h.startsWith('/')) h = `/${h}`;
  if (h.length > 1 && h.endsWith('/')) h = h.slice(0, -1);
  return { path: h, query };
}

/**
 * Finds the first route whose pattern matches `path`. A pattern segment ":name" matches
 * any one non-empty segment, which is percent-decoded into params[name]; a segment that
 * is not valid percent-encoding does not match.
 */
export function matchRoute<R extends { pattern: string }>(routes: readonly R[], path: string): Match<R> | null {
  const segs = path.split('/').filter((s) => s.length > 0);
  for (const route of routes) {
    const pat = route.pattern.split('/').filter((s) => s.length > 0);
    if (pat.length !== segs.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pat.length && ok; i++) {
      const p = pat[i] as string;
      const s = segs[i] as string;
      if (p.startsWith(':')) {
        try {
          params[p.slice(1)] = decodeURIComponent(s);
        } catch {
          ok = false;
        }
      } else if (p !== s) {
        ok = false;
      }
    }
    if (ok) return { route, params };
  }
  return null;
}

/** Builds a fragment link; path segments given separately are percent-encoded. */
export function href(segments: readonly string[], query?: Record<string, string | undefined>): string {
  const path = `#/${segments.map((s) => encodeURIComponent(s)).join('/')}`;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q.set(k, v);
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}
