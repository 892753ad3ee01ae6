// Routing quality benchmark: `npm run bench:routing`. See bench/README.md and the files next to this one:
// workload.ts (the shared-prefix multi-turn workload), load.ts (the open-loop client), profiles.ts (the scheduler
// configurations compared), fleet.ts (the simulated engines' process).
//
// For each scheduler configuration, with nothing shared between runs: a fresh fleet of simulated engines (one child
// process), the real router as a child process (`switchyard serve --router-config FILE`, engine metrics scraped every
// second as Kthena does), then the same seeded workload sent open-loop through the router over HTTP. Measured at the
// client: TTFT (first content chunk), completed requests and output tokens per second over the run (first send to
// last completion); from the engines (GET /mock/stats): prefix-cache hit rate (tokens found in the cache / prompt
// tokens looked up) and load imbalance (max / mean requests per engine). Every figure is also shown as a ratio to
// the random configuration. Every request must succeed; errors are counted, printed, and flag the run.
//
// Options: --seed N (1)  --engines N (6)  --duration S (arrival window; 30; shared-prefix: prompts / rate)  --rate R (requests/s; 15)
//          --configs a,b,… (random,least-request,kthena-default,switchyard-default,smg-cache-aware,vllm-router-cache-aware;
//            see profiles.ts and peer-routers.ts for more)
//          --loads a,b (open,48: the open loop at --rate, then 48 clients back to back; one table and one JSON file each)
//          --drain-limit S (after the last arrival, abort what still runs; 30)  --keep-temp (also: the router writes an access log there)
//          --repeats N (1: runs per configuration, in rounds; each row is the median run by mean TTFT, every run listed)
//          --workload multi-turn|shared-prefix-a|shared-prefix-c|hot-prefix (the Inference Extension's canonical shapes, scaled, and one shared system prompt;
//            shared-prefix.ts)  --closed-loop N (N clients back to back instead of open-loop arrivals: saturation;
//            the same as --loads N)
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { FleetReady, FleetSpec, OracleTotals } from './fleet.ts';
import type { FleetEngineSettings } from './fleet-settings.ts';
import { runLoad, type RequestResult } from './load.ts';
import { describeLoad, sampleLoad } from '../proxy/noise.ts';
import { peerProfileByName, preparePeers, startPeer, type PeerProfile } from './peer-routers.ts';
import { profileByName, type Profile } from './profiles.ts';
import { sharedPrefixSpec, SHARED_PREFIX_SHAPES } from './shared-prefix.ts';
import { generateWorkload, type Workload, type WorkloadSpec } from './workload.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const SWITCHYARD_BIN = join(ROOT, 'bin', 'switchyard.js');
const FLEET_SCRIPT = fileURLToPath(new URL('./fleet.ts', import.meta.url));
const ENGINE_MODEL = 'sim/llm-8b';
const ROUTE_MODEL = 'llm';
const ADAPTERS = ['lora-sql', 'lora-legal', 'lora-medical', 'lora-code'];

