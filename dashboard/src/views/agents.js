// The agents table: liveness with since, runtimes, tags, CPU and free memory with sparklines,
// the number of workloads, and each agent's observed generation against the desired one.

import { h, sparkline, shortTime, bytes } from '../dom.js';

export function renderAgents(app) {
  const store = app.store;
  const names = store.agentNames();
  const counts = new Map();
  for (const r of app.rows) counts.set(r.agent, (counts.get(r.agent) ?? 0) + 1);
  const rows = names.map((name) => {
    const st = store.agents.get(name);
    const snap = store.snapshots.get(name);
    const samples = store.samples.get(name) ?? [];
    const desiredGen = snap?.generation ?? null;
    const observed = st?.observedGeneration ?? null;
    const behind = desiredGen !== null && observed !== null && observed < desiredGen;
    const state = st?.state ?? 'unknown';
    return h(
      'tr',
      { dataset: { agent: name, state } },
      h('td', { class: 'name' }, name),
      h('td', null, h('span', { class: `pill live-${state}` }, state), ' ', h('span', { class: 'muted' }, st?.since ? `since ${shortTime(st.since)}` : '')),
      h('td', null, (st?.runtimes ?? []).join(', ')),
      h('td', null, (st?.tags ?? []).map(([k, v]) => h('span', { class: 'tag' }, `${k}=${v}`))),
      h('td', { class: 'num' }, st?.resources ? `${st.resources.cpuUsage} %` : '', ' ', sparkline(samples.map((x) => x.cpu), 70, 16, 'cpu')),
      h('td', { class: 'num' }, st?.resources ? bytes(st.resources.freeMemory) : '', ' ', sparkline(samples.map((x) => x.mem), 70, 16, 'mem')),
      h('td', { class: 'num' }, String(counts.get(name) ?? 0)),
      h(
        'td',
        { class: `num gen ${behind ? 'behind' : ''}`, dataset: { observed: observed ?? '', desired: desiredGen ?? '' } },
        `${observed ?? '–'} / ${desiredGen ?? '–'}`,
        behind ? h('span', { class: 'muted' }, ' catching up') : '',
      ),
    );
  });
  return h(
    'section',
    { id: 'agents-view', class: 'data' },
    h(
      'table',
      { class: 'grid' },
      h('thead', null, h('tr', null, ['AGENT', 'STATE', 'RUNTIMES', 'TAGS', 'CPU', 'FREE MEMORY', 'WORKLOADS', 'OBSERVED / DESIRED GENERATION'].map((c) => h('th', null, c)))),
      h('tbody', null, rows.length ? rows : h('tr', null, h('td', { colspan: 8, class: 'muted' }, 'No agent has published a status yet.'))),
    ),
  );
}
