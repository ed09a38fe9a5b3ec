// The desired spec of a workload as YAML, as in a manifest: a small emitter for JSON data
// (objects, arrays, strings, numbers, booleans, null). Multi-line strings (a runtimeConfig)
// become `|` block scalars; any string YAML could misread is double-quoted. Output is text only.

const PLAIN = /^[A-Za-z0-9_./][A-Za-z0-9_./ :,=@-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|-?[0-9][0-9._eE+-]*)$/i;

function scalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const str = String(v);
  if (PLAIN.test(str) && !RESERVED.test(str) && !str.endsWith(':') && !str.includes(': ') && !str.includes(' #') && str.trim() === str) return str;
  return JSON.stringify(str);
}

function isBlock(v) {
  return typeof v === 'string' && v.includes('\n') && !/[\u0000-\u0008\u000b-\u001f]/.test(v);
}

function lines(v, indent, out) {
  const pad = ' '.repeat(indent);
  if (Array.isArray(v)) {
    if (v.length === 0) return void out.push(pad + '[]');
    for (const item of v) {
      if (item !== null && typeof item === 'object' && Object.keys(item).length) {
        const sub = [];
        lines(item, indent + 2, sub);
        sub[0] = pad + '- ' + sub[0].slice(indent + 2);
        out.push(...sub);
      } else out.push(pad + '- ' + scalar(item));
    }
    return;
  }
  for (const [k, val] of Object.entries(v)) {
    const key = pad + scalar(k) + ':';
    if (isBlock(val)) {
      out.push(key + ' |' + (val.endsWith('\n') ? '' : '-'));
      for (const l of val.replace(/\n$/, '').split('\n')) out.push(pad + '  ' + l);
    } else if (val !== null && typeof val === 'object') {
      if (Object.keys(val).length === 0) out.push(key + (Array.isArray(val) ? ' []' : ' {}'));
      else {
        out.push(key);
        lines(val, Array.isArray(val) ? indent : indent + 2, out);
      }
    } else out.push(key + ' ' + scalar(val));
  }
}

/** `value` (a JSON object) as YAML text. */
export function toYaml(value) {
  const out = [];
  lines(value, 0, out);
  return out.join('\n') + '\n';
}
