// Building DOM from outside data without ever parsing it as markup: every string becomes a text
// node or an attribute value, so a workload name or log line like `<img onerror=…>` shows as
// the characters it is. No other file creates elements (views/workloads.js copies a row built
// here and fills the copy through textContent), and nothing uses innerHTML.

const SVG = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An HTML element: `h('td', {class: 'x'}, 'text', child)`. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

/** A small sparkline of `values` (newest last), `w`×`hgt` pixels. */
export function sparkline(values, w = 90, hgt = 18, cls = '') {
  if (values.length < 2) return s('svg', { class: `spark ${cls}`, width: w, height: hgt });
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const pts = values
    .map((v, i) => `${((i / (values.length - 1)) * (w - 2) + 1).toFixed(1)},${(hgt - 1 - ((v - min) / span) * (hgt - 2)).toFixed(1)}`)
    .join(' ');
  return s('svg', { class: `spark ${cls}`, width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}` }, s('polyline', { points: pts }));
}

// toLocaleTimeString builds a formatter per call (a third of a millisecond each: most of the
// first render's time with 1,000 rows); one formatter, and a bounded cache of results.
const TIME = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const timeCache = new Map();

/** Epoch milliseconds → `20:43:00` in local time. */
export function clock(ms) {
  return TIME.format(ms);
}

/** `2026-12-01T20:43:00Z` → `20:43:00` (today) or the date and time. */
export function shortTime(since) {
  if (!since) return '';
  const hit = timeCache.get(since);
  if (hit !== undefined) return hit;
  const d = new Date(since);
  let out;
  if (Number.isNaN(d.getTime())) out = String(since).slice(0, 32);
  else {
    const now = new Date();
    const today = now.getFullYear() === d.getFullYear() && now.getMonth() === d.getMonth() && now.getDate() === d.getDate();
    out = today ? TIME.format(d) : d.toISOString().replace('T', ' ').slice(0, 19);
  }
  if (timeCache.size >= 5000) timeCache.clear();
  timeCache.set(since, out);
  return out;
}

/** 8396288000 → `7.8 GiB`. */
export function bytes(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}