const { values: flags } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    engines: { type: 'string', default: '6' },
    duration: { type: 'string' },
    rate: { type: 'string', default: '15' },
    configs: { type: 'string', default: 'random,least-request,kthena-default,switchyard-default,smg-cache-aware,vllm-router-cache-aware' },
    workload: { type: 'string', default: 'multi-turn' },
    loads: { type: 'string', default: 'open,48' },
    'closed-loop': { type: 'string' },
    'drain-limit': { type: 'string', default: '30' },
    'keep-temp': { type: 'boolean', default: false },
    repeats: { type: 'string', default: '1' },
  },
});
const positive = (name: string, value: string, integer: boolean): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be a ${integer ? 'whole ' : ''}number > 0, got ${value}`);
  return n;
};
const SEED = positive('seed', flags.seed, true);
const ENGINES = positive('engines', flags.engines, true);
/** Multi-turn: 30 s by default; shared-prefix: the shape's prompt count / rate unless given. */
const DURATION_S = flags.duration === undefined ? undefined : positive('duration', flags.duration, false);
const RATE = positive('rate', flags.rate, false);
const DRAIN_LIMIT_S = positive('drain-limit', flags['drain-limit'], false);
/** Each load in turn: undefined = the open loop at RATE, N = N clients back to back (saturation). */
const LOADS: (number | undefined)[] = flags['closed-loop'] !== undefined
  ? [positive('closed-loop', flags['closed-loop'], true)]
  : flags.loads.split(',').map((load) => (load.trim() === 'open' ? undefined : positive('loads', load.trim(), true)));
/** Runs per configuration, in rounds (every configuration once per round, so a noisy minute hits them all). */
const REPEATS = positive('repeats', flags.repeats, true);
const PROFILES: (Profile | PeerProfile)[] = flags.configs.split(',').map((name) => peerProfileByName(name.trim()) ?? profileByName(name.trim()));
const isPeer = (p: Profile | PeerProfile): p is PeerProfile => 'peer' in p;

const MULTI_TURN: WorkloadSpec = {
  seed: SEED,
  durationS: DURATION_S ?? 30,
  rate: RATE,
  groups: 24,
  systemTokens: [2000, 3000],
  questionTokens: [40, 120],
  historyAnswerTokens: [20, 60],
  outputTokens: [16, 96],
  turns: [2, 6],
  openConversations: 48,
  minTurnGapS: 2,
  loraShare: 0.25,
  adapters: ADAPTERS,
  model: ROUTE_MODEL,
};
if (flags.workload !== 'multi-turn' && !(SHARED_PREFIX_SHAPES as readonly string[]).includes(flags.workload)) {
  throw new Error(`--workload takes multi-turn, ${SHARED_PREFIX_SHAPES.join(', ')}`);
}
const WORKLOAD: WorkloadSpec = flags.workload === 'multi-turn' ? MULTI_TURN
  : sharedPrefixSpec(flags.workload as (typeof SHARED_PREFIX_SHAPES)[number], { seed: SEED, model: ROUTE_MODEL, rate: RATE, durationS: DURATION_S });

const workload = generateWorkload(WORKLOAD);
const charsPerToken = (() => {
  let chars = 0;
  let tokens = 0;
  for (const r of workload.requests) {
    chars += r.body.length;
    tokens += r.promptTokens;
  }
  return chars / tokens;
})();

/** Engines whose KV cache holds ~7 of the 24 system prompts (plus what runs), so not every prefix fits everywhere. */
const FLEET: FleetEngineSettings = {
  engines: ENGINES,
  maxNumSeqs: 32,
  maxNumBatchedTokens: 1024,
  kvBlocks: 1280,
  blockSize: 16,
  prefillMsPerToken: 0.15,
  decodeMsBase: 20,
  decodeMsPerSeq: 0.3,
  maxLoras: 2,
  loraLoadMs: 40,
  charsPerToken,
};

// ---------------------------------------------------------------- child processes

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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Fleet {
  readonly child: ChildProcess;
  readonly engines: FleetReady['engines'];
  readonly oraclePort: number;
}

async function startFleet(logPath: string, kvEvents: boolean): Promise<Fleet> {
  const spec: FleetSpec = {
    count: FLEET.engines,
    kvEvents,
    engine: {
      model: ENGINE_MODEL,
      loraAdapters: ADAPTERS,
      mode: 'random',
      seed: SEED,
      simulate: true,
      maxNumSeqs: FLEET.maxNumSeqs,
      maxNumBatchedTokens: FLEET.maxNumBatchedTokens,
      kvBlocks: FLEET.kvBlocks,
      blockSize: FLEET.blockSize,
      prefillMsPerToken: FLEET.prefillMsPerToken,
      decodeMsBase: FLEET.decodeMsBase,
      decodeMsPerSeq: FLEET.decodeMsPerSeq,
      maxLoras: FLEET.maxLoras,
      loraLoadMs: FLEET.loraLoadMs,
    },
  };
  const log = openSync(logPath, 'a');
  const child = track(spawn(process.execPath, [FLEET_SCRIPT, JSON.stringify(spec)], { cwd: ROOT, stdio: ['pipe', 'pipe', log] }));
  closeSync(log);
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<FleetReady>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the engine fleet exited (${code}) before it was ready; see ${logPath}`)));
    lines.once('line', (line) => resolve(JSON.parse(line) as FleetReady));
  });
  lines.close();
  return { child, engines: ready.engines, oraclePort: ready.oraclePort };
}

