// Scale benchmark: `npm run bench:scale` (the script line runs Node with --expose-gc and raises the open-file limit
// to the hard limit). Three phases:
//
// 1. Configuration at size (in-process): 1,000 ModelRoutes, 1,000 ModelServers and 10,000 Pod stubs as YAML text
//    in 12 files (config-gen.ts), loaded with the real loader (loadResourcesFromTexts: parse + validate) and
//    compiled by SnapshotStore.apply, with the listeners the router attaches to every swap that need no network
//    (upstream pools, pod state, engine state, scheduler plugins). Timed: the first load in the fresh process (what
//    start-up costs), the same again with warm code, and hot reloads as the file watcher does them after one
//    document changed (a ModelRoute's weights; a Pod stub's readiness): every file read again, validated, compiled,
//    swapped. Heap held = heapUsed after global.gc() with one more configuration loaded into a store of its own,
//    minus without it, all code warm; and the heap after all the reloads minus after the first two (a leak would
//    make it grow with --reloads).
// 2. Per-request cost at that size (in-process): resolveRoute (route matching + ModelServer lookup) and one
//    scheduling decision with the default profile (FrameworkPicker.schedule + prefix-cache's served hook) over the
//    chosen ModelServer's 10 pods, with scraped engine state for all 10,000 pods, for requests spread over every
//    route (some LoRA, some matching the header rules). Each call is timed on its own (process.hrtime.bigint);
//    route matching is also timed back to back, apart from scheduling.
// 3. Streams (child processes): the real router (stream-router.ts: startRouterApp, as `switchyard serve`; scheduling
//    by least-request alone, see below) in front of mock engines, `--streams` concurrent streaming completions held open (one token every 5 s), opened in waves
//    of 250; once every stream has had its first chunk, the router's memory after a full GC minus its memory before
//    (after a warm-up), divided by the number of streams; then every client disconnects and the router must get
//    back to no active request. A second round does it all again: the memory left after it shows whether closed
//    streams leave anything behind. The engines are 8 mocks in one process: the router keeps at most 1,024 upstream
//    connections per pod (UpstreamPools), so one pod cannot hold 5,000 streams.
//
// Options: --servers N (1000)  --pods-per-server N (10)  --iterations N (100000)  --reloads N (5 of each kind)
//          --streams N (5000)  --stream-engines N (8)  --stream-rounds N (2)  --skip-streams
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { EngineStateTable } from '../../src/engines/engine-state.ts';
import { PodStateTable } from '../../src/pods/pod-state.ts';
import { UpstreamPools } from '../../src/proxy/upstream-pools.ts';
import { loadResourcesFromTexts, type ParseCache } from '../../src/resources/load-documents.ts';
import type { RequestFacts } from '../../src/routing/match-route.ts';
import { buildProfile } from '../../src/scheduling/config/build-profile.ts';
import { defaultSchedulerConfig } from '../../src/scheduling/config/router-config.ts';
import { FrameworkPicker } from '../../src/scheduling/framework/framework-picker.ts';
import type { ScheduleRequest } from '../../src/scheduling/pod-picker.ts';
import { resolveRoute } from '../../src/pipeline/resolve-route.ts';
import { SnapshotStore } from '../../src/snapshot/snapshot-store.ts';
import type { RoutingSnapshot } from '../../src/snapshot/types.ts';
import type { FleetReady, FleetSpec } from '../routing/fleet.ts';
import { seeded } from '../routing/workload.ts';
import { generateConfig, podIp, routeYaml, type ConfigFile } from './config-gen.ts';
import { podChurnPhase } from './pod-churn.ts';
import { POD_CHANGES_PER_TURN } from '../../src/sources/kubernetes/kubernetes-source.ts';
import type { ChildMessage, ParentMessage, RouterMemory } from './stream-router.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const FLEET_SCRIPT = fileURLToPath(new URL('../routing/fleet.ts', import.meta.url));
const ROUTER_SCRIPT = fileURLToPath(new URL('./stream-router.ts', import.meta.url));

