// Scheduling decision benchmark: `npm run bench:scheduling`.
//
// Times one scheduling decision as the router makes it: FrameworkPicker.schedule with the default plugin profile
// (filters lora-affinity and least-request; scores least-request, gpu-usage, least-latency and prefix-cache, weight 1
// each) over a ModelServer of 10 and of 100 pods, followed by prefix-cache's post-schedule hook (served), for a chat
// request of about 2 KB. Every pod has realistic scraped engine state in the EngineStateTable (running and waiting
// requests, KV usage, TTFT and TPOT interval means, a model list with LoRA adapters) and requests in flight through
// the router; a few pods have a full queue, so the least-request filter removes them. Prompts come from 256
// conversations sharing one system prompt, so prefix-cache's store fills up and its lookups find holders. Route
// matching (matchRoute) is timed on the same snapshot: a route whose third rule (90/10 weighted) matches.
//
// Each decision is timed on its own after a warm-up; matchRoute, ~100 times faster, is timed in batches of 100
// calls (its p50/p99 are over batch means). Prints a table and writes the results as JSON under bench/results/.
//
// Options: --pods 10,100  --iterations N (decisions measured per size; 100000)  --warmup N (20000)
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EngineStateTable } from '../../src/engines/engine-state.ts';
import { PodStateTable } from '../../src/pods/pod-state.ts';
import { loadResourcesFromTexts } from '../../src/resources/load-documents.ts';
import { matchRoute, type RequestFacts } from '../../src/routing/match-route.ts';
import { buildProfile } from '../../src/scheduling/config/build-profile.ts';
import { defaultSchedulerConfig } from '../../src/scheduling/config/router-config.ts';
import { FrameworkPicker } from '../../src/scheduling/framework/framework-picker.ts';
import type { ScheduleRequest } from '../../src/scheduling/pod-picker.ts';
import { SnapshotStore } from '../../src/snapshot/snapshot-store.ts';
import type { CompiledServer, RoutingSnapshot } from '../../src/snapshot/types.ts';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const MODEL = 'llama-3-8b';
const UPSTREAM_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const CONVERSATIONS = 256;
const MATCH_BATCH = 100;

