// Proxy overhead benchmark: `npm run bench`.
//
// Starts a zero-latency backend, nginx as a plain keep-alive reverse proxy, the peer routers (SMG, vLLM's router,
// LiteLLM's proxy, installed on demand by bench/peers/install.sh) as plain proxies, and Switchyard (`switchyard
// serve`), then drives each (and the backend directly) with wrk: non-streaming JSON and 20-chunk SSE, at 1 and 64 connections.
// With two or more cores the proxy under test runs on core 1 and wrk + backends on core 0. The proxy's CPU time
// (utime+stime of its process tree, from /proc) is sampled around each run, so the main figure, requests per proxy
// CPU-second, does not depend much on which process is the bottleneck. Prints one table and writes the results as
// JSON under bench/results/. See bench/README.md for what each figure means.
//
// Options: --duration S (10)  --warmup S (1)  --settle S (10)  --json-backend static|mock (static)  --modes json,sse  --connections 1,64
//          --raw-node (also measure raw-node-proxy.ts, the best plain Node loop)  --node-flags '<flags for Switchyard's node>'
//          --switchyard-args '<more switchyard serve arguments>'
//          --cpu-prof (profile the Switchyard process; the profile is left in the temp dir)  --keep-temp
//          --settle: before anything is measured, every target serves S seconds of each mode at 64 connections, so
//          JIT-compiled proxies (Node, Python) are measured warm, as they run in production
//          --peers smg,vllm-router,litellm (default: all; `none` for none)  --repeats N (1: extra attempts per
//          configuration when an nginx baseline run moved more than 15 % from the configuration's median)
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { installPeers, parsePeers, PEER_VERSIONS, peerInstances, portsNeeded, type PeerName } from '../peers/peers.ts';
import { BASELINE_DRIFT_LIMIT, describeLoad, driftFromMedian, median, sampleLoad, type LoadSample } from './noise.ts';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { treeCpuTime, treePeakRssMb, treeRssMb } from './procfs.ts';
import { buildRows, checkTargets, formatCpuSplit, formatTable, formatTargets, type Measurement, type Mode, type Target } from './report.ts';
import { freePort, logTail, services, start, stopAll, stopService, untilAnswered, waitReady, type Service } from './services.ts';
import { runWrk, totalErrors, wrkProblems } from './wrk.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HERE = fileURLToPath(new URL('./', import.meta.url));
const SWITCHYARD_BIN = join(ROOT, 'bin', 'switchyard.js');
const RESULTS_DIR = join(ROOT, 'bench', 'results');

const MODEL = 'bench-model';
const STATIC_MODEL = 'bench-static';
const TOKENS = 20;
/** 23 words; the mock runs in echo mode, so max_tokens 20 gives exactly 20 tokens (20 SSE chunks + [DONE]). */
const PROMPT = 'San Francisco is a city on the coast of northern California, known for its hills, fog, cable cars and the Golden Gate Bridge.';
const LOAD_CONNECTIONS = 64;
/** A response slower than this is a wrk timeout error. Long enough for LiteLLM's queue at 64 connections on a busy core. */
const WRK_TIMEOUT_S = 30;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    settle: { type: 'string', default: '10' },
    'json-backend': { type: 'string', default: 'static' },
    modes: { type: 'string', default: 'json,sse' },
    connections: { type: 'string', default: `1,${LOAD_CONNECTIONS}` },
    'cpu-prof': { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
    'switchyard-args': { type: 'string', default: '' },
    'raw-node': { type: 'boolean', default: false },
    'keep-temp': { type: 'boolean', default: false },
    peers: { type: 'string', default: 'smg,vllm-router,litellm' },
    repeats: { type: 'string', default: '1' },
  },
});
const durationS = Number(flags.duration);
const warmupS = Number(flags.warmup);
const settleS = Number(flags.settle);
const jsonBackend = flags['json-backend'];
if (!Number.isInteger(durationS) || durationS < 1) throw new Error('--duration must be a whole number of seconds >= 1');
if (!Number.isInteger(warmupS) || warmupS < 0) throw new Error('--warmup must be a whole number of seconds >= 0');
if (!Number.isInteger(settleS) || settleS < 0) throw new Error('--settle must be a whole number of seconds >= 0');
if (jsonBackend !== 'static' && jsonBackend !== 'mock') throw new Error('--json-backend must be static or mock');
const PEER_NAMES = parsePeers(flags.peers);
const REPEATS = Number(flags.repeats);
if (!Number.isInteger(REPEATS) || REPEATS < 0) throw new Error('--repeats must be a whole number >= 0');
/** Extra Node/V8 flags for the Switchyard (and raw Node) process, e.g. --node-flags=--trace-gc */
const SWITCHYARD_NODE_FLAGS = flags['node-flags'].split(' ').filter(Boolean);
/**
 * The Node flags of bin/switchyard.js's shebang (`#!/usr/bin/env -S node --flag ...`): Switchyard runs as
 * `npx switchyard` and the npm scripts start it. --node-flags come after them, so they can override them.
 */
