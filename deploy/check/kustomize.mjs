// Renders a kustomization the way `kubectl kustomize` does, for the features Corio's
// manifests use: resources (files and directories), namespace, configMapGenerator (files
// and literals; create, replace, merge), patches given by path (strategic merge, by
// kind and name; $patch: delete; null deletes a field) and images (newName, newTag).
// Generated names keep no hash suffix: kustomize rewrites every reference to the hashed
// name, so checking the references against the plain name is the same check. A field
// outside this set is an error, so a manifest never passes by being half understood.
import fs from 'node:fs';
import path from 'node:path';
import { parseAll } from './yaml.mjs';

const KNOWN = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches', 'configMapGenerator', 'images']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass']);

// Merge keys of the lists Kubernetes merges by key (the rest are replaced).
function mergeKey(field, items) {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
      return 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'ports':
      return items.some((x) => x && 'containerPort' in x) ? 'containerPort' : 'port';
    case 'topologySpreadConstraints':
      return 'topologyKey';
    default:
      return null;
  }
}

export function strategicMerge(base, patch, field = '') {
  if (patch === null) return undefined;
  if (Array.isArray(patch)) {
    const key = mergeKey(field, [...(Array.isArray(base) ? base : []), ...patch]);
    if (!key || !Array.isArray(base)) return structuredClone(patch);
    const out = base.map((x) => structuredClone(x));
    for (const p of patch) {
      const idx = out.findIndex((x) => x && p && x[key] === p[key]);
      if (p && p.$patch === 'delete') {
        if (idx >= 0) out.splice(idx, 1);
      } else if (idx >= 0) out[idx] = strategicMerge(out[idx], p, field);
      else out.push(structuredClone(p));
    }
    return out;
  }
  if (patch && typeof patch === 'object') {
    if (patch.$patch === 'replace') {
      const { $patch, ...rest } = patch;
      return structuredClone(rest);
    }
    const out = base && typeof base === 'object' && !Array.isArray(base) ? structuredClone(base) : {};
    for (const [k, v] of Object.entries(patch)) {
      if (k === '$patch') continue;
      const merged = strategicMerge(out[k], v, k);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    }
    return out;
  }
  return patch;
}

function readYaml(file) {
  return parseAll(fs.readFileSync(file, 'utf8'), file).map((doc) => ({ doc, file }));
}

/** Renders the kustomization in dir: a list of { doc, file } (file: where it came from). */
export function render(dir) {
  const kfile = path.join(dir, 'kustomization.yaml');
  const [k] = parseAll(fs.readFileSync(kfile, 'utf8'), kfile);
  for (const key of Object.keys(k)) if (!KNOWN.has(key)) throw new Error(`${kfile}: '${key}' is not a feature this check renders`);
  let objs = [];
  for (const r of k.resources ?? []) {
    const p = path.join(dir, r);
    if (!fs.existsSync(p)) throw new Error(`${kfile}: resource ${r} does not exist`);
    objs.push(...(fs.statSync(p).isDirectory() ? render(p) : readYaml(p)));
  }
  const find = (kind, name) => objs.find((o) => o.doc.kind === kind && o.doc.metadata?.name === name);
  for (const g of k.configMapGenerator ?? []) {
    const data = {};
    for (const f of g.files ?? []) {
      const [key, rel] = f.includes('=') ? f.split('=', 2) : [path.basename(f), f];
      const p = path.join(dir, rel);
      if (!fs.existsSync(p)) throw new Error(`${kfile}: configMapGenerator ${g.name}: ${rel} does not exist`);
      data[key] = fs.readFileSync(p, 'utf8');
    }
    for (const l of g.literals ?? []) {
      const i = l.indexOf('=');
      data[l.slice(0, i)] = l.slice(i + 1);
    }
    const existing = find('ConfigMap', g.name);
    const behavior = g.behavior ?? 'create';
    if (behavior === 'create') {
      if (existing) throw new Error(`${kfile}: ConfigMap ${g.name} exists already (behavior: replace or merge)`);
      objs.push({ doc: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data }, file: kfile, generated: true });
    } else if (!existing) {
      throw new Error(`${kfile}: ConfigMap ${g.name} to ${behavior} is not in the resources`);
    } else {
      existing.doc.data = behavior === 'replace' ? data : { ...existing.doc.data, ...data };
      existing.file = kfile;
    }
  }
  for (const p of k.patches ?? []) {
    if (!p.path || Object.keys(p).length !== 1) throw new Error(`${kfile}: only 'patches: - path: FILE' is rendered`);
    for (const { doc } of readYaml(path.join(dir, p.path))) {
      const t = find(doc.kind, doc.metadata?.name);
      if (!t) throw new Error(`${kfile}: patch ${p.path}: no ${doc.kind} ${doc.metadata?.name} to patch`);
      if (doc.$patch === 'delete') objs = objs.filter((o) => o !== t);
      else t.doc = strategicMerge(t.doc, doc);
    }
  }
  for (const im of k.images ?? []) {
    let used = false;
    for (const { doc } of objs) {
      for (const c of podSpec(doc)?.containers ?? []) {
        const m = /^([^:@]+)(.*)$/.exec(c.image ?? '');
        if (!m || m[1] !== im.name) continue;
        used = true;
        c.image = (im.newName ?? m[1]) + (im.newTag ? `:${im.newTag}` : m[2]);
      }
    }
    if (!used) throw new Error(`${kfile}: images: no container uses ${im.name}`);
  }
  if (k.namespace) for (const o of objs) if (!CLUSTER_SCOPED.has(o.doc.kind)) o.doc.metadata.namespace = k.namespace;
  return objs;
}

/** The pod spec of a workload, or undefined. */
export function podSpec(doc) {
  return ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(doc?.kind) ? doc.spec?.template?.spec : undefined;
}