const { values: flags } = parseArgs({
  options: {
    pods: { type: 'string', default: '10,100' },
    iterations: { type: 'string', default: '100000' },
    warmup: { type: 'string', default: '20000' },
  },
});
const POD_COUNTS = flags.pods.split(',').map(Number);
const ITERATIONS = Number(flags.iterations);
const WARMUP = Number(flags.warmup);
if (POD_COUNTS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--pods takes whole numbers >= 1, comma-separated');
if (!Number.isInteger(ITERATIONS) || ITERATIONS < 100) throw new Error('--iterations must be a whole number >= 100');
if (!Number.isInteger(WARMUP) || WARMUP < 0) throw new Error('--warmup must be a whole number >= 0');

/** mulberry32: the same state on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The resources: ModelServer "llama" with `pods` pods, a canary server, the route under test and 50 other routes. */
function configYaml(pods: number): string {
  const docs: string[] = [];
  const server = (name: string, app: string) =>
    `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelServer\nmetadata: {name: ${name}, namespace: default}\n` +
    `spec:\n  workloadSelector: {matchLabels: {app: ${app}}}\n  workloadPort: {port: 8000}\n  model: "${UPSTREAM_MODEL}"\n  inferenceEngine: vLLM\n`;
  const pod = (name: string, app: string, ip: string) =>
    `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: default, labels: {app: ${app}}}\nstatus: {podIP: ${ip}, phase: Running}\n`;
  docs.push(server('llama', 'llama'), server('llama-canary', 'llama-canary'), server('llama-beta', 'llama-beta'));
  for (let i = 0; i < pods; i++) docs.push(pod(`llama-${i}`, 'llama', `10.1.${i >> 8}.${(i & 255) + 1}`));
  for (let i = 0; i < 2; i++) docs.push(pod(`llama-canary-${i}`, 'llama-canary', `10.2.0.${i + 1}`));
  docs.push(pod('llama-beta-0', 'llama-beta', '10.3.0.1'));
  docs.push(
    `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelRoute\nmetadata: {name: llama, namespace: default}\nspec:\n` +
      `  modelName: ${MODEL}\n  loraAdapters: [sql-lora, chat-lora]\n  rules:\n` +
      `  - name: beta-tenant\n    modelMatch: {headers: {x-tenant: {exact: beta}}}\n    targetModels: [{modelServerName: llama-beta}]\n` +
      `  - name: embeddings\n    modelMatch: {uri: {prefix: /v1/embeddings}}\n    targetModels: [{modelServerName: llama-beta}]\n` +
      `  - name: default\n    targetModels: [{modelServerName: llama, weight: 90}, {modelServerName: llama-canary, weight: 10}]\n`,
  );
  for (let i = 0; i < 50; i++) {
    docs.push(
      `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelRoute\nmetadata: {name: other-${i}, namespace: default}\n` +
        `spec:\n  modelName: other-model-${i}\n  rules:\n  - name: default\n    targetModels: [{modelServerName: llama-canary}]\n`,
    );
  }
  return docs.join('---\n');
}

function buildSnapshot(pods: number): RoutingSnapshot {
  const loaded = loadResourcesFromTexts([{ file: 'bench.yaml', text: configYaml(pods) }]);
  const result = new SnapshotStore().apply({ source: 'bench', resources: loaded.resources, issues: loaded.issues });
  if (!result.accepted) throw new Error(`bench configuration rejected: ${result.issues.map((i) => i.message).join('; ')}`);
  return result.snapshot;
}

/** Scraped engine state and the router's in-flight counts, as a busy cluster shows them. */
function fillState(server: CompiledServer, engines: EngineStateTable, podStates: PodStateTable, random: () => number): void {
  const now = Date.now();
  server.pods.forEach((pod, i) => {
    const inFlight = Math.floor(random() * 8);
    podStates.get(pod.origin).inFlight = inFlight;
    const state = engines.get(pod.origin);
    const running = inFlight + Math.floor(random() * 24);
    // One pod in 20 has a full queue (the least-request filter removes it); the others a short one or none.
    const waiting = i % 20 === 7 ? 12 + Math.floor(random() * 8) : Math.floor(random() * 3);
    const kvCacheUsage = 0.1 + random() * 0.8;
    const ttft = { sum: 40 + random() * 10, count: 400 };
    const tpot = { sum: 300 + random() * 100, count: 12_000 };
    // Two scrapes, so TTFT and TPOT are interval means.
    state.applyMetrics({ waiting, running, kvCacheUsage, ttft, tpot }, now);
    const newTtft = 20 + Math.floor(random() * 20);
    const newTokens = 600 + Math.floor(random() * 600);
    state.applyMetrics(
      {
        waiting,
        running,
        kvCacheUsage,
        ttft: { sum: ttft.sum + newTtft * (0.05 + random() * 0.4), count: ttft.count + newTtft },
        tpot: { sum: tpot.sum + newTokens * (0.01 + random() * 0.04), count: tpot.count + newTokens },
      },
      now,
    );
    const models = new Set([UPSTREAM_MODEL]);
    for (const adapter of ['sql-lora', 'chat-lora', 'summarise-lora', 'code-lora']) if (random() < 0.4) models.add(adapter);
    state.applyModels(models, now);
  });
}

/** Parsed chat bodies of about 2 KB: one shared system prompt (~1.5 KB), then a user turn per conversation. */
function chatBodies(random: () => number): Record<string, unknown>[] {
  const words = 'the router picks an endpoint by prefix cache affinity then streams the reply to the client while engines batch requests'.split(' ');
  const text = (chars: number): string => {
    let out = '';
    while (out.length < chars) out += `${words[Math.floor(random() * words.length)]} `;
    return out.slice(0, chars);
  };
  const system = `You are a helpful assistant for an e-commerce company. ${text(1450)}`;
  return Array.from({ length: CONVERSATIONS }, (_, c) => ({
    model: MODEL,
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: `Conversation ${c}: ${text(450)}` },
    ],
    stream: true,
    max_tokens: 256,
  }));
}

interface Summary {
  readonly p50Us: number;
  readonly p99Us: number;
  readonly meanUs: number;
}

function summarise(samplesNs: Float64Array): Summary {
  const sorted = samplesNs.slice().sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] / 1000;
  let total = 0;
  for (const s of samplesNs) total += s;
  return { p50Us: at(0.5), p99Us: at(0.99), meanUs: total / samplesNs.length / 1000 };
}

interface SizeResult {
  readonly pods: number;
  readonly candidatesAfterFilters: number;
  readonly decision: Summary;
  readonly matchRoute: Summary;
  readonly prefixStoreHashes: number;
}

