// One row per workload: its states since the page opened, as coloured segments on a common time
// axis, so a person sees why something started late (it waited, then its dependency succeeded).

import { h, s, shortTime, clock } from '../dom.js';
import { filtered } from './workloads.js';

const LABEL = 200;
const BAR = 760;
const ROW = 22;
const MAX_ROWS = 300;

export function renderTimeline(app) {
  const store = app.store;
  const now = store.now();
  const t0 = store.opened;
  const span = Math.max(now - t0, 1000);
  const x = (t) => LABEL + ((t - t0) / span) * BAR;
  const names = [...new Set(filtered(app).map((r) => r.name))].filter((n) => store.history.has(n));
  const shownNames = names.slice(0, MAX_ROWS);
  const rows = shownNames.map((name, i) => {
    const list = store.history.get(name);
    const y = i * ROW + 24;
    const segs = list.map((e, j) => {
      const end = j + 1 < list.length ? list[j + 1].t : now;
      const base = e.state.split('(')[0];
      return s(
        'rect',
        { class: `seg st-${base}`, x: x(e.t), y, width: Math.max(x(end) - x(e.t), 2), height: ROW - 6, dataset: { state: e.state } },
        s('title', null, `${e.state} from ${clock(e.t)}${e.info ? ': ' + e.info : ''}`),
      );
    });
    return s('g', { class: 'tl-row', dataset: { workload: name, changes: list.length } }, s('text', { x: 4, y: y + 12, class: 'n' }, name.length > 26 ? name.slice(0, 25) + '…' : name), segs);
  });
  const height = shownNames.length * ROW + 40;
  return h(
    'section',
    { id: 'timeline-view', class: 'data' },
    h('p', { class: 'muted' }, `State changes since the page opened (${shortTime(new Date(t0).toISOString())}); hover a segment for its state and time.`),
    h('p', { class: 'legend' }, ['Pending', 'Running', 'Stopping', 'Succeeded', 'Failed', 'AgentDisconnected'].map((st) => h('span', { class: `pill st-${st}` }, st))),
    h(
      'div',
      { class: 'scroll' },
      s(
        'svg',
        { class: 'timeline', width: LABEL + BAR + 20, height },
        s('text', { x: LABEL, y: 14, class: 'axis' }, shortTime(new Date(t0).toISOString())),
        s('text', { x: LABEL + BAR, y: 14, class: 'axis', 'text-anchor': 'end' }, 'now'),
        rows,
      ),
    ),
    names.length > MAX_ROWS ? h('p', { class: 'muted' }, `Showing ${MAX_ROWS} of ${names.length}; narrow the filters.`) : null,
    names.length === 0 ? h('p', { class: 'muted' }, 'No state changes seen yet.') : null,
  );
}
