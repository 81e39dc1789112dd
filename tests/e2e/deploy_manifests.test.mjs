// ctest e2e.deploy_manifests: the deployment files (Kubernetes overlays, compose, systemd)
// checked offline against the programs this build made (their --help), by
// deploy/check/check.mjs; the compose init job runs for real with the built `corio`.
// No browser and no cluster: it runs wherever node and the programs are.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = process.env.CORIO_BIN_DIR || path.join(top, 'build/asan/bin');
const env = { ...process.env };
const r = spawnSync(process.execPath, [path.join(top, 'deploy/check/check.mjs'), '--bin', bin], { env, encoding: 'utf8' });
process.stdout.write(r.stdout);
process.stderr.write(r.stderr);
process.exit(r.status ?? 1);
