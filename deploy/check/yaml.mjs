// A parser for the subset of YAML that Corio's deployment files are written in, so that
// they can be checked with nothing but Node.js (no packages, no network): block mappings
// and sequences, plain, single- and double-quoted scalars, literal block scalars (| and
// |-), one-line flow sequences and mappings, comments, anchors, aliases and << merges,
// and several documents separated by ---. Anything outside the subset is an error with
// its file and line, never a guess; so are plain scalars YAML 1.1 would read as booleans
// (yes, no, on, off), which Kubernetes' parser and a YAML 1.2 one disagree on.

class YamlError extends Error {
  constructor(file, line, msg) {
    super(`${file}:${line}: ${msg}`);
  }
}

const AMBIGUOUS = new Set(['yes', 'no', 'on', 'off', 'y', 'n', 'Yes', 'No', 'On', 'Off', 'YES', 'NO', 'ON', 'OFF']);

/** The value of a plain or quoted scalar token. */
function scalar(text, err) {
  if (text.startsWith('"')) {
    if (!text.endsWith('"') || text.length < 2) throw err('unterminated double-quoted string');
    try {
      return JSON.parse(text);
    } catch {
      throw err(`double-quoted string outside the subset: ${text}`);
    }
  }
  if (text.startsWith("'")) {
    if (!text.endsWith("'") || text.length < 2) throw err('unterminated single-quoted string');
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (text === '' || text === '~' || text === 'null') return null;
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (AMBIGUOUS.has(text)) throw err(`'${text}' is a boolean to some YAML parsers and a string to others: quote it`);
  if (/^0[0-7]+$/.test(text)) return parseInt(text, 8); // YAML 1.1 octal, as Kubernetes reads it
  if (/^[-+]?[0-9]+$/.test(text)) return parseInt(text, 10);
  if (/^[-+]?[0-9]+\.[0-9]+$/.test(text)) return parseFloat(text);
  if (/^[@`%!|>]/.test(text)) throw err(`plain scalar starting with '${text[0]}' is outside the subset`);
  return text;
}

/** Cuts a trailing comment (a # after a blank, outside quotes). */
function stripComment(s) {
  let q = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = null;
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s[{,:]/.test(s[i - 1])) q = c;
    } else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]))) {
      return s.slice(0, i).trimEnd();
    }
  }
  return s.trimEnd();
}

/** Position of the ':' that ends a mapping key on this line, or -1. */
function keyColon(s) {
  let q = null;
  if (s.startsWith('[') || s.startsWith('{')) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = null;
    } else if ((c === '"' || c === "'") && i === 0) {
      q = c;
    } else if (c === ':' && (i + 1 === s.length || s[i + 1] === ' ')) {
      return i;
    }
  }
  return -1;
}

function parseFlow(text, err) {
  let i = 0;
  const ws = () => {
    while (i < text.length && text[i] === ' ') i++;
  };
  const value = () => {
    ws();
    if (text[i] === '[') {
      i++;
      const out = [];
      ws();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return out;
        } else throw err(`bad flow sequence: ${text}`);
      }
    }
    if (text[i] === '{') {
      i++;
      const out = {};
      ws();
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        ws();
        const k = token(':');
        if (text[i] !== ':') throw err(`bad flow mapping: ${text}`);
        i++;
        out[k] = value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return out;
        } else throw err(`bad flow mapping: ${text}`);
      }
    }
    return token('');
  };
  const token = (stopExtra) => {
    ws();
    const start = i;
    if (text[i] === '"' || text[i] === "'") {
      const q = text[i++];
      while (i < text.length && text[i] !== q) i += text[i] === '\\' && q === '"' ? 2 : 1;
      i++;
      return scalar(text.slice(start, i), err);
    }
    while (i < text.length && !',]}'.includes(text[i]) && !stopExtra.includes(text[i])) i++;
    return scalar(text.slice(start, i).trim(), err);
  };
  const v = value();
  ws();
  if (i !== text.length) throw err(`trailing text after flow value: ${text}`);
  return v;
}

/** Parses the documents of one file; returns an array of values (null documents dropped). */
export function parseAll(source, file = '<yaml>') {
  if (source.includes('\t')) {
    const line = source.slice(0, source.indexOf('\t')).split('\n').length;
    throw new YamlError(file, line, 'tab character (YAML indents with spaces)');
  }
  const raw = source.replace(/\r\n/g, '\n').split('\n');
  const docs = [];
  let cur = [];
  let curStart = 0;
  raw.forEach((l, n) => {
    if (/^---\s*$/.test(l)) {
      docs.push({ lines: cur, start: curStart });
      cur = [];
      curStart = n + 1;
    } else cur.push(l);
  });
  docs.push({ lines: cur, start: curStart });
  const out = [];
  for (const d of docs) {
    const v = parseDocument(d.lines, d.start, file);
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

function parseDocument(lines, offset, file) {
  const anchors = new Map();
  const L = lines.slice();
  const indentOf = (s) => s.length - s.trimStart().length;
  const blank = (s) => s.trim() === '' || s.trim().startsWith('#');
  const errAt = (i) => (msg) => new YamlError(file, offset + i + 1, msg);
  const next = (i) => {
    while (i < L.length && blank(L[i])) i++;
    return i;
  };

  function block(i, indent) {
    i = next(i);
    if (i >= L.length) return [null, i];
    const ind = indentOf(L[i]);
    if (ind < indent) return [null, i];
    const t = L[i].trimStart();
    if (t === '-' || t.startsWith('- ')) return sequence(i, ind);
    return mapping(i, ind);
  }

  function sequence(i, ind) {
    const out = [];
    for (;;) {
      i = next(i);
      if (i >= L.length || indentOf(L[i]) !== ind) break;
      const t = L[i].trimStart();
      if (!(t === '-' || t.startsWith('- '))) break;
      const rest = stripComment(t.slice(1).trimStart());
      if (rest === '') {
        const [v, j] = block(i + 1, ind + 1);
        out.push(v);
        i = j;
      } else if (keyColon(rest) > 0 && !rest.startsWith('"') && !rest.startsWith("'")) {
        // "- key: value": a mapping whose first key sits two columns in.
        L[i] = ' '.repeat(ind + 2) + t.slice(1).trimStart();
        const [v, j] = mapping(i, ind + 2);
        out.push(v);
        i = j;
      } else {
        out.push(inline(rest, i));
        i++;
      }
    }
    if (i < L.length && indentOf(L[i]) > ind) throw errAt(i)('bad indentation in a sequence');
    return [out, i];
  }

  function inline(text, i) {
    const err = errAt(i);
    if (text.startsWith('*')) {
      const name = text.slice(1);
      if (!anchors.has(name)) throw err(`unknown alias *${name}`);
      return structuredClone(anchors.get(name));
    }
    if (text.startsWith('[') || text.startsWith('{')) return parseFlow(text, err);
    if (text.startsWith('&')) throw err('an anchor on a scalar is outside the subset');
    return scalar(text, err);
  }

  function mapping(i, ind) {
    const out = {};
    const given = new Set();
    for (;;) {
      i = next(i);
      if (i >= L.length || indentOf(L[i]) !== ind) break;
      const err = errAt(i);
      const t = stripComment(L[i].trimStart());
      if (t.startsWith('- ') || t === '-') break;
      const c = keyColon(t);
      if (c <= 0) throw err(`expected 'key: value', got: ${t}`);
      let key = t.slice(0, c).trim();
      if (key.startsWith('"') || key.startsWith("'")) key = scalar(key, err);
      if (key !== '<<' && given.has(key)) throw err(`key '${key}' given twice`);
      given.add(key);
      let rest = t.slice(c + 1).trim();
      let anchor = null;
      if (rest.startsWith('&')) {
        const m = /^&(\S+)\s*(.*)$/.exec(rest);
        anchor = m[1];
        rest = m[2];
      }
      let value;
      if (rest === '') {
        const j = next(i + 1);
        if (j < L.length && indentOf(L[j]) === ind && /^-( |$)/.test(L[j].trimStart())) {
          [value, i] = sequence(j, ind);
        } else if (j < L.length && indentOf(L[j]) > ind) {
          [value, i] = block(j, ind + 1);
        } else {
          value = null;
          i++;
        }
      } else if (rest === '|' || rest === '|-') {
        const body = [];
        let j = i + 1;
        let bodyInd = -1;
        while (j < L.length) {
          const l = L[j];
          if (l.trim() === '') {
            body.push('');
            j++;
            continue;
          }
          const li = indentOf(l);
          if (li <= ind) break;
          if (bodyInd < 0) bodyInd = li;
          if (li < bodyInd) throw errAt(j)('block scalar line less indented than its first line');
          body.push(l.slice(bodyInd));
          j++;
        }
        while (body.length && body[body.length - 1] === '') body.pop();
        value = body.join('\n') + (rest === '|' && body.length ? '\n' : '');
        i = j;
      } else if (rest.startsWith('>')) {
        throw err('folded block scalars are outside the subset');
      } else {
        value = inline(rest, i);
        i++;
      }
      if (anchor) anchors.set(anchor, structuredClone(value));
      if (key === '<<') {
        if (!value || typeof value !== 'object' || Array.isArray(value)) throw err('<< wants a mapping alias');
        for (const [k, v] of Object.entries(value)) if (!given.has(k)) out[k] = v;
      } else {
        out[key] = value;
      }
    }
    if (i < L.length && !blank(L[i]) && indentOf(L[i]) > ind) throw errAt(i)('bad indentation in a mapping');
    return [out, i];
  }

  const [v, i] = block(0, 0);
  const j = next(i);
  if (j < L.length) throw errAt(j)(`unexpected text: ${L[j].trim()}`);
  return v;
}

export { YamlError };
