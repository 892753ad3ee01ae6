// One run of inference-perf (the Inference Extension's benchmark tool, PyPI, pinned in bench/peers/install.sh)
// against Switchyard in front of bench:routing's simulated fleet: `npm run bench:inference-perf`.
//
// inference-perf needs a Hugging Face tokenizer to generate prompts of given token lengths and to count tokens; it
// must not reach a model hub here. So this script builds one locally with the `tokenizers` library (in the same
// venv): a word-level vocabulary of 8,000 words split on whitespace, saved with transformers'
// PreTrainedTokenizerFast.save_pretrained, which counts tokens exactly as the mock engines do (one per word), and
// runs inference-perf with HF_HUB_OFFLINE=1 and the tokenizer's local path. Workload: the canonical `shared_prefix`
// shape A, scaled (shared-prefix.ts): 6 groups, 1,000-token system prompts, 30-token questions, 32-token outputs.
//
// Options: --configs random,switchyard-best (profiles.ts)  --rate R (10)  --duration S (30)  --prompts-per-group N (100)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { installPeers, PEERS_DIR } from '../peers/peers.ts';
import { describeLoad, sampleLoad } from '../proxy/noise.ts';
import type { FleetReady, FleetSpec } from './fleet.ts';
import { profileByName } from './profiles.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const SWITCHYARD_BIN = join(ROOT, 'bin', 'switchyard.js');
const FLEET_SCRIPT = fileURLToPath(new URL('./fleet.ts', import.meta.url));
const PYTHON = join(PEERS_DIR, 'venv', 'bin', 'python');
const INFERENCE_PERF = join(PEERS_DIR, 'venv', 'bin', 'inference-perf');
const ENGINE_MODEL = 'sim/llm-8b';

const { values: flags } = parseArgs({
  options: {
    configs: { type: 'string', default: 'random,switchyard-best' },
    rate: { type: 'string', default: '10' },
    duration: { type: 'string', default: '30' },
    'prompts-per-group': { type: 'string', default: '100' },
  },
});
const RATE = Number(flags.rate);
const DURATION_S = Number(flags.duration);
const PROMPTS_PER_GROUP = Number(flags['prompts-per-group']);
const PROFILES = flags.configs.split(',').map((name) => profileByName(name.trim()));
/** bench:routing's fleet (routing.bench.ts), six engines. */
const ENGINE = {
  model: ENGINE_MODEL, mode: 'random' as const, seed: 1, simulate: true, maxNumSeqs: 32, maxNumBatchedTokens: 1024, kvBlocks: 1280,
  blockSize: 16, prefillMsPerToken: 0.15, decodeMsBase: 20, decodeMsPerSeq: 0.3, maxLoras: 2, loraLoadMs: 40,
};
const FLEET = { engines: 6, ...ENGINE, charsPerToken: 5.5 };

const TOKENIZER_SCRIPT = `
import sys
from tokenizers import Tokenizer, models, pre_tokenizers, decoders
from transformers import PreTrainedTokenizerFast
vocab = {"[UNK]": 0, "<s>": 1, "</s>": 2}
for i in range(8000):
    vocab[f"w{i}"] = len(vocab)
tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", bos_token="<s>", eos_token="</s>",
                        model_max_length=1_000_000).save_pretrained(sys.argv[1])
`;

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

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

async function startFleet(logPath: string): Promise<{ child: ChildProcess; engines: FleetReady['engines'] }> {
  const spec: FleetSpec = { count: FLEET.engines, engine: ENGINE };
  const log = openSync(logPath, 'a');
  const child = spawn(process.execPath, [FLEET_SCRIPT, JSON.stringify(spec)], { cwd: ROOT, stdio: ['pipe', 'pipe', log] });
  closeSync(log);
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<FleetReady>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the fleet exited (${code}); see ${logPath}`)));
    lines.once('line', (line) => resolve(JSON.parse(line) as FleetReady));
  });
  lines.close();
  return { child, engines: ready.engines };
}

function resources(engines: FleetReady['engines']): string {
  return [
    `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelServer\nmetadata: {name: sim, namespace: default}\nspec:\n  workloadSelector: {matchLabels: {app: sim}}\n  workloadPort: {port: 8000}\n  model: "${ENGINE_MODEL}"\n  inferenceEngine: vLLM\n`,
    `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelRoute\nmetadata: {name: llm, namespace: default}\nspec:\n  modelName: llm\n  rules:\n  - name: default\n    targetModels: [{modelServerName: sim}]\n`,
    ...engines.map((e) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${e.name}\n  namespace: default\n  labels: {app: sim}\n  annotations: {switchyard.dev/port: "${e.port}"}\nstatus: {podIP: 127.0.0.1, phase: Running}\n`),
  ].join('---\n');
}

