// One workload: its facts, its desired spec as manifest YAML, its state history since the page
// opened, and its logs on request where this identity may ask for them.

import { h, shortTime, clock } from '../dom.js';
import { toYaml } from '../yaml.js';

function fact(label, value) {
  return [h('dt', null, label), h('dd', null, value === null || value === undefined || value === '' ? '–' : String(value))];
}

function logsSection(app, row) {
  const session = app.logs;
  if (app.isViewer()) {
    return h('p', { class: 'muted', id: 'logs-not-allowed' }, `Logs: the identity ${app.conn.user} has the viewer role, which may not ask for logs.`);
  }
  const running = session && !session.ended;
  return h(
    'div',
    { class: 'logs' },
    h(
      'div',
      { class: 'buttons' },
      h('button', { id: 'logs-tail', disabled: !row.instanceId || running, onclick: () => app.openLogs(row, false) }, 'Last 100 lines'),
      h('button', { id: 'logs-follow', disabled: !row.instanceId || running, onclick: () => app.openLogs(row, true) }, 'Follow'),
      h('button', { id: 'logs-stop', disabled: !running, onclick: () => app.closeLogs() }, 'Stop'),
      session ? h('span', { class: 'muted', id: 'logs-status' }, ' ', session.status) : null,
    ),
    session ? h('pre', { id: 'logs-lines' }, session.cut ? `… ${session.cut} earlier lines dropped\n` : '', session.lines.join('\n')) : null,
  );
}

export function renderDetail(app) {
  const sel = app.selected;
  if (!sel) return null;
  const row = app.rows.find((r) => r.name === sel.name && r.agent === sel.agent) ?? { name: sel.name, agent: sel.agent, state: 'gone', instanceId: '' };
  const spec = app.store.desired?.workloads.get(sel.name);
  const history = app.store.history.get(sel.name) ?? [];
  return h(
    'aside',
    { id: 'detail', class: 'data', dataset: { workload: sel.name } },
    h('header', null, h('h2', null, sel.name), h('button', { id: 'detail-close', onclick: () => app.select(null) }, 'Close')),
    h('dl', null, fact('agent', row.agent), fact('state', row.state), fact('instance id', row.instanceId), fact('restarts', row.restartCount), fact('exit code', row.exitCode), fact('since', shortTime(row.since)), fact('additional info', row.info)),
    h('h3', null, 'Desired spec'),
    spec ? h('pre', { id: 'detail-spec', class: 'yaml' }, toYaml(spec.spec)) : h('p', { class: 'muted' }, 'Not in the desired state (or not readable by this identity).'),
    h('h3', null, 'State history since the page opened'),
    h(
      'table',
      { class: 'grid small', id: 'detail-history' },
      h('thead', null, h('tr', null, h('th', null, 'TIME'), h('th', null, 'STATE'), h('th', null, 'AGENT'), h('th', null, 'ADDITIONAL INFO'))),
      h('tbody', null, [...history].reverse().map((e) => h('tr', null, h('td', null, clock(e.t)), h('td', null, e.state), h('td', null, e.agent), h('td', null, e.info)))),
    ),
    h('h3', null, 'Logs'),
    logsSection(app, row),
  );
}
