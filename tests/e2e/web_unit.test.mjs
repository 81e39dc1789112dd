// Runs the dashboard's vitest suite (web/src/**/*.test.ts) so `make test` covers the
// dashboard's logic: stream parsing and dispatch, series merging, time formatting, the
// API client's error handling. Exits with vitest's status.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { webDir } from './lib/browser.mjs';

const vitest = path.join(webDir, 'node_modules', '.bin', 'vitest');
if (!fs.existsSync(vitest)) {
  console.error(`FAIL web_unit: ${vitest} is missing; install the dashboard packages (scripts/setup.sh, or npm ci in web/)`);
  process.exit(1);
}
const r = spawnSync(vitest, ['run', '--reporter=default'], {
  cwd: webDir,
  stdio: 'inherit',
  env: { ...process.env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
});
if (r.error) {
  console.error(`FAIL web_unit: cannot run vitest: ${r.error.message}`);
  process.exit(1);
}
if (r.status !== 0) {
  console.error(`FAIL web_unit: vitest exited with ${r.status ?? `signal ${r.signal}`}`);
  process.exit(1);
}
console.log('ok web_unit');
