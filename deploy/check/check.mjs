#!/usr/bin/env node
// Checks Corio's deployment files offline, with Node.js alone (no kubectl, no cluster,
// no network), against the programs themselves:
//
//  - every YAML file under deploy/ parses (yaml.mjs: a strict subset);
//  - each Kubernetes overlay renders (kustomize.mjs) into objects whose required fields
//    are there, whose selectors match the pods' labels, whose Services' target ports and
//    probes' ports are ports the containers declare, whose volumes, ConfigMaps, Secrets
//    (references only, listed in deploy/k8s/EXTERNAL with their keys) and claims exist,
//    with resource requests, probes (/healthz for Corio's programs), a non-root and
//    read-only container, and PodDisruptionBudgets that do not block a drain;
//  - every configuration file a Corio container reads is checked against that program's
//    --help (keys, types, ranges, words, required keys, repeats), its paths against the
//    container's mounts (keys in the ConfigMap or Secret, state on a writable volume, the
//    databases on a persistent one, the rest in the image: deploy/images/Dockerfile), its
//    ports against the container's ports and the probes, and the hosts it dials against
//    the Services (and StatefulSet pods) of the same overlay; ledger nodes' member lines
//    against the StatefulSet's pods;
//  - the compose deployment: its init job (deploy/compose/init.sh) is run with the built
//    `corio`, and what it writes is checked the same way against the compose services;
//  - the systemd units and their example configurations.
//
//   node deploy/check/check.mjs [--bin DIR]      DIR: the programs (default: $CORIO_BIN_DIR,
//                                                else build/release/bin)
// Exits 0 when nothing is wrong; prints each problem and a closing count otherwise.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkConf, parseConf, readHelp } from './help.mjs';
import { podSpec, render } from './kustomize.mjs';
import { parseAll } from './yaml.mjs';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argBin = process.argv.indexOf('--bin');
const binDir = argBin > 0 ? path.resolve(process.argv[argBin + 1]) : process.env.CORIO_BIN_DIR || path.join(top, 'build/release/bin');
const rel = (p) => path.relative(top, p);

const problems = [];
const notes = [];
let checked = 0;
const fail = (msg) => problems.push(msg);
const ok = () => checked++;
function expect(cond, msg) {
  if (cond) ok();
  else fail(msg);
  return cond;
}

// ---- the programs' keys -------------------------------------------------------------
const PROGRAMS = ['corio-cloud', 'corio-gateway', 'corio-ledger'];
const helps = {};
for (const p of PROGRAMS) {
  const exe = path.join(binDir, p);
  if (!fs.existsSync(exe)) {
    console.error(`check: ${exe} does not exist: build the programs first (or --bin DIR)`);
    process.exit(2);
  }
  helps[p] = readHelp(exe);
}
// The keys of corio-cloud's PostgreSQL store and NATS bus (docs/scale-out.md). A
// corio-cloud built without them cannot check the scale-out overlay's configuration
// for them; everything else is still checked, and the skip is said aloud.
const SCALE_OUT_KEYS = ['store', 'pg_conninfo', 'bus', 'nats_url', 'nats_tls_ca', 'nats_tls_cert', 'nats_tls_key', 'nats_stream', 'nats_consumer', 'nats_replicas', 'nats_ack_wait', 'nats_fetch', 'nats_stream_max_bytes'];
const cloudSkip = helps['corio-cloud'].has('store') ? new Set() : new Set(SCALE_OUT_KEYS);
if (cloudSkip.size) notes.push(`this corio-cloud has no PostgreSQL/NATS keys (store, bus, nats_*): those lines of the scale-out configuration are not checked against --help`);

// Paths written at run time; of them, those that must outlive the pod.
const STATE_KEYS = new Set(['database', 'outbox', 'watermark', 'broker_dir', 'data_dir', 'service_counter', 'stats_file']);
const PERSIST_KEYS = new Set(['database', 'outbox', 'data_dir', 'watermark']);

// ---- the images ---------------------------------------------------------------------
/** Per Dockerfile target: the paths it holds, its default config, its health URL port. */
function readDockerfile() {
  const file = path.join(top, 'deploy/images/Dockerfile');
  const stages = {};
  let cur = null;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    let m;
    if ((m = /^FROM (\S+) AS (\S+)/.exec(line))) {
      const parent = stages[m[1]];
      cur = stages[m[2]] = { paths: new Set(parent?.paths ?? []), healthPort: parent?.healthPort, cmd: null, user: parent?.user };
    } else if (!cur) continue;
    else if ((m = /^COPY (?:--from=\S+ )?\S+ (\S+)$/.exec(line))) cur.paths.add(m[1].replace(/\/$/, ''));
    else if (/apt-get install .*\bmosquitto\b(?!-)/.test(line)) cur.paths.add('/usr/sbin/mosquitto');
    else if ((m = /^ENV CORIO_HEALTHZ=http:\/\/127\.0\.0\.1:(\d+)\/healthz/.exec(line))) cur.healthPort = Number(m[1]);
    else if ((m = /^CMD \["-c", "([^"]+)"\]/.exec(line))) cur.cmd = m[1];
    else if ((m = /^USER (\S+)/.exec(line))) cur.user = m[1];
  }
  return stages;
}
const stages = readDockerfile();
const TARGET = { 'corio-gateway': 'gateway', 'corio-cloud': 'cloud', 'corio-ledger': 'ledger', 'corio-tools': 'tools' };
for (const t of Object.values(TARGET)) expect(stages[t], `deploy/images/Dockerfile: no target ${t}`);
for (const t of ['gateway', 'cloud', 'ledger']) {
  expect(stages[t]?.healthPort, `deploy/images/Dockerfile: target ${t} has no CORIO_HEALTHZ`);
  expect(stages[t]?.cmd, `deploy/images/Dockerfile: target ${t} has no default -c`);
}
for (const [t, s] of Object.entries(stages))
  if (TARGET[`corio-${t}`]) expect(s.user && !/^(0|root)(:|$)/.test(s.user), `deploy/images/Dockerfile: target ${t} runs as root`);
