// Micro-benchmark: reading one engine's /metrics page, as the scraper does for every pod every second. The page is a
// vLLM-shaped exposition written by prom-client (vLLM's metric names, label sets and bucket boundaries: mostly
// histogram buckets); compared: the whole page parsed, and only the series the router reads (READ_SERIES).
// Run: npx node bench/micro/scrape.bench.ts
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { READ_SERIES, readEngineMetrics } from '../../src/engines/metric-names.ts';
import { parsePrometheusText } from '../../src/engines/prometheus-text.ts';

const ROUNDS = 7;
const TARGET_ROUND_MS = 200;
const LABELS = { engine: '0', model_name: 'meta-llama/Llama-3.1-8B-Instruct' };

const TOKEN_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 131072];
const SECOND_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];

/** A vLLM-shaped page for one model: its gauges, counters and histograms, each observed a little. */
async function vllmPage(): Promise<string> {
  const registers = [new Registry()];
  const labelNames = Object.keys(LABELS);
  for (const name of ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc']) {
    new Gauge({ name, help: name, labelNames, registers }).set(LABELS, 3);
  }
  const lora = new Gauge({ name: 'vllm:lora_requests_info', help: 'LoRA requests', labelNames: ['max_lora', 'running_lora_adapters', 'waiting_lora_adapters'], registers });
  lora.set({ max_lora: '2', running_lora_adapters: 'sql', waiting_lora_adapters: '' }, 1733390000);
  for (const name of ['vllm:prompt_tokens', 'vllm:generation_tokens', 'vllm:num_preemptions', 'vllm:prefix_cache_queries', 'vllm:prefix_cache_hits']) {
    new Counter({ name, help: name, labelNames, registers }).inc(LABELS, 1000);
  }
  const success = new Counter({ name: 'vllm:request_success', help: 'finished requests', labelNames: [...labelNames, 'finished_reason'], registers });
  for (const reason of ['stop', 'length', 'abort']) success.inc({ ...LABELS, finished_reason: reason }, 10);
  const histograms: [string, number[]][] = [
    ['vllm:iteration_tokens_total', TOKEN_BUCKETS], ['vllm:request_prompt_tokens', TOKEN_BUCKETS], ['vllm:request_generation_tokens', TOKEN_BUCKETS],
    ['vllm:request_max_num_generation_tokens', TOKEN_BUCKETS], ['vllm:request_params_max_tokens', TOKEN_BUCKETS], ['vllm:request_params_n', [1, 2, 5, 10, 20]],
    ['vllm:time_to_first_token_seconds', SECOND_BUCKETS], ['vllm:inter_token_latency_seconds', SECOND_BUCKETS], ['vllm:time_per_output_token_seconds', SECOND_BUCKETS],
    ['vllm:e2e_request_latency_seconds', SECOND_BUCKETS], ['vllm:request_queue_time_seconds', SECOND_BUCKETS], ['vllm:request_inference_time_seconds', SECOND_BUCKETS],
    ['vllm:request_prefill_time_seconds', SECOND_BUCKETS], ['vllm:request_decode_time_seconds', SECOND_BUCKETS],
  ];
  for (const [name, buckets] of histograms) {
    const histogram = new Histogram({ name, help: name, labelNames, buckets, registers });
    for (const value of [0.05, 0.3, 2, 40, 700]) histogram.observe(LABELS, value);
  }
  return registers[0].metrics();
}

let sink = 0;

/** Median µs/op over ROUNDS rounds, each sized to take about TARGET_ROUND_MS. */
function measure(op: () => number): number {
  let iterations = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += op();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (ms >= 20) {
      iterations = Math.max(1, Math.round((iterations * TARGET_ROUND_MS) / ms));
      break;
    }
    iterations *= 2;
  }
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += op();
    rounds.push(Number(process.hrtime.bigint() - start) / 1e3 / iterations);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
}

const page = await vllmPage();
const lines = page.split('\n').length;
const whole = readEngineMetrics(parsePrometheusText(page));
const read = readEngineMetrics(parsePrometheusText(page, READ_SERIES));
if (JSON.stringify(whole) !== JSON.stringify(read)) throw new Error(`the two readings differ: ${JSON.stringify(whole)} / ${JSON.stringify(read)}`);

const wholeUs = measure(() => readEngineMetrics(parsePrometheusText(page)).waiting);
const readUs = measure(() => readEngineMetrics(parsePrometheusText(page, READ_SERIES)).waiting);
console.log(`vLLM-shaped /metrics page: ${(page.length / 1024).toFixed(1)} KiB, ${lines} lines (node ${process.version})`);
console.log(`  whole page parsed:        ${wholeUs.toFixed(1).padStart(7)} µs per scrape`);
console.log(`  only the series read:     ${readUs.toFixed(1).padStart(7)} µs per scrape (${(wholeUs / readUs).toFixed(1)}x less)`);
console.log(`  at 1 s per pod, 100 pods: ${((wholeUs * 100) / 1e4).toFixed(2)} % of a core -> ${((readUs * 100) / 1e4).toFixed(2)} %`);
if (sink === -1) console.log(sink);