const SHEBANG_NODE_FLAGS = /^#!\S*\benv -S node\b(.*)$/.exec(readFileSync(SWITCHYARD_BIN, 'utf8').split('\n', 1)[0])?.[1].split(' ').filter(Boolean) ?? [];
/** Extra `switchyard serve` arguments, e.g. --switchyard-args='--access-log off' */
const SWITCHYARD_ARGS = flags['switchyard-args'].split(' ').filter(Boolean);
const MODES = flags.modes.split(',').map((m) => m.trim()) as Mode[];
if (MODES.length === 0 || MODES.some((m) => m !== 'json' && m !== 'sse')) throw new Error('--modes takes json and/or sse, comma-separated');
const CONNECTIONS = flags.connections.split(',').map(Number);
if (CONNECTIONS.length === 0 || CONNECTIONS.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('--connections takes positive integers, comma-separated');

const cores = availableParallelism();
const pinned = cores >= 2;
const PIN_LOAD: readonly string[] = pinned ? ['taskset', '-c', '0'] : [];
const PIN_PROXY: readonly string[] = pinned ? ['taskset', '-c', '1'] : [];

// ---------------------------------------------------------------------------------------------------------------
// Tools and processes

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** nginx and wrk come from Debian (nginx-light, wrk); install them when missing and we are root. */
function ensureTools(): void {
  const missing = [['nginx', 'nginx-light'], ['wrk', 'wrk']].filter(([command]) => !has(command)).map(([, pkg]) => pkg);
  if (!has('taskset') && pinned) missing.push('util-linux');
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !has('apt-get')) {
    throw new Error(`missing ${missing.join(', ')}: install them (Debian: apt-get update && apt-get install -y ${missing.join(' ')})`);
  }
  console.log(`installing ${missing.join(', ')} with apt-get ...`);
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...missing]]) {
    const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
  }
}

function versionOf(command: string, args: string[], pattern: RegExp): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  const match = pattern.exec(`${result.stdout}${result.stderr}`);
  return match?.[1] ?? 'unknown';
}

