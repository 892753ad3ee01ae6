// Tokenization for kvcache-aware: `npm run bench:tokenize`. Per request, p50 and p99 at 1k, 10k and 100k prompt
// tokens, three ways:
//  - engine: POST /tokenize to an engine in another process (the mock engine with the same tokenizer.json, so the
//    figure is the HTTP round trip plus the engine's tokenization; a real vLLM adds its own tokenizer's cost);
//  - local inline: the router's LocalTokenizer on its own event loop (which is blocked for that long);
//  - local worker: the same on the tokenizer's worker thread (the event loop is blocked only to post the prompt).
// Then the lookup in Kthena's Redis index that follows tokenization for pods scored from it (kthena-lookup.ts).
// The tokenizer is the repository's small test tokenizer (test/fixtures/tokenizer: byte-level BPE, 300 merges);
// a model's real tokenizer.json has a larger vocabulary and more merges, so absolute figures are indicative.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FleetReady, FleetSpec } from '../routing/fleet.ts';
import { EngineTokenizer } from '../../src/tokenization/engine-tokenizer.ts';
import { LocalTokenizer } from '../../src/tokenization/local-tokenizer.ts';
import { LocalTokenizers } from '../../src/tokenization/local-tokenizers.ts';
import { measureKthenaLookup } from './kthena-lookup.ts';

const TOKENIZER = fileURLToPath(new URL('../../test/fixtures/tokenizer/tokenizer.json', import.meta.url));
const FLEET_SCRIPT = fileURLToPath(new URL('../routing/fleet.ts', import.meta.url));
const MODEL = 'bench/model';
const SIZES = [1_000, 10_000, 100_000];
const ROUNDS: Record<number, number> = { 1000: 200, 10000: 50, 100000: 12 };

const WORDS = 'the router sends each request to the engine that holds the key value cache of its prompt while blocks of tokens are stored'.split(' ');

/** A prompt of about `tokens` tokens of this tokenizer (distinct per round: no cache anywhere helps). */
function promptOf(local: LocalTokenizer, tokens: number, round: number): string {
  const words = Math.ceil(tokens / tokensPerWord(local));
  return `Request ${round}: ${Array.from({ length: words }, (_, i) => (i % 50 === 0 ? String(i + round) : WORDS[(i + round) % WORDS.length])).join(' ')}`;
}

let ratio = 0;
function tokensPerWord(local: LocalTokenizer): number {
  if (ratio === 0) ratio = local.encodeText(Array.from({ length: 5000 }, (_, i) => (i % 50 === 0 ? String(i) : WORDS[i % WORDS.length])).join(' ')).length / 5000;
  return ratio;
}

function percentiles(values: number[]): { p50: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p99: at(0.99) };
}

const spec: FleetSpec = { count: 1, engine: { model: MODEL, tokenizer: TOKENIZER } };
const child = spawn(process.execPath, [FLEET_SCRIPT, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'inherit'] });
const ready = await new Promise<FleetReady>((resolve) => createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line) as FleetReady)));
const engineUrl = `http://127.0.0.1:${ready.engines[0].port}`;

const local = await LocalTokenizer.load({ path: TOKENIZER });
const engine = new EngineTokenizer({ timeoutMs: 60_000, maxInFlight: 4 });
const workers = new LocalTokenizers([{ model: MODEL, path: TOKENIZER }], 0, Infinity, (message) => process.stderr.write(`${message}\n`));
while (workers.tokenize('', [MODEL], { kind: 'text', text: 'warm up', truncated: false }, 'vllm') === null) await new Promise((r) => setTimeout(r, 20));

process.stdout.write('tokens    engine /tokenize p50/p99 ms   local inline p50/p99 ms   local worker p50/p99 ms (event loop blocked p99)\n');
for (const size of SIZES) {
  const rounds = ROUNDS[size];
  const prompts = Array.from({ length: rounds + 2 }, (_, r) => promptOf(local, size, r));
  const times = { engine: [] as number[], inline: [] as number[], worker: [] as number[], blocked: [] as number[] };
  for (let r = 0; r < prompts.length; r++) {
    const input = { kind: 'text' as const, text: prompts[r], truncated: false };
    let t = performance.now();
    const result = await engine.tokenize(engineUrl, MODEL, input, 'vllm');
    const engineMs = performance.now() - t;
    if (!result.ok) throw new Error(result.reason);
    t = performance.now();
    const ids = local.encodeText(prompts[r]);
    const inlineMs = performance.now() - t;
    if (ids.length !== result.ids.length) throw new Error('the local tokenizer and the engine disagree');
    t = performance.now();
    const pending = workers.tokenize('', [MODEL], input, 'vllm');
    const blockedMs = performance.now() - t;
    if (!(pending instanceof Promise)) throw new Error('expected the worker');
    await pending;
    const workerMs = performance.now() - t;
    if (r < 2) continue; // warm-up
    times.engine.push(engineMs);
    times.inline.push(inlineMs);
    times.worker.push(workerMs);
    times.blocked.push(blockedMs);
  }
  const f = (values: number[]): string => {
    const { p50, p99 } = percentiles(values);
    return `${p50.toFixed(2)} / ${p99.toFixed(2)}`;
  };
  process.stdout.write(`${String(size).padEnd(8)}  ${f(times.engine).padStart(26)}  ${f(times.inline).padStart(23)}  ${f(times.worker).padStart(23)} (${percentiles(times.blocked).p99.toFixed(2)})\n`);
}
await engine.close();
await workers.close();
child.stdin.end();
await measureKthenaLookup((line) => process.stdout.write(line));
