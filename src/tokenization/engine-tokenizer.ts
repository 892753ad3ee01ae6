// Tokenization by the engine itself, Kthena's way: POST /tokenize on one of the candidate pods (vLLM and SGLang
// both serve it). Completions send {model, prompt, add_special_tokens: true}; chats send {model, messages,
// add_special_tokens: false, add_generation_prompt: true} (SGLang: without add_generation_prompt), so the ids are
// the ones the engine will compute KV for. Bounded: a timeout per call, a cap on calls in flight (beyond it a
// request is not tokenized and the plugin has no opinion), and completion prompts cut to what can matter.
import { Agent, request } from 'undici';
import { tlsConnect } from '../util/tls-trust.ts';
import type { PromptInput } from './prompt-input.ts';

export interface EngineTokenizerOptions {
  readonly timeoutMs: number;
  /** Calls in flight at once, over every pod. */
  readonly maxInFlight: number;
  /** CA certificates trusted for https pods (--upstream-ca), besides Node's; absent: Node's only. */
  readonly ca?: string;
}

/** How long an engine that does not serve /tokenize is left alone. */
const UNSUPPORTED_RETRY_MS = 5 * 60_000;

export type TokenizeResult = { readonly ok: true; readonly ids: readonly number[] } | { readonly ok: false; readonly reason: string };

export class EngineTokenizer {
  readonly #options: EngineTokenizerOptions;
  readonly #agent: Agent;
  #inFlight = 0;
  /** Engines that answered /tokenize with 404, 405 or 501, until when they are not asked again. */
  readonly #unsupported = new Map<string, number>();

  constructor(options: EngineTokenizerOptions) {
    this.#options = options;
    // Pods with workloadPort.protocol https tokenize over TLS, trusting what their proxying does.
    this.#agent = new Agent({ connections: 16, keepAliveTimeout: 30_000, connect: tlsConnect(options.ca) });
  }

  /** `baseUrl`: the engine's (or a tokenizer service's) http://host:port. `client`: the call stops when it aborts. */
  async tokenize(
    baseUrl: string, model: string, input: PromptInput, engine: 'vllm' | 'sglang', timeoutMs = this.#options.timeoutMs, client?: AbortSignal,
  ): Promise<TokenizeResult> {
    if (input.kind === 'ids') return { ok: true, ids: input.ids };
    if (client?.aborted === true) return { ok: false, reason: 'the client left' };
    if (this.#inFlight >= this.#options.maxInFlight) return { ok: false, reason: 'too many tokenize calls in flight' };
    const until = this.#unsupported.get(baseUrl);
    if (until !== undefined) {
      if (Date.now() < until) return { ok: false, reason: `${baseUrl} does not serve POST /tokenize` };
      this.#unsupported.delete(baseUrl);
    }
    const body =
      input.kind === 'text'
        ? { model, prompt: input.text, add_special_tokens: true }
        : engine === 'sglang'
          ? { model, messages: input.messages, add_special_tokens: false, ...(input.tools !== undefined && { tools: input.tools }) }
          : { model, messages: input.messages, add_special_tokens: false, add_generation_prompt: true, ...(input.tools !== undefined && { tools: input.tools }) };
    this.#inFlight++;
    try {
      const timeout = client === undefined ? AbortSignal.timeout(timeoutMs) : AbortSignal.any([AbortSignal.timeout(timeoutMs), client]);
      const response = await request(`${baseUrl}/tokenize`, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: timeout,
      });
      const text = await response.body.text();
      if ((response.statusCode === 404 && !isEngineError(text)) || response.statusCode === 405 || response.statusCode === 501) {
        if (this.#unsupported.size < 10_000) this.#unsupported.set(baseUrl, Date.now() + UNSUPPORTED_RETRY_MS);
      }
      if (response.statusCode !== 200) return { ok: false, reason: `POST /tokenize answered ${response.statusCode}` };
      const tokens = (JSON.parse(text) as { tokens?: unknown }).tokens;
      if (!Array.isArray(tokens) || !tokens.every((id) => typeof id === 'number')) return { ok: false, reason: 'POST /tokenize answered without a list of token ids' };
      return { ok: true, ids: tokens };
    } catch (err) {
      return { ok: false, reason: `POST /tokenize failed: ${(err as Error).message}` };
    } finally {
      this.#inFlight--;
    }
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

/**
 * A 404 that is the engine's own error about the request (vLLM's and SGLang's error object, e.g. "The model `x`
 * does not exist." for a LoRA adapter that pod has not loaded): the endpoint exists. A missing route answers
 * otherwise (the web framework's `{"detail":"Not Found"}`).
 */
function isEngineError(text: string): boolean {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body !== 'object' || body === null) return false;
    const { object, error } = body as { object?: unknown; error?: unknown };
    return object === 'error' || (typeof error === 'object' && error !== null);
  } catch {
    return false;
  }
}