const imageHas = (target, p) => [...(stages[target]?.paths ?? [])].some((q) => p === q || p.startsWith(q + '/'));

// ---- every YAML file parses -----------------------------------------------------------
function walk(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}
const deployFiles = walk(path.join(top, 'deploy'));
for (const f of deployFiles.filter((f) => /\.ya?ml$/.test(f))) {
  try {
    parseAll(fs.readFileSync(f, 'utf8'), rel(f));
    ok();
  } catch (e) {
    fail(e.message);
  }
}

/** The top-level blocks of a nats-server configuration (comments removed), by name: their
 * text between the braces. Enough for Corio's files (no braces inside strings). */
function natsBlocks(text) {
  const out = new Map();
  let depth = 0;
  let start = -1;
  let name = null;
  for (const m of text.matchAll(/[{}]/g)) {
    if (m[0] === '{') {
      if (depth === 0) {
        name = /([A-Za-z_]\w*)\s*[:=]?\s*$/.exec(text.slice(0, m.index))?.[1] ?? null;
        start = m.index + 1;
      }
      depth++;
    } else if (depth > 0 && --depth === 0 && name) out.set(name, text.slice(start, m.index));
  }
  return out;
}

// ---- operator-made objects ------------------------------------------------------------
const external = new Map();
for (const line of fs.readFileSync(path.join(top, 'deploy/k8s/EXTERNAL'), 'utf8').split('\n')) {
  const t = line.trim();
  if (!t || t.startsWith('#')) continue;
  const [kind, name, ...keys] = t.split(/\s+/);
  external.set(`${kind}/${name}`, { kind, name, keys: new Set(keys), used: false });
}

// ---- Kubernetes ---------------------------------------------------------------------
const API = { Deployment: 'apps/v1', StatefulSet: 'apps/v1', Service: 'v1', ConfigMap: 'v1', PersistentVolumeClaim: 'v1', Namespace: 'v1', PodDisruptionBudget: 'policy/v1', Ingress: 'networking.k8s.io/v1' };
const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const labelsMatch = (sel, labels) => Object.keys(sel ?? {}).length > 0 && Object.entries(sel).every(([k, v]) => labels?.[k] === v);
const isWorkload = (d) => !!podSpec(d);
const programOf = (image) => (image ?? '').split('/').pop().split(/[:@]/)[0];

