// Reads a Corio daemon's configuration keys from its --help output (the one source of
// truth: common/corio_conf prints every key with its type, range, default and flags),
// and checks a configuration file against them the way the daemon's loader would:
// unknown keys, keys given twice that may not repeat, missing required keys, and values
// of the wrong type, out of range or not among the listed words.
import { execFileSync } from 'node:child_process';

export function readHelp(program) {
  const out = execFileSync(program, ['--help'], { encoding: 'utf8' });
  const keys = new Map();
  for (const line of out.split('\n')) {
    const m = /^  ([a-z][a-z0-9_]*) <([a-z]+)>(.*)$/.exec(line);
    if (!m) continue;
    const [, name, type, restRaw] = m;
    let rest = restRaw;
    const k = { name, type, required: false, repeat: false, def: null, words: null, min: null, max: null };
    if (rest.endsWith(', may repeat')) (k.repeat = true), (rest = rest.slice(0, -12));
    if (rest.endsWith(', required')) (k.required = true), (rest = rest.slice(0, -10));
    const d = /, default (.*)$/.exec(rest);
    if (d) (k.def = d[1]), (rest = rest.slice(0, d.index));
    const w = /^ one of (.*)$/.exec(rest);
    if (w) k.words = w[1].split(', ');
    const r = /^ (\S+)\.\.(\S+)$/.exec(rest);
    if (r) (k.min = r[1]), (k.max = r[2]);
    keys.set(name, k);
  }
  if (keys.size === 0) throw new Error(`${program} --help lists no configuration keys`);
  return keys;
}

const DUR = { ms: 1n, s: 1000n, m: 60000n, h: 3600000n, d: 86400000n };
const SIZE = { '': 1n, k: 1024n, kb: 1024n, kib: 1024n, m: 1n << 20n, mb: 1n << 20n, mib: 1n << 20n, g: 1n << 30n, gb: 1n << 30n, gib: 1n << 30n, t: 1n << 40n, tb: 1n << 40n, tib: 1n << 40n };

function num(type, v) {
  if (type === 'integer') return /^[-+]?[0-9]+$/.test(v) ? BigInt(v) : null;
  if (type === 'duration') {
    if (v === '0') return 0n;
    const parts = [...v.matchAll(/([0-9]+)(ms|s|m|h|d)/g)];
    if (!parts.length || parts.map((p) => p[0]).join('') !== v) return null;
    return parts.reduce((a, p) => a + BigInt(p[1]) * DUR[p[2]], 0n);
  }
  if (type === 'size') {
    const m = /^([0-9]+) ?([A-Za-z]*)$/.exec(v);
    if (!m || !(m[2].toLowerCase() in SIZE)) return null;
    return BigInt(m[1]) * SIZE[m[2].toLowerCase()];
  }
  return null;
}

/** Parses "key value" lines; returns [{key, value, line}]. */
export function parseConf(text) {
  const out = [];
  text.split(/\r?\n/).forEach((l, i) => {
    const t = l.trim();
    if (!t || t.startsWith('#')) return;
    const m = /^(\S+)\s*(.*)$/.exec(t);
    out.push({ key: m[1], value: m[2].trim(), line: i + 1 });
  });
  return out;
}

/** Problems of a configuration (text) against the keys of readHelp; [] when none.
 * skip: keys not checked (reported by the caller). */
export function checkConf(text, keys, where, skip = new Set()) {
  const problems = [];
  const seen = new Map();
  for (const { key, value, line } of parseConf(text)) {
    const at = `${where}:${line}`;
    if (skip.has(key)) continue;
    const k = keys.get(key);
    if (!k) {
      problems.push(`${at}: unknown key '${key}'`);
      continue;
    }
    if (seen.has(key) && !k.repeat) problems.push(`${at}: '${key}' given twice (first at line ${seen.get(key)})`);
    seen.set(key, line);
    if (k.type === 'boolean' && !/^(true|false|yes|no|on|off|1|0)$/i.test(value)) problems.push(`${at}: '${key}' wants a boolean, got '${value}'`);
    if (k.words && !k.words.includes(value)) problems.push(`${at}: '${key}' must be one of ${k.words.join(', ')}, got '${value}'`);
    if (['integer', 'duration', 'size'].includes(k.type)) {
      const n = num(k.type, value);
      if (n === null) problems.push(`${at}: '${key}' wants a ${k.type}, got '${value}'`);
      else if (k.min !== null && (n < num(k.type, k.min) || n > num(k.type, k.max)))
        problems.push(`${at}: '${key}' must be between ${k.min} and ${k.max}, got '${value}'`);
    }
    if (value === '' ) problems.push(`${at}: '${key}' has no value`);
  }
  for (const k of keys.values()) if (k.required && !seen.has(k.name) && !skip.has(k.name)) problems.push(`${where}: missing required key '${k.name}'`);
  return problems;
}
