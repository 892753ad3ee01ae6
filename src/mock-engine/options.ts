// Options of one mock engine, their defaults, and the checks applied before it starts listening.

export type EngineKind = 'vllm' | 'sglang';
export type ResponseMode = 'echo' | 'fixed';

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
  /** Delay before the first token, in ms; default 0. */
  ttftMs: number;
  /** Delay between tokens, in ms; default 0. */
  itlMs: number;
  /** Completion length (in tokens) when the request gives no max_tokens; default 16. */
  maxTokens: number;
  /** `fixed` answers a canned sentence, `echo` repeats the prompt; default fixed. */
  mode: ResponseMode;
  /** Identifies this instance (x-mock-instance header, /mock/stats); default `${host}:${port}`. */
  instanceName?: string;
}

export const MOCK_ENGINE_DEFAULTS: Omit<MockEngineOptions, 'model'> = {
  port: 8000,
  host: '127.0.0.1',
  engine: 'vllm',
  loraAdapters: [],
  ttftMs: 0,
  itlMs: 0,
  maxTokens: 16,
  mode: 'fixed',
};

/** Options after defaults are applied; servedModelName is always known. */
export interface ResolvedMockEngineOptions extends MockEngineOptions {
  servedModelName: string;
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
  if (merged.mode !== 'echo' && merged.mode !== 'fixed') problems.push(`mode must be echo or fixed, got ${String(merged.mode)}`);
  for (const key of ['ttftMs', 'itlMs'] as const) {
    if (!Number.isFinite(merged[key]) || merged[key] < 0) problems.push(`${key} must be a number >= 0, got ${String(merged[key])}`);
  }
  if (!Number.isInteger(merged.maxTokens) || merged.maxTokens < 1) problems.push(`maxTokens must be an integer >= 1, got ${String(merged.maxTokens)}`);
  if (!Array.isArray(merged.loraAdapters) || merged.loraAdapters.some((name) => typeof name !== 'string' || name === '')) {
    problems.push('loraAdapters must be a list of non-empty names');
  }
  if (problems.length > 0) throw new Error(`invalid mock engine options: ${problems.join('; ')}`);
  return { ...merged, loraAdapters: [...new Set(merged.loraAdapters)], servedModelName: merged.servedModelName ?? merged.model };
}