function resourcesYaml(fleet: Fleet): string {
  const docs = [
    `apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelServer
metadata: {name: sim, namespace: default}
spec:
  workloadSelector: {matchLabels: {app: sim}}
  workloadPort: {port: 8000}
  model: "${ENGINE_MODEL}"
  inferenceEngine: vLLM
`,
    `apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata: {name: llm, namespace: default}
spec:
  modelName: ${ROUTE_MODEL}
  loraAdapters: [${ADAPTERS.join(', ')}]
  rules:
  - name: default
    targetModels: [{modelServerName: sim}]
`,
    ...fleet.engines.map(
      (e) => `apiVersion: v1
kind: Pod
metadata:
  name: ${e.name}
  namespace: default
  labels: {app: sim}
  annotations: {switchyard.dev/port: "${e.port}"${e.kvEventsPort === null ? '' : `, switchyard.dev/kv-events-port: "${e.kvEventsPort}", switchyard.dev/kv-replay-port: "${e.kvReplayPort}"`}}
status: {podIP: 127.0.0.1, phase: Running}
`,
    ),
  ];
  return docs.join('---\n');
}

async function startRouter(configDir: string, routerConfig: string, logPath: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const log = openSync(logPath, 'a');
  const args = [
    SWITCHYARD_BIN, 'serve', '--config', configDir, '--router-config', routerConfig, '--port', String(port), '--host', '127.0.0.1',
    '--metrics-port', '0', '--debug-port', '0', '--log-level', 'warn', '--drain-timeout', '1s',
    // Each request's placement, for a look at a run afterwards (--keep-temp); off otherwise, as it costs the router CPU.
    '--access-log', flags['keep-temp'] ? join(dirname(logPath), 'access.log') : 'off',
  ];
  const child = track(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', log, log] }));
  closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the router exited (${child.exitCode}); log:\n${readFileSync(logPath, 'utf8')}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return { child, url };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`the router was not ready within 30 s; log:\n${readFileSync(logPath, 'utf8')}`);
}

// ---------------------------------------------------------------- one run

interface EngineStats {
  received: number;
  completed: number;
  engine: { prefixCacheQueries: number; prefixCacheHits: number; preemptions: number; steps: number; loras: { loads: number } };
}

interface Summary {
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
}

function summarise(values: readonly number[]): Summary {
  if (values.length === 0) return { mean: NaN, p50: NaN, p99: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, p50: at(0.5), p99: at(0.99) };
}

interface RunResult {
  readonly config: string;
  readonly description: string;
  readonly routerConfig: string;
  readonly requests: number;
  readonly succeeded: number;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  readonly aborted: number;
  readonly makespanS: number;
  readonly ttftMs: Summary;
  readonly e2eMs: Summary;
  readonly maxClientLagMs: number;
  readonly requestsPerS: number;
  readonly outputTokensPerS: number;
  readonly prefixCacheHitRate: number;
  /** The oracle's: at each admission, the best any engine's cache held for that request (fleet.ts). */
  readonly oracleHitRate: number;
  readonly loadImbalance: number;
  /** max/mean over engines of prompt tokens computed (looked up minus found in the cache): prefill work. */
  readonly prefillWorkImbalance: number;
  readonly preemptions: number;
  readonly loraLoads: number;
  readonly perEngine: readonly { name: string; requests: number; promptTokens: number; cachedTokens: number; preemptions: number; loraLoads: number }[];
}

