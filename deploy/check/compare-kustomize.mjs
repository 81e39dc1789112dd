#!/usr/bin/env node
// Compares check.mjs's rendering of each overlay with a real kustomize's
// (`kubectl kustomize`, or `kustomize build` with KUSTOMIZE=kustomize), where one is
// installed: the same objects, field for field, once kustomize's name hashes are taken
// off and lists merged by key are put in order. The check itself needs no kustomize;
// this is how its renderer is kept honest against the real one.
//
//   node deploy/check/compare-kustomize.mjs
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { render } from './kustomize.mjs';
import { parseAll } from './yaml.mjs';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tool = process.env.KUSTOMIZE === 'kustomize' ? ['kustomize', ['build']] : ['kubectl', ['kustomize']];

function normalize(v, hashed) {
  if (Array.isArray(v)) {
    const out = v.map((x) => normalize(x, hashed));
    const key = ['name', 'mountPath', 'containerPort', 'port', 'topologyKey'].find((k) => out.every((x) => x && typeof x === 'object' && k in x));
    return key ? out.sort((a, b) => String(a[key]).localeCompare(String(b[key]))) : out;
  }
  if (v && typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = normalize(v[k], hashed);
    return out;
  }
  return typeof v === 'string' && hashed.has(v) ? hashed.get(v) : v;
}

let bad = 0;
for (const o of fs.readdirSync(path.join(top, 'deploy/k8s/overlays'))) {
  const dir = path.join(top, 'deploy/k8s/overlays', o);
  const theirs = parseAll(execFileSync(tool[0], [...tool[1], dir], { encoding: 'utf8' }), `${tool[0]} ${o}`);
  const hashed = new Map();
  for (const d of theirs) if (d.kind === 'ConfigMap') hashed.set(d.metadata.name, d.metadata.name.replace(/-[a-z0-9]{10}$/, ''));
  const key = (d) => `${d.kind}/${d.metadata.name}`;
  const a = new Map(theirs.map((d) => { const n = normalize(d, hashed); return [key(n), n]; }));
  const b = new Map(render(dir).map(({ doc }) => { const n = normalize(doc, new Map()); return [key(n), n]; }));
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = JSON.stringify(a.get(k));
    const y = JSON.stringify(b.get(k));
    if (x !== y) {
      bad++;
      console.log(`${o}: ${k} differs\n  kustomize: ${x}\n  check.mjs: ${y}`);
    }
  }
  console.log(`${o}: ${a.size} objects from ${tool[0]}, ${b.size} from check.mjs`);
}
console.log(bad ? `${bad} objects differ` : 'identical');
process.exit(bad ? 1 : 0);
