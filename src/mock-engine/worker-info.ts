// Worker endpoints that routers in front of vLLM / SGLang probe (vLLM's /tokenize is tokenize.ts): /v1/completions/render,
// /v1/chat/completions/render and /version (vLLM's router tokenizes through them for its cache-aware policy), SGLang's
// /get_model_info and /get_server_info (SMG's worker discovery). Token ids are /tokenize's (tokenize.ts), so equal
// prefixes give equal ids on every engine.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './http-io.ts';
import type { ResolvedMockEngineOptions } from './options.ts';
import type { MockTokenizer } from './hf-tokenizer.ts';
import { summarizePrompt, tokenIdOf } from './tokenize.ts';

type JsonHandler = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => void;
type PlainHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface WorkerInfoRoutes {
  readonly render: JsonHandler;
  readonly version: PlainHandler;
  readonly modelInfo: PlainHandler;
  readonly serverInfo: PlainHandler;
}

/** `maxModelLen`: the context length /tokenize reports. */
export function workerInfoRoutes(options: ResolvedMockEngineOptions, tokenizer: MockTokenizer | null, maxModelLen: number): WorkerInfoRoutes {
  return {
    // The renderer's answer: the prompt's token ids, as vLLM's standalone renderer gives them.
    render: (_req, res, body) => {
      sendJson(res, 200, { token_ids: summarizePrompt(body.messages !== undefined ? 'chat' : 'completion', body, tokenizer).tokens.map(tokenIdOf), model: options.servedModelName });
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
        max_total_num_tokens: maxModelLen,
        context_length: maxModelLen,
        dp_size: 1,
        tp_size: 1,
        version: '0.0.0-switchyard-mock',
      });
    },
  };
}