async function runConfig(profile: Profile | PeerProfile, closedLoop: number | undefined): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), `switchyard-bench-routing-${profile.name}-`));
  const configDir = join(dir, 'config');
  mkdirSync(configDir);
  const routerConfigPath = join(dir, 'router.yaml');
  const routerConfig = isPeer(profile) ? `# ${profile.description()}\n` : profile.yaml(FLEET);
  writeFileSync(routerConfigPath, routerConfig);
  let fleet: Fleet | null = null;
  let router: ChildProcess | null = null;
  try {
    fleet = await startFleet(join(dir, 'fleet.log'), !isPeer(profile) && profile.kvEvents === true);
    writeFileSync(join(configDir, 'resources.yaml'), resourcesYaml(fleet));
    const started = isPeer(profile)
      ? await startPeer(profile, fleet.engines, { route: ROUTE_MODEL, engine: ENGINE_MODEL, adapters: ADAPTERS }, dir, freePort)
      : { ...(await startRouter(configDir, routerConfigPath, join(dir, 'router.log'))), rewriteBody: undefined };
    router = started.child;
    await sleep(2500); // a couple of metric scrapes, so the router knows every engine before the first request

    let lastPrinted = 0;
    const load = await runLoad(workload.requests, {
      url: started.url,
      path: '/v1/chat/completions',
      // Closed loop: the limit counts from the start (every request is "sent" at once).
      drainLimitMs: (closedLoop === undefined ? DRAIN_LIMIT_S : DRAIN_LIMIT_S + 600) * 1000,
      closedLoop,
      rewriteBody: started.rewriteBody,
      progress: (finished, total, elapsedMs) => {
        if (elapsedMs - lastPrinted < 10_000) return;
        lastPrinted = elapsedMs;
        process.stderr.write(`  ${profile.name}: ${(elapsedMs / 1000).toFixed(0)} s, ${finished}/${total} finished\n`);
      },
    });
    if (flags['keep-temp']) {
      // One line per request: what it was and where it went, to study a run's placements afterwards.
      const lines = load.results.map((r) => {
        const w = workload.requests[r.index];
        return JSON.stringify({ index: r.index, conversation: w.conversation, turn: w.turn, group: w.group, adapter: w.adapter, promptTokens: w.promptTokens, engine: r.engine, sentMs: Math.round(r.sentMs), ttftMs: r.ttftMs === null ? null : Math.round(r.ttftMs), e2eMs: Math.round(r.e2eMs), error: r.error });
      });
      writeFileSync(join(dir, 'requests.jsonl'), `${lines.join('\n')}\n`);
    }
    const stats = await Promise.all(
      fleet.engines.map(async (e) => (await (await fetch(`http://127.0.0.1:${e.port}/mock/stats`)).json()) as EngineStats),
    );
    const oracle = (await (await fetch(`http://127.0.0.1:${fleet.oraclePort}/`)).json()) as OracleTotals;
    return summariseRun(profile, routerConfig, load.results, load.makespanMs, load.aborted, fleet, stats, oracle);
  } catch (err) {
    if (flags['keep-temp'] || router !== null) process.stderr.write(`logs kept in ${dir}\n`);
    flags['keep-temp'] = true;
    throw err;
  } finally {
    if (router !== null) await stop(router);
    if (fleet !== null) await stop(fleet.child);
    if (!flags['keep-temp']) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`temp dir: ${dir}\n`);
  }
}

