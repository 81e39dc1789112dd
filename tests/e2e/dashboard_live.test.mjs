// The dashboard against the real platform: `corio sim` devices → corio-gateway (its
// Mosquitto and the corio plugin) → a cloud Mosquitto → corio-cloud, which serves the
// dashboard. Headless Chromium opens it, sees the simulated devices come online, opens
// one, and watches its temperature chart fill with points that arrive over SSE.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, runTest, sourceDir, waitFor } from './lib/browser.mjs';
import { chartPoints, errorBanners, openDashboard, openDevice, waitForChartPoints, waitForDeviceRow, waitForDeviceRows } from './lib/dashboard.mjs';
import { programPath, startProgram, waitForHttp } from './lib/process.mjs';

const DEVICES = 3;

/** `corio key new --out FILE` prints "id …", "didkey …" lines. */
function newKey(corio, file) {
  const out = execFileSync(corio, ['key', 'new', '--out', file], { encoding: 'utf8' });
  const field = (k) => out.match(new RegExp(`^${k} (\\S+)$`, 'm'))?.[1];
  return { id: field('id'), didkey: field('didkey') };
}

/** In a sanitizer build, the environment Mosquitto needs to load our instrumented plugin
 * (the C harness does the same: tests/harness/sanitizer.c). */
function sanitizerEnv() {
  if (process.env.CORIO_SANITIZE !== '1') return [];
  const cc = process.env.CORIO_CC || 'cc';
  const lib = (name) => execFileSync(cc, [`-print-file-name=${name}`], { encoding: 'utf8' }).trim();
  const preload = /clang/.test(cc) ? [lib('libclang_rt.asan-x86_64.so')] : [lib('libasan.so'), lib('libubsan.so')];
  return [
    `LD_PRELOAD=${preload.join(':')}`,
    'ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=66',
    'UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=66',
  ];
}

await runTest('dashboard_live', async ({ tmpDir, launch, onCleanup }) => {
  const corio = programPath('corio');
  const started = [];
  onCleanup(async () => {
    for (const p of started.reverse()) await p.stop({ timeoutMs: 15000 }).catch(() => {});
  });
  const start = (cmd, args, name) => {
    const p = startProgram(cmd, args, { tmpDir, name });
    started.push(p);
    return p;
  };

  // Identities and the registry.
  const org = newKey(corio, path.join(tmpDir, 'org.pem'));
  const gw = newKey(corio, path.join(tmpDir, 'gateway.pem'));
  const devicesDir = path.join(tmpDir, 'devices');
  execFileSync(corio, ['sim', 'provision', '--devices', String(DEVICES), '--dir', devicesDir, '--org', org.id,
    '--registry-out', path.join(tmpDir, 'devices.reg')]);
  const registry = path.join(tmpDir, 'registry');
  fs.writeFileSync(registry, `height 1\norg ${org.id} E2E Org\ngateway ${gw.id} org=${org.id} key=${gw.didkey}\n` +
    fs.readFileSync(path.join(tmpDir, 'devices.reg'), 'utf8'));
  const deviceIds = fs.readFileSync(path.join(tmpDir, 'devices.reg'), 'utf8').match(/^device (\S+)/gm).map((l) => l.split(' ')[1]);

  // The cloud: a broker and corio-cloud serving the dashboard.
  const brokerPort = await freePort();
  const httpPort = await freePort();
  const mosqConf = path.join(tmpDir, 'cloud-mosquitto.conf');
  fs.writeFileSync(mosqConf, `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n` +
    (process.getuid() === 0 ? 'user root\n' : ''));
  start('/usr/sbin/mosquitto', ['-c', mosqConf], 'cloud-mosquitto');
  const cloudConf = path.join(tmpDir, 'corio-cloud.conf');
  fs.writeFileSync(cloudConf, `org ${org.id}\ndatabase ${tmpDir}/cloud.db\nregistry ${registry}\nhttp_port ${httpPort}\n` +
    `broker_port ${brokerPort}\nweb_root ${path.join(sourceDir, 'web', 'dist')}\n`);
  const cloud = start(programPath('corio-cloud'), ['-c', cloudConf], 'corio-cloud');
  await waitForHttp(`http://127.0.0.1:${httpPort}/healthz`, { proc: cloud });

  // The gateway with its own broker, and the devices.
  const devicePort = await freePort();
  const gwConf = path.join(tmpDir, 'corio-gateway.conf');
  fs.mkdirSync(path.join(tmpDir, 'gateway'));
  fs.writeFileSync(gwConf, [`gateway_id ${gw.id}`, `key ${tmpDir}/gateway.pem`, `outbox ${tmpDir}/gateway/outbox.db`,
    `registry ${registry}`, `cloud_port ${brokerPort}`, 'cloud_keepalive 5s', 'loopback_port 0', 'mqtt_address 127.0.0.1',
    `mqtt_port ${devicePort}`, 'mqtts_port 0', `http_port ${await freePort()}`, `broker_dir ${tmpDir}/gateway/broker`,
    ...sanitizerEnv().map((e) => `broker_env ${e}`)].join('\n') + '\n');
  const gateway = start(programPath('corio-gateway'), ['-c', gwConf], 'corio-gateway');
  await waitFor(async () => {
    if (gateway.exited) throw Object.assign(new Error(`corio-gateway exited: ${JSON.stringify(gateway.exited)}`), { fatal: true });
    return fs.readFileSync(gateway.log, 'utf8').includes('corio-gateway running') ? true : null;
  }, { what: 'corio-gateway to run', stopOn: (e) => e?.fatal === true });
  start(corio, ['sim', 'run', '--dir', devicesDir, '--gateway', `127.0.0.1:${devicePort}`, '--gateway-id', gw.id,
    '--rate', '2', '--heartbeat', '5'], 'corio-sim');

  // The browser: devices come online, one device's chart fills live.
  const { page } = await launch();
  await openDashboard(page, `http://127.0.0.1:${httpPort}/`);
  await waitForDeviceRows(page, DEVICES, { timeoutMs: 60000 });
  const id = deviceIds[0];
  await waitForDeviceRow(page, id, (row) => row.online === true, { timeoutMs: 60000, what: `${id} to show online` });
  await openDevice(page, id);
  const first = await waitForChartPoints(page, 'temp', 3, { timeoutMs: 60000 });
  // New samples keep arriving over the live stream while the page stays open.
  const later = await waitFor(async () => {
    const n = await chartPoints(page, 'temp');
    return n !== null && n >= first + 4 ? n : null;
  }, { timeoutMs: 60000, what: `the temp chart to grow past ${first + 4} points` });
  const banners = await errorBanners(page);
  if (banners.length) throw new Error(`error banners on the device page: ${banners.join(' | ')}`);
  console.log(`device ${id}: temp chart grew from ${first} to ${later} points`);
});