const { values: flags } = parseArgs({
  options: {
    servers: { type: 'string', default: '1000' },
    'pods-per-server': { type: 'string', default: '10' },
    iterations: { type: 'string', default: '100000' },
    reloads: { type: 'string', default: '5' },
    streams: { type: 'string', default: '5000' },
    'stream-engines': { type: 'string', default: '8' },
    'stream-rounds': { type: 'string', default: '2' },
    'skip-streams': { type: 'boolean', default: false },
  },
});
const whole = (name: string, value: string, min: number): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number >= ${min}, got ${value}`);
  return n;
};
const SERVERS = whole('servers', flags.servers, 2);
const PODS_PER_SERVER = whole('pods-per-server', flags['pods-per-server'], 1);
const ITERATIONS = whole('iterations', flags.iterations, 100);
const RELOADS = whole('reloads', flags.reloads, 1);
const STREAMS = whole('streams', flags.streams, 1);
const STREAM_ENGINES = whole('stream-engines', flags['stream-engines'], 1);
const STREAM_ROUNDS = whole('stream-rounds', flags['stream-rounds'], 1);
const PODS_PER_FILE = 1000;

const gc = globalThis.gc;
if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench:scale does)');
const collect = (): void => {
  gc();
  gc();
};
const MB = 1024 * 1024;
const ms = (ns: bigint | number): number => Number(ns) / 1e6;

interface Summary {
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  readonly max: number;
}

function summarise(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  let total = 0;
  for (const v of sorted) total += v;
  return { p50: at(0.5), p99: at(0.99), mean: total / sorted.length, max: sorted[sorted.length - 1] };
}

// ---------------------------------------------------------------- phase 1: configuration load and hot reload

interface LoadTiming {
  readonly parseValidateMs: number;
  readonly compileSwapMs: number;
  readonly totalMs: number;
}

/** The router's swap listeners that need no network (router-app.ts): pools, pod state, engine state, plugins. */
function routerLikeStore(): { store: SnapshotStore; podStates: PodStateTable; engines: EngineStateTable; picker: FrameworkPicker; follow: () => void } {
  const store = new SnapshotStore();
  const podStates = new PodStateTable();
  const engines = new EngineStateTable({ staleAfterMs: 24 * 3600_000 });
  const pools = new UpstreamPools();
  const picker = new FrameworkPicker(buildProfile(defaultSchedulerConfig(), { podStates, engines, random: Math.random }), { podStates });
  const follow = (): void => {
    const next = store.snapshot!;
    pools.retain(next.endpoints);
    podStates.retain(next.endpoints);
    engines.retain(new Set(next.endpoints.keys()));
    picker.retain(next.endpoints);
  };
  // As router-app.ts: after pod-only swaps this runs once per burst, on a timer (pod-churn.ts times it apart).
  store.onSwap((_next, _previous, podsOnly) => {
    if (!podsOnly) follow();
  });
  return { store, podStates, engines, picker, follow };
}

/**
 * Loads the files into the store and returns the timing and the counts only: a snapshot held in a local variable
 * of a running function stays reachable, and would be counted in the heap measured after it.
 */
function load(
  store: SnapshotStore,
  files: readonly ConfigFile[],
  expectPods: number,
  cache?: ParseCache,
): { timing: LoadTiming; stats: RoutingSnapshot['stats'] } {
  const t0 = process.hrtime.bigint();
  const loaded = loadResourcesFromTexts(files, cache);
  const t1 = process.hrtime.bigint();
  const result = store.apply({ source: 'file', resources: loaded.resources, issues: loaded.issues });
  const t2 = process.hrtime.bigint();
  if (!result.accepted) throw new Error(`configuration rejected: ${result.issues.slice(0, 5).map((i) => i.message).join('; ')}`);
  const stats = result.snapshot.stats;
  if (stats.pods !== expectPods) throw new Error(`expected ${expectPods} ready pods, got ${stats.pods}`);
  return { timing: { parseValidateMs: ms(t1 - t0), compileSwapMs: ms(t2 - t1), totalMs: ms(t2 - t0) }, stats };
}

interface ConfigPhase {
  readonly yamlBytes: number;
  readonly files: number;
  readonly stats: RoutingSnapshot['stats'];
  /** In a fresh process: what the router pays at start-up. */
  readonly firstLoad: LoadTiming;
  /** The same into a new store, with warm code. */
  readonly warmLoad: LoadTiming;
  /** Heap a loaded configuration holds (snapshot and the listeners' state; after GC; YAML text excluded). */
  readonly heapHeldMB: number;
  /** Peak heap during the first load (before GC), minus the heap before. */
  readonly heapPeakDuringLoadMB: number;
  readonly reloadRouteWeight: readonly LoadTiming[];
  readonly reloadPodReadiness: readonly LoadTiming[];
  /** Heap after all the reloads minus after the first two (after GC): not above 0 unless reloads leak. */
  readonly heapChangeOverReloadsMB: number;
}

/** Loads into a store of its own, dropped on return (a function's frame keeps its temporaries reachable). */
function coldLoad(files: readonly ConfigFile[], expectPods: number): { first: ReturnType<typeof load>; peak: number } {
  const first = load(routerLikeStore().store, files, expectPods);
  return { first, peak: process.memoryUsage().heapUsed };
}

/** The heap (after GC) while one more configuration is loaded into a store of its own; the store goes on return. */
function heapWithExtraStore(files: readonly ConfigFile[], expectPods: number): number {
  const extra = routerLikeStore();
  load(extra.store, files, expectPods);
  collect();
  const heap = process.memoryUsage().heapUsed;
  if (extra.store.snapshot === null) throw new Error('unreachable');
  return heap;
}

/** A flat copy: an edited string can be a rope holding on to the text it was edited from. */
function flat(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

function configPhase(): { result: ConfigPhase; snapshot: RoutingSnapshot; parts: ReturnType<typeof routerLikeStore> } {
  const files = generateConfig({ servers: SERVERS, podsPerServer: PODS_PER_SERVER, podsPerFile: PODS_PER_FILE });
  const yamlBytes = files.reduce((s, f) => s + Buffer.byteLength(f.text), 0);
  const allPods = SERVERS * PODS_PER_SERVER;
  // The first load in a fresh process (cold code), as at router start-up; its store is then dropped.
  collect();
  const coldBefore = process.memoryUsage().heapUsed;
  const { first, peak } = coldLoad(files, allPods);
  const parts = routerLikeStore();
  // The file source keeps each file's parse and re-parses only files whose text changed; so do the reloads here.
  const parseCache: ParseCache = new Map();
  const warm = load(parts.store, files, allPods, parseCache);

  const routes = files.find((f) => f.file === 'routes.yaml')!;
  const target = Math.floor(SERVERS / 2);
  const pod = Math.floor(allPods / 3);
  const podFile = files.find((f) => f.file === `pods-${String(Math.floor(pod / PODS_PER_FILE)).padStart(2, '0')}.yaml`)!;
  const ready = `podIP: ${podIp(pod)}\n  phase: Running\n  conditions: [{type: Ready, status: "True"}]`;
  const notReady = ready.replace('"True"', '"False"');
  const reloadRouteWeight: LoadTiming[] = [];
  const reloadPodReadiness: LoadTiming[] = [];
  let afterFirstRound = 0;
  for (let r = 0; r < RELOADS; r++) {
    if (r === 1) {
      collect();
      afterFirstRound = process.memoryUsage().heapUsed;
    }
    // One ModelRoute's weights change (90/10 → 80/20 → 90/10 …).
    const oldRoute = routeYaml(target, SERVERS, r % 2 === 0 ? 90 : 80);
    if (!routes.text.includes(oldRoute)) throw new Error('route document not found');
    routes.text = flat(routes.text.replace(oldRoute, routeYaml(target, SERVERS, r % 2 === 0 ? 80 : 90)));
    reloadRouteWeight.push(load(parts.store, files, r % 2 === 0 ? allPods : allPods - 1, parseCache).timing);
    // One Pod stub becomes not ready, or ready again (the ModelServer's pod list and the endpoint set change).
    if (!podFile.text.includes(r % 2 === 0 ? ready : notReady)) throw new Error('pod document not found');
    podFile.text = flat(r % 2 === 0 ? podFile.text.replace(ready, notReady) : podFile.text.replace(notReady, ready));
    reloadPodReadiness.push(load(parts.store, files, r % 2 === 0 ? allPods - 1 : allPods, parseCache).timing);
  }
  collect();
  const afterReloads = process.memoryUsage().heapUsed;
  // What one loaded configuration holds: the heap with one more, loaded into a store of its own, minus without it,
  // with every code path warm (bytecode and type feedback live on the heap too, and would count otherwise).
  const withExtra = heapWithExtraStore(files, RELOADS % 2 === 1 ? allPods - 1 : allPods);
  collect();
  const without = process.memoryUsage().heapUsed;
  return {
    result: {
      yamlBytes,
      files: files.length,
      stats: first.stats,
      firstLoad: first.timing,
      warmLoad: warm.timing,
      heapHeldMB: (withExtra - without) / MB,
      heapPeakDuringLoadMB: (peak - coldBefore) / MB,
      reloadRouteWeight,
      reloadPodReadiness,
      heapChangeOverReloadsMB: RELOADS > 1 ? (afterReloads - afterFirstRound) / MB : NaN,
    },
    snapshot: parts.store.snapshot!,
    parts,
  };
}

// ---------------------------------------------------------------- phase 2: per-request cost at size

interface RequestPhase {
  /** Timed within the request loop (interleaved with scheduling). */
  readonly routeMatchUs: Summary;
  /** Timed in a loop of its own. */
  readonly routeMatchAloneUs: Summary;
  readonly scheduleUs: Summary;
  readonly totalUs: Summary;
  readonly timerOverheadUs: number;
  readonly candidatesPerRequest: number;
  readonly prefixStoreHashes: number;
}

function requestPhase(snapshot: RoutingSnapshot, parts: ReturnType<typeof routerLikeStore>): RequestPhase {
  const random = seeded(7);
  const now = Date.now();
  // Scraped state for every pod, as a busy cluster shows it.
  for (const origin of snapshot.endpoints.keys()) {
    const inFlight = Math.floor(random() * 8);
    parts.podStates.get(origin).inFlight = inFlight;
    const state = parts.engines.get(origin);
    const waiting = random() < 0.05 ? 12 : Math.floor(random() * 3);
    const metrics = { waiting, running: inFlight + Math.floor(random() * 24), kvCacheUsage: 0.1 + random() * 0.8 };
    state.applyMetrics({ ...metrics, ttft: { sum: 40, count: 400 }, tpot: { sum: 300, count: 12_000 } }, now);
    state.applyMetrics({ ...metrics, ttft: { sum: 40 + random() * 10, count: 420 }, tpot: { sum: 300 + random() * 20, count: 12_800 } }, now);
  }
  const picker = parts.picker;
  const text = (chars: number): string => {
    const words = 'route pod cache prefix engine batch token stream model server queue adapter'.split(' ');
    let out = '';
    while (out.length < chars) out += `${words[Math.floor(random() * words.length)]} `;
    return out.slice(0, chars);
  };
  const systems = Array.from({ length: 64 }, (_, i) => `System prompt ${i}: ${text(1500)}`);
  const VARIANTS = 4096;
  const variants = Array.from({ length: VARIANTS }, () => {
    const i = Math.floor(random() * SERVERS);
    const roll = random();
    const lora = i % 5 === 0 && roll < 0.5;
    const model = lora ? `lora-${i}-${roll < 0.25 ? 'a' : 'b'}` : `model-${i}`;
    const rawHeaders = ['host', 'router.example.com', 'content-type', 'application/json', 'authorization', 'Bearer sk-bench'];
    if (roll > 0.95) rawHeaders.push('x-tenant', `t-${i}`);
    else if (roll > 0.9) rawHeaders.push('x-beta', 'on');
    const facts: RequestFacts = { model, path: '/v1/chat/completions', rawHeaders };
    const body = {
      model,
      messages: [
        { role: 'system', content: systems[Math.floor(random() * systems.length)] },
        { role: 'user', content: text(400) },
      ],
      stream: true,
    };
    return { facts, body };
  });

  let candidates = 0;
  const step = (k: number, timings: { match: Float64Array; schedule: Float64Array } | null): void => {
    const { facts, body } = variants[k % VARIANTS];
    const t0 = process.hrtime.bigint();
    const resolved = resolveRoute(snapshot, facts);
    const t1 = process.hrtime.bigint();
    if (!resolved.ok) throw new Error(`no route for ${facts.model}: ${resolved.error.message}`);
    if (resolved.server === null) throw new Error(`${facts.model} routes to an external provider`);
    const request: ScheduleRequest = {
      model: facts.model,
      upstreamModel: resolved.upstreamModel,
      isLora: resolved.isLora,
      server: resolved.server,
      rawHeaders: facts.rawHeaders,
      body,
    };
    const ranked = picker.schedule(request, resolved.server.pods);
    if (ranked.length > 0) picker.served(request, ranked[0]);
    const t2 = process.hrtime.bigint();
    candidates += ranked.length;
    if (timings !== null) {
      timings.match[k] = Number(t1 - t0) / 1000;
      timings.schedule[k] = Number(t2 - t1) / 1000;
    }
  };
  const warmup = Math.min(20_000, ITERATIONS);
  for (let k = 0; k < warmup; k++) step(k, null);
  candidates = 0;
  const timings = { match: new Float64Array(ITERATIONS), schedule: new Float64Array(ITERATIONS) };
  for (let k = 0; k < ITERATIONS; k++) step(k, timings);
  const totals = timings.match.map((m, k) => m + timings.schedule[k]);
  // Route matching on its own, back to back: between scheduling decisions (which walk a large prefix store) its
  // data is out of the CPU caches, which is what the interleaved figure shows.
  const alone = new Float64Array(ITERATIONS);
  let matched = 0;
  for (let k = 0; k < ITERATIONS; k++) {
    const { facts } = variants[k % VARIANTS];
    const t0 = process.hrtime.bigint();
    const resolved = resolveRoute(snapshot, facts);
    alone[k] = Number(process.hrtime.bigint() - t0) / 1000;
    if (resolved.ok) matched++;
  }
  if (matched !== ITERATIONS) throw new Error('some requests found no route');

  const overhead = new Float64Array(10_000);
  for (let k = 0; k < overhead.length; k++) {
    const t0 = process.hrtime.bigint();
    overhead[k] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const prefix = picker.profile.scores.find((s) => s.plugin.name === 'prefix-cache')?.plugin as { store?: { size: number } } | undefined;
  return {
    routeMatchUs: summarise(timings.match),
    routeMatchAloneUs: summarise(alone),
    scheduleUs: summarise(timings.schedule),
    totalUs: summarise(totals),
    timerOverheadUs: summarise(overhead).p50,
    candidatesPerRequest: candidates / ITERATIONS,
    prefixStoreHashes: prefix?.store?.size ?? 0,
  };
}

// ---------------------------------------------------------------- phase 3: memory per open stream

interface StreamRound {
  readonly openSeconds: number;
  /** With every stream open. */
  readonly open: RouterMemory;
  /** Once every client disconnected and the router has no active request. */
  readonly afterClose: RouterMemory;
  /** Streams in flight on each engine with every stream open. */
  readonly perEngine: readonly number[];
}

interface StreamPhase {
  readonly streams: number;
  /** Every round opens and closes all the streams again (a leak would grow afterClose round after round). */
  readonly rounds: readonly StreamRound[];
  readonly engines: number;
  readonly openSeconds: number;
  readonly before: RouterMemory;
  readonly open: RouterMemory;
  readonly afterClose: RouterMemory;
  readonly perStreamKB: { readonly rss: number; readonly heapUsed: number; readonly external: number; readonly heapPlusExternal: number };
  readonly failures: number;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(130);
  });
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function stop(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  for (const stream of child.stdio) stream?.destroy();
}

function openFileLimit(): number | null {
  try {
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (match === null) return null;
    return match[1] === 'unlimited' ? Infinity : Number(match[1]);
  } catch {
    return null;
  }
}

class RouterChild {
  private readonly child: ChildProcess;
  private waiting: ((message: ChildMessage) => void) | null = null;
  readonly ready: Promise<string>;

  constructor(configDir: string, routerConfig: string, logPath: string) {
    const log = openSync(logPath, 'a');
    this.child = track(spawn(process.execPath, ['--expose-gc', ROUTER_SCRIPT, configDir, routerConfig], { cwd: ROOT, stdio: ['ignore', log, log, 'ipc'] }));
    closeSync(log);
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`the router exited (${code}); log:\n${readFileSync(logPath, 'utf8').slice(-3000)}`)));
      this.child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') resolve(message.url);
        else if (message.type === 'error') reject(new Error(`the router failed to start: ${message.message}`));
        else this.waiting?.(message);
      });
    });
  }

  measure(): Promise<RouterMemory> {
    return new Promise((resolve) => {
      this.waiting = (message) => {
        this.waiting = null;
        resolve(message as RouterMemory);
      };
      this.child.send({ type: 'measure' } satisfies ParentMessage);
    });
  }

  async close(): Promise<void> {
    if (this.child.connected) this.child.send({ type: 'exit' } satisfies ParentMessage);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    if (this.child.exitCode === null && this.child.signalCode === null) await new Promise((resolve) => this.child.once('exit', resolve));
    clearTimeout(timer);
  }
}

interface OpenStream {
  readonly first: Promise<void>;
  readonly done: Promise<void>;
  abort(): void;
}

function openStream(agent: Agent, url: string, name: string, failures: string[]): OpenStream {
  const controller = new AbortController();
  let firstSeen!: () => void;
  let failed!: (err: Error) => void;
  const first = new Promise<void>((resolve, reject) => {
    firstSeen = resolve;
    failed = reject;
  });
  const done = (async () => {
    try {
      const res = await request(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'stream-model', prompt: `stream ${name}: keep this open`, max_tokens: 200, stream: true }),
        dispatcher: agent,
        signal: controller.signal,
      });
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${(await res.body.text()).slice(0, 200)}`);
      for await (const chunk of res.body) {
        if ((chunk as Buffer).includes('"text"')) firstSeen();
      }
      throw new Error('the stream ended before it was closed');
    } catch (err) {
      if (!controller.signal.aborted) {
        failures.push((err as Error).message);
        failed(err as Error);
      }
    }
  })();
  first.catch(() => undefined);
  return { first, done, abort: () => controller.abort() };
}

