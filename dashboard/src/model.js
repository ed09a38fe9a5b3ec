// The dashboard's picture of the bus: topics parsed, payloads validated and bounded, and the
// state kept since the page opened. Pure: no DOM, no MQTT, so `node --test` checks it. Every
// payload here is hostile until validated; what fails validation is counted and dropped.

/** Every bound on what outside input can make the page hold (docs/limits.md, "Dashboard"). */
export const LIMITS = Object.freeze({
  agents: 1000,
  workloads: 10000,
  historyPerWorkload: 100,
  timelineEvents: 20000,
  samplesPerAgent: 60,
  logLines: 2000,
  logLineChars: 4000,
  textChars: 1024,
  tagsPerAgent: 64,
  runtimesPerAgent: 16,
  dependenciesPerWorkload: 64,
  payloadBytes: 1024 * 1024,
});

const NAME = /^[A-Za-z0-9_-]{1,63}$/;
const LIVENESS = new Set(['online', 'offline', 'lost']);

/** Whether `text` is an agent or workload name (the contract's `[A-Za-z0-9_-]`, 1 to 63). */
export function isName(text) {
  return typeof text === 'string' && NAME.test(text);
}

/** A topic prefix the page may subscribe under: levels without wildcards or NUL. */
export function isPrefix(text) {
  return (
    typeof text === 'string' &&
    text.length > 0 &&
    text.length <= 512 &&
    text.split('/').every((level) => level.length > 0 && !/[+#\u0000]/.test(level))
  );
}

/**
 * The filters the page subscribes to: the five retained topics (what a viewer may read). The
 * whole desired state comes last, so that the first frame with every row already holds the
 * states the agents reported rather than a table of `Pending(Initial)` drawn twice.
 */
export function subscriptions(prefix) {
  return [
    `${prefix}/controller/status`,
    `${prefix}/agents/+/status`,
    `${prefix}/agents/+/desired`,
    `${prefix}/agents/+/workloads/+/state`,
    `${prefix}/state/desired`,
  ];
}

/** What a topic under `prefix` is, or null for anything else (dropped). */
export function parseTopic(prefix, topic) {
  if (typeof topic !== 'string' || !topic.startsWith(prefix + '/')) return null;
  const levels = topic.slice(prefix.length + 1).split('/');
  if (levels.length === 2 && levels[0] === 'controller' && levels[1] === 'status') {
    return { kind: 'controller' };
  }
  if (levels.length === 2 && levels[0] === 'state' && levels[1] === 'desired') {
    return { kind: 'desiredState' };
  }
  if (levels[0] !== 'agents' || !isName(levels[1])) return null;
  const agent = levels[1];
  if (levels.length === 3 && levels[2] === 'status') return { kind: 'agentStatus', agent };
  if (levels.length === 3 && levels[2] === 'desired') return { kind: 'agentDesired', agent };
  if (levels.length === 5 && levels[2] === 'workloads' && levels[4] === 'state' && isName(levels[3])) {
    return { kind: 'workloadState', agent, workload: levels[3] };
  }
  if (levels.length === 4 && levels[2] === 'logs' && levels[3] !== 'requests') {
    return { kind: 'log', agent, clientId: levels[3] };
  }
  return null;
}

/** Outside text, cut to a bound; anything but a string becomes `fallback`. */
export function text(value, max = LIMITS.textChars, fallback = '') {
  if (typeof value !== 'string') return fallback;
  return value.length > max ? value.slice(0, max) + '…' : value;
}

function count(value) {
  return Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function object(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
}

// One decoder for every payload: building one per message was a third of the decoding time of a
// retained burst. Without `stream` it keeps nothing between calls.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a payload's bytes as a JSON object; `{error}` names what is wrong. */
export function decodeJson(bytes) {
  if (bytes.length > LIMITS.payloadBytes) return { error: `payload of ${bytes.length} bytes is too large` };
  let value;
  try {
    value = JSON.parse(UTF8.decode(bytes));
  } catch (e) {
    return { error: `not JSON: ${text(String(e.message), 80)}` };
  }
  if (!object(value)) return { error: 'not a JSON object' };
  return { value };
}

/** A controller status, validated. */
export function controllerStatus(v) {
  if (!LIVENESS.has(v.state)) return { error: 'state is not online/offline/lost' };
  return { value: { state: v.state, version: text(v.version, 64), since: text(v.since, 64) || null } };
}

/** An agent status, validated and bounded. */
export function agentStatus(v) {
  if (!LIVENESS.has(v.state)) return { error: 'state is not online/offline/lost' };
  const runtimes = Array.isArray(v.runtimes)
    ? v.runtimes.filter((r) => typeof r === 'string').slice(0, LIMITS.runtimesPerAgent).map((r) => text(r, 64))
    : [];
  const tags = [];
  for (const [k, val] of Object.entries(object(v.tags) ?? {})) {
    if (tags.length === LIMITS.tagsPerAgent) break;
    if (typeof val === 'string') tags.push([text(k, 128), text(val, 256)]);
  }
  const r = object(v.resources);
  const resources = r && count(r.cpuUsage) !== null && count(r.freeMemory) !== null
    ? { cpuUsage: r.cpuUsage, freeMemory: r.freeMemory }
    : null;
  return {
    value: {
      state: v.state,
      version: text(v.version, 64),
      runtimes,
      tags,
      resources,
      observedGeneration: count(v.observedGeneration),
      since: text(v.since, 64) || null,
    },
  };
}

const STATES = new Set(['Pending', 'Running', 'Stopping', 'Succeeded', 'Failed', 'NotScheduled', 'Removed', 'AgentDisconnected', 'Unknown']);

/** A workload state, validated and bounded. */
export function workloadState(v) {
  if (!STATES.has(v.state)) return { error: 'state is not an execution state' };
  if (typeof v.instanceId !== 'string') return { error: 'instanceId is missing' };
  const exitCode = Number.isSafeInteger(v.exitCode) ? v.exitCode : null;
  return {
    value: {
      instanceId: text(v.instanceId, 256),
      state: v.state,
      subState: text(v.subState, 64),
      additionalInfo: text(v.additionalInfo),
      observedGeneration: count(v.observedGeneration),
      restartCount: count(v.restartCount) ?? 0,
      exitCode,
      since: text(v.since, 64) || null,
    },
  };
}

/** The whole desired state (manifest form), validated; workload specs kept as plain data. */
export function desiredState(v) {
  const generation = count(v.generation);
  const ds = object(v.desiredState);
  if (generation === null || !ds) return { error: 'generation or desiredState is missing' };
  const workloads = new Map();
  for (const [name, spec] of Object.entries(object(ds.workloads) ?? {})) {
    if (workloads.size === LIMITS.workloads) break;
    if (!isName(name) || !object(spec)) continue;
    workloads.set(name, {
      agent: isName(spec.agent) ? spec.agent : '',
      runtime: text(spec.runtime, 64),
      dependencies: dependencies(spec.dependencies),
      spec,
    });
  }
  return { value: { generation, workloads } };
}

function dependencies(value) {
  const out = [];
  for (const [dep, cond] of Object.entries(object(value) ?? {})) {
    if (out.length === LIMITS.dependenciesPerWorkload) break;
    if (isName(dep) && typeof cond === 'string') out.push([dep, text(cond, 64)]);
  }
  return out;
}

/**
 * An agent's snapshot: its generation, each workload's instance id and runtime. The runtime lets
 * a row show its final content before the whole desired state (the largest message, delivered
 * last) arrives, so that the row is not built twice during the first render.
 */
export function agentDesired(v) {
  const generation = count(v.generation);
  if (generation === null) return { error: 'generation is missing' };
  const instances = new Map();
  const runtimes = new Map();
  for (const [name, w] of Object.entries(object(v.workloads) ?? {})) {
    if (instances.size === LIMITS.workloads) break;
    if (isName(name) && object(w) && typeof w.instanceId === 'string') {
      instances.set(name, text(w.instanceId, 256));
      runtimes.set(name, text(w.runtime, 64));
    }
  }
  return { value: { generation, instances, runtimes } };
}

const DECODERS = { controller: controllerStatus, agentStatus, workloadState, desiredState, agentDesired };

/** `Running(Ok)`: how `ank get workloads` spells a state. */
export function stateText(s) {
  return s.subState ? `${s.state}(${s.subState})` : s.state;
}

/**
 * Everything the page knows. Retained topics fill the live part, which a reconnect clears
 * (`clearLive`) and rebuilds; histories, the timeline and samples run since the page opened.
 */
export class Store {
  constructor(now = () => Date.now()) {
    this.now = now;
    this.opened = now();
    this.dropped = 0;
    this.lastDrop = '';
    this.history = new Map(); // workload -> [{t, state, info}]
    this.timeline = 0; // events kept over all histories
    this.samples = new Map(); // agent -> [{t, cpu, mem}]
    this.clearLive();
  }

  /** Forgets what retained messages said: called on every (re)connect before they re-arrive. */
  clearLive() {
    this.controller = null;
    this.desired = null;
    this.agents = new Map(); // agent -> status
    this.snapshots = new Map(); // agent -> {generation, instances}
    this.states = new Map(); // `${agent}/${workload}` -> state
  }

  /**
   * Whether every workload of the desired state has a state reported by its agent: the picture
   * the retained messages give is whole. Cheap until as many states as desired workloads exist.
   */
  complete() {
    if (!this.desired || this.states.size < this.desired.workloads.size) return false;
    for (const [name, w] of this.desired.workloads) {
      if (!this.states.has(`${w.agent}/${name}`)) return false;
    }
    return true;
  }

  /** Applies one message; returns false (and counts it) when it was dropped. */
  apply(topicInfo, bytes) {
    if (!topicInfo || topicInfo.kind === 'log') return false;
    const key = topicInfo.kind === 'workloadState' ? `${topicInfo.agent}/${topicInfo.workload}` : topicInfo.agent;
    if (bytes.length === 0) {
      // An empty retained publish clears the topic.
      if (topicInfo.kind === 'controller') this.controller = null;
      else if (topicInfo.kind === 'desiredState') this.desired = null;
      else if (topicInfo.kind === 'agentStatus') this.agents.delete(key);
      else if (topicInfo.kind === 'agentDesired') this.snapshots.delete(key);
      else if (topicInfo.kind === 'workloadState') this.states.delete(key);
      return true;
    }
    const json = decodeJson(bytes);
    const decoded = json.error ? json : DECODERS[topicInfo.kind](json.value);
    if (decoded.error) return this.drop(topicInfo, decoded.error);
    const v = decoded.value;
    switch (topicInfo.kind) {
      case 'controller':
        this.controller = v;
        break;
      case 'desiredState':
        this.desired = v;
        break;
      case 'agentStatus':
        if (!this.agents.has(key) && this.agents.size >= LIMITS.agents) return this.drop(topicInfo, 'too many agents');
        this.agents.set(key, v);
        if (v.resources) this.sample(key, v.resources);
        break;
      case 'agentDesired':
        if (!this.snapshots.has(key) && this.snapshots.size >= LIMITS.agents) return this.drop(topicInfo, 'too many agents');
        this.snapshots.set(key, v);
        break;
      case 'workloadState':
        if (!this.states.has(key) && this.states.size >= LIMITS.workloads) return this.drop(topicInfo, 'too many workloads');
        this.states.set(key, v);
        this.record(topicInfo.workload, topicInfo.agent, v);
        break;
    }
    return true;
  }

  drop(topicInfo, why) {
    this.dropped += 1;
    this.lastDrop = `${topicInfo.kind}${topicInfo.agent ? ' ' + topicInfo.agent : ''}: ${why}`;
    return false;
  }

  sample(agent, r) {
    let list = this.samples.get(agent);
    if (!list) {
      if (this.samples.size >= LIMITS.agents) return;
      list = [];
      this.samples.set(agent, list);
    }
    list.push({ t: this.now(), cpu: r.cpuUsage, mem: r.freeMemory });
    if (list.length > LIMITS.samplesPerAgent) list.shift();
  }

  record(workload, agent, s) {
    const shown = stateText(s);
    let list = this.history.get(workload);
    if (!list) {
      if (this.history.size >= LIMITS.workloads) return;
      list = [];
      this.history.set(workload, list);
    }
    const last = list[list.length - 1];
    if (last && last.state === shown && last.agent === agent && last.instanceId === s.instanceId) return;
    list.push({ t: this.now(), state: shown, agent, info: s.additionalInfo, instanceId: s.instanceId });
    this.timeline += 1;
    if (list.length > LIMITS.historyPerWorkload) {
      list.shift();
      this.timeline -= 1;
    }
    // A global bound too: drop the oldest entry of the longest history.
    while (this.timeline > LIMITS.timelineEvents) {
      let longest = null;
      for (const l of this.history.values()) if (!longest || l.length > longest.length) longest = l;
      longest.shift();
      this.timeline -= 1;
    }
  }

  /** The state shown for a workload, by the contract's rule (schemas/src/shown_state.rs). */
  shown(name, agent) {
    if (!agent) return { text: 'NotScheduled', state: null };
    const status = this.agents.get(agent);
    const reported = this.states.get(`${agent}/${name}`);
    const expected = this.snapshots.get(agent)?.instances.get(name);
    const current = reported && (!expected || reported.instanceId === expected) ? reported : null;
    if (status && status.state !== 'online') return { text: 'AgentDisconnected', state: current };
    if (!status && current) return { text: 'AgentDisconnected', state: current };
    if (!current) return { text: 'Pending(Initial)', state: null };
    return { text: stateText(current), state: current };
  }

  /**
   * Rows of the workloads table: desired workloads, plus states the desired state does not name
   * (not desired any more, or not known yet: the desired state arrives last); those take their
   * runtime from their agent's snapshot while it lists them.
   */
  rows() {
    const rows = [];
    const seen = new Set();
    for (const [name, w] of this.desired?.workloads ?? []) {
      seen.add(`${w.agent}/${name}`);
      rows.push(this.row(name, w.agent, w.runtime));
    }
    for (const key of this.states.keys()) {
      if (seen.has(key)) continue;
      const [agent, name] = key.split('/');
      rows.push(this.row(name, agent, this.snapshots.get(agent)?.runtimes.get(name) ?? ''));
    }
    rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.agent < b.agent ? -1 : 1));
    return rows;
  }

  row(name, agent, runtime) {
    const shown = this.shown(name, agent);
    const s = shown.state;
    return {
      name,
      agent,
      runtime,
      state: shown.text,
      base: shown.text.split('(')[0],
      info: s && shown.text !== 'AgentDisconnected' ? s.additionalInfo : '',
      restartCount: s ? s.restartCount : null,
      exitCode: s ? s.exitCode : null,
      since: s ? s.since : null,
      instanceId: s ? s.instanceId : this.snapshots.get(agent)?.instances.get(name) ?? '',
    };
  }

  /** Agent names known from statuses or snapshots, sorted. */
  agentNames() {
    return [...new Set([...this.agents.keys(), ...this.snapshots.keys()])].sort();
  }
}