function checkOverlay(dir) {
  const where = rel(dir);
  let objs;
  try {
    objs = render(dir).map((o) => o.doc);
  } catch (e) {
    fail(`${where}: ${e.message}`);
    return;
  }
  ok();
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const get = (k, n) => objs.find((o) => o.kind === k && o.metadata?.name === n);
  const at = (o) => `${where}: ${o.kind} ${o.metadata?.name}`;
  const seen = new Set();
  for (const o of objs) {
    expect(API[o.kind], `${where}: kind ${o.kind} is not one this check knows`);
    expect(o.apiVersion === API[o.kind], `${at(o)}: apiVersion ${o.apiVersion}, want ${API[o.kind]}`);
    expect(DNS1123.test(o.metadata?.name ?? '') && o.metadata.name.length <= 63, `${at(o)}: name is not a DNS label`);
    expect(!seen.has(`${o.kind}/${o.metadata?.name}`), `${at(o)}: defined twice`);
    seen.add(`${o.kind}/${o.metadata?.name}`);
    expect(o.kind !== 'Secret', `${at(o)}: a Secret in the manifests (keys are made by the operator: deploy/k8s/EXTERNAL)`);
    if (o.kind !== 'Namespace') expect(o.metadata?.namespace, `${at(o)}: no namespace`);
    if (o.kind !== 'Namespace' && o.kind !== 'ConfigMap') expect(o.metadata?.labels?.['app.kubernetes.io/part-of'] === 'corio', `${at(o)}: no label app.kubernetes.io/part-of: corio`);
  }

  const workloads = objs.filter(isWorkload);
  const services = byKind('Service');
  const podsOf = (selector) => workloads.filter((w) => labelsMatch(selector, w.spec.template.metadata?.labels));
  const portOf = (c, ref) => (c.ports ?? []).find((p) => (typeof ref === 'number' ? p.containerPort === ref : p.name === ref));
  const replicas = (w) => w.spec.replicas ?? 1;

  /** Where a host:port that a program dials leads in this overlay, or an error text. */
  function dial(host, port) {
    const svc = get('Service', host);
    if (svc) {
      if (!(svc.spec.ports ?? []).some((p) => p.port === port)) return `Service ${host} has no port ${port}`;
      if (!podsOf(svc.spec.selector).length) return `Service ${host} selects no pods`;
      return null;
    }
    const m = /^(.+)-(\d+)\.([^.]+)$/.exec(host);
    if (m) {
      const sts = get('StatefulSet', m[1]);
      if (!sts || sts.spec.serviceName !== m[3]) return `${host} is no StatefulSet pod's name`;
      if (Number(m[2]) >= replicas(sts)) return `${host}: ${m[1]} has ${replicas(sts)} replicas`;
      if (!sts.spec.template.spec.containers.some((c) => portOf(c, port))) return `${m[1]}'s pods have no port ${port}`;
      return null;
    }
    return `no Service or StatefulSet pod named ${host}`;
  }

  for (const w of workloads) {
    const spec = podSpec(w);
    const labels = w.spec.template.metadata?.labels;
    expect(labelsMatch(w.spec.selector?.matchLabels, labels), `${at(w)}: selector does not match the pod template's labels`);
    expect(spec.securityContext?.runAsNonRoot === true, `${at(w)}: pod securityContext.runAsNonRoot is not true`);
    const claims = new Map((w.spec.volumeClaimTemplates ?? []).map((t) => [t.metadata.name, t]));
    for (const t of claims.values()) expect(t.spec?.resources?.requests?.storage, `${at(w)}: volumeClaimTemplate ${t.metadata.name} requests no storage`);
    const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
    for (const v of volumes.values()) {
      if (v.configMap) {
        const cm = get('ConfigMap', v.configMap.name);
        const ext = external.get(`ConfigMap/${v.configMap.name}`);
        if (ext) ext.used = true;
        if (expect(cm || ext, `${at(w)}: volume ${v.name}: no ConfigMap ${v.configMap.name}`))
          for (const it of v.configMap.items ?? []) expect(cm ? it.key in cm.data : ext.keys.has(it.key), `${at(w)}: ConfigMap ${v.configMap.name} has no key ${it.key}`);
      } else if (v.secret) {
        const ext = external.get(`Secret/${v.secret.secretName}`);
        if (expect(ext, `${at(w)}: volume ${v.name}: Secret ${v.secret.secretName} is not in deploy/k8s/EXTERNAL`)) {
          ext.used = true;
          for (const it of v.secret.items ?? []) expect(ext.keys.has(it.key), `${at(w)}: Secret ${v.secret.secretName} has no key ${it.key}`);
        }
        expect(v.secret.defaultMode === undefined || (v.secret.defaultMode & 0o44) === 0o40, `${at(w)}: Secret volume ${v.name}: mode ${v.secret.defaultMode?.toString(8)} must let the group (fsGroup) read and others not`);
      } else if (v.persistentVolumeClaim) {
        const pvc = get('PersistentVolumeClaim', v.persistentVolumeClaim.claimName);
        expect(pvc, `${at(w)}: volume ${v.name}: no PersistentVolumeClaim ${v.persistentVolumeClaim.claimName}`);
        if (w.kind === 'Deployment' && pvc && (pvc.spec.accessModes ?? []).includes('ReadWriteOnce')) {
          expect(replicas(w) === 1, `${at(w)}: ${replicas(w)} replicas share the ReadWriteOnce claim ${pvc.metadata.name}`);
          expect(w.spec.strategy?.type === 'Recreate', `${at(w)}: a rolling update would start a second pod on the ReadWriteOnce claim ${pvc.metadata.name}: strategy Recreate`);
        }
      } else expect(v.emptyDir !== undefined, `${at(w)}: volume ${v.name}: a kind of volume this check does not know`);
    }
    if (w.kind === 'StatefulSet') {
      const svc = get('Service', w.spec.serviceName);
      if (expect(svc, `${at(w)}: serviceName ${w.spec.serviceName}: no such Service`)) {
        expect(svc.spec.clusterIP === 'None', `${at(w)}: its Service ${svc.metadata.name} is not headless`);
        expect(labelsMatch(svc.spec.selector, labels), `${at(w)}: its Service ${svc.metadata.name} does not select its pods`);
      }
    }
    const ann = w.spec.template.metadata?.annotations ?? {};
    if (ann['prometheus.io/scrape'] === 'true') {
      const port = Number(ann['prometheus.io/port']);
      expect(spec.containers.some((c) => portOf(c, port)), `${at(w)}: prometheus.io/port ${ann['prometheus.io/port']} is no container port`);
      expect(ann['prometheus.io/path'] === '/metrics', `${at(w)}: prometheus.io/path is not /metrics`);
    }

    for (const c of spec.containers ?? []) {
      const cat = `${at(w)} container ${c.name}`;
      expect(c.image, `${cat}: no image`);
      expect(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${cat}: no cpu and memory requests`);
      expect(c.resources?.limits?.memory, `${cat}: no memory limit`);
      const sc = c.securityContext ?? {};
      expect(sc.allowPrivilegeEscalation === false, `${cat}: allowPrivilegeEscalation is not false`);
      expect(sc.readOnlyRootFilesystem === true, `${cat}: the root file system is not read-only`);
      expect((sc.capabilities?.drop ?? []).includes('ALL'), `${cat}: capabilities are not all dropped`);
      const prog = programOf(c.image);
      const corio = PROGRAMS.includes(prog) && !(c.command ?? [])[0]?.includes('mosquitto');
      for (const kind of ['readinessProbe', 'livenessProbe']) {
        const p = c[kind];
        if (!expect(p, `${cat}: no ${kind}`)) continue;
        const ref = p.httpGet?.port ?? p.tcpSocket?.port;
        if (ref !== undefined) expect(portOf(c, ref), `${cat}: ${kind} port ${ref} is not a port of the container`);
        else expect(p.exec?.command?.length, `${cat}: ${kind} has no httpGet, tcpSocket or exec`);
        if (corio) expect(p.httpGet?.path === '/healthz', `${cat}: ${kind} is not GET /healthz`);
      }
      for (const m of c.volumeMounts ?? []) expect(volumes.has(m.name) || claims.has(m.name), `${cat}: mount ${m.mountPath}: no volume ${m.name}`);
      for (const e of c.env ?? []) {
        const r = e.valueFrom?.secretKeyRef;
        if (!r) continue;
        const ext = external.get(`Secret/${r.name}`);
        if (expect(ext && ext.keys.has(r.key), `${cat}: env ${e.name}: Secret ${r.name} key ${r.key} is not in deploy/k8s/EXTERNAL`)) ext.used = true;
      }

      /** What a path inside this container is: a ConfigMap or Secret key, a writable
       * volume, a path of the image, or nothing. */
      const resolve = (p) => {
        const m = (c.volumeMounts ?? []).filter((m) => p === m.mountPath || p.startsWith(m.mountPath.replace(/\/$/, '') + '/')).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
        if (!m) {
          const target = TARGET[prog];
          return imageHas(target, p) ? { kind: 'image' } : { kind: 'none' };
        }
        const sub = m.subPath ?? path.posix.relative(m.mountPath, p);
        if (claims.has(m.name)) return { kind: 'writable', persistent: true, readOnly: !!m.readOnly };
        const v = volumes.get(m.name);
        if (!v) return { kind: 'none' };
        if (v.emptyDir !== undefined) return { kind: 'writable', persistent: false, readOnly: !!m.readOnly };
        if (v.persistentVolumeClaim) return { kind: 'writable', persistent: true, readOnly: !!m.readOnly };
        const items = (v.configMap ?? v.secret).items;
        const key = items ? items.find((it) => it.path === sub)?.key : sub;
        if (v.configMap) {
          const cm = get('ConfigMap', v.configMap.name);
          const ext = external.get(`ConfigMap/${v.configMap.name}`);
          return { kind: 'file', what: `ConfigMap ${v.configMap.name}`, key, exists: cm ? key in (cm.data ?? {}) : !!ext?.keys.has(key), content: cm?.data?.[key] };
        }
        const ext = external.get(`Secret/${v.secret.secretName}`);
        return { kind: 'file', what: `Secret ${v.secret.secretName}`, key, exists: !!ext?.keys.has(key) };
      };
      const needFile = (p, why) => {
        const r = resolve(p);
        if (r.kind === 'file') return expect(r.exists, `${cat}: ${why}: ${p} is key ${r.key} of ${r.what}, which has no such key`) ? r : null;
        return expect(r.kind === 'image', `${cat}: ${why}: ${p} is in no mount and not in the image`) ? r : null;
      };
      const needState = (p, why, persistent) => {
        const r = resolve(p);
        if (!expect(r.kind === 'writable' && !r.readOnly, `${cat}: ${why}: ${p} is not on a writable volume`)) return;
        if (persistent) expect(r.persistent, `${cat}: ${why}: ${p} is on a volume that does not outlive the pod`);
      };

      const cmd = [...(c.command ?? []), ...(c.args ?? [])].join(' ');
      if (corio) {
        let conf = /(?:^| )(?:-c|--config) (\/\S+)/.exec(cmd)?.[1] ?? (c.command ? null : stages[TARGET[prog]]?.cmd);
        if (!expect(conf, `${cat}: which configuration file it reads is not clear (-c FILE)`)) continue;
        const ordinals = conf.includes('${HOSTNAME##*-}') ? [...Array(replicas(w)).keys()] : [null];
        expect(ordinals[0] === null || w.kind === 'StatefulSet', `${cat}: per-pod configuration in a ${w.kind}`);
        const nodeIds = new Map();
        for (const ord of ordinals) {
          const file = ord === null ? conf : conf.replace('${HOSTNAME##*-}', String(ord));
          const r = needFile(file, 'configuration');
          if (!r || r.content === undefined) continue;
          const cwhere = `${where}: ${r.what} ${r.key}`;
          const skip = prog === 'corio-cloud' ? cloudSkip : new Set();
          for (const p of checkConf(r.content, helps[prog], cwhere, skip)) fail(p);
          ok();
          const kv = new Map();
          for (const { key, value } of parseConf(r.content)) kv.set(key, [...(kv.get(key) ?? []), value]);
          const one = (k) => kv.get(k)?.[0];
          for (const [key, values] of kv) {
            const k = helps[prog].get(key);
            if (k?.type !== 'path') continue;
            for (const v of values) {
              if (!expect(v.startsWith('/'), `${cwhere}: ${key} ${v}: relative paths are taken from the configuration's (read-only) directory: write it absolute`)) continue;
              if (STATE_KEYS.has(key)) needState(v, key, PERSIST_KEYS.has(key) && !(key === 'database' && one('store') === 'postgres'));
              else needFile(v, key);
            }
          }
          const httpPort = (name, port) => expect(portOf(c, Number(port))?.name === name, `${cwhere}: port ${port} is not the container's port '${name}'`);
          const anyAddr = (a, key) => expect(a === '0.0.0.0' || a === '::', `${cwhere}: ${key} ${a}: the kubelet's probes come from outside the pod: listen on 0.0.0.0`);
          const ann = Number(w.spec.template.metadata?.annotations?.['prometheus.io/port']);
          if (prog === 'corio-cloud') {
            httpPort('http', one('http_port') ?? helps[prog].get('http_port').def);
            anyAddr(one('http_address') ?? helps[prog].get('http_address').def, 'http_address');
            expect(ann === Number(one('http_port') ?? 8080), `${cwhere}: prometheus.io/port is not http_port`);
            if ((one('bus') ?? 'mosquitto') === 'mosquitto') {
              const e = dial(one('broker_host') ?? '127.0.0.1', Number(one('broker_port') ?? 1883));
              expect(!e, `${cwhere}: broker_host/broker_port: ${e}`);
            } else {
              for (const u of (one('nats_url') ?? '').split(',')) {
                const m = /^(?:nats|tls):\/\/([^:/]+)(?::(\d+))?$/.exec(u.trim());
                if (!expect(m, `${cwhere}: nats_url ${u}: not a nats:// or tls:// URL`)) continue;
                const e = dial(m[1], Number(m[2] ?? 4222));
                expect(!e, `${cwhere}: nats_url ${u}: ${e}`);
                if (one('nats_tls_ca')) expect(u.trim().startsWith('tls://'), `${cwhere}: nats_url ${u}: nats_tls_ca is set but the URL is not tls://`);
              }
            }
            if (one('store') === 'postgres') {
              const ci = one('pg_conninfo') ?? '';
              const host = /(?:^| )host=(\S+)/.exec(ci)?.[1];
              const e = host ? dial(host, Number(/(?:^| )port=(\d+)/.exec(ci)?.[1] ?? 5432)) : 'no host=';
              expect(!e, `${cwhere}: pg_conninfo: ${e}`);
              expect(!/password=/.test(ci), `${cwhere}: pg_conninfo holds a password: give it as PGPASSWORD from a Secret`);
              expect((c.env ?? []).some((e) => e.name === 'PGPASSWORD' && e.valueFrom?.secretKeyRef), `${cat}: store postgres without PGPASSWORD from a Secret`);
            }
          } else if (prog === 'corio-gateway') {
            httpPort('metrics', one('http_port') ?? 0);
            anyAddr(one('http_address') ?? '127.0.0.1', 'http_address');
            expect(ann === Number(one('http_port')), `${cwhere}: prometheus.io/port is not http_port`);
            const mq = Number(one('mqtts_port') ?? 8883);
            if (mq) httpPort('mqtts', mq);
            const coaps = Number(one('coaps_port') ?? (one('tls_cert') ? 5684 : 0));
            if (coaps) expect(portOf(c, coaps)?.protocol === 'UDP', `${cwhere}: coaps_port ${coaps} is not a UDP port of the container`);
            expect(get('Service', one('cloud_host')) || !/^[a-z][-a-z0-9]*$/.test(one('cloud_host') ?? ''), `${cwhere}: cloud_host ${one('cloud_host')} looks like a Service name but there is none`);
            if (get('Service', one('cloud_host'))) {
              const e = dial(one('cloud_host'), Number(one('cloud_port') ?? 1883));
              expect(!e, `${cwhere}: cloud_host/cloud_port: ${e}`);
            }
          } else if (prog === 'corio-ledger') {
            const [addr, port] = (one('listen') ?? '127.0.0.1:8400').split(/:(?=\d+$)/);
            httpPort('http', port);
            anyAddr(addr, 'listen');
            expect(ann === Number(port), `${cwhere}: prometheus.io/port is not the port of listen`);
            const raftPort = Number((one('raft_bind') ?? one('raft_address') ?? ':7400').split(':').pop());
            httpPort('raft', raftPort);
            const sts = w.metadata.name;
            const svc = w.spec.serviceName;
            if (ord !== null) expect(one('raft_address') === `${sts}-${ord}.${svc}:${raftPort}`, `${cwhere}: raft_address ${one('raft_address')}, want ${sts}-${ord}.${svc}:${raftPort} (this pod's stable name)`);
            const id = one('node_id') ?? '1';
            expect(!nodeIds.has(id), `${cwhere}: node_id ${id} is also node-${nodeIds.get(id)}'s`);
            nodeIds.set(id, ord);
            const members = kv.get('member') ?? [];
            expect(members.length === 0 || members.length >= replicas(w), `${cwhere}: ${members.length} member lines for ${replicas(w)} pods`);
            for (const mline of members) {
              const [mid, raft, api] = mline.split(/\s+/);
              const [h, p] = (raft ?? '').split(/:(?=\d+$)/);
              const e = dial(h, Number(p));
              if (get('StatefulSet', h?.replace(/-\d+\..*$/, '')) === w || /^corio-ledger-\d+\./.test(h ?? '')) {
                expect(!e, `${cwhere}: member ${mline}: ${e}`);
                expect(api === `http://${h}:${port}`, `${cwhere}: member ${mline}: API URL, want http://${h}:${port}`);
              }
              expect(/^\d+$/.test(mid ?? ''), `${cwhere}: member ${mline}: no numeric id`);
            }
            if (members.length) expect(members.some((l) => l.split(/\s+/)[0] === id && l.split(/\s+/)[1] === one('raft_address')), `${cwhere}: the member lines do not list this node (${id} ${one('raft_address')})`);
          }
        }
      } else if ((c.command ?? [])[0]?.includes('mosquitto')) {
        const conf = /-c (\S+)/.exec(cmd)?.[1];
        const r = conf && needFile(conf, 'mosquitto configuration');
        if (r?.content !== undefined) {
          for (const { key, value } of parseConf(r.content)) {
            if (['certfile', 'keyfile', 'cafile', 'acl_file', 'password_file'].includes(key)) needFile(value, key);
            if (key === 'listener') expect(portOf(c, Number(value.split(/\s+/)[0])), `${cat}: listener ${value} is not a port of the container`);
            if (key === 'persistence_location') needState(value, key, false);
            if (key === 'allow_anonymous') expect(value === 'false', `${cat}: the cloud broker allows anonymous clients`);
            if (key === 'require_certificate') expect(value === 'true', `${cat}: the cloud broker does not require client certificates`);
          }
        }
      } else if (prog === 'nats') {
        const conf = /--config (\S+)/.exec(cmd)?.[1];
        const r = conf && needFile(conf, 'nats-server configuration');
        if (r?.content !== undefined) {
          for (const m of r.content.matchAll(/^\s*(cert_file|key_file|ca_file|store_dir|listen|http):\s*(\S+)/gm)) {
            if (m[1] === 'store_dir') needState(m[2], m[1], true);
            else if (m[1] === 'listen' || m[1] === 'http') expect(portOf(c, Number(m[2].split(':').pop())), `${cat}: ${m[1]} ${m[2]} is not a port of the container`);
            else needFile(m[2], m[1]);
          }
          for (const m of r.content.matchAll(/nats-route:\/\/([^:\s]+):(\d+)/g)) {
            const e = dial(m[1], Number(m[2]));
            expect(!e, `${cat}: route ${m[0]}: ${e}`);
          }
          // Authorization (docs/scale-out.md, "Permissions"): certificates name users on
          // the client port and the MQTT listener, and there are users; without them every
          // client with a trusted certificate may publish and subscribe anywhere.
          const text = r.content.replace(/#.*$/gm, '');
          const included = [...text.matchAll(/^\s*include\s+["']?([^"'\s]+)["']?/gm)].map((m) => needFile(path.posix.resolve(path.posix.dirname(conf), m[1]), `include ${m[1]}`));
          const blocks = natsBlocks(text);
          const maps = (tls) => /\bverify_and_map\s*[:=]\s*true\b/.test(tls ?? '');
          expect(maps(blocks.get('tls')), `${cat}: the client port's tls does not map certificates to users (verify_and_map: true): corio-cloud's permissions would not apply`);
          if (blocks.has('mqtt')) expect(maps(natsBlocks(blocks.get('mqtt')).get('tls')), `${cat}: the MQTT listener's tls does not map certificates to users (verify_and_map: true): any gateway could publish another's acks`);
          expect(blocks.has('authorization') || included.some((f) => f && (f.content === undefined || /^\s*authorization\s*\{/m.test(f.content))), `${cat}: nats-server names no users (an authorization block, as corio nats auth writes it)`);
        }
      }
    }
  }

  for (const s of services) {
    const pods = podsOf(s.spec.selector);
    if (!expect(pods.length, `${at(s)}: its selector matches no pod template`)) continue;
    for (const p of s.spec.ports ?? []) {
      const t = p.targetPort ?? p.port;
      for (const w of pods) {
        const cp = podSpec(w).containers.map((c) => portOf(c, t)).find(Boolean);
        if (expect(cp, `${at(s)}: port ${p.name ?? p.port}: targetPort ${t} is no port of ${w.kind} ${w.metadata.name}`))
          expect((cp.protocol ?? 'TCP') === (p.protocol ?? 'TCP'), `${at(s)}: port ${p.name}: protocol ${p.protocol} but the container's is ${cp.protocol}`);
      }
    }
  }
  for (const b of byKind('PodDisruptionBudget')) {
    const pods = podsOf(b.spec.selector?.matchLabels);
    if (!expect(pods.length, `${at(b)}: its selector matches no pod template`)) continue;
    for (const w of pods) {
      const n = replicas(w);
      expect(n > 1, `${at(b)}: ${w.metadata.name} has one replica: this budget would block every drain`);
      const allowed = b.spec.maxUnavailable ?? n - (b.spec.minAvailable ?? n);
      expect(allowed >= 1 && allowed < n, `${at(b)}: allows ${allowed} of ${n} pods of ${w.metadata.name} to go`);
    }
  }
  for (const i of byKind('Ingress'))
    for (const r of i.spec.rules ?? [])
      for (const p of r.http?.paths ?? []) {
        const s = get('Service', p.backend?.service?.name);
        const port = p.backend?.service?.port;
        if (expect(s, `${at(i)}: backend ${p.backend?.service?.name}: no such Service`))
          expect((s.spec.ports ?? []).some((sp) => (port.name ? sp.name === port.name : sp.port === port.number)), `${at(i)}: backend port ${JSON.stringify(port)} is not a port of Service ${s.metadata.name}`);
      }
  for (const pvc of byKind('PersistentVolumeClaim')) {
    expect(pvc.spec?.resources?.requests?.storage, `${at(pvc)}: requests no storage`);
    expect(workloads.some((w) => (podSpec(w).volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === pvc.metadata.name)), `${at(pvc)}: no pod uses it`);
  }
  expect(workloads.some((w) => w.kind === 'StatefulSet' && w.metadata.name === 'corio-ledger' && w.spec.volumeClaimTemplates?.length), `${where}: corio-ledger is not a StatefulSet with volume claims`);
}

