// Which POST paths reach the engines. Only the inference API surface by default: engines also serve admin endpoints
// under /v1 (vLLM's /v1/load_lora_adapter, /v1/unload_lora_adapter) that no client of a shared fleet may call.
// A path is forwarded only when it is spelt exactly as one of the allowed paths: no percent-encoding, dot segment,
// doubled or trailing slash can make an engine resolve it to somewhere else. Decided by one Set lookup.

/** The OpenAI-compatible (and Anthropic Messages) inference endpoints vLLM and SGLang serve with a JSON body. */
export const DEFAULT_INFERENCE_PATHS: readonly string[] = [
  '/v1/completions',
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/messages',
  '/v1/messages/count_tokens',
  '/v1/rerank',
  '/v1/score',
  '/v1/classify',
  '/v1/pooling',
];

export interface PathPolicy {
  /** True when `path` (without its query) may be forwarded. */
  allows(path: string): boolean;
  readonly paths: readonly string[];
}

/** A path an operator may add: absolute, plain (letters, digits, `-`, `_`, `.` inside segments), no empty or dot segment. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$/;

export function invalidAllowedPath(path: string): string | null {
  if (!PLAIN_PATH.test(path)) return `${JSON.stringify(path)} is not a plain absolute path (letters, digits, "-", "_", "~", "." inside segments)`;
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) return `${JSON.stringify(path)} has a dot segment`;
  return null;
}

/** The default inference paths plus `extra` (validated by the caller with invalidAllowedPath). */
export function createPathPolicy(extra: readonly string[] = []): PathPolicy {
  const paths = [...new Set([...DEFAULT_INFERENCE_PATHS, ...extra])];
  const allowed: ReadonlySet<string> = new Set(paths);
  return { paths, allows: (path) => allowed.has(path) };
}
