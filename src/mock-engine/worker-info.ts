// Worker endpoints that routers in front of vLLM / SGLang probe: vLLM's /tokenize, /v1/completions/render,
// /v1/chat/completions/render and /version (vLLM's router tokenizes through them for its cache-aware policy), SGLang's
// /get_model_info and /get_server_info (SMG's worker discovery). Token ids come from the mock's tokenizer (text.ts):
// a stable hash of each token's text, so equal prefixes give equal ids on every engine.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './http-io.ts';
import type { ResolvedMockEngineOptions } from './options.ts';
import { summarizeChatMessages, summarizeCompletionPrompt, type PromptSummary } from './text.ts';

/** What /v1/models reports (models.ts). */
const MAX_MODEL_LEN = 4096;
/** The vocabulary size the ids fall in (Llama 3's). */
const VOCABULARY = 128_256;

function tokenId(token: string): number {
  let hash = 0x811c9dc5; // FNV-1a, 32 bits
  for (let i = 0; i < token.length; i++) {
    hash ^= token.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % VOCABULARY;
}

function promptOf(body: Record<string, unknown>): PromptSummary {
  return body.messages !== undefined ? summarizeChatMessages(body.messages) : summarizeCompletionPrompt(body.prompt);
}

type JsonHandler = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => void;
type PlainHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface WorkerInfoRoutes {
  readonly tokenize: JsonHandler;
  readonly render: JsonHandler;
  readonly version: PlainHandler;
  readonly modelInfo: PlainHandler;
  readonly serverInfo: PlainHandler;
}

export function workerInfoRoutes(options: ResolvedMockEngineOptions): WorkerInfoRoutes {
  return {
    // vLLM: {"count", "max_model_len", "tokens", "token_strs"} for a `prompt` or chat `messages`.
    tokenize: (_req, res, body) => {
      const prompt = promptOf(body);
      sendJson(res, 200, { count: prompt.promptTokens, max_model_len: MAX_MODEL_LEN, tokens: prompt.tokens.map(tokenId), token_strs: null });
    },
    // The renderer's answer: the prompt's token ids, as vLLM's standalone renderer gives them.
    render: (_req, res, body) => {
      sendJson(res, 200, { token_ids: promptOf(body).tokens.map(tokenId), model: options.servedModelName });
    },
    version: (_req, res) => sendJson(res, 200, { version: '0.0.0-switchyard-mock' }),
    modelInfo: (_req, res) => {
      sendJson(res, 200, {
        model_path: options.model,
        tokenizer_path: options.model,
        served_model_name: options.servedModelName,
        is_generation: true,
        model_type: 'llama',
        architectures: ['LlamaForCausalLM'],
      });
    },
    serverInfo: (_req, res) => {
      sendJson(res, 200, {
        model_path: options.model,
        served_model_name: options.servedModelName,
        max_total_num_tokens: MAX_MODEL_LEN,
        context_length: MAX_MODEL_LEN,
        dp_size: 1,
        tp_size: 1,
        version: '0.0.0-switchyard-mock',
      });
    },
  };
}