const overlays = path.join(top, 'deploy/k8s/overlays');
for (const o of fs.readdirSync(overlays)) checkOverlay(path.join(overlays, o));
for (const e of external.values()) expect(e.used, `deploy/k8s/EXTERNAL: ${e.kind} ${e.name} is used by no overlay`);

// ---- compose ------------------------------------------------------------------------
/** A compose volume "src:dst[:mode]", where src may be ${VAR:-default}. */
function splitVolume(v) {
  let i = 0;
  if (v.startsWith('${')) i = v.indexOf('}') + 1;
  const rest = v.slice(i).split(':');
  return [v.slice(0, i) + rest[0], rest[1], rest[2]];
}
function checkCompose() {
  const file = path.join(top, 'deploy/compose/compose.yaml');
  const [doc] = parseAll(fs.readFileSync(file, 'utf8'), rel(file));
  const svcs = doc.services;
  const where = rel(file);
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'corio-compose-'));
  try {
    const env = { ...process.env, PATH: `${binDir}:${process.env.PATH}`, CORIO_STATE: state, DEVICES: '2' };
    const init = path.join(top, 'deploy/compose/init.sh');
    execFileSync(init, ['init'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const again = execFileSync(init, ['init'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(fs.existsSync(path.join(state, '.initialised')), `${where}: init.sh did not finish`);
    ok();
    void again;
    for (const [name, s] of Object.entries(svcs)) {
      const prog = programOf(s.image?.replace(/\$\{[^}]*\}/g, 'x'));
      expect(TARGET[prog], `${where}: ${name}: image ${s.image} is none of the Dockerfile's targets`);
      for (const d of Object.keys(s.depends_on ?? {})) expect(svcs[d], `${where}: ${name}: depends on ${d}, which is no service`);
      for (const v of s.volumes ?? []) {
        const [src] = splitVolume(v);
        if (!src.includes('/')) expect(doc.volumes && src in doc.volumes, `${where}: ${name}: volume ${src} is not declared`);
      }
      if (name !== 'init') expect(s.read_only === true && (s.cap_drop ?? []).includes('ALL'), `${where}: ${name}: not read-only with every capability dropped`);
    }
    // Where a service's /etc/corio comes from in the state directory.
    const etcOf = (s) => {
      for (const v of s.volumes ?? []) {
        const m = /^\$\{CORIO_STATE:-[^}]+\}(\/\S*):\/etc\/corio(:ro)?$/.exec(v);
        if (m) return { dir: path.join(state, m[1]), ro: !!m[2] };
      }
      return null;
    };
    const writable = (s, p) => (s.volumes ?? []).some((v) => {
      const [src, dst, mode] = splitVolume(v);
      return !src.includes('/') && mode !== 'ro' && (p === dst || p.startsWith(dst + '/'));
    }) || (s.tmpfs ?? []).some((t) => p.startsWith(t + '/'));
    const confs = {};
    for (const [name, s] of Object.entries(svcs)) {
      const prog = programOf(s.image?.replace(/\$\{[^}]*\}/g, 'x'));
      const etc = etcOf(s);
      if (!PROGRAMS.includes(prog) || s.entrypoint || !etc) continue;
      expect(etc.ro, `${where}: ${name}: /etc/corio is mounted writable`);
      const conf = stages[TARGET[prog]].cmd;
      const f = path.join(etc.dir, path.posix.relative('/etc/corio', conf));
      if (!expect(fs.existsSync(f), `${where}: ${name}: init.sh wrote no ${conf}`)) continue;
      const text = fs.readFileSync(f, 'utf8');
      for (const p of checkConf(text, helps[prog], `${where}: ${name}: ${conf}`)) fail(p);
      ok();
      const kv = new Map(parseConf(text).map(({ key, value }) => [key, value]));
      confs[name] = kv;
      for (const { key, value } of parseConf(text)) {
        if (helps[prog].get(key)?.type !== 'path') continue;
        if (STATE_KEYS.has(key)) expect(writable(s, value), `${where}: ${name}: ${key} ${value} is on no writable volume`);
        else if (value.startsWith('/etc/corio/')) expect(fs.existsSync(path.join(etc.dir, value.slice(11))), `${where}: ${name}: ${key} ${value}: init.sh wrote no such file`);
        else expect(imageHas(TARGET[prog], value), `${where}: ${name}: ${key} ${value} is not in the image`);
      }
      const port = prog === 'corio-ledger' ? kv.get('listen')?.split(':').pop() : kv.get('http_port');
      expect(Number(port) === stages[TARGET[prog]].healthPort || s.environment?.CORIO_HEALTHZ, `${where}: ${name}: the image's health check asks port ${stages[TARGET[prog]].healthPort}, the configuration listens on ${port}`);
    }
    // The broker the cloud and the gateway dial is the broker service, on its listener.
    const broker = Object.entries(svcs).find(([, s]) => (s.entrypoint ?? [])[0]?.includes('mosquitto'));
    if (expect(broker, `${where}: no Mosquitto service`)) {
      const [bname, bs] = broker;
      const bconf = fs.readFileSync(path.join(etcOf(bs).dir, 'mosquitto.conf'), 'utf8');
      const listener = /^listener (\d+)/m.exec(bconf)?.[1];
      for (const l of ['certfile', 'keyfile', 'cafile', 'acl_file']) {
        const v = new RegExp(`^${l} (\\S+)`, 'm').exec(bconf)?.[1];
        expect(v && fs.existsSync(path.join(etcOf(bs).dir, v.replace('/etc/corio/', ''))), `${where}: ${bname}: ${l} ${v}: init.sh wrote no such file`);
      }
      expect(/^require_certificate true/m.test(bconf) && /^allow_anonymous false/m.test(bconf), `${where}: ${bname}: the broker takes clients without a certificate`);
      expect(JSON.stringify(bs.healthcheck?.test ?? '').includes(`tcp ${listener}`), `${where}: ${bname}: the health check does not try the listener ${listener}`);
      const c = confs.cloud;
      const g = confs.gateway;
      expect(c?.get('broker_host') === bname && c?.get('broker_port') === listener, `${where}: cloud dials ${c?.get('broker_host')}:${c?.get('broker_port')}, the broker is ${bname}:${listener}`);
      expect(g?.get('cloud_host') === bname && g?.get('cloud_port') === listener, `${where}: gateway dials ${g?.get('cloud_host')}:${g?.get('cloud_port')}, the broker is ${bname}:${listener}`);
      if (g) {
        const args = fs.readFileSync(path.join(state, 'fleet/sim.args'), 'utf8').split('\n');
        const gw = args[args.indexOf('--gateway') + 1];
        expect(gw === `gateway:${g.get('mqtts_port')}` && svcs.gateway, `${where}: the fleet dials ${gw}, the gateway's devices port is ${g.get('mqtts_port')}`);
        expect(args[args.indexOf('--gateway-id') + 1] === g.get('gateway_id'), `${where}: the fleet and the gateway disagree on the gateway's id`);
      }
    }
    // Keys stay private to their service.
    for (const d of ['broker', 'cloud', 'gateway', 'ledger'])
      for (const f of fs.readdirSync(path.join(state, 'etc', d)))
        if (fs.readFileSync(path.join(state, 'etc', d, f), 'utf8').includes('PRIVATE KEY'))
          expect((fs.statSync(path.join(state, 'etc', d, f)).mode & 0o077) === 0, `${where}: init.sh left the key ${d}/${f} readable by others`);
    for (const d of ['broker', 'cloud', 'gateway', 'ledger']) expect(!fs.readdirSync(path.join(state, 'etc', d)).includes('org.pem'), `${where}: the organisation's key reached ${d}`);
  } catch (e) {
    fail(`${where}: ${e.message}${e.stderr ? `: ${e.stderr}` : ''}`);
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
  }
}
checkCompose();

