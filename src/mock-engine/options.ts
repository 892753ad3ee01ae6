// Options of one mock engine, their defaults, and the checks applied before it starts listening.
import type { PrefixOracle } from './simulator/engine-core.ts';

export type EngineKind = 'vllm' | 'sglang';
export type ResponseMode = 'echo' | 'fixed' | 'random';
/** A disaggregated engine's part (pd-role.ts); absent: an ordinary engine. */
export type PdRoleName = 'prefill' | 'decode';
/** vLLM's KV connector the mock imitates (SGLang always uses its bootstrap protocol). */
export type KvConnectorKind = 'http' | 'lmcache' | 'nixl' | 'mooncake';

export interface MockEngineOptions {
  /** The model path/name, e.g. "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B". */
  model: string;
  /** Name answered in /v1/models and accepted in requests; default = model. */
  servedModelName?: string;
  /** Default 8000; 0 = ephemeral. */
  port: number;
  /** Default "127.0.0.1". */
  host: string;
  /** Which engine's metric names and `owned_by` to imitate; default vllm. */
  engine: EngineKind;
  /** LoRA adapters loaded at start. */
  loraAdapters: string[];
  /** Delay before the first token, in ms; default 0. Simulator: a fixed prefill cost per request. */
  ttftMs: number;
  /** Delay between tokens, in ms; default 0. Simulator: the default decodeMsBase. */
  itlMs: number;
  /** Completion length (in tokens) when the request gives no max_tokens; default 16. */
  maxTokens: number;
  /**
   * `fixed` answers a canned sentence, `echo` repeats the prompt, `random` answers seeded pseudo-random words:
   * exactly max_tokens of them when the request sets it, else 1..maxTokens; default fixed.
   */
  mode: ResponseMode;
  /** Identifies this instance (x-mock-instance header, /mock/stats); default `${host}:${port}`. */
  instanceName?: string;
  /** Seed of every pseudo-random choice (random mode); default 0. */
  seed: number;
  /** Serve HTTPS with this certificate and key (PEM) instead of plain HTTP, as an engine behind TLS. */
  tls?: { cert: string; key: string };

  // PD disaggregation (pd-role.ts). Off unless `role` is given.
  /** Behave as the prefill or the decode instance of a disaggregated deployment. */
  role?: PdRoleName;
  /** vLLM only: the KV connector whose handshake to check; default http (no handshake, any order). */
  kvConnector: KvConnectorKind;
  /** The PD group this instance belongs to; a prefill refuses KV claims from decodes of another group. */
  group?: string;
  /** SGLang prefill: port of its bootstrap server (SGLang's --disaggregation-bootstrap-port); 0 = ephemeral; default 8998. */
  bootstrapPort: number;
  /** How long a prefill's KV waits for its decode, and a decode for its prefill, in ms; default 10000. */
  pdTimeoutMs: number;

  // Batch simulator (simulator/). Off unless `simulate` is true or any option below is given.
  /** Run requests through the simulated engine loop; default: true when any simulator option is given. */
  simulate?: boolean;
  /** Sequences in the running batch (vLLM --max-num-seqs); more wait in a FIFO queue; default 256. */
  maxNumSeqs: number;
  /** Tokens computed per step (vLLM --max-num-batched-tokens, chunked prefill); 0 = no limit; default 0. */
  maxNumBatchedTokens: number;
  /** KV-cache size in blocks; default 8192. */
  kvBlocks: number;
  /** Tokens per KV block; default 16. */
  blockSize: number;
  /** Step cost per prompt token not found in the prefix cache, ms; default 0. */
  prefillMsPerToken: number;
  /** Step cost of a decode step, ms; default itlMs. */
  decodeMsBase?: number;
  /** Extra decode step cost per sequence decoding in it, ms; default 0. */
  decodeMsPerSeq: number;
  /** LoRA adapter slots (vLLM --max-loras); 0 = no limit; default 0. */
  maxLoras: number;
  /** Step cost of loading an adapter into a slot, ms; default 0. */
  loraLoadMs: number;
  /** Publish KV events (kv-events.ts) on this ZeroMQ PUB port; 0 = any free port; absent: none. Turns the simulator on. */
  kvEventsPort?: number;
  /** The replay ROUTER port with kvEventsPort; 0 = any free port; absent: no replay socket. */
  kvReplayPort?: number;
  /** A tokenizer.json (tokenizer_config.json next to it: the chat template) to tokenize prompts with; absent: words. */
  tokenizer?: string;
  /** Benchmarks: a prefix oracle shared by several simulated engines of one process (simulator/engine-core.ts). */
  prefixOracle?: PrefixOracle;
}

/** The options that switch the batch simulator on when given. */
export const SIMULATOR_OPTION_KEYS = [
  'maxNumSeqs',
  'maxNumBatchedTokens',
  'kvBlocks',
  'blockSize',
  'prefillMsPerToken',
  'decodeMsBase',
  'decodeMsPerSeq',
  'maxLoras',
  'loraLoadMs',
  'kvEventsPort',
] as const satisfies readonly (keyof MockEngineOptions)[];

