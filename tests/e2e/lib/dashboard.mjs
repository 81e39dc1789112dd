// Page-level helpers for tests of the Corio dashboard. They find elements by the
// data-testid attributes the dashboard exposes (web/src: device rows, the chart
// container with data-points, the totals) and wait by polling with a deadline.
import { waitFor } from './browser.mjs';

/** Opens the dashboard at `url` (e.g. http://127.0.0.1:PORT/) and waits for its shell. */
export async function openDashboard(page, url, { timeoutMs = 20000 } = {}) {
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: timeoutMs });
  await waitFor(async () => (await page.locator('[data-testid="stats"]').count()) > 0, {
    timeoutMs,
    what: `the dashboard shell at ${url}`,
  });
}

/** The totals in the header, as numbers (null while not loaded). */
export async function readStats(page) {
  return page.evaluate(() => {
    const out = {};
    for (const el of document.querySelectorAll('[data-testid^="stat-"]')) {
      const key = el.getAttribute('data-testid').slice('stat-'.length);
      const v = el.getAttribute('data-value');
      out[key] = v === '' || v === null ? null : Number(v);
    }
    return out;
  });
}

/** Every device row on the list page: { id, online, lastSeen, lastSeq, messages, missing }. */
export async function readDeviceRows(page) {
  return page.evaluate(() => {
    const num = (row, id) => {
      const t = row.querySelector(`[data-testid="${id}"]`)?.textContent ?? '';
      const n = Number(t.replace(/[,\s]/g, ''));
      return t.trim() === '' || t.trim() === '—' || Number.isNaN(n) ? null : n;
    };
    return [...document.querySelectorAll('[data-testid="device-row"]')].map((row) => ({
      id: row.getAttribute('data-device-id'),
      online: row.getAttribute('data-online') === 'true',
      lastSeen: Number(row.querySelector('[data-testid="last-seen"]')?.getAttribute('data-time')) || null,
      lastSeq: num(row, 'last-seq'),
      messages: num(row, 'messages'),
      missing: num(row, 'missing'),
    }));
  });
}

/** Waits until the device list shows at least `n` rows; returns the rows. */
export async function waitForDeviceRows(page, n, { timeoutMs = 30000 } = {}) {
  return waitFor(
    async () => {
      const rows = await readDeviceRows(page);
      return rows.length >= n ? rows : null;
    },
    { timeoutMs, what: `at least ${n} device rows` },
  );
}

/** Waits until `predicate(row)` holds for the row of device `id`; returns the row. */
export async function waitForDeviceRow(page, id, predicate, { timeoutMs = 30000, what } = {}) {
  return waitFor(
    async () => {
      const row = (await readDeviceRows(page)).find((r) => r.id === id);
      return row && predicate(row) ? row : null;
    },
    { timeoutMs, what: what ?? `device ${id} to match the condition` },
  );
}

/** Opens device `id` by clicking its link in the list, as a person would. */
export async function openDevice(page, id, { timeoutMs = 20000 } = {}) {
  await page.locator(`[data-testid="device-row"][data-device-id="${id}"] [data-testid="device-link"]`).click({ timeout: timeoutMs });
  await waitFor(async () => (await page.locator(`[data-testid="device-page"][data-device-id="${id}"]`).count()) > 0, {
    timeoutMs,
    what: `the page of device ${id}`,
  });
}

/** Chooses the chart time window: '5m', '1h', '24h' or '7d'. */
export async function selectWindow(page, key) {
  await page.locator(`[data-testid="window-${key}"]`).click();
  await waitFor(async () => (await page.locator(`[data-testid="window-${key}"]`).getAttribute('aria-pressed')) === 'true', {
    what: `window ${key} to be selected`,
  });
}

/** How many points the chart of `metric` holds now; null when there is no such chart. */
export async function chartPoints(page, metric) {
  const el = page.locator(`[data-testid="chart"][data-metric="${metric}"]`);
  if ((await el.count()) === 0) return null;
  const v = await el.first().getAttribute('data-points');
  return v === null ? null : Number(v);
}

/** The metrics the device page charts. */
export async function chartMetrics(page) {
  return page.locator('[data-testid="chart"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-metric')));
}

/** Waits until the chart of `metric` holds at least `n` points; returns the count. */
export async function waitForChartPoints(page, metric, n, { timeoutMs = 30000 } = {}) {
  return waitFor(
    async () => {
      const c = await chartPoints(page, metric);
      return c !== null && c >= n ? c : null;
    },
    { timeoutMs, what: `chart "${metric}" to hold at least ${n} points` },
  );
}

/** The texts of the error banners on screen. */
export async function errorBanners(page) {
  return page.locator('[data-testid="error-banner"]').allTextContents();
}

/** The live link state shown in the header: connecting, open, reconnecting or stopped. */
export async function liveState(page) {
  return page.locator('[data-testid="live-status"]').getAttribute('data-state');
}