function summariseRun(
  profile: Profile | PeerProfile,
  routerConfig: string,
  results: readonly RequestResult[],
  makespanMs: number,
  aborted: number,
  fleet: Fleet,
  stats: readonly EngineStats[],
  oracle: OracleTotals,
): RunResult {
  const ok = results.filter((r) => r.error === null);
  const failed = results.filter((r) => r.error !== null);
  const errorKinds = new Map<string, number>();
  for (const r of failed) {
    const kind = r.error!.replace(/\d+(\.\d+)?/g, 'N').slice(0, 160);
    errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
  }
  const makespanS = makespanMs / 1000;
  const queries = stats.reduce((s, e) => s + e.engine.prefixCacheQueries, 0);
  const hits = stats.reduce((s, e) => s + e.engine.prefixCacheHits, 0);
  const received = stats.map((e) => e.received);
  const work = stats.map((e) => e.engine.prefixCacheQueries - e.engine.prefixCacheHits);
  const maxOverMean = (values: readonly number[]): number => {
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    return mean > 0 ? Math.max(...values) / mean : NaN;
  };
  return {
    config: profile.name,
    description: isPeer(profile) ? profile.description() : profile.description(FLEET),
    routerConfig,
    requests: results.length,
    succeeded: ok.length,
    errors: failed.length,
    errorSamples: [...errorKinds].map(([kind, n]) => `${n} x ${kind}`),
    aborted,
    makespanS,
    ttftMs: summarise(ok.map((r) => r.ttftMs!)),
    e2eMs: summarise(ok.map((r) => r.e2eMs)),
    maxClientLagMs: Math.max(0, ...results.map((r) => r.lagMs)),
    requestsPerS: ok.length / makespanS,
    outputTokensPerS: ok.reduce((s, r) => s + r.outputTokens, 0) / makespanS,
    prefixCacheHitRate: queries > 0 ? hits / queries : NaN,
    oracleHitRate: oracle.queried > 0 ? oracle.best / oracle.queried : NaN,
    loadImbalance: maxOverMean(received),
    prefillWorkImbalance: maxOverMean(work),
    preemptions: stats.reduce((s, e) => s + e.engine.preemptions, 0),
    loraLoads: stats.reduce((s, e) => s + e.engine.loras.loads, 0),
    perEngine: fleet.engines.map((e, i) => ({
      name: e.name,
      requests: stats[i].received,
      promptTokens: stats[i].engine.prefixCacheQueries,
      cachedTokens: stats[i].engine.prefixCacheHits,
      preemptions: stats[i].engine.preemptions,
      loraLoads: stats[i].engine.loras.loads,
    })),
  };
}

// ---------------------------------------------------------------- main

function describeWorkload(w: Workload): string {
  const s = w.spec;
  return [
    `workload (seed ${s.seed}): ${w.requests.length} requests over ${s.durationS} s (Poisson, ${s.rate}/s), ${w.conversations} conversations ` +
      `(${w.loraConversations} of them on LoRA adapters ${s.adapters.join(', ')}, one per application), ${s.groups} system prompts of ${s.systemTokens[0]}-${s.systemTokens[1]} tokens, ` +
      `${s.turns[0]}-${s.turns[1]} turns each`,
    `  mean prompt ${w.meanPromptTokens.toFixed(0)} tokens, mean output ${w.meanOutputTokens.toFixed(0)} tokens; the system prompts make ${w.systemPromptTokens} tokens in all`,
  ].join('\n');
}

function describeFleet(f: FleetEngineSettings): string {
  const kvTokens = f.kvBlocks * f.blockSize;
  return (
    `fleet: ${f.engines} simulated vLLM engines, KV ${f.kvBlocks} blocks x ${f.blockSize} = ${kvTokens} tokens each (${(kvTokens / 2500).toFixed(1)} system prompts of 2500), ` +
    `max-num-seqs ${f.maxNumSeqs}, chunked prefill ${f.maxNumBatchedTokens} tokens/step,\n  prefill ${f.prefillMsPerToken} ms/token ` +
    `(an uncached 2500-token system prompt: ${(2500 * f.prefillMsPerToken).toFixed(0)} ms), decode step ${f.decodeMsBase} ms + ${f.decodeMsPerSeq} ms/seq, ` +
    `${f.maxLoras} LoRA slots (${f.loraLoadMs} ms per load)`
  );
}