export const MOCK_ENGINE_DEFAULTS: Omit<MockEngineOptions, 'model'> = {
  port: 8000,
  host: '127.0.0.1',
  engine: 'vllm',
  loraAdapters: [],
  ttftMs: 0,
  itlMs: 0,
  maxTokens: 16,
  mode: 'fixed',
  seed: 0,
  kvConnector: 'http',
  bootstrapPort: 8998,
  pdTimeoutMs: 10_000,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 0,
  kvBlocks: 8192,
  blockSize: 16,
  prefillMsPerToken: 0,
  decodeMsPerSeq: 0,
  maxLoras: 0,
  loraLoadMs: 0,
};

/** Options after defaults are applied; servedModelName, simulate and decodeMsBase are always known. */
export interface ResolvedMockEngineOptions extends MockEngineOptions {
  servedModelName: string;
  simulate: boolean;
  decodeMsBase: number;
}

/**
 * Applies defaults and validates. Keys whose value is `undefined` keep their default, so a CLI can pass
 * every option it parsed without filtering the ones the user left out.
 */
export function resolveMockEngineOptions(options: Partial<MockEngineOptions> & { model: string }): ResolvedMockEngineOptions {
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<MockEngineOptions>;
  const merged = { ...MOCK_ENGINE_DEFAULTS, ...given, model: options.model };
  const problems: string[] = [];
  if (typeof merged.model !== 'string' || merged.model === '') problems.push('model must be a non-empty string');
  if (merged.servedModelName !== undefined && merged.servedModelName === '') problems.push('servedModelName must not be empty');
  if (!Number.isInteger(merged.port) || merged.port < 0 || merged.port > 65535) problems.push(`port must be an integer in 0..65535, got ${String(merged.port)}`);
  if (merged.engine !== 'vllm' && merged.engine !== 'sglang') problems.push(`engine must be vllm or sglang, got ${String(merged.engine)}`);
  if (merged.mode !== 'echo' && merged.mode !== 'fixed' && merged.mode !== 'random') problems.push(`mode must be echo, fixed or random, got ${String(merged.mode)}`);
  for (const key of ['ttftMs', 'itlMs', 'prefillMsPerToken', 'decodeMsBase', 'decodeMsPerSeq', 'loraLoadMs'] as const) {
    const value = merged[key];
    if (value === undefined && key === 'decodeMsBase') continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) problems.push(`${key} must be a number >= 0, got ${String(value)}`);
  }
  for (const [key, min] of [['maxNumSeqs', 1], ['kvBlocks', 1], ['blockSize', 1], ['maxNumBatchedTokens', 0], ['maxLoras', 0]] as const) {
    if (!Number.isInteger(merged[key]) || merged[key] < min) problems.push(`${key} must be an integer >= ${min}, got ${String(merged[key])}`);
  }
  if (!Number.isSafeInteger(merged.seed)) problems.push(`seed must be an integer, got ${String(merged.seed)}`);
  if (merged.simulate !== undefined && typeof merged.simulate !== 'boolean') problems.push(`simulate must be a boolean, got ${String(merged.simulate)}`);
  if (!Number.isInteger(merged.maxTokens) || merged.maxTokens < 1) problems.push(`maxTokens must be an integer >= 1, got ${String(merged.maxTokens)}`);
  if (!Array.isArray(merged.loraAdapters) || merged.loraAdapters.some((name) => typeof name !== 'string' || name === '')) {
    problems.push('loraAdapters must be a list of non-empty names');
  }
  for (const key of ['kvEventsPort', 'kvReplayPort'] as const) {
    const value = merged[key];
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 65535)) problems.push(`${key} must be an integer in 0..65535, got ${String(value)}`);
  }
  // Silently ignored, it would look like a replay socket that nothing ever answers on.
  if (merged.kvReplayPort !== undefined && merged.kvEventsPort === undefined) problems.push('kvReplayPort needs kvEventsPort (it replays the published KV events)');
  problems.push(...pdOptionProblems(merged));
  if (problems.length > 0) throw new Error(`invalid mock engine options: ${problems.join('; ')}`);
  const simulate = merged.simulate ?? SIMULATOR_OPTION_KEYS.some((key) => given[key] !== undefined);
  return {
    ...merged,
    loraAdapters: [...new Set(merged.loraAdapters)],
    servedModelName: merged.servedModelName ?? merged.model,
    simulate,
    decodeMsBase: merged.decodeMsBase ?? merged.itlMs,
  };
}

function pdOptionProblems(merged: MockEngineOptions): string[] {
  const problems: string[] = [];
  if (merged.role !== undefined && merged.role !== 'prefill' && merged.role !== 'decode') problems.push(`role must be prefill or decode, got ${String(merged.role)}`);
  if (!['http', 'lmcache', 'nixl', 'mooncake'].includes(merged.kvConnector)) problems.push(`kvConnector must be http, lmcache, nixl or mooncake, got ${String(merged.kvConnector)}`);
  if (merged.group !== undefined && (typeof merged.group !== 'string' || merged.group === '')) problems.push('group must be a non-empty string');
  if (!Number.isInteger(merged.bootstrapPort) || merged.bootstrapPort < 0 || merged.bootstrapPort > 65535) problems.push(`bootstrapPort must be an integer in 0..65535, got ${String(merged.bootstrapPort)}`);
  if (!Number.isInteger(merged.pdTimeoutMs) || merged.pdTimeoutMs < 1) problems.push(`pdTimeoutMs must be an integer >= 1, got ${String(merged.pdTimeoutMs)}`);
  return problems;
}
