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

export function renderWorkloads(app) {
  const rows = filtered(app);
  const body = rows.map((r) =>
    h(
      'tr',
      { class: 'clickable', dataset: { workload: r.name, agent: r.agent, state: r.state }, onclick: () => app.select(r.name, r.agent) },
      h('td', { class: 'name' }, r.name),
      h('td', null, r.agent),
      h('td', null, r.runtime),
      h('td', null, h('span', { class: `pill st-${r.base}` }, r.state)),
      h('td', { class: 'info' }, r.info),
      h('td', { class: 'num' }, r.restartCount ?? ''),
      h('td', { class: 'num' }, r.exitCode ?? ''),
      h('td', null, shortTime(r.since)),
    ),
  );
  return h(
    'section',
    { id: 'workloads-view', class: 'data' },
    filterBar(app),
    h(
      'table',
      { class: 'grid' },
      h('thead', null, h('tr', null, ['WORKLOAD NAME', 'AGENT', 'RUNTIME', 'EXECUTION STATE', 'ADDITIONAL INFO', 'RESTARTS', 'EXIT CODE', 'SINCE'].map((c) => h('th', null, c)))),
      h('tbody', null, body.length ? body : h('tr', null, h('td', { colspan: 8, class: 'muted' }, app.rows.length ? 'No workload matches the filters.' : 'No workloads.'))),
    ),
    h('p', { class: 'muted' }, `${rows.length} of ${app.rows.length} workloads`),
  );
}
