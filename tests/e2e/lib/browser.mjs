// Browser-test plumbing for tests/e2e: Debian's Chromium driven by playwright-core (from
// web/node_modules; `npx playwright install` cannot work here), a fresh profile per run,
// waiting by polling with a deadline, free ports, temporary directories, and a test
// runner that prints why a test failed and keeps a screenshot of every open page.
//
// ctest runs each tests/e2e/<name>.test.mjs as `node <file>` with web/ as working
// directory and CORIO_SOURCE_DIR / CORIO_BIN_DIR in the environment (tests/CMakeLists.txt).
// Nothing here depends on the working directory: paths are resolved from this file.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The repository's top directory. */
export const sourceDir = process.env.CORIO_SOURCE_DIR ? path.resolve(process.env.CORIO_SOURCE_DIR) : path.resolve(here, '../../..');
/** Where the built programs are (set by ctest); null when run by hand without it. */
export const binDir = process.env.CORIO_BIN_DIR ? path.resolve(process.env.CORIO_BIN_DIR) : null;
/** The dashboard's package directory. */
export const webDir = path.join(sourceDir, 'web');

export const chromiumPath = process.env.CORIO_CHROMIUM || '/usr/bin/chromium';

/** Chromium switches for tests: headless, no sandbox (root in CI), and no traffic of its own. */
export const chromiumArgs = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]);

function loadPlaywright() {
  const pkg = path.join(webDir, 'package.json');
  const req = createRequire(pkg);
  try {
    return req('playwright-core');
  } catch (e) {
    throw new Error(
      `cannot load playwright-core from ${webDir}/node_modules (${e.message}); ` +
        'install the dashboard packages first: scripts/setup.sh, or `npm ci` in web/',
    );
  }
}

/** Makes a new empty directory under the system temporary directory. */
export function makeTempDir(prefix = 'corio-e2e-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Finds a TCP port that is free on 127.0.0.1 now, by binding port 0 and closing. Another
 * process could take it before the caller binds; tests that start servers should still
 * check that their server came up on it.
 */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves after `ms`; for poll intervals only, never as a way to wait for something. */
export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Calls `probe` until it returns a truthy value, and returns that value. `probe` may be
 * async and may throw: a throw counts as "not yet" and is kept for the message. After
 * `timeoutMs` this throws an Error saying what was awaited and the last value or error.
 * `stopOn(error)` returning true makes that error fatal at once (e.g. "the server died").
 */
export async function waitFor(probe, { timeoutMs = 15000, intervalMs = 100, what = 'a condition', stopOn = null } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await probe();
      lastError = undefined;
      if (last) return last;
    } catch (e) {
      if (stopOn && stopOn(e)) throw e;
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? `last error: ${lastError.message ?? lastError}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${(timeoutMs / 1000).toFixed(1)} s waiting for ${what} (${why})`);
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/**
 * Launches Chromium with a fresh profile in `tmpDir`/chromium-profile and opens one
 * page. Returns { context, page, problems, close }: `problems` collects uncaught page
 * errors, console errors and failed requests, so a test can assert the dashboard ran
 * cleanly. Viewport defaults to 1280x800.
 */
export async function launchBrowser({ tmpDir, viewport = { width: 1280, height: 800 }, timeoutMs = 30000 } = {}) {
  if (!tmpDir) throw new Error('launchBrowser needs a tmpDir for the profile');
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: apt-get install chromium (scripts/setup.sh does it)`);
  }
  const { chromium } = loadPlaywright();
  const profile = path.join(tmpDir, 'chromium-profile');
  fs.mkdirSync(profile, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [...chromiumArgs],
    viewport,
    timeout: timeoutMs,
  });
  context.setDefaultTimeout(timeoutMs);
  const problems = [];
  const watch = (page) => {
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('requestfailed', (r) => {
      // ERR_ABORTED is the page itself cancelling (navigation, closing the stream).
      const why = r.failure()?.errorText ?? '?';
      if (!why.includes('ERR_ABORTED')) problems.push(`request failed: ${r.url()} (${why})`);
    });
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  let closed = false;
  return {
    context,
    page,
    problems,
    async close() {
      if (closed) return;
      closed = true;
      await context.close().catch(() => {});
    },
  };
}

/** Saves a full-page PNG of `page` as `dir`/`name`.png and returns its path. */
export async function screenshot(page, dir, name) {
  const file = path.join(dir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.png`);
  await page.screenshot({ path: file, fullPage: true, timeout: 10000 });
  return file;
}

/**
 * Runs one browser test. `body` gets { tmpDir, launch } where launch(opts) starts a
 * browser (closed automatically afterwards). On success the temporary directory is
 * removed and the process exits 0 after printing "ok <name>". On failure the error is
 * printed, every open page is screenshotted into the temporary directory (kept, and
 * named in the output), and the process exits 1. `cleanup` functions registered with
 * onCleanup run in reverse order either way (e.g. stopping servers).
 */
export async function runTest(name, body) {
  const tmpDir = makeTempDir(`corio-e2e-${name}-`);
  const browsers = [];
  const cleanups = [];
  let failed = null;
  const started = Date.now();
  try {
    await body({
      tmpDir,
      launch: async (opts = {}) => {
        const b = await launchBrowser({ tmpDir, ...opts });
        browsers.push(b);
        return b;
      },
      onCleanup: (fn) => cleanups.push(fn),
    });
  } catch (e) {
    failed = e;
  }
  if (failed) {
    console.error(`FAIL ${name}: ${failed.stack ?? failed}`);
    let n = 0;
    for (const b of browsers) {
      for (const page of b.context.pages()) {
        try {
          const file = await screenshot(page, tmpDir, `failure-${++n}`);
          console.error(`  screenshot of ${page.url()}: ${file}`);
        } catch (e) {
          console.error(`  (no screenshot of ${page.url()}: ${e.message})`);
        }
      }
      if (b.problems.length) console.error(`  browser reported:\n    ${b.problems.slice(0, 30).join('\n    ')}`);
    }
  }
  for (const b of browsers) await b.close();
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (e) {
      console.error(`  cleanup failed: ${e.message ?? e}`);
    }
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (failed) {
    console.error(`  files kept in ${tmpDir}`);
    process.exit(1);
  }
  fs.rmSync(tmpDir, { recursive: true, force: true });
  console.log(`ok ${name} (${secs} s)`);
  process.exit(0);
}
