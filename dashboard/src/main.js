// The dashboard: finds its broker, logs in if the broker wants it, subscribes to the retained
// topics and draws the views. It is nothing but an MQTT subscriber (issue 18): it never writes
// state, and the only thing it ever publishes is a log request, when a person asks for logs.

import mqtt from 'mqtt';
import { Store, isName, isPrefix, parseTopic, subscriptions, text } from './model.js';
import { h, shortTime, clock } from './dom.js';
import { renderAgents } from './views/agents.js';
import { renderWorkloads } from './views/workloads.js';
import { renderGraph } from './views/graph.js';
import { renderTimeline } from './views/timeline.js';
import { renderDetail } from './views/detail.js';
import { LogSession } from './logs.js';

const DEFAULT_PREFIX = 'ank/v1';
/** How long the messages must pause before a frame is drawn (see App.schedule). */
const QUIET_MS = 30;
/** The longest a change waits for a frame while messages keep coming. */
const MAX_WAIT_MS = 1000;
const VIEWS = { agents: renderAgents, workloads: renderWorkloads, graph: renderGraph, timeline: renderTimeline };

/** Where to connect: `?broker=` and `?prefix=` win over what the serving broker says. */
async function settings() {
  const params = new URLSearchParams(location.search);
  let served = {};
  try {
    // index.html preloads it while the script loads; the server marks it `no-cache`.
    const response = await fetch('dashboard.json');
    if (response.ok) served = await response.json();
  } catch {
    // Not served by ank-broker/ank-controller (e.g. opened from a file): use the URL only.
  }
  const out = { error: null, login: params.get('login') === '1' || served.login === true, user: params.get('user') ?? '' };
  const broker = params.get('broker');
  if (broker) {
    try {
      const url = new URL(broker);
      if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error('not ws:// or wss://');
      out.broker = url.href;
    } catch (e) {
      out.error = `?broker=${text(broker, 200)} is not a ws:// or wss:// URL (${e.message})`;
    }
  } else if (Number.isInteger(served.wsPort) && served.wsPort > 0 && served.wsPort < 65536 && typeof served.wsPath === 'string' && served.wsPath.startsWith('/')) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    out.broker = `${scheme}://${location.hostname}:${served.wsPort}${served.wsPath}`;
  } else {
    out.error = 'No broker: this page was not served by ank-broker or ank-controller --dashboard-listen; add ?broker=ws://host:port/path to its URL.';
  }
  const prefix = params.get('prefix') ?? (typeof served.topicPrefix === 'string' ? served.topicPrefix : DEFAULT_PREFIX);
  if (!isPrefix(prefix)) out.error = `?prefix=${text(prefix, 200)} is not a topic prefix (levels without + # or empty ones)`;
  out.prefix = prefix;
  return out;
}

class App {
  constructor(config) {
    this.config = config;
    this.store = new Store();
    this.rows = [];
    this.filters = { agent: '', state: '', name: '' };
    this.selected = null;
    this.logs = null;
    this.conn = null;
    this.link = { state: 'connecting', since: Date.now(), error: '' };
    this.view = VIEWS[location.hash.slice(1)] ? location.hash.slice(1) : 'workloads';
    this.renderLog = [];
    // For bench/dashboard/first-render.mjs: where a first render's time goes.
    this.marks = { connected: null, firstMessage: null, lastMessage: null, messages: 0 };
    this.pendingSince = 0;
    this.lastChange = 0;
    this.timer = null;
    this.awaitingPicture = false;
    this.framePending = false;
    window.addEventListener('hashchange', () => {
      const v = location.hash.slice(1);
      if (VIEWS[v]) this.view = v;
      this.schedule();
    });
    setInterval(() => this.view === 'timeline' && this.schedule(), 1000);
  }

  isViewer() {
    const u = this.conn?.user ?? '';
    return u === 'viewer' || u.startsWith('viewer-');
  }

