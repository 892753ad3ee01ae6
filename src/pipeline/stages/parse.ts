// Stage 1, parse: the path is checked and the body parsed; the body's `model` is the request's model (a request on
// a stored response has the model of the request that made it: stored-responses.ts).
import { RouterError } from '../../errors/router-error.ts';
import type { RequestContext } from '../context.ts';
import type { StageResult } from '../run.ts';
import { lookUpPreviousResponse, parseStoredResponseRequest } from '../stored-responses.ts';

export interface ParsedBody {
  [key: string]: unknown;
  model: unknown;
  stream?: unknown;
  stream_options?: unknown;
}

/** A "." or ".." path segment, also percent-encoded. */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

export function parse(ctx: RequestContext): StageResult {
  const queryAt = ctx.path.indexOf('?');
  const pathOnly = queryAt < 0 ? ctx.path : ctx.path.slice(0, queryAt);
  ctx.pathOnly = pathOnly;
  // Forwarded as is, "/v1/../x" would reach pod endpoints outside /v1 on engines that resolve dot segments.
  if (DOT_SEGMENT.test(pathOnly)) return new RouterError('not_found', `no route for POST ${pathOnly}`);
  if (ctx.storedResponse !== null) return parseStoredResponseRequest(ctx);
  const parsed = parseRequestBody(ctx.clientBody);
  const model = parsed.model as string;
  ctx.parsed = parsed;
  ctx.model = model;
  ctx.stream = parsed.stream === true;
  ctx.record.model = model;
  ctx.record.body = parsed;
  return pathOnly === RESPONSES_PATH ? lookUpPreviousResponse(ctx, parsed.previous_response_id) : undefined;
}

const RESPONSES_PATH = '/v1/responses';

/** The body as JSON with a non-empty string `model`, or the RouterError refusing it (also used by /debug/explain). */
export function parseRequestBody(body: Buffer): ParsedBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new RouterError('invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new RouterError('invalid_body', 'request body must be a JSON object');
  const model = parsed.model;
  if (typeof model !== 'string' || model.trim() === '') {
    throw new RouterError('model_required', 'request body must have a non-empty string field `model`');
  }
  return parsed as ParsedBody;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