// ---- systemd ------------------------------------------------------------------------
function checkSystemd() {
  const dir = path.join(top, 'deploy/systemd');
  const units = fs.readdirSync(dir).filter((f) => f.endsWith('.service'));
  expect(units.length >= 3, `deploy/systemd: ${units.length} units`);
  for (const u of units) {
    const where = `deploy/systemd/${u}`;
    const ini = {};
    let sec = null;
    for (const line of fs.readFileSync(path.join(dir, u), 'utf8').split('\n')) {
      const t = line.trim();
      if (!t || t.startsWith('#') || t.startsWith(';')) continue;
      const m = /^\[(.+)\]$/.exec(t);
      if (m) sec = ini[m[1]] = {};
      else if (sec) {
        const i = t.indexOf('=');
        const k = t.slice(0, i).trim();
        (sec[k] ??= []).push(t.slice(i + 1).trim());
      }
    }
    const s = ini.Service ?? {};
    const one = (k) => s[k]?.[s[k].length - 1];
    const exec = (one('ExecStart') ?? '').split(/\s+/);
    const prog = path.basename(exec[0] ?? '');
    if (!expect(PROGRAMS.includes(prog), `${where}: ExecStart runs ${exec[0]}, not a Corio daemon`)) continue;
    expect(one('User') && one('User') !== 'root', `${where}: no dedicated User=`);
    for (const [k, v] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'], ['Restart', 'on-failure']])
      expect(one(k) === v, `${where}: ${k}=${one(k)}, want ${v}`);
    const cpath = exec[exec.indexOf('-c') + 1];
    const example = path.join(dir, path.basename(cpath ?? ''));
    if (!expect(exec.includes('-c') && fs.existsSync(example), `${where}: -c ${cpath}: no example ${rel(example)}`)) continue;
    const text = fs.readFileSync(example, 'utf8');
    for (const p of checkConf(text, helps[prog], rel(example))) fail(p);
    ok();
    const rw = [...(s.ReadWritePaths ?? []).flatMap((v) => v.split(/\s+/)), ...(s.StateDirectory ?? []).flatMap((v) => v.split(/\s+/).map((d) => `/var/lib/${d}`))];
    const ro = (s.ConfigurationDirectory ?? []).flatMap((v) => v.split(/\s+/).map((d) => `/etc/${d}`));
    for (const { key, value } of parseConf(text)) {
      if (helps[prog].get(key)?.type !== 'path') continue;
      const under = (dirs) => dirs.some((d) => value === d || value.startsWith(d.replace(/\/$/, '') + '/'));
      if (STATE_KEYS.has(key)) expect(under(rw), `${where}: ${key} ${value} is outside ReadWritePaths and StateDirectory: ProtectSystem=strict makes it read-only`);
      else expect(value.startsWith('/') && (under(ro) || value.startsWith('/usr/')), `${where}: ${key} ${value} is neither in ConfigurationDirectory nor installed under /usr`);
    }
  }
}
checkSystemd();

for (const n of notes) console.log(`note: ${n}`);
for (const p of problems) console.log(`FAIL ${p}`);
console.log(`deploy check: ${checked} checks passed, ${problems.length} failed`);
console.log(`${checked} passed, ${problems.length} failed`);
process.exit(problems.length ? 1 : 0);