process.stdout.write(`${describeWorkload(workload)}\n${describeFleet(FLEET)}\n`);
const peersNotRun = preparePeers(PROFILES.filter(isPeer));
let flagged = false;
for (const closedLoop of LOADS) flagged = (await measureLoad(closedLoop, new Map(peersNotRun))) || flagged;
if (flagged) {
  process.stdout.write('RUN FLAGGED: some requests failed (see above)\n');
  process.exitCode = 1;
}

/** Every configuration under one load (REPEATS rounds); prints its table, writes its JSON file; true when a request failed. */
async function measureLoad(closedLoop: number | undefined, notRun: Map<string, string>): Promise<boolean> {
  const started = Date.now();
  const loadBefore = sampleLoad();
  const clientMode = closedLoop === undefined ? `open loop at ${WORKLOAD.rate} req/s` : `closed loop, ${closedLoop} concurrent clients (saturation)`;
  process.stdout.write(`\nclient: ${clientMode}\n`);
  const runsByConfig = new Map<string, RunResult[]>();
  for (let round = 1; round <= REPEATS; round++) {
    for (const profile of PROFILES) {
      if (notRun.has(profile.name)) continue;
      process.stderr.write(`running ${profile.name}${REPEATS > 1 ? ` (round ${round} of ${REPEATS})` : ''} …\n`);
      try {
        const result = await runConfig(profile, closedLoop);
        runsByConfig.set(profile.name, [...(runsByConfig.get(profile.name) ?? []), result]);
      } catch (err) {
        // A peer that does not start is reported, not dropped; Switchyard not starting is a failure of the benchmark.
        if (!isPeer(profile)) throw err;
        const ran = runsByConfig.get(profile.name)?.length ?? 0;
        const reason = `did not start${ran > 0 ? ` in round ${round}` : ''}: ${(err as Error).message.split('\n')[0]}`;
        if (ran === 0) notRun.set(profile.name, reason);
        else process.stderr.write(`${profile.name}: ${reason}\n`);
      }
    }
  }
  /** Each configuration's median run by mean TTFT (the lower middle one of an even count): the row it gets. */
  const medianRun = (list: readonly RunResult[]): RunResult => [...list].sort((a, b) => a.ttftMs.mean - b.ttftMs.mean)[Math.floor((list.length - 1) / 2)];
  const runs: RunResult[] = [...runsByConfig.values()].map(medianRun);
  const loadAfter = sampleLoad();

  const base = runs.find((r) => r.config === 'random') ?? runs[0];
  const ratio = (value: number, reference: number): string => (Number.isFinite(value / reference) ? `${(value / reference).toFixed(2)}x` : '-');
  const cell = (text: string, width: number): string => text.padStart(width);
  const rows = [...runs.map((r) => [
    r.config,
    `${r.succeeded}/${r.requests}`,
    `${r.ttftMs.mean.toFixed(0)} (${ratio(r.ttftMs.mean, base.ttftMs.mean)})`,
    `${r.ttftMs.p99.toFixed(0)} (${ratio(r.ttftMs.p99, base.ttftMs.p99)})`,
    `${r.requestsPerS.toFixed(2)} (${ratio(r.requestsPerS, base.requestsPerS)})`,
    `${r.outputTokensPerS.toFixed(0)} (${ratio(r.outputTokensPerS, base.outputTokensPerS)})`,
    `${(r.prefixCacheHitRate * 100).toFixed(1)}% (${ratio(r.prefixCacheHitRate, base.prefixCacheHitRate)})`,
    `${(r.oracleHitRate * 100).toFixed(1)}% (${((r.prefixCacheHitRate / r.oracleHitRate) * 100).toFixed(0)}%)`,
    `${r.loadImbalance.toFixed(2)} (${ratio(r.loadImbalance, base.loadImbalance)})`,
    r.errors > 0 ? 'ERRORS' : '',
  ]), ...[...notRun.keys()].map((name) => [name, 'not run', '-', '-', '-', '-', '-', '-', '-', ''])];
  const header = ['config', 'ok', 'TTFT mean ms', 'TTFT p99 ms', 'req/s', 'out tok/s', 'prefix hit', 'oracle hit (reached)', 'imbalance', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  process.stdout.write(`\n${header.map((h, i) => (i === 0 ? h.padEnd(widths[i]) : cell(h, widths[i]))).join('  ')}\n`);
  for (const row of rows) process.stdout.write(`${row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : cell(c, widths[i]))).join('  ')}\n`);
  process.stdout.write(`${REPEATS > 1 ? `(each row: the median of ${REPEATS} runs by mean TTFT, every run listed below) ` : ''}(ratios to ${base.config}; TTFT at the client to the first content chunk; req/s and tok/s over first send to last completion; ` +
    'prefix hit = prompt tokens found in the engines\' prefix caches / prompt tokens looked up; oracle hit = the same if every request had found ' +
    'the longest prefix any engine held at its admission, and the share of it reached; imbalance = max/mean requests per engine)\n');
  for (const [name, reason] of notRun) process.stdout.write(`${name}: not run: ${reason}\n`);
  process.stdout.write(`${describeLoad(loadBefore, loadAfter, cpus().length)}\n`);
  process.stdout.write(`\n${'config'.padEnd(24)}  p50 TTFT ms  mean e2e ms  prefill-work imbalance  preemptions  LoRA loads  run s\n`);
  for (const r of runs) {
    process.stdout.write(
      `${r.config.padEnd(24)}  ${r.ttftMs.p50.toFixed(0).padStart(11)}  ${r.e2eMs.mean.toFixed(0).padStart(11)}  ${r.prefillWorkImbalance.toFixed(2).padStart(22)}  ` +
        `${String(r.preemptions).padStart(11)}  ${String(r.loraLoads).padStart(10)}  ${r.makespanS.toFixed(1).padStart(5)}\n`,
    );
  }
  if (REPEATS > 1) {
    process.stdout.write(`\nevery run (round 1 to ${REPEATS}): TTFT mean ms / prefix hit / preemptions / LoRA loads\n`);
    for (const [config, list] of runsByConfig) {
      const each = list.map((r) => `${r.ttftMs.mean.toFixed(0)} / ${(r.prefixCacheHitRate * 100).toFixed(1)}% / ${r.preemptions} / ${r.loraLoads}${r.errors > 0 ? ` (${r.errors} FAILED)` : ''}`);
      process.stdout.write(`${config.padEnd(24)}  ${each.join('   ')}\n`);
    }
  }
  for (const r of runs) {
    process.stdout.write(`\n${r.config}: ${r.description}\n`);
    if (r.errors > 0) process.stdout.write(`  FLAGGED: ${r.errors} failed requests (${r.aborted} aborted at the drain limit):\n${r.errorSamples.map((e) => `    ${e}`).join('\n')}\n`);
    if (r.maxClientLagMs > 50) process.stdout.write(`  note: the client sent some requests up to ${r.maxClientLagMs.toFixed(0)} ms late\n`);
  }

  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(RESULTS_DIR, `routing-${stamp}.json`);
  const { requests: _requests, ...workloadSummary } = workload;
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        benchmark: 'routing-quality',
        date: new Date().toISOString(),
        node: process.version,
        os: `${process.platform} ${release()}`,
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        seed: SEED,
        client: { closedLoop: closedLoop ?? null, description: clientMode },
        load: { before: loadBefore, after: loadAfter },
        notRun: Object.fromEntries(notRun),
        workloadShape: flags.workload,
        workload: workloadSummary,
        fleet: FLEET,
        durationS: (Date.now() - started) / 1000,
        repeats: REPEATS,
        runs,
        everyRun: REPEATS > 1 ? Object.fromEntries(runsByConfig) : undefined,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`\nresults: ${file} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  return [...runsByConfig.values()].some((list) => list.some((r) => r.errors > 0));
}
