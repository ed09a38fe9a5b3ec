// The page's pure parts: topics, hostile payloads, bounds, the shown-state rule, YAML.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS, Store, parseTopic, isPrefix } from '../../src/model.js';
import { toYaml } from '../../src/yaml.js';

const enc = (v) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const P = 'ank/v1';

test('topics parse only under the prefix and with valid names', () => {
  const table = [
    ['ank/v1/controller/status', { kind: 'controller' }],
    ['ank/v1/state/desired', { kind: 'desiredState' }],
    ['ank/v1/agents/a1/status', { kind: 'agentStatus', agent: 'a1' }],
    ['ank/v1/agents/a1/desired', { kind: 'agentDesired', agent: 'a1' }],
    ['ank/v1/agents/a1/workloads/w-1/state', { kind: 'workloadState', agent: 'a1', workload: 'w-1' }],
    ['ank/v1/agents/a<b>/status', null],
    ['ank/v1/agents/a1/workloads/w.x/state', null],
    ['ank/v1/agents/a1/workloads/w/state/x', null],
    ['other/agents/a1/status', null],
    ['ank/v1x/agents/a1/status', null],
  ];
  for (const [topic, want] of table) assert.deepEqual(parseTopic(P, topic), want, topic);
  assert.ok(isPrefix('vehicles/VIN1/ank/v1'));
  for (const bad of ['', 'a//b', 'a/+/b', 'a/#', 'a\u0000b']) assert.ok(!isPrefix(bad), bad);
});

test('hostile payloads are dropped and leave the state unchanged', () => {
  const s = new Store();
  const t = parseTopic(P, 'ank/v1/agents/a1/workloads/w/state');
  const good = { instanceId: 'w.1.a1', state: 'Running', subState: 'Ok', additionalInfo: '', observedGeneration: 1, restartCount: 0, exitCode: null, since: '2026-12-01T20:00:00Z' };
  assert.ok(s.apply(t, enc(good)));
  for (const bad of ['not json', '[1,2]', '{"state":"Running"}', '{"instanceId":"x","state":"<b>Evil</b>"}', new Uint8Array([0xff, 0xfe])]) {
    assert.equal(s.apply(t, typeof bad === 'string' ? enc(bad) : bad), false);
  }
  assert.equal(s.states.get('a1/w').state, 'Running');
  assert.equal(s.dropped, 5);
  assert.equal(s.apply(t, new Uint8Array(LIMITS.payloadBytes + 1)), false);
});

test('outside text is bounded', () => {
  const s = new Store();
  const t = parseTopic(P, 'ank/v1/agents/a1/status');
  const tags = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v'.repeat(5000)]));
  assert.ok(s.apply(t, enc({ state: 'online', epoch: 1, runtimes: Array(100).fill('podman'), tags, resources: { cpuUsage: 3, freeMemory: 10 } })));
  const st = s.agents.get('a1');
  assert.equal(st.tags.length, LIMITS.tagsPerAgent);
  assert.ok(st.tags[0][1].length <= 257);
  assert.equal(st.runtimes.length, LIMITS.runtimesPerAgent);
});

test('histories are bounded per workload', () => {
  let now = 0;
  const s = new Store(() => now);
  const t = parseTopic(P, 'ank/v1/agents/a1/workloads/w/state');
  for (let i = 0; i < LIMITS.historyPerWorkload + 50; i += 1) {
    now += 1;
    s.apply(t, enc({ instanceId: 'w.1.a1', state: i % 2 ? 'Running' : 'Pending', subState: 'x', since: '' }));
  }
  assert.equal(s.history.get('w').length, LIMITS.historyPerWorkload);
});

