// Measures the dashboard's first render with N agents × M workloads (issue 18): retained state
// is published to an `ank-broker` that also serves the built page, then headless chromium opens
// the page R times; each time, the figure is the time from navigation start to the first frame
// whose workloads table holds every row, each in the state its agent reported. Not a test: nothing is asserted (docs/dashboard.md).
//
// Usage: node bench/dashboard/first-render.mjs [--agents 100] [--workloads 10] [--runs 5]
//          [--broker-bin target/release/ank-broker]
// Needs scripts/dashboard.sh (the page and its npm packages) and chromium (scripts/test-env.sh).
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'dashboard/package.json'));
const mqtt = require('mqtt');
const { chromium } = require('playwright-core');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const AGENTS = Number(args.agents ?? 100);
const PER_AGENT = Number(args.workloads ?? 10);
const RUNS = Number(args.runs ?? 5);
const brokerBin = path.resolve(root, args['broker-bin'] ?? 'target/release/ank-broker');
const prefix = 'bench/dashboard/ank/v1';

const freePort = () => new Promise((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
const [mqttPort, httpPort] = [await freePort(), await freePort()];
const broker = spawn(brokerBin, ['--in-memory', '--listen', `127.0.0.1:${mqttPort}`, '--dashboard-listen', `127.0.0.1:${httpPort}`, '--dashboard-dir', path.join(root, 'dashboard/dist')], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
broker.stderr.on('data', () => {});
const stop = () => broker.kill('SIGTERM');
process.on('exit', stop);

let client;
for (let i = 0; i < 100 && !client; i += 1) {
  try {
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'bench-writer', protocolVersion: 4, reconnectPeriod: 0 });
  } catch {
    await new Promise((r) => setTimeout(r, 100));
  }
}
if (!client) throw new Error(`${brokerBin} did not accept connections`);

const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const agent = (a) => `agent_${String(a).padStart(3, '0')}`;
const workloads = {};
const publishes = [];
const pub = (topic, value) => publishes.push(client.publishAsync(`${prefix}/${topic}`, JSON.stringify(value), { qos: 1, retain: true }));
for (let a = 0; a < AGENTS; a += 1) {
  const snapshot = {};
  for (let w = 0; w < PER_AGENT; w += 1) {
    const name = `${agent(a)}_w${w}`;
    const instanceId = `${name}.${'0'.repeat(64)}.${agent(a)}`;
    workloads[name] = { agent: agent(a), runtime: 'podman', runtimeConfig: 'image: localhost/ank-test/busybox:latest\ncommandArgs: ["sleep", "600"]', restartPolicy: 'NEVER', dependencies: w ? { [`${agent(a)}_w${w - 1}`]: 'ADD_COND_RUNNING' } : {}, tags: {}, configs: {}, files: [] };
    snapshot[name] = { instanceId, runtime: 'podman', dependencies: {}, deleteConditions: {} };
    pub(`agents/${agent(a)}/workloads/${name}/state`, { instanceId, state: w % 7 ? 'Running' : 'Succeeded', subState: 'Ok', additionalInfo: '', observedGeneration: 1, restartCount: 0, exitCode: w % 7 ? null : 0, since: now });
  }
  pub(`agents/${agent(a)}/desired`, { generation: 1, workloads: snapshot });
  pub(`agents/${agent(a)}/status`, { state: 'online', epoch: 1, version: '0.1.0', runtimes: ['podman', 'podman-kube'], tags: { zone: `z${a % 4}` }, resources: { cpuUsage: a % 100, freeMemory: 8e9 }, observedGeneration: 1, since: now });
}
pub('state/desired', { generation: 1, desiredState: { apiVersion: 'v1', workloads, configs: {} } });
pub('controller/status', { state: 'online', epoch: 1, version: '0.1.0', since: now });
await Promise.all(publishes);
await client.endAsync();

const total = AGENTS * PER_AGENT;
const browser = await chromium.launch({ executablePath: process.env.ANK_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
const results = [];
const traces = [];
for (let r = 0; r < RUNS; r += 1) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(`http://127.0.0.1:${httpPort}/?prefix=${prefix}#workloads`);
  const deadline = Date.now() + 60000;
  let ms = null;
  while (ms === null && Date.now() < deadline) {
    ms = await page.evaluate((n) => window.ankDashboard?.renderLog.find((e) => e.rows >= n && e.reported >= n)?.t ?? null, total);
    if (ms === null) await new Promise((res) => setTimeout(res, 20));
  }
  if (ms === null) throw new Error(`the page never showed ${total} rows`);
  const trace = await page.evaluate(() => {
    const app = window.ankDashboard;
    const nav = performance.getEntriesByType('navigation')[0];
    return { domReady: nav?.domContentLoadedEventEnd ?? null, ...app.marks, renders: app.renderLog.map((e) => [Math.round(e.t), e.rows, Math.round(e.ms)]) };
  });
  results.push(ms);
  traces.push({ ms, trace });
  await page.close();
}
if (args.hold) { console.log(`holding: http://127.0.0.1:${httpPort}/?prefix=${prefix}`); await new Promise((r) => setTimeout(r, Number(args.hold) * 1000)); }
await browser.close();
results.sort((x, y) => x - y);
const median = results[Math.floor(results.length / 2)];
console.log(`dashboard first render, ${AGENTS} agents x ${PER_AGENT} workloads (${total} rows), ${RUNS} runs: median ${median.toFixed(0)} ms, min ${results[0].toFixed(0)} ms, max ${results[results.length - 1].toFixed(0)} ms`);
// Where the median run's time went: page loaded, MQTT connected, first and last retained message,
// and each frame drawn as [ms since navigation, rows, ms spent drawing it].
const { trace } = traces.slice().sort((x, y) => x.ms - y.ms)[Math.floor(traces.length / 2)];
const r = (x) => (x === null ? '–' : `${Math.round(x)} ms`);
console.log(`median run: page loaded ${r(trace.domReady)}, connected ${r(trace.connected)}, retained ${trace.messages} messages from ${r(trace.firstMessage)} to ${r(trace.lastMessage)}; frames [at, rows, drawing]: ${JSON.stringify(trace.renders.slice(0, 12))}`);
console.log(JSON.stringify({ agents: AGENTS, workloadsPerAgent: PER_AGENT, runsMs: results.map((x) => Math.round(x)), medianMs: Math.round(median) }));
stop();
process.exit(0);