  connect(user, password) {
    const identity = user || 'dashboard';
    const clientId = `${identity}.dash${Math.random().toString(16).slice(2, 10)}`;
    const client = mqtt.connect(this.config.broker, {
      clientId,
      username: user || undefined,
      password: password || undefined,
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 2000,
      connectTimeout: 5000,
      resubscribe: false,
      // MQTT.js would otherwise build 65,536 two-byte buffers (a packet id cache) on its first
      // write, tens of milliseconds before the CONNECT leaves; the page writes a few packets.
      writeCache: false,
    });
    this.conn = { client, clientId, prefix: this.config.prefix, user: identity };
    client.on('connect', () => {
      // Rebuild from retained messages: forget what the last connection said, then subscribe.
      this.store.clearLive();
      this.awaitingPicture = true;
      this.marks.connected ??= performance.now();
      this.link = { state: 'connected', since: Date.now(), error: '', refused: [] };
      const filters = subscriptions(this.config.prefix);
      client.subscribe(filters, { qos: 1 }, (err, granted) => {
        if (err) this.link.error = text(String(err.message), 200);
        this.link.refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        this.schedule();
      });
      this.schedule(true);
    });
    const down = () => {
      if (this.link.state !== 'disconnected') this.link = { ...this.link, state: 'disconnected', since: Date.now() };
      if (this.logs && !this.logs.ended) this.logs.finish('the connection dropped');
      this.schedule(true);
    };
    client.on('close', down);
    client.on('offline', down);
    client.on('error', (e) => {
      this.link.error = text(String(e.message), 200);
      if (/not authori[sz]ed|bad user name or password/i.test(this.link.error)) {
        client.end(true);
        showLogin(this, `The broker refused the login: ${this.link.error}`);
      }
      this.schedule();
    });
    client.on('message', (topic, payload) => this.message(topic, payload));
  }

  message(topic, payload) {
    const m = this.marks;
    m.lastMessage = performance.now();
    m.firstMessage ??= m.lastMessage;
    m.messages += 1;
    const info = parseTopic(this.config.prefix, topic);
    if (info?.kind === 'log') {
      if (this.logs && topic === this.logs.topic) this.logs.handle(payload);
      return;
    }
    this.store.apply(info, payload);
    // The first whole picture after a (re)connect is drawn at once: waiting for the retained
    // burst to pause would only show it QUIET_MS later (issue 18, first render).
    if (this.awaitingPicture && this.store.complete()) {
      this.awaitingPicture = false;
      this.schedule(true);
      return;
    }
    this.schedule();
  }

  setFilter(key, value) {
    this.filters[key] = value;
    this.schedule();
  }

  select(name, agent) {
    this.closeLogs();
    this.selected = name ? { name, agent } : null;
    this.schedule();
  }

  openLogs(row, follow) {
    this.closeLogs();
    this.logs = new LogSession(this.conn, row.agent, row.instanceId, { follow, tail: 100 }, () => this.schedule());
    this.logs.start();
    this.schedule();
  }

  closeLogs() {
    if (this.logs) this.logs.close();
    this.logs = null;
  }

  /**
   * Draws once the messages pause for QUIET_MS (at the latest MAX_WAIT_MS after the first
   * change), or at once when `urgent`. A (re)connect delivers every retained message in a burst,
   * and the broker sends the next ones only when the page has acknowledged the last ones: a frame
   * with 1,000 rows between batches held the burst up for seconds
   * (bench/dashboard/first-render.mjs). A change of the link is urgent: the page must say at once
   * that it is not live. One timer serves a whole burst: a message only notes its time, and the
   * timer, when it fires too early, waits for the rest of the pause (re-arming a timer for each
   * of 1,200 messages was a measurable part of the burst).
   */
  schedule(urgent = false) {
    const now = performance.now();
    this.lastChange = now;
    if (!this.pendingSince) this.pendingSince = now;
    if (urgent) {
      clearTimeout(this.timer);
      this.timer = null;
      this.frame();
      return;
    }
    if (this.timer === null) this.timer = setTimeout(() => this.due(), QUIET_MS);
  }

  /** The timer of `schedule`: draws when the pause is long enough, else waits for the rest. */
  due() {
    const now = performance.now();
    const wait = Math.min(this.lastChange + QUIET_MS, this.pendingSince + MAX_WAIT_MS) - now;
    if (wait > 0) {
      this.timer = setTimeout(() => this.due(), wait);
      return;
    }
    this.timer = null;
    // The burst paused: whatever the retained messages were, they have arrived.
    this.awaitingPicture = false;
    this.frame();
  }

  /** Draws on the next animation frame; requests coming before it share that frame. */
  frame() {
    this.pendingSince = 0;
    if (this.framePending) return;
    this.framePending = true;
    requestAnimationFrame(() => {
      this.framePending = false;
      this.render();
    });
  }

