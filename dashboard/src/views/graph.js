// The dependency graph: one node per desired workload, coloured by its shown state, and an edge
// from each dependency to its dependent labelled with the add condition. Layered by depth (a
// workload sits right of everything it waits for); a cycle (which validation refuses) cannot
// loop the layout, since depth is capped.

import { h, s } from '../dom.js';

const W = 170;
const H = 36;
const GAP_X = 90;
const GAP_Y = 22;
const PER_COLUMN = 20;

export function layout(workloads) {
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (name, guard = 0) => {
    if (depth.has(name)) return depth.get(name);
    const w = workloads.get(name);
    if (!w || visiting.has(name) || guard > 64) return 0;
    visiting.add(name);
    let d = 0;
    for (const [dep] of w.dependencies) if (workloads.has(dep)) d = Math.max(d, depthOf(dep, guard + 1) + 1);
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  const layers = [];
  for (const name of [...workloads.keys()].sort()) {
    const d = depthOf(name);
    (layers[d] ??= []).push(name);
  }
  const pos = new Map();
  let x = 0;
  let height = 0;
  for (const layer of layers) {
    if (!layer) continue;
    for (let i = 0; i < layer.length; i += 1) {
      const col = Math.floor(i / PER_COLUMN);
      const row = i % PER_COLUMN;
      pos.set(layer[i], { x: x + col * (W + 30), y: row * (H + GAP_Y) });
      height = Math.max(height, (row + 1) * (H + GAP_Y));
    }
    x += Math.ceil(layer.length / PER_COLUMN) * (W + 30) + GAP_X - 30;
  }
  return { pos, width: Math.max(x, W), height };
}

export function renderGraph(app) {
  const workloads = app.store.desired?.workloads ?? new Map();
  if (workloads.size === 0) return h('section', { id: 'graph-view', class: 'data' }, h('p', { class: 'muted' }, 'No desired workloads.'));
  const { pos, width, height } = layout(workloads);
  const pad = 20;
  const shown = new Map(app.rows.map((r) => [`${r.agent}/${r.name}`, r]));
  const edges = [];
  const nodes = [];
  for (const [name, w] of workloads) {
    const to = pos.get(name);
    for (const [dep, cond] of w.dependencies) {
      const from = pos.get(dep);
      if (!from) continue;
      const x1 = from.x + W + pad;
      const y1 = from.y + H / 2 + pad;
      const x2 = to.x + pad;
      const y2 = to.y + H / 2 + pad;
      const mx = (x1 + x2) / 2;
      edges.push(
        s(
          'g',
          { class: 'edge', dataset: { from: dep, to: name, cond } },
          s('path', { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)' }),
          s('text', { x: mx, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle', class: 'cond' }, cond.replace(/^ADD_COND_/, '')),
        ),
      );
    }
    const row = shown.get(`${w.agent}/${name}`);
    const base = row?.base ?? 'Pending';
    const p = pos.get(name);
    nodes.push(
      s(
        'g',
        { class: `node st-${base}`, dataset: { workload: name, state: row?.state ?? '' }, transform: `translate(${p.x + pad},${p.y + pad})`, onclick: () => app.select(name, w.agent) },
        s('title', null, `${name} on ${w.agent || '(no agent)'}: ${row?.state ?? ''}`),
        s('rect', { width: W, height: H, rx: 6 }),
        s('text', { x: 8, y: 15, class: 'n' }, name.length > 22 ? name.slice(0, 21) + '…' : name),
        s('text', { x: 8, y: 29, class: 's' }, row?.state ?? ''),
      ),
    );
  }
  return h(
    'section',
    { id: 'graph-view', class: 'data' },
    h('p', { class: 'muted' }, 'An arrow goes from a dependency to the workload that waits for it, labelled with the add condition.'),
    h(
      'div',
      { class: 'scroll' },
      s(
        'svg',
        { class: 'graph', width: width + 2 * pad, height: height + 2 * pad },
        s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z' }))),
        edges,
        nodes,
      ),
    ),
  );
}
