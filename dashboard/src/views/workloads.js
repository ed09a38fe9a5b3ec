// The workloads table, like `ank get workloads` plus restart count, exit code and since, with
// filters by agent, state and name. A row opens the detail view.

import { h, shortTime } from '../dom.js';

export const STATE_FILTERS = ['Pending', 'Running', 'Stopping', 'Succeeded', 'Failed', 'NotScheduled', 'Removed', 'AgentDisconnected'];

export function filtered(app) {
  const f = app.filters;
  const needle = f.name.toLowerCase();
  return app.rows.filter((r) => (!f.agent || r.agent === f.agent) && (!f.state || r.base === f.state) && (!needle || r.name.toLowerCase().includes(needle)));
}

function filterBar(app) {
  const f = app.filters;
  const select = (id, value, options, label) =>
    h(
      'label',
      null,
      label,
      ' ',
      h('select', { id, onchange: (e) => app.setFilter(id.replace('filter-', ''), e.target.value) }, h('option', { value: '' }, 'all'), options.map((o) => h('option', { value: o, selected: o === value }, o))),
    );
  return h(
    'div',
    { class: 'filters' },
    select('filter-agent', f.agent, app.store.agentNames(), 'agent'),
    select('filter-state', f.state, STATE_FILTERS, 'state'),
    h('label', null, 'name ', h('input', { id: 'filter-name', type: 'search', value: f.name, placeholder: 'part of a name', oninput: (e) => app.setFilter('name', e.target.value) })),
  );
}

// Rows are kept between frames, keyed by workload and agent, and rebuilt only when what they
// show changed; the table itself stays in the document. With 1,000 workloads a full rebuild and
// relayout per frame took hundreds of milliseconds while the retained burst arrived.
const cache = { section: null, tbody: null, count: null, template: null, rows: new Map() };

// Each row is a grid, not a table row, so that the stylesheet can let the browser skip the
// style, layout and paint of rows off screen (`content-visibility`, which does not apply to table
// rows): a first render of 1,000 rows spent most of its time laying out rows nobody saw
// (bench/dashboard/first-render.mjs). The roles keep the table's semantics for assistive
// technology, which a changed `display` would lose.
function rowElement(app, r) {
  const sig = `${r.state}|${r.info}|${r.restartCount}|${r.exitCode}|${r.since}|${r.runtime}`;
  const key = `${r.agent}/${r.name}`;
  const hit = cache.rows.get(key);
  if (hit && hit.sig === sig) return hit.el;
  // A copy of one empty row, filled through textContent and dataset (never markup): half the
  // time of building each row's ten elements one by one (72 -> 29 ms for 1,000 rows, cold).
  const el = rowTemplate().cloneNode(true);
  Object.assign(el.dataset, { workload: r.name, agent: r.agent, state: r.state });
  const cells = el.children;
  cells[0].textContent = r.name;
  cells[1].textContent = r.agent;
  cells[2].textContent = r.runtime;
  const pill = cells[3].firstChild;
  pill.className = `pill st-${r.base}`;
  pill.textContent = r.state;
  cells[4].textContent = r.info;
  cells[5].textContent = r.restartCount ?? '';
  cells[6].textContent = r.exitCode ?? '';
  cells[7].textContent = shortTime(r.since);
  cache.rows.set(key, { sig, el });
  return el;
}

/** The empty row every row is copied from. */
function rowTemplate() {
  cache.template ??= h(
    'tr',
    { class: 'clickable', role: 'row' },
    h('td', { class: 'name', role: 'cell' }),
    h('td', { role: 'cell' }),
    h('td', { role: 'cell' }),
    h('td', { role: 'cell' }, h('span', { class: 'pill' })),
    h('td', { class: 'info', role: 'cell' }),
    h('td', { class: 'num', role: 'cell' }),
    h('td', { class: 'num', role: 'cell' }),
    h('td', { role: 'cell' }),
  );
  return cache.template;
}

export function renderWorkloads(app) {
  const rows = filtered(app);
  if (!cache.section) {
    cache.tbody = h('tbody', {
      role: 'rowgroup',
      // One listener for every row (event delegation), not one closure per row.
      onclick: (e) => {
        const tr = e.target.closest('tr[data-workload]');
        if (tr) app.select(tr.dataset.workload, tr.dataset.agent);
      },
    });
    cache.count = h('p', { class: 'muted' });
    cache.filters = h('div');
    cache.section = h(
      'section',
      { id: 'workloads-view', class: 'data' },
      cache.filters,
      h(
        'table',
        { class: 'grid rows', role: 'table' },
        h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, ['WORKLOAD NAME', 'AGENT', 'RUNTIME', 'EXECUTION STATE', 'ADDITIONAL INFO', 'RESTARTS', 'EXIT CODE', 'SINCE'].map((c) => h('th', { role: 'columnheader' }, c)))),
        cache.tbody,
      ),
      cache.count,
    );
  }
  // The filter bar is rebuilt only when it would change, so that typing keeps the focus.
  const filterKey = JSON.stringify([app.filters.agent, app.filters.state, app.store.agentNames()]);
  if (cache.filterKey !== filterKey) {
    cache.filterKey = filterKey;
    cache.filters.replaceChildren(filterBar(app));
  }
  const els = rows.length ? rows.map((r) => rowElement(app, r)) : [h('tr', { role: 'row' }, h('td', { colspan: 8, class: 'muted', role: 'cell' }, app.rows.length ? 'No workload matches the filters.' : 'No workloads.'))];
  const last = cache.order ?? [];
  if (last.length !== els.length || els.some((el, i) => last[i] !== el)) {
    cache.tbody.replaceChildren(...els);
    cache.order = els;
  }
  if (cache.rows.size > 2 * app.rows.length + 100) {
    // Forget rows of workloads that are gone (bounded by the workloads bound otherwise).
    const live = new Set(app.rows.map((r) => `${r.agent}/${r.name}`));
    for (const k of cache.rows.keys()) if (!live.has(k)) cache.rows.delete(k);
  }
  cache.count.textContent = `${rows.length} of ${app.rows.length} workloads`;
  return cache.section;
}