let sink = 0;

function benchSize(pods: number): SizeResult {
  const random = seeded(42 + pods);
  const snapshot = buildSnapshot(pods);
  const server = snapshot.servers.get('default/llama')!;
  if (server.pods.length !== pods) throw new Error(`expected ${pods} pods, got ${server.pods.length}`);
  const engines = new EngineStateTable({ staleAfterMs: 24 * 3600_000 });
  const podStates = new PodStateTable();
  fillState(server, engines, podStates, random);
  const env = { podStates, engines, random: Math.random };
  const picker = new FrameworkPicker(buildProfile(defaultSchedulerConfig(), env), { podStates, random: Math.random });
  const bodies = chatBodies(random);
  const rawHeaders = ['host', 'router.example.com', 'content-type', 'application/json', 'authorization', 'Bearer sk-bench', 'x-request-id', 'bench'];

  let candidatesAfterFilters = 0;
  const decide = (k: number): void => {
    const request: ScheduleRequest = { model: MODEL, upstreamModel: UPSTREAM_MODEL, isLora: false, server, rawHeaders, body: bodies[k % CONVERSATIONS] };
    const ranked = picker.schedule(request, server.pods);
    picker.served?.(request, ranked[0]);
    candidatesAfterFilters = ranked.length;
  };
  for (let k = 0; k < WARMUP; k++) decide(k);
  const decisions = new Float64Array(ITERATIONS);
  for (let k = 0; k < ITERATIONS; k++) {
    const start = process.hrtime.bigint();
    decide(k);
    decisions[k] = Number(process.hrtime.bigint() - start);
  }

  const facts: RequestFacts = { model: MODEL, path: '/v1/chat/completions', rawHeaders };
  const match = (): void => {
    const decision = matchRoute(snapshot, facts);
    if (decision.matched) sink += decision.target.weight;
  };
  for (let k = 0; k < WARMUP; k++) match();
  const batches = new Float64Array(Math.max(100, Math.floor(ITERATIONS / 10)));
  for (let b = 0; b < batches.length; b++) {
    const start = process.hrtime.bigint();
    for (let k = 0; k < MATCH_BATCH; k++) match();
    batches[b] = Number(process.hrtime.bigint() - start) / MATCH_BATCH;
  }

  const prefix = picker.profile.scores.find((s) => s.plugin.name === 'prefix-cache')?.plugin as { store?: { size: number } } | undefined;
  return { pods, candidatesAfterFilters, decision: summarise(decisions), matchRoute: summarise(batches), prefixStoreHashes: prefix?.store?.size ?? 0 };
}

const results = POD_COUNTS.map(benchSize);
if (sink === 0) console.log('');

const fmt = (us: number): string => us.toFixed(2).padStart(8);
console.log(`scheduling decision (schedule + prefix-cache served hook, default profile, ~2 KB chat prompt); ${ITERATIONS} decisions after ${WARMUP} warm-up`);
console.log('  pods   kept |  decision p50      p99     mean (µs) | matchRoute p50      p99     mean (µs)');
for (const r of results) {
  console.log(
    `${String(r.pods).padStart(6)} ${String(r.candidatesAfterFilters).padStart(6)} |     ${fmt(r.decision.p50Us)} ${fmt(r.decision.p99Us)} ${fmt(r.decision.meanUs)}       |       ${fmt(r.matchRoute.p50Us)} ${fmt(r.matchRoute.p99Us)} ${fmt(r.matchRoute.meanUs)}`,
  );
}
console.log('  kept: pods left after the filters (one pod in 20 has a full queue)');

mkdirSync(RESULTS_DIR, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const file = join(RESULTS_DIR, `scheduling-${stamp}.json`);
writeFileSync(
  file,
  `${JSON.stringify(
    {
      benchmark: 'scheduling-decision',
      date: new Date().toISOString(),
      node: process.version,
      os: `${process.platform} ${release()}`,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      iterations: ITERATIONS,
      warmup: WARMUP,
      matchRouteBatch: MATCH_BATCH,
      profile: {
        filters: ['lora-affinity', 'least-request'],
        scores: ['least-request', 'gpu-usage', 'least-latency', 'prefix-cache'],
      },
      results,
    },
    null,
    2,
  )}\n`,
);
console.log(`results: ${file}`);