async function streamPhase(): Promise<StreamPhase> {
  const limit = openFileLimit();
  // The client holds one socket per stream; the router two (client side and upstream); each has some more.
  const needed = 2 * STREAMS + 1000;
  if (limit !== null && limit < needed) {
    throw new Error(`the open-file limit is ${limit}; ${STREAMS} streams need about ${needed} in the router process. Raise it (ulimit -n) or pass --streams`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-scale-'));
  const configDir = join(dir, 'config');
  mkdirSync(configDir);
  let fleet: ChildProcess | null = null;
  let router: RouterChild | null = null;
  const agent = new Agent({ connections: null, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 60_000, bodyTimeout: 0 });
  try {
    const spec: FleetSpec = { count: STREAM_ENGINES, engine: { model: 'org/stream-model', mode: 'random', itlMs: 5000, seed: 1 } };
    const log = openSync(join(dir, 'fleet.log'), 'a');
    fleet = track(spawn(process.execPath, [FLEET_SCRIPT, JSON.stringify(spec)], { cwd: ROOT, stdio: ['pipe', 'pipe', log] }));
    closeSync(log);
    const lines = createInterface({ input: fleet.stdout! });
    const ready = await new Promise<FleetReady>((resolve, reject) => {
      fleet!.once('exit', (code) => reject(new Error(`the engines exited (${code}) before they were ready`)));
      lines.once('line', (line) => resolve(JSON.parse(line) as FleetReady));
    });
    lines.close();
    const docs = [
      `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelServer\nmetadata: {name: stream, namespace: default}\nspec:\n  workloadSelector: {matchLabels: {app: stream}}\n  workloadPort: {port: 8000}\n  model: org/stream-model\n  inferenceEngine: vLLM\n`,
      `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelRoute\nmetadata: {name: stream, namespace: default}\nspec:\n  modelName: stream-model\n  rules:\n  - name: default\n    targetModels: [{modelServerName: stream}]\n`,
      ...ready.engines.map(
        (e) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${e.name}\n  namespace: default\n  labels: {app: stream}\n  annotations: {switchyard.dev/port: "${e.port}"}\nstatus: {podIP: 127.0.0.1}\n`,
      ),
    ];
    writeFileSync(join(configDir, 'stream.yaml'), docs.join('---\n'));
    // Scheduling by in-flight count alone spreads the streams evenly. With the default profile, least-latency's
    // scores (min-max normalised interval means, noise here) outweigh least-request's and can pile streams onto one
    // pod until its 1,024 connections are taken; the streams beyond wait in the router's pool without a timeout.
    const routerConfig = join(dir, 'router.yaml');
    writeFileSync(routerConfig, 'scheduler:\n  plugins:\n    Filter: {enabled: []}\n    Score:\n      enabled: [{name: least-request, weight: 1}]\n');
    router = new RouterChild(configDir, routerConfig, join(dir, 'router.log'));
    const url = await router.ready;

    const failures: string[] = [];
    const perEngine = async (): Promise<number[]> =>
      Promise.all(ready.engines.map(async (e) => ((await (await fetch(`http://127.0.0.1:${e.port}/mock/stats`)).json()) as { inFlight: number }).inFlight));
    // Every stream has a prompt of its own, in every round.
    const openWave = async (tag: string, from: number, count: number, into: OpenStream[]): Promise<void> => {
      const wave = Array.from({ length: count }, (_, k) => openStream(agent, url, `${tag}-${from + k}`, failures));
      into.push(...wave);
      await Promise.all(wave.map((s) => s.first));
    };
    // Warm-up: a few hundred streams opened and closed, so lazy initialisation and pools exist before the baseline.
    const warm: OpenStream[] = [];
    await openWave('warm-up', 0, 200, warm);
    for (const s of warm) s.abort();
    await Promise.all(warm.map((s) => s.done));
    await waitForIdle(router);
    const before = await router.measure();

    const rounds: StreamRound[] = [];
    for (let round = 0; round < STREAM_ROUNDS; round++) {
      const streams: OpenStream[] = [];
      const WAVE = 250;
      const openStarted = performance.now();
      const openDeadline = openStarted + 120_000;
      for (let from = 0; from < STREAMS; from += WAVE) {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`streams not all open within 120 s (${from} opened)`)), Math.max(1, openDeadline - performance.now()));
        });
        try {
          await Promise.race([openWave(`round ${round + 1}`, from, Math.min(WAVE, STREAMS - from), streams), late]);
        } catch (err) {
          throw new Error(`round ${round + 1}: ${(err as Error).message}; streams in flight per engine: ${(await perEngine()).join(', ')}`, { cause: err });
        } finally {
          clearTimeout(timer);
        }
      }
      const openSeconds = (performance.now() - openStarted) / 1000;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const open = await router.measure();
      const spread = await perEngine();
      if (open.activeRequests < STREAMS) throw new Error(`the router counts ${open.activeRequests} active requests, expected ${STREAMS}`);
      for (const s of streams) s.abort();
      await Promise.all(streams.map((s) => s.done));
      await waitForIdle(router);
      rounds.push({ openSeconds, open, afterClose: await router.measure(), perEngine: spread });
    }
    const { openSeconds, open, afterClose } = rounds[0];
    const per = (a: number, b: number): number => (b - a) / STREAMS / 1024;
    return {
      streams: STREAMS,
      engines: STREAM_ENGINES,
      openSeconds,
      before,
      open,
      afterClose,
      rounds,
      perStreamKB: {
        rss: per(before.vmRss ?? before.rss, open.vmRss ?? open.rss),
        heapUsed: per(before.heapUsed, open.heapUsed),
        external: per(before.external, open.external),
        heapPlusExternal: per(before.heapUsed + before.external, open.heapUsed + open.external),
      },
      failures: failures.length,
    };
  } finally {
    await agent.destroy().catch(() => undefined);
    if (router !== null) await router.close();
    if (fleet !== null) await stop(fleet);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitForIdle(router: RouterChild): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if ((await router.measure()).activeRequests === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('the router still had active requests 30 s after every client closed');
}

// ---------------------------------------------------------------- main

const started = Date.now();
const f1 = (n: number): string => n.toFixed(1);
const f2 = (n: number): string => n.toFixed(2);

process.stderr.write(`phase 1: loading ${SERVERS} ModelRoutes, ${SERVERS} ModelServers, ${SERVERS * PODS_PER_SERVER} Pod stubs …\n`);
const config = configPhase();
const c = config.result;
const median = (timings: readonly LoadTiming[], key: keyof LoadTiming): number => summarise(timings.map((t) => t[key])).p50;
const worst = (timings: readonly LoadTiming[]): number => Math.max(...timings.map((t) => t.totalMs));
process.stdout.write(
  `configuration: ${c.stats.routes} ModelRoutes, ${c.stats.servers} ModelServers, ${c.stats.pods} ready pods; ${(c.yamlBytes / MB).toFixed(1)} MB of YAML in ${c.files} files\n` +
    '                               parse+validate ms   compile+swap ms   total ms\n' +
    `  first load (cold process)    ${f1(c.firstLoad.parseValidateMs).padStart(17)}   ${f1(c.firstLoad.compileSwapMs).padStart(15)}   ${f1(c.firstLoad.totalMs).padStart(8)}\n` +
    `  load again (warm code)       ${f1(c.warmLoad.parseValidateMs).padStart(17)}   ${f1(c.warmLoad.compileSwapMs).padStart(15)}   ${f1(c.warmLoad.totalMs).padStart(8)}\n` +
    `  reload, a route's weights    ${f1(median(c.reloadRouteWeight, 'parseValidateMs')).padStart(17)}   ${f1(median(c.reloadRouteWeight, 'compileSwapMs')).padStart(15)}   ${f1(median(c.reloadRouteWeight, 'totalMs')).padStart(8)}   (median of ${RELOADS}; worst ${f1(worst(c.reloadRouteWeight))})\n` +
    `  reload, a pod's readiness    ${f1(median(c.reloadPodReadiness, 'parseValidateMs')).padStart(17)}   ${f1(median(c.reloadPodReadiness, 'compileSwapMs')).padStart(15)}   ${f1(median(c.reloadPodReadiness, 'totalMs')).padStart(8)}   (median of ${RELOADS}; worst ${f1(worst(c.reloadPodReadiness))})\n` +
    `  heap held by a loaded configuration ${f1(c.heapHeldMB)} MB (after GC; peak during the first load +${f1(c.heapPeakDuringLoadMB)} MB); ` +
    `heap after reload ${2 * RELOADS} minus after reload 2: ${Number.isNaN(c.heapChangeOverReloadsMB) ? '-' : `${f1(c.heapChangeOverReloadsMB)} MB`}\n` +
    '  (a reload re-parses only the files whose text changed, like the file source; it runs synchronously, blocking the event loop that long)\n',
);

const churn = podChurnPhase(config.parts.store, summarise, config.parts.follow);
process.stdout.write(
  `\npod churn (Kubernetes mode: SnapshotStore.applyPodChanges with the router's swap listeners, ${c.stats.servers} ModelServers, ${churn.podsAfter} ready pods)\n` +
    '                                               p50 ms     p99 ms     max ms\n' +
    `  one pod event (${churn.events}, unready/ready)     ${f2(churn.singleEventMs.p50).padStart(10)} ${f2(churn.singleEventMs.p99).padStart(10)} ${f2(churn.singleEventMs.max).padStart(10)}\n` +
    `  a burst of ${churn.burstEvents} pod events, per turn ${f2(churn.burstMs.p50).padStart(10)} ${f2(churn.burstMs.p99).padStart(10)} ${f2(churn.burstMs.max).padStart(10)}   (${POD_CHANGES_PER_TURN} pods per event-loop turn; longest stretch = max)\n` +
    `  pools/state follow the endpoints         ${f2(churn.followMs.p50).padStart(10)} ${f2(churn.followMs.p99).padStart(10)} ${f2(churn.followMs.max).padStart(10)}   (once per burst, 100 ms later)\n`,
);

process.stderr.write(`phase 2: ${ITERATIONS} requests routed and scheduled …\n`);
const req = requestPhase(config.snapshot, config.parts);
process.stdout.write(
  `\nper request at that size (${ITERATIONS} requests over all routes, 10% LoRA, 10% matching a header rule; ${f1(req.candidatesPerRequest)} of ${PODS_PER_SERVER} pods kept per decision;\n` +
    `prefix-cache store ${req.prefixStoreHashes} hashes at the end; timer overhead ~${f2(req.timerOverheadUs)} µs included)\n` +
    '                                               p50 µs     p99 µs    mean µs\n' +
    `  route matching (resolveRoute)            ${f2(req.routeMatchUs.p50).padStart(10)} ${f2(req.routeMatchUs.p99).padStart(10)} ${f2(req.routeMatchUs.mean).padStart(10)}\n` +
    `    the same, back to back                 ${f2(req.routeMatchAloneUs.p50).padStart(10)} ${f2(req.routeMatchAloneUs.p99).padStart(10)} ${f2(req.routeMatchAloneUs.mean).padStart(10)}\n` +
    `  scheduling (default profile + served)    ${f2(req.scheduleUs.p50).padStart(10)} ${f2(req.scheduleUs.p99).padStart(10)} ${f2(req.scheduleUs.mean).padStart(10)}\n` +
    `  both, per request                        ${f2(req.totalUs.p50).padStart(10)} ${f2(req.totalUs.p99).padStart(10)} ${f2(req.totalUs.mean).padStart(10)}\n`,
);

let streams: StreamPhase | null = null;
if (!flags['skip-streams']) {
  process.stderr.write(`phase 3: ${STREAMS} concurrent streams …\n`);
  try {
    streams = await streamPhase();
  } catch (err) {
    process.stdout.write(`\nSTREAM PHASE FAILED: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
if (streams !== null) {
  const s = streams;
  const row = (label: string, m: RouterMemory): string =>
    `  ${label.padEnd(26)} ${f1((m.vmRss ?? m.rss) / MB).padStart(8)} ${f1(m.heapUsed / MB).padStart(9)} ${f1(m.heapTotal / MB).padStart(14)} ${f1(m.external / MB).padStart(12)} ${String(m.activeRequests).padStart(7)}\n`;
  process.stdout.write(
    `\nrouter memory with ${s.streams} open streams (${s.engines} engines, as the router opens at most 1,024 connections per pod; ` +
      `opened in ${f1(s.openSeconds)} s, ${Math.min(...s.rounds[0].perEngine)}-${Math.max(...s.rounds[0].perEngine)} per engine; measured after a full GC)\n` +
      '                               RSS MB   heap MB  heap total MB  external MB  active\n' +
      row('before (after warm-up)', s.before) +
      row(`${s.streams} streams open`, s.open) +
      row('all closed again', s.afterClose) +
      s.rounds.slice(1).map((r, i) => row(`round ${i + 2}: open`, r.open) + row(`round ${i + 2}: closed again`, r.afterClose)).join('') +
      `  per open stream: ${f1(s.perStreamKB.rss)} KB RSS, ${f1(s.perStreamKB.heapUsed)} KB JS heap, ${f1(s.perStreamKB.external)} KB external` +
      `${s.failures > 0 ? `; ${s.failures} STREAMS FAILED` : ''}\n`,
  );
}

mkdirSync(RESULTS_DIR, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const file = join(RESULTS_DIR, `scale-${stamp}.json`);
writeFileSync(
  file,
  `${JSON.stringify(
    {
      benchmark: 'scale',
      date: new Date().toISOString(),
      node: process.version,
      os: `${process.platform} ${release()}`,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      openFileLimit: openFileLimit(),
      config: c,
      perRequest: req,
      podChurn: churn,
      streams,
      durationS: (Date.now() - started) / 1000,
    },
    (_key, value: unknown) => (value === Infinity ? 'unlimited' : value),
    2,
  )}\n`,
);
process.stdout.write(`\nresults: ${file} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
if (streams !== null && streams.failures > 0) process.exitCode = 1;