function inferencePerfConfig(url: string, tokenizerDir: string, outDir: string): string {
  return `# Written by bench/routing/inference-perf.ts: the Inference Extension's shared_prefix shape A, scaled.
api: {type: completion, streaming: true}
data:
  type: shared_prefix
  shared_prefix: {num_groups: 6, num_prompts_per_group: ${PROMPTS_PER_GROUP}, system_prompt_len: 1000, question_len: 30, output_len: 32, seed: 1}
load:
  type: poisson
  stages: [{rate: ${RATE}, duration: ${DURATION_S}}]
  num_workers: 1
server: {type: vllm, model_name: llm, base_url: "${url}", ignore_eos: true}
tokenizer: {pretrained_model_name_or_path: "${tokenizerDir}"}
report: {request_lifecycle: {summary: true, per_stage: false, per_request: false}}
storage: {local_storage: {path: "${outDir}"}}
`;
}

interface Summary {
  successes: { count: number; latency: Record<string, { mean: number; median: number; p99: number }>; throughput: { requests_per_sec: number; output_tokens_per_sec: number } };
  failures: { count: number };
}

const failures = installPeers(['smg']); // the router venv holds inference-perf
if (failures.size > 0) throw new Error(`inference-perf cannot be installed: ${[...failures.values()][0]}`);
const work = mkdtempSync(join(tmpdir(), 'switchyard-inference-perf-'));
const tokenizerDir = join(work, 'tokenizer');
const made = spawnSync(PYTHON, ['-c', TOKENIZER_SCRIPT, tokenizerDir], { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1' } });
if (made.status !== 0) throw new Error(`building the local tokenizer failed:\n${made.stderr}`);
const results: { config: string; summary: Summary }[] = [];
const loadBefore = sampleLoad();
for (const profile of PROFILES) {
  const dir = join(work, profile.name);
  mkdirSync(join(dir, 'config'), { recursive: true });
  const fleet = await startFleet(join(dir, 'fleet.log'));
  writeFileSync(join(dir, 'config', 'resources.yaml'), resources(fleet.engines));
  writeFileSync(join(dir, 'router.yaml'), profile.yaml(FLEET));
  const port = await freePort();
  const routerLog = openSync(join(dir, 'router.log'), 'a');
  const router = spawn(process.execPath, [SWITCHYARD_BIN, 'serve', '--config', join(dir, 'config'), '--router-config', join(dir, 'router.yaml'),
    '--port', String(port), '--host', '127.0.0.1', '--metrics-port', '0', '--debug-port', '0', '--access-log', 'off', '--log-level', 'warn'],
  { cwd: ROOT, stdio: ['ignore', routerLog, routerLog] });
  closeSync(routerLog);
  try {
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 300 && (await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 2500)); // a couple of engine scrapes
    writeFileSync(join(dir, 'inference-perf.yaml'), inferencePerfConfig(url, tokenizerDir, join(dir, 'report')));
    process.stderr.write(`running inference-perf against ${profile.name} …\n`);
    const run = spawnSync(INFERENCE_PERF, ['--config_file', join(dir, 'inference-perf.yaml')], {
      cwd: dir, encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' }, maxBuffer: 64 << 20,
    });
    if (run.status !== 0) throw new Error(`inference-perf failed (${run.status}):\n${run.stderr.slice(-3000)}`);
    results.push({ config: profile.name, summary: JSON.parse(readFileSync(join(dir, 'report', 'summary_lifecycle_metrics.json'), 'utf8')) as Summary });
  } finally {
    await stop(router);
    await stop(fleet.child);
  }
}

const loadAfter = sampleLoad();
const base = results[0];
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
process.stdout.write(`\ninference-perf, shared_prefix A scaled (6 groups x ${PROMPTS_PER_GROUP} prompts, 1,000 + 30 tokens, 32 out), Poisson ${RATE} req/s for ${DURATION_S} s\n`);
process.stdout.write(`${describeLoad(loadBefore, loadAfter, availableParallelism())}\n`);
process.stdout.write('| config | ok / failed | TTFT mean ms | TTFT p99 ms | req/s | out tok/s |\n|---|--:|--:|--:|--:|--:|\n');
for (const { config, summary } of results) {
  const ttft = summary.successes.latency.time_to_first_token;
  const t = summary.successes.throughput;
  const b = base.summary.successes;
  process.stdout.write(`| ${config} | ${summary.successes.count} / ${summary.failures.count} | ${(ttft.mean * 1000).toFixed(0)} (${ratio(ttft.mean, b.latency.time_to_first_token.mean)}) | ` +
    `${(ttft.p99 * 1000).toFixed(0)} (${ratio(ttft.p99, b.latency.time_to_first_token.p99)}) | ${t.requests_per_sec.toFixed(2)} (${ratio(t.requests_per_sec, b.throughput.requests_per_sec)}) | ` +
    `${t.output_tokens_per_sec.toFixed(0)} (${ratio(t.output_tokens_per_sec, b.throughput.output_tokens_per_sec)}) |\n`);
}
mkdirSync(RESULTS_DIR, { recursive: true });
const file = join(RESULTS_DIR, `inference-perf-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ benchmark: 'inference-perf', load: { before: loadBefore, after: loadAfter }, rate: RATE, durationS: DURATION_S, promptsPerGroup: PROMPTS_PER_GROUP, results }, null, 2)}\n`);
process.stdout.write(`results: ${file} (inference-perf's own reports: ${work})\n`);
rmSync(join(work, 'tokenizer'), { recursive: true, force: true });