test('the shown state follows the contract rule', () => {
  const s = new Store();
  s.apply(parseTopic(P, 'ank/v1/state/desired'), enc({ generation: 2, desiredState: { workloads: { w: { agent: 'a1', runtime: 'podman' }, n: { runtime: 'podman' } } } }));
  assert.equal(s.rows().find((r) => r.name === 'w').state, 'Pending(Initial)');
  assert.equal(s.rows().find((r) => r.name === 'n').state, 'NotScheduled');
  s.apply(parseTopic(P, 'ank/v1/agents/a1/workloads/w/state'), enc({ instanceId: 'w.1.a1', state: 'Running', subState: 'Ok' }));
  assert.equal(s.rows().find((r) => r.name === 'w').state, 'AgentDisconnected');
  s.apply(parseTopic(P, 'ank/v1/agents/a1/status'), enc({ state: 'online', epoch: 1 }));
  assert.equal(s.rows().find((r) => r.name === 'w').state, 'Running(Ok)');
  s.apply(parseTopic(P, 'ank/v1/agents/a1/desired'), enc({ generation: 2, workloads: { w: { instanceId: 'w.2.a1' } } }));
  assert.equal(s.rows().find((r) => r.name === 'w').state, 'Pending(Initial)', 'a state about another instance does not count');
  s.apply(parseTopic(P, 'ank/v1/agents/a1/status'), enc({ state: 'lost', epoch: 1 }));
  assert.equal(s.rows().find((r) => r.name === 'w').state, 'AgentDisconnected');
  s.clearLive();
  assert.equal(s.rows().length, 0);
  assert.equal(s.history.get('w').length, 1, 'history survives a reconnect');
});

test('issue 18: a row the desired state does not name yet takes its runtime from the agent snapshot', () => {
  // The desired state arrives last in a retained burst: a row drawn before it must not change
  // when it comes, or all 1,000 rows are built twice during the first render.
  const s = new Store();
  s.apply(parseTopic(P, 'ank/v1/agents/a1/status'), enc({ state: 'online', epoch: 1 }));
  s.apply(parseTopic(P, 'ank/v1/agents/a1/desired'), enc({ generation: 1, workloads: { w: { instanceId: 'w.1.a1', runtime: 'podman-kube' } } }));
  s.apply(parseTopic(P, 'ank/v1/agents/a1/workloads/w/state'), enc({ instanceId: 'w.1.a1', state: 'Running', subState: 'Ok' }));
  const before = s.rows();
  assert.equal(before.length, 1);
  assert.equal(before[0].runtime, 'podman-kube');
  s.apply(parseTopic(P, 'ank/v1/state/desired'), enc({ generation: 1, desiredState: { workloads: { w: { agent: 'a1', runtime: 'podman-kube' } } } }));
  assert.deepEqual(s.rows(), before);
  // A hostile runtime is bounded like every text.
  s.apply(parseTopic(P, 'ank/v1/agents/a1/desired'), enc({ generation: 2, workloads: { w: { instanceId: 'w.1.a1', runtime: 'x'.repeat(5000) } } }));
  assert.ok(s.snapshots.get('a1').runtimes.get('w').length <= 65);
});

test('issue 18: the picture is complete once every desired workload has its agent\'s state', () => {
  const s = new Store();
  const desired = { generation: 1, desiredState: { workloads: { w1: { agent: 'a1' }, w2: { agent: 'a2' } } } };
  assert.equal(s.complete(), false, 'nothing yet');
  s.apply(parseTopic(P, 'ank/v1/agents/a1/workloads/w1/state'), enc({ instanceId: 'w1.1.a1', state: 'Running', subState: 'Ok' }));
  s.apply(parseTopic(P, 'ank/v1/state/desired'), enc(desired));
  assert.equal(s.complete(), false, 'w2 has no state');
  // A state of the right name under another agent does not count.
  s.apply(parseTopic(P, 'ank/v1/agents/a1/workloads/w2/state'), enc({ instanceId: 'w2.1.a1', state: 'Running', subState: 'Ok' }));
  assert.equal(s.complete(), false, 'w2 belongs to a2');
  s.apply(parseTopic(P, 'ank/v1/agents/a2/workloads/w2/state'), enc({ instanceId: 'w2.1.a2', state: 'Pending', subState: 'Initial' }));
  assert.equal(s.complete(), true);
  s.clearLive();
  assert.equal(s.complete(), false, 'a reconnect starts over');
});

test('yaml renders the manifest form', () => {
  const y = toYaml({ agent: 'a1', runtime: 'podman', runtimeConfig: 'image: x\ncommandArgs: ["a"]\n', tags: { note: '<b>: x', n: '42' }, dependencies: {}, files: [], list: [{ a: 1, b: 'two' }] });
  assert.equal(
    y,
    'agent: a1\nruntime: podman\nruntimeConfig: |\n  image: x\n  commandArgs: ["a"]\ntags:\n  note: "<b>: x"\n  n: "42"\ndependencies: {}\nfiles: []\nlist:\n- a: 1\n  b: two\n',
  );
});
