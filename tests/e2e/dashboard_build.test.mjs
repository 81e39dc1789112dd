// The built dashboard (web/dist) on its own: served as static files with no API behind
// it, as a person would see it when corio-cloud's API is down. It must load every asset
// from its own origin (no CDN, no web fonts), render its shell, and say what failed in
// error banners, never show a blank page; and a device URL must route to the device view.
// This checks the build and the failure path only; the dashboard against a real
// corio-cloud is tested by the end-to-end test that starts one.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort, runTest, screenshot, waitFor, webDir } from './lib/browser.mjs';
import { errorBanners, liveState, openDashboard } from './lib/dashboard.mjs';

const dist = path.join(webDir, 'dist');

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.svg': 'image/svg+xml' };

function serveStatic(port) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    seen.push(url.pathname);
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '');
    const file = path.resolve(dist, rel);
    if (!file.startsWith(dist + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, seen }));
  });
}

await runTest('dashboard_build', async ({ tmpDir, launch, onCleanup }) => {
  if (!fs.existsSync(path.join(dist, 'index.html'))) {
    throw new Error(`${dist}/index.html is missing: build the dashboard first (make web, or npm run build in web/)`);
  }
  const port = await freePort();
  const { server, seen } = await serveStatic(port);
  onCleanup(() => new Promise((r) => server.close(r)));
  const origin = `http://127.0.0.1:${port}`;

  const { page, context } = await launch();
  const foreign = [];
  context.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('about:')) foreign.push(u);
  });

  await openDashboard(page, `${origin}/`);
  await waitFor(async () => (await errorBanners(page)).length >= 2, { what: 'error banners for totals and devices' });
  const banners = await errorBanners(page);
  if (!banners.some((t) => t.includes('Loading totals failed') && t.includes('/stats: 404'))) {
    throw new Error(`no banner names the failed totals request; banners: ${JSON.stringify(banners)}`);
  }
  if (!banners.some((t) => t.includes('Loading devices failed'))) {
    throw new Error(`no banner for the device list; banners: ${JSON.stringify(banners)}`);
  }
  const heading = await page.locator('h1').first().textContent();
  if (heading !== 'Devices') throw new Error(`the list page's heading is ${JSON.stringify(heading)}`);
  // The stream answers 404, so the link must not claim to be live.
  await waitFor(async () => (await liveState(page)) === 'reconnecting', { what: 'the live indicator to show reconnecting' });

  // A retry is a real new request.
  const before = seen.filter((p) => p === '/api/v1/devices').length;
  await page.locator('[data-testid="error-banner"]', { hasText: 'Loading devices' }).getByRole('button', { name: 'Retry' }).click();
  await waitFor(() => seen.filter((p) => p === '/api/v1/devices').length > before, { what: 'Retry to request the devices again' });

  // Routing inside the fragment: a device URL shows the device view and its window selector.
  await page.goto(`${origin}/#/devices/abc?window=24h`);
  await waitFor(async () => (await page.locator('[data-testid="device-page"][data-device-id="abc"]').count()) === 1, {
    what: 'the device view',
  });
  const pressed = await page.locator('[data-testid="window-24h"]').getAttribute('aria-pressed');
  if (pressed !== 'true') throw new Error(`window 24h from the URL is not selected (aria-pressed=${pressed})`);
  await waitFor(async () => (await errorBanners(page)).some((t) => t.includes('Unknown device')), {
    what: 'the unknown-device banner',
  });
  await page.goto(`${origin}/#/no/such/view`);
  await waitFor(async () => (await page.locator('[data-testid="not-found"]').count()) === 1, { what: 'the not-found view' });

  if (foreign.length) throw new Error(`the dashboard fetched from other origins: ${foreign.join(', ')}`);
  const assets = seen.filter((p) => p.startsWith('/assets/'));
  if (!assets.some((p) => p.endsWith('.js')) || !assets.some((p) => p.endsWith('.css'))) {
    throw new Error(`scripts or styles were not loaded from /assets: ${JSON.stringify(seen)}`);
  }
  await screenshot(page, tmpDir, 'not-found');
});
