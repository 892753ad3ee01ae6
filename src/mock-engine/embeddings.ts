// POST /v1/embeddings: 8 deterministic floats per input, derived from a hash of the input text.
import type { ServerResponse } from 'node:http';
import { HttpError, sendJson } from './http-io.ts';
import { requireServedModel, type EngineContext } from './inference.ts';
import type { TrackedRequest } from './test-hooks.ts';
import { countTokens } from './text.ts';

const EMBEDDING_DIMENSIONS = 8;

/** Inputs as text to hash plus their token count; token-id inputs hash their ids. */
function embeddingInputs(input: unknown): { text: string; tokens: number }[] {
  const isIds = (value: unknown): value is number[] => Array.isArray(value) && value.length > 0 && value.every((item) => Number.isInteger(item));
  if (typeof input === 'string') return [{ text: input, tokens: countTokens(input) }];
  if (isIds(input)) return [{ text: input.join(' '), tokens: input.length }];
  if (Array.isArray(input) && input.length > 0) {
    return input.map((item: unknown) => {
      if (typeof item === 'string') return { text: item, tokens: countTokens(item) };
      if (isIds(item)) return { text: item.join(' '), tokens: item.length };
      throw new HttpError(400, '`input` must be a string, a list of strings, or a list of token ids.');
    });
  }
  throw new HttpError(400, '`input` must be a string, a list of strings, or a list of token ids.');
}

/** FNV-1a seed, then mulberry32: the same text always gives the same unit vector. */
export function deterministicEmbedding(text: string): number[] {
  let seed = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) seed = Math.imul(seed ^ byte, 0x01000193) >>> 0;
  const values: number[] = [];
  for (let i = 0; i < EMBEDDING_DIMENSIONS; i++) {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    values.push((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1);
  }
  const norm = Math.hypot(...values) || 1;
  // Rounded through float32 so the float and base64 encodings carry the same numbers.
  return Array.from(new Float32Array(values.map((value) => value / norm)));
}

function encodeBase64(values: number[]): string {
  return Buffer.from(new Float32Array(values).buffer).toString('base64');
}

export function handleEmbeddings(context: EngineContext, tracked: TrackedRequest, res: ServerResponse, body: Record<string, unknown>): void {
  const model = requireServedModel(body, context.models);
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') throw new HttpError(400, '`encoding_format` must be "float" or "base64".');
  const inputs = embeddingInputs(body.input);
  if (tracked.fault?.dropAfterChunks !== undefined) {
    tracked.drop();
    return;
  }
  const promptTokens = inputs.reduce((sum, input) => sum + input.tokens, 0);
  context.metrics.countPromptTokens(promptTokens);
  const data = inputs.map((input, index) => {
    const vector = deterministicEmbedding(input.text);
    return { object: 'embedding', index, embedding: format === 'base64' ? encodeBase64(vector) : vector };
  });
  sendJson(res, 200, { object: 'list', data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
}