  render() {
    if (this.loginOpen) return;
    const started = performance.now();
    this.rows = this.store.rows();
    const root = document.getElementById('app');
    const logScroll = document.getElementById('logs-lines');
    const follow = logScroll && logScroll.scrollTop + logScroll.clientHeight >= logScroll.scrollHeight - 4;
    document.body.classList.toggle('offline', this.link.state !== 'connected');
    if (!this.slots) {
      this.slots = { top: h('div'), nav: h('div'), view: h('div'), detail: h('div') };
      root.replaceChildren(...Object.values(this.slots));
    }
    this.slots.top.replaceChildren(header(this));
    this.slots.nav.replaceChildren(tabs(this));
    // A view may return the same element as last frame (the workloads table does): leave it in
    // place, so that the browser does not lay it out again.
    const view = VIEWS[this.view](this);
    if (this.slots.view.firstChild !== view) this.slots.view.replaceChildren(view);
    this.slots.detail.replaceChildren(renderDetail(this) ?? '');
    const lines = document.getElementById('logs-lines');
    if (lines && (follow || !logScroll)) lines.scrollTop = lines.scrollHeight;
    // For bench/dashboard/first-render.mjs: when each frame's script ended (`t`) and when the
    // next frame began (`shown`: the browser had laid out and painted this one by then), how
    // many rows it showed and how many of them showed a state their agent reported (not just the
    // desired state).
    const entry = {
      t: performance.now(),
      shown: null,
      rows: document.querySelectorAll('#workloads-view tbody tr[data-workload]').length,
      reported: this.rows.reduce((n, r) => n + (r.restartCount !== null && r.base !== 'AgentDisconnected' ? 1 : 0), 0),
      ms: performance.now() - started,
    };
    this.renderLog.push(entry);
    requestAnimationFrame(() => {
      entry.shown = performance.now();
    });
    if (this.renderLog.length > 200) this.renderLog.shift();
  }
}

function header(app) {
  const l = app.link;
  const c = app.store.controller;
  const generation = app.store.desired?.generation;
  const since = clock(l.since);
  const linkText = {
    connecting: `connecting to ${app.config.broker}…`,
    connected: `live: ${app.config.broker}`,
    disconnected: `DISCONNECTED from ${app.config.broker} since ${since}: the data below is the last seen, not live; reconnecting…`,
  }[l.state];
  return h(
    'header',
    { id: 'top' },
    h('h1', null, 'ankmq'),
    h('span', { id: 'conn', class: `badge link-${l.state}`, dataset: { state: l.state } }, linkText),
    // While the link is down these are the last values seen: greyed with the data and said so.
    h('span', { id: 'controller', class: `badge data live-${c?.state ?? 'unknown'}`, dataset: { state: c?.state ?? 'unknown' } }, l.state === 'disconnected' ? 'last seen: ' : '', `controller ${c?.state ?? 'unknown'}`, c?.since ? ` since ${shortTime(c.since)}` : '', c?.version ? ` (v${c.version})` : ''),
    h('span', { id: 'generation', class: 'badge data', dataset: { generation: generation ?? '' } }, `desired generation ${generation ?? '–'}`),
    h('span', { class: 'badge muted' }, `as ${app.conn?.user ?? '–'} · ${app.config.prefix}`),
    l.error ? h('span', { class: 'badge warn', id: 'link-error' }, l.error) : null,
    l.refused?.length ? h('span', { class: 'badge warn' }, `refused by the broker: ${l.refused.join(', ')}`) : null,
    app.store.dropped ? h('span', { class: 'badge warn', id: 'dropped' }, `${app.store.dropped} malformed messages dropped (last: ${app.store.lastDrop})`) : null,
  );
}

function tabs(app) {
  const label = { agents: `Agents (${app.store.agentNames().length})`, workloads: `Workloads (${app.rows.length})`, graph: 'Dependencies', timeline: 'Timeline' };
  return h('nav', null, Object.keys(VIEWS).map((v) => h('a', { href: `#${v}`, id: `tab-${v}`, class: v === app.view ? 'active' : '' }, label[v])));
}

function showLogin(app, message) {
  app.loginOpen = true;
  app.slots = null;
  const root = document.getElementById('app');
  const error = h('p', { id: 'login-error', class: 'warn' }, message ?? '');
  const user = h('input', { id: 'login-user', autocomplete: 'username', value: app.config.user, required: true });
  const password = h('input', { id: 'login-password', type: 'password', autocomplete: 'current-password' });
  const form = h(
    'form',
    {
      id: 'login',
      onsubmit: (e) => {
        e.preventDefault();
        if (!isName(user.value)) {
          error.textContent = 'The user name must be 1 to 63 characters of A-Z, a-z, 0-9, _ and -.';
          return;
        }
        app.loginOpen = false;
        app.connect(user.value, password.value);
        app.schedule();
      },
    },
    h('h2', null, 'Log in to the broker'),
    h('p', { class: 'muted' }, app.config.broker),
    h('label', null, 'User name ', user),
    h('label', null, 'Password ', password),
    h('button', { id: 'login-submit', type: 'submit' }, 'Connect'),
    error,
  );
  root.replaceChildren(form);
}

async function main() {
  const config = await settings();
  const root = document.getElementById('app');
  if (config.error) {
    root.replaceChildren(h('p', { id: 'config-error', class: 'warn' }, config.error));
    return;
  }
  const app = new App(config);
  window.ankDashboard = app;
  if (config.login) showLogin(app);
  else app.connect('', '');
}

main();