function gitCommit(): string {
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (head.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() !== '';
  return `${head.stdout.trim()}${dirty ? '+dirty' : ''}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration files

function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    if (!(key in values)) throw new Error(`no value for {{${key}}}`);
    return String(values[key]);
  });
}

function switchyardConfig(enginePort: number, staticPort: number): string {
  const backend = (name: string, model: string, port: number): string => `
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata:
  name: ${name}
  namespace: default
spec:
  modelName: "${model}"
  rules:
  - name: default
    targetModels:
    - modelServerName: ${name}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelServer
metadata:
  name: ${name}
  namespace: default
spec:
  workloadSelector:
    matchLabels:
      app: ${name}
  workloadPort:
    port: 8000
  model: "${model}"
  inferenceEngine: "vLLM"
  trafficPolicy:
    timeout: 60s
---
apiVersion: v1
kind: Pod
metadata:
  name: ${name}-0
  namespace: default
  labels:
    app: ${name}
  annotations:
    switchyard.dev/port: "${port}"
status:
  phase: Running
  podIP: 127.0.0.1
`;
  return `# Written by bench/proxy/run.ts.${backend('bench-engine', MODEL, enginePort)}---${backend('bench-static', STATIC_MODEL, staticPort)}`;
}

function requestBody(mode: Mode): string {
  const model = mode === 'json' && jsonBackend === 'static' ? STATIC_MODEL : MODEL;
  return JSON.stringify(mode === 'sse' ? { model, prompt: PROMPT, max_tokens: TOKENS, stream: true } : { model, prompt: PROMPT, max_tokens: TOKENS });
}

/** One request through `url`; checks the status and the shape of the answer, returns its body size. */
/** SSE events per stream as each target delivers it (preflight), for events per CPU-second. */
const sseEventsByTarget = new Map<string, number>();

async function preflight(label: string, url: string, mode: Mode): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: requestBody(mode) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${label}: HTTP ${res.status}: ${text.slice(0, 500)}`);
  if (mode === 'json') {
    const parsed = JSON.parse(text) as { choices?: { text?: string }[] };
    if (typeof parsed.choices?.[0]?.text !== 'string') throw new Error(`${label}: not a completion: ${text.slice(0, 500)}`);
  } else {
    const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
    // Token events carry text; LiteLLM adds a closing event with finish_reason and no text, which is not a token.
    const tokens = events.filter((e) => e !== 'data: [DONE]' && ((JSON.parse(e.slice(6)) as { choices?: { text?: string }[] }).choices?.[0]?.text ?? '') !== '');
    if (events.at(-1) !== 'data: [DONE]' || tokens.length !== TOKENS) {
      throw new Error(`${label}: expected ${TOKENS} token events and [DONE], got ${tokens.length} token events:\n${text.slice(0, 500)}`);
    }
    sseEventsByTarget.set(label.split(' ')[0], events.length);
  }
  return Buffer.byteLength(text);
}

// ---------------------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  ensureTools();
  if (pinned) spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' }); // keep the runner off the proxy's core
  const workDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  const profileDir = join(workDir, 'cpu-profiles');
  const [enginePort, staticPort, nginxEnginePort, nginxStaticPort, switchyardPort, rawNodePort] = await Promise.all([
    freePort(), freePort(), freePort(), freePort(), freePort(), freePort(),
  ]);
  const started = new Date();
  const loadBefore = sampleLoad();
  console.log(
    `proxy benchmark: ${cores} core(s)${pinned ? ', proxy pinned to core 1, wrk + backends to core 0' : ', no pinning (one core)'}, ` +
      `${settleS} s per mode to settle each target, then ${durationS} s per run + ${warmupS} s warm-up, JSON backend: ${jsonBackend === 'static' ? 'nginx static (return 200)' : 'mock engine'}, ` +
      `Switchyard node flags: ${[...SHEBANG_NODE_FLAGS, ...SWITCHYARD_NODE_FLAGS].join(' ') || 'none'}`,
  );

  // Backends on the load core.
  const engine = start('engine', [...PIN_LOAD, process.execPath, SWITCHYARD_BIN, 'mock', '--model', MODEL, '--port', String(enginePort),
    '--mode', 'echo', '--max-tokens', String(TOKENS), '--instance-name', 'bench-engine'], workDir);
  await waitReady(engine, `http://127.0.0.1:${enginePort}/health`);
  // The static backend answers with what the mock gives for the same requests (its own model name in the engine
  // endpoints the router scrapes).
  const capture = async (path: string, body?: string): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${enginePort}${path}`, body === undefined ? {} : {
      method: 'POST', headers: { 'content-type': 'application/json' }, body,
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`mock engine answered ${res.status} to ${path}: ${text}`);
    return text;
  };
  const nginxString = (text: string): string => {
    if (text.includes('$')) throw new Error('nginx would expand the $ in a static answer as a variable');
    return text.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  };
  const completion = await capture('/v1/completions', JSON.stringify({ model: MODEL, prompt: PROMPT, max_tokens: TOKENS }));
  writeFileSync(join(workDir, 'static-metrics.txt'), (await capture('/metrics')).replaceAll(`"${MODEL}"`, `"${STATIC_MODEL}"`));
  writeFileSync(join(workDir, 'static-models.json'), (await capture('/v1/models')).replaceAll(`"${MODEL}"`, `"${STATIC_MODEL}"`));
  chmodSync(workDir, 0o755); // nginx workers (user nobody when started as root) read those files
  const staticConf = join(workDir, 'nginx-static.conf');
  writeFileSync(staticConf, fill(readFileSync(join(HERE, 'nginx-static-backend.conf.template'), 'utf8'), {
    DIR: workDir, STATIC_PORT: staticPort, STATIC_BODY: nginxString(completion),
  }));
  const staticBackend = start('nginx-static', [...PIN_LOAD, 'nginx', '-p', workDir, '-e', join(workDir, 'nginx-static.error.log'),
    '-c', staticConf, '-g', 'daemon off;'], workDir);
  await waitReady(staticBackend, `http://127.0.0.1:${staticPort}/health`);

  // Proxies on the proxy core.
  const nginxConf = join(workDir, 'nginx-proxy.conf');
  writeFileSync(nginxConf, fill(readFileSync(join(HERE, 'nginx-proxy.conf.template'), 'utf8'), {
    DIR: workDir, ENGINE_PORT: enginePort, STATIC_PORT: staticPort, ENGINE_PROXY_PORT: nginxEnginePort, STATIC_PROXY_PORT: nginxStaticPort,
  }));
  const nginx = start('nginx-proxy', [...PIN_PROXY, 'nginx', '-p', workDir, '-e', join(workDir, 'nginx-proxy.error.log'),
    '-c', nginxConf, '-g', 'daemon off;'], workDir);
  const configPath = join(workDir, 'switchyard.yaml');
  writeFileSync(configPath, switchyardConfig(enginePort, staticPort));
  if (flags['cpu-prof']) mkdirSync(profileDir);
  const profiling = flags['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  // Everything else at its defaults, as in production: health checks, engine scraping, access log (to the log file).
  // Listeners on fixed default ports (metrics, debug) get free ports instead, when this version has them.
  const serveHelp = spawnSync(process.execPath, [SWITCHYARD_BIN, 'serve', '--help'], { cwd: ROOT, encoding: 'utf8' }).stdout;
  const extraListeners: string[] = [];
  for (const flag of ['--metrics-port', '--debug-port']) {
    if (serveHelp.includes(flag)) extraListeners.push(flag, String(await freePort()));
  }
  const switchyard = start('switchyard', [...PIN_PROXY, process.execPath, ...SHEBANG_NODE_FLAGS, ...SWITCHYARD_NODE_FLAGS, ...profiling, SWITCHYARD_BIN, 'serve',
    '-c', configPath, '-p', String(switchyardPort), '--host', '127.0.0.1', '--log-level', 'warn', ...extraListeners, ...SWITCHYARD_ARGS], workDir);
  const rawNode = flags['raw-node']
    ? start('node-raw', [...PIN_PROXY, process.execPath, ...SWITCHYARD_NODE_FLAGS, join(HERE, 'raw-node-proxy.ts'), String(rawNodePort),
      `${MODEL}=http://127.0.0.1:${enginePort}`, `${STATIC_MODEL}=http://127.0.0.1:${staticPort}`], workDir)
    : null;
  await waitReady(nginx, `http://127.0.0.1:${nginxEnginePort}/health`);
  await waitReady(switchyard, `http://127.0.0.1:${switchyardPort}/readyz`);
  if (rawNode !== null) await waitReady(rawNode, `http://127.0.0.1:${rawNodePort}/`);

  const proxies = new Map<Target, Service[]>([['nginx', [nginx]], ['switchyard', [switchyard]]]);
  if (rawNode !== null) proxies.set('node-raw', [rawNode]);

  // The peers, on the proxy core in front of both backends. One that cannot be installed, started or measured keeps
  // its row in the table, with the reason.
  const notRun = new Map<Target, string>();
  const peerInstancesOf = new Map<PeerName, { service: Service; models: readonly string[]; port: number }[]>();
  const installFailures = installPeers(PEER_NAMES);
  const workers = [{ model: MODEL, url: `http://127.0.0.1:${enginePort}` }, { model: STATIC_MODEL, url: `http://127.0.0.1:${staticPort}` }];
  for (const peer of PEER_NAMES) {
    const reason = installFailures.get(peer);
    if (reason !== undefined) {
      notRun.set(peer, reason);
      continue;
    }
    const ports = await Promise.all(Array.from({ length: portsNeeded(peer, workers) }, () => freePort()));
    const instances = peerInstances(peer, { policy: 'round_robin', workers, ports, workDir, pin: PIN_PROXY });
    peerInstancesOf.set(peer, instances.map((i) => ({ service: start(i.name, i.command, workDir, workDir), models: i.models, port: i.port })));
  }
  const modelOf = (mode: Mode): string => (mode === 'json' && jsonBackend === 'static' ? STATIC_MODEL : MODEL);
  const urlOf = (target: Target, mode: Mode): string => {
    const viaStatic = mode === 'json' && jsonBackend === 'static';
    const peer = peerInstancesOf.get(target as PeerName)?.find((i) => i.models.includes(modelOf(mode)));
    const port = target === 'direct' ? (viaStatic ? staticPort : enginePort)
      : target === 'nginx' ? (viaStatic ? nginxStaticPort : nginxEnginePort)
      : target === 'node-raw' ? rawNodePort
      : peer !== undefined ? peer.port
      : switchyardPort;
    return `http://127.0.0.1:${port}/v1/completions`;
  };
  const dropPeer = async (peer: PeerName, reason: string): Promise<void> => {
    notRun.set(peer, reason);
    for (const { service } of peerInstancesOf.get(peer) ?? []) {
      await stopService(service);
      services.splice(services.indexOf(service), 1);
    }
    peerInstancesOf.delete(peer);
    proxies.delete(peer);
  };

  // Every target must answer 200 with a complete response before anything is measured. The peers get time to
  // start and to discover their workers (they probe them in the background).
  const expectedBytes = new Map<string, number>();
  for (const mode of MODES) {
    for (const target of ['direct', 'nginx', 'switchyard', ...(rawNode === null ? [] : ['node-raw'] as const)] as const) {
      expectedBytes.set(`${target}/${mode}`, await preflight(`${target} ${mode}`, urlOf(target, mode), mode));
    }
  }
  for (const [peer, instances] of [...peerInstancesOf]) {
    try {
      for (const mode of MODES) {
        expectedBytes.set(`${peer}/${mode}`, await untilAnswered(instances.map((i) => i.service), () => preflight(`${peer} ${mode}`, urlOf(peer, mode), mode)));
      }
      proxies.set(peer, instances.map((i) => i.service));
    } catch (err) {
      await dropPeer(peer, `did not start: ${(err as Error).message.split('\n').slice(0, 3).join(' / ').slice(0, 300)}`);
    }
  }
  const peersUp = (): PeerName[] => PEER_NAMES.filter((p) => proxies.has(p));

  const measurements: Measurement[] = [];
  const failures: string[] = [];
  const nginxBaseline = new Map<string, number>();
  const configurations: { mode: Mode; connections: number; attempts: { nginxReqPerCpuS: number[]; drift: number }[]; load: [LoadSample, LoadSample] }[] = [];
  /** Runs one target; a problem fails the benchmark, except for a peer, which is then reported and left out. */
  const measure = async (target: Target, mode: Mode, connections: number): Promise<Measurement | null> => {
    const label = `${target} ${mode} c=${connections}`;
    const run = { url: urlOf(target, mode), body: requestBody(mode), connections, threads: connections >= 2 ? 2 : 1, pin: PIN_LOAD, timeoutS: WRK_TIMEOUT_S };
    // wrk's byte count includes the status line and headers, so the body size alone is a safe lower bound.
    const minBytes = expectedBytes.get(`${target}/${mode}`) ?? 0;
    const problems: string[] = [];
    // A slow proxy may complete nothing within a short warm-up: only errors count there.
    if (warmupS > 0) {
      const warmup = await runWrk({ ...run, durationS: warmupS });
      if (totalErrors(warmup.errors) > 0) problems.push(...wrkProblems(`${label} (warm-up)`, warmup, minBytes));
    }
    const processes = proxies.get(target) ?? [];
    const cpuBefore = processes.map((p) => treeCpuTime(p.pid));
    const result = await runWrk({ ...run, durationS });
    const cpuAfter = processes.map((p) => treeCpuTime(p.pid));
    problems.push(...wrkProblems(label, result, minBytes));
    if (problems.length > 0 && (PEER_NAMES as readonly string[]).includes(target)) {
      console.log(`  ${label.padEnd(26)} FAILED: ${problems.join('; ')}`);
      await dropPeer(target as PeerName, `failed at ${mode} c=${connections}: ${problems.join('; ')}`);
      return null;
    }
    failures.push(...problems);
    const proxyCpu = processes.length === 0 ? null : {
      userS: cpuAfter.reduce((sum, c, i) => sum + c.userS - cpuBefore[i].userS, 0),
      systemS: cpuAfter.reduce((sum, c, i) => sum + c.systemS - cpuBefore[i].systemS, 0),
    };
    const proxyRssMb = processes.length === 0 ? null : Math.max(...processes.map((p) => treeRssMb(p.pid) ?? 0));
    const cpuText = proxyCpu === null ? '' : `, proxy CPU ${(proxyCpu.userS + proxyCpu.systemS).toFixed(2)} s`;
    console.log(`  ${label.padEnd(26)} ${(result.requests / (result.durationUs / 1e6)).toFixed(0).padStart(7)} req/s, ` +
      `p50 ${(result.latencyUs.p50 / 1000).toFixed(3)} ms${cpuText}`);
    return { target, mode, connections, threads: run.threads, wrk: result, proxyCpu, proxyRssMb };
  };
  const reqPerCpuS = (m: Measurement): number => (m.proxyCpu === null ? 0 : m.wrk.requests / Math.max(1e-9, m.proxyCpu.userS + m.proxyCpu.systemS));
  // V8 (and CPython) keep compiling for many seconds after a process starts, on the proxy's one core: measured cold,
  // a Node proxy's p99 at one connection is mostly its own JIT at work. Every target settles the same way first.
  if (settleS > 0) {
    for (const mode of MODES) {
      const targets: Target[] = ['direct', 'nginx', ...peersUp(), 'switchyard', ...(rawNode === null ? [] : ['node-raw'] as const)];
      console.log(`  settling ${targets.join(', ')}: ${mode} at ${LOAD_CONNECTIONS} connections, ${settleS} s each`);
      for (const target of targets) {
        const label = `${target} ${mode} (settling)`;
        const result = await runWrk({ url: urlOf(target, mode), body: requestBody(mode), connections: LOAD_CONNECTIONS, threads: 2, pin: PIN_LOAD, timeoutS: WRK_TIMEOUT_S, durationS: settleS });
        if (totalErrors(result.errors) === 0) continue;
        const problems = wrkProblems(label, result, expectedBytes.get(`${target}/${mode}`) ?? 0);
        if ((PEER_NAMES as readonly string[]).includes(target)) await dropPeer(target as PeerName, `failed while settling: ${problems.join('; ')}`);
        else failures.push(...problems);
      }
    }
  }
  for (const mode of MODES) {
    for (const connections of CONNECTIONS) {
      // nginx runs first, in the middle and last: three baselines, to see the machine move during the configuration.
      const load0 = sampleLoad();
      const attempts: { runs: Measurement[]; nginxReqPerCpuS: number[]; drift: number }[] = [];
      for (let attempt = 0; attempt <= REPEATS && failures.length === 0; attempt++) {
        const peers = peersUp();
        const half = Math.ceil(peers.length / 2);
        const order: Target[] = ['direct', 'nginx', ...peers.slice(0, half), 'nginx', ...peers.slice(half), 'switchyard',
          ...(rawNode === null ? [] : ['node-raw'] as const), 'nginx'];
        const runs: Measurement[] = [];
        for (const target of order) {
          const m = await measure(target, mode, connections);
          if (m !== null) runs.push(m);
          if (failures.length > 0) break;
        }
        const nginxReqPerCpuS = runs.filter((m) => m.target === 'nginx').map(reqPerCpuS);
        const drift = driftFromMedian(nginxReqPerCpuS);
        attempts.push({ runs, nginxReqPerCpuS, drift });
        console.log(`  nginx baseline req/CPU-s ${nginxReqPerCpuS.map((v) => v.toFixed(0)).join(', ')}: ${(drift * 100).toFixed(0)} % from their median` +
          (drift > BASELINE_DRIFT_LIMIT && attempt < REPEATS ? ', more than 15 %: repeating this configuration' : ''));
        if (drift <= BASELINE_DRIFT_LIMIT) break;
      }
      if (failures.length > 0) break;
      // Keep the steadiest attempt; its nginx row is the median baseline run, the one the ratios divide by.
      const kept = attempts.reduce((best, a) => (a.drift < best.drift ? a : best));
      const baseline = median(kept.nginxReqPerCpuS);
      const nginxRuns = kept.runs.filter((m) => m.target === 'nginx');
      const nginxRow = nginxRuns.reduce((best, m) => (Math.abs(reqPerCpuS(m) - baseline) < Math.abs(reqPerCpuS(best) - baseline) ? m : best));
      const rank = (t: Target): number => (t === 'direct' ? 0 : t === 'nginx' ? 1 : t === 'switchyard' ? 3 : t === 'node-raw' ? 4 : 2);
      measurements.push(...kept.runs.filter((m) => m.target !== 'nginx' || m === nginxRow).sort((a, b) => rank(a.target) - rank(b.target)));
      nginxBaseline.set(`${mode}/${connections}`, baseline);
      configurations.push({ mode, connections, attempts: attempts.map(({ nginxReqPerCpuS, drift }) => ({ nginxReqPerCpuS, drift })), load: [load0, sampleLoad()] });
    }
    if (failures.length > 0) break;
  }

  // A peer running one instance per model counts its largest instance (each is a whole router).
  const peakRssMb = new Map<Target, number>([...proxies].map(([target, list]) => [target, Math.max(...list.map((s) => treePeakRssMb(s.pid)))]));
  const engineRssMb = treePeakRssMb(engine.pid);
  const exitedEarly = services.filter((s) => s.exited).map((s) => s.name);
  if (exitedEarly.length > 0) failures.push(`exited during the benchmark: ${exitedEarly.join(', ')}`);
  await stopAll();

  const loadAfter = sampleLoad();
  const rows = buildRows(measurements, nginxBaseline);
  const checks = checkTargets(rows, peakRssMb.get('switchyard') ?? 0, LOAD_CONNECTIONS);
  console.log('');
  console.log(describeLoad(loadBefore, loadAfter, cores));
  for (const c of configurations) {
    const drifts = c.attempts.map((a) => `${(a.drift * 100).toFixed(0)} %`).join(' then ');
    console.log(`  ${c.mode} c=${c.connections}: nginx baselines ${drifts} from their median` +
      `${c.attempts.length > 1 ? ` (${c.attempts.length} attempts, the steadiest kept)` : ''}; loadavg ${c.load[0].loadavg[0].toFixed(2)} -> ${c.load[1].loadavg[0].toFixed(2)}`);
  }
  console.log('');
  console.log(formatTable(rows, peakRssMb, notRun));
  console.log(`\nProxy CPU per request at c=${LOAD_CONNECTIONS}:\n${formatCpuSplit(rows, LOAD_CONNECTIONS, sseEventsByTarget)}`);
  console.log('');
  console.log(formatTargets(checks));

  const versions = {
    node: process.version,
    nginx: versionOf('nginx', ['-v'], /nginx\/(\S+)/),
    wrk: versionOf('wrk', ['-v'], /^wrk (\S+)/m),
    switchyardCommit: gitCommit(),
    peers: Object.fromEntries(PEER_NAMES.map((p) => [p, PEER_VERSIONS[p]])),
  };
  const result = {
    benchmark: 'proxy',
    timestamp: started.toISOString(),
    machine: { cores, cpuModel: cpus()[0]?.model ?? 'unknown', kernel: release(), pinned, loadBefore, loadAfter },
    versions,
    settings: {
      durationS, warmupS, settleS, jsonBackend, tokens: TOKENS, connections: CONNECTIONS, peers: PEER_NAMES, rawNode: flags['raw-node'], repeats: REPEATS, switchyardNodeFlags: [...SHEBANG_NODE_FLAGS, ...SWITCHYARD_NODE_FLAGS], switchyardArgs: SWITCHYARD_ARGS,
      bodies: { json: requestBody('json'), sse: requestBody('sse') },
    },
    rows,
    notRun: Object.fromEntries(notRun),
    configurations,
    peakRssMb: { ...Object.fromEntries(peakRssMb), engine: engineRssMb },
    targets: checks,
    failures,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const resultPath = join(RESULTS_DIR, `proxy-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(resultPath, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nnode ${versions.node}, nginx ${versions.nginx}, wrk ${versions.wrk}, switchyard ${versions.switchyardCommit}`);
  console.log(`results: ${resultPath}`);
  if (flags['cpu-prof']) console.log(`Switchyard CPU profile(s): ${profileDir}`);

  if (failures.length > 0) {
    console.error(`\nBENCHMARK FAILED: the numbers above must not be used.\n${failures.join('\n')}`);
    for (const service of services) console.error(`\n--- ${service.name} log (${service.logPath}) ---\n${logTail(service, 15)}`);
    return 1;
  }
  if (!flags['keep-temp'] && !flags['cpu-prof']) rmSync(workDir, { recursive: true, force: true });
  return 0;
}

process.once('SIGINT', () => {
  void stopAll().then(() => process.exit(130));
});

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`benchmark error: ${err instanceof Error ? err.message : String(err)}`);
    void stopAll().then(() => process.exit(1));
  },
);
