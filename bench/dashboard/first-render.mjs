// Measures the dashboard's first render with N agents × M workloads (issue 18): retained state
// is published to an `ank-broker` that also serves the built page, then headless chromium opens
// the page R times; each time, the figure is the time from navigation start to the first frame
// whose workloads table holds every row, each in the state its agent reported: when that frame's
// script ended, and when the next frame began (by then the browser had laid it out and painted
// it). Not a test: nothing is asserted (docs/dashboard.md).
//
// Usage: node bench/dashboard/first-render.mjs [--agents 100] [--workloads 10] [--runs 5]
//          [--broker-bin target/release/ank-broker] [--dashboard-dir dashboard/dist]
//          [--max-inflight N]
//        node bench/dashboard/first-render.mjs --runs 9 \
//          --variants 'old=BROKER_BIN,DASHBOARD_DIR,64;new=BROKER_BIN,DASHBOARD_DIR,256'
// `--variants` compares versions of the broker and the page in one run, one broker each, the
// runs interleaved (on a shared machine, only figures of the same run compare).
// Needs scripts/dashboard.sh (the page and its npm packages) and chromium (scripts/test-env.sh).
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
const prefix = 'bench/dashboard/ank/v1';
const variants = (args.variants ?? `this=${args['broker-bin'] ?? ''},${args['dashboard-dir'] ?? ''},${args['max-inflight'] ?? ''}`).split(';').map((spec) => {
  const [name, rest = ''] = spec.split('=');
  const [bin, dir, inflight] = rest.split(',');
  return {
    name,
    brokerBin: path.resolve(root, bin || 'target/release/ank-broker'),
    dist: path.resolve(root, dir || 'dashboard/dist'),
    inflight: inflight ? Number(inflight) : null,
    results: [],
    traces: [],
  };
});

const freePort = () => new Promise((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
const brokers = [];
process.on('exit', () => brokers.forEach((b) => b.kill('SIGTERM')));
const scratch = mkdtempSync(path.join(tmpdir(), 'ank-first-render-'));
/** CPU seconds a process used so far (user + system), from /proc. */
const cpuOf = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

for (const v of variants) {
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const flags = ['--in-memory', '--listen', `127.0.0.1:${mqttPort}`, '--dashboard-listen', `127.0.0.1:${httpPort}`, '--dashboard-dir', v.dist];
  if (v.inflight !== null) {
    const config = path.join(scratch, `${v.name}.toml`);
    writeFileSync(config, `[limits]\nmax_inflight_per_client = ${v.inflight}\n`);
    flags.unshift('--config', config);
  }
  const broker = spawn(v.brokerBin, flags, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  broker.stderr.on('data', () => {});
  brokers.push(broker);
  Object.assign(v, { broker, httpPort });
  await publishState(v, mqttPort);
}

async function publishState(v, mqttPort) {
  let client;
  for (let i = 0; i < 100 && !client; i += 1) {
    try {
      client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'bench-writer', protocolVersion: 4, reconnectPeriod: 0 });
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (!client) throw new Error(`${v.brokerBin} did not accept connections`);
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
}

const total = AGENTS * PER_AGENT;
const browser = await chromium.launch({ executablePath: process.env.ANK_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
const browserCdp = await browser.newBrowserCDPSession();
/** CPU seconds of chromium's renderer processes so far. */
const rendererCpu = async () => {
  const { processInfo } = await browserCdp.send('SystemInfo.getProcessInfo');
  return new Map(processInfo.filter((p) => p.type === 'renderer').map((p) => [p.id, p.cpuTime]));
};
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
for (let r = 0; r < RUNS; r += 1) {
  for (const v of r % 2 ? [...variants].reverse() : variants) {
    const cpu0 = [await rendererCpu(), cpuOf(v.broker.pid)];
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`http://127.0.0.1:${v.httpPort}/?prefix=${prefix}#workloads`);
    const deadline = Date.now() + 60000;
    // A page version without `shown` in its render log counts only the script's end.
    const done = (e) => e && (e.shown || !('shown' in e));
    let hit = null;
    while (!done(hit) && Date.now() < deadline) {
      hit = await page.evaluate((n) => window.ankDashboard?.renderLog.find((e) => e.rows >= n && e.reported >= n) ?? null, total);
      if (!done(hit)) await new Promise((res) => setTimeout(res, 20));
    }
    if (!done(hit)) throw new Error(`${v.name}: the page never showed ${total} rows`);
    const cpu1 = [await rendererCpu(), cpuOf(v.broker.pid)];
    let renderer = 0;
    for (const [id, t] of cpu1[0]) renderer += t - (cpu0[0].get(id) ?? 0);
    const trace = await page.evaluate(() => {
      const app = window.ankDashboard;
      const nav = performance.getEntriesByType('navigation')[0];
      const script = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/app.js'));
      return { script: script?.responseEnd ?? null, domReady: nav?.domContentLoadedEventEnd ?? null, ...app.marks, renders: app.renderLog.map((e) => [Math.round(e.t), e.rows, Math.round(e.ms), Math.round(e.shown ?? -1)]) };
    });
    v.results.push(hit.t);
    v.traces.push({ ms: hit.t, shown: hit.shown ?? NaN, trace, renderer, broker: cpu1[1] - cpu0[1] });
    await page.close();
  }
}
if (args.hold) { console.log(`holding: http://127.0.0.1:${variants[0].httpPort}/?prefix=${prefix}`); await new Promise((r) => setTimeout(r, Number(args.hold) * 1000)); }
await browser.close();
const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const r = (x) => (x === null ? '–' : `${Math.round(x)} ms`);
const ms = (x) => (Number.isNaN(x) ? '–' : `${Math.round(x)} ms`);
console.log(`load average ${loadBefore} before, ${loadAfter} after`);
for (const v of variants) {
  const sorted = [...v.results].sort((x, y) => x - y);
  const shown = v.traces.map((t) => t.shown);
  console.log(`${v.name}: dashboard first render, ${AGENTS} agents x ${PER_AGENT} workloads (${total} rows), ${RUNS} runs: median ${median(sorted).toFixed(0)} ms, min ${sorted[0].toFixed(0)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms; next frame (laid out and painted) median ${ms(median(shown))}, min ${ms(Math.min(...shown))}, max ${ms(Math.max(...shown))}; CPU per run (median): renderer ${Math.round(median(v.traces.map((t) => t.renderer)) * 1000)} ms, broker ${Math.round(median(v.traces.map((t) => t.broker)) * 1000)} ms`);
  // Where the median run's time went: script received, page loaded, MQTT connected, first and
  // last retained message, and each frame as [ms since navigation, rows, ms of its script, ms
  // since navigation when the next frame began].
  const { trace } = v.traces.slice().sort((x, y) => x.ms - y.ms)[Math.floor(v.traces.length / 2)];
  console.log(`${v.name}: median run: script received ${r(trace.script)}, page loaded ${r(trace.domReady)}, connected ${r(trace.connected)}, retained ${trace.messages} messages from ${r(trace.firstMessage)} to ${r(trace.lastMessage)}; frames [at, rows, script, next frame]: ${JSON.stringify(trace.renders.slice(0, 12))}`);
  console.log(JSON.stringify({ variant: v.name, agents: AGENTS, workloadsPerAgent: PER_AGENT, runsMs: v.results.map((x) => Math.round(x)), medianMs: Math.round(median(sorted)), shownMs: shown.map((x) => Math.round(x)) }));
}
process.exit(0);
