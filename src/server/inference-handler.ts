// POST /v1/* (and the stored-response endpoints): the body is read, then the request runs through the pipeline (src/pipeline/run.ts:
// parse → authenticate → route → rate-limit → admit → schedule → proxy), with one RequestContext per request.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RouterError, writeErrorResponse } from '../errors/router-error.ts';
import { endRecord, startRecord } from '../observability/request-record.ts';
import { RequestContext, type PipelineDeps } from '../pipeline/context.ts';
import { refuse, runPipeline } from '../pipeline/run.ts';
import type { StoredResponseTarget } from '../routing/stored-response-path.ts';
import { readBody, type BodyResult } from './read-body.ts';

export type { RequestRecord } from '../observability/request-record.ts';
export { parseRequestBody, type ParsedBody } from '../pipeline/stages/parse.ts';

export type InferenceDeps = PipelineDeps;

const MAX_REQUEST_ID_LENGTH = 200;

/** `stored`: a request on one stored Responses API response (it names no model; stored-responses.ts). */
export function handleInference(deps: InferenceDeps, req: IncomingMessage, res: ServerResponse, path: string, stored: StoredResponseTarget | null = null): void {
  const requestId = requestIdOf(req);
  const ctx = new RequestContext(deps, req, res, path, requestId, startRecord(req, requestId, path));
  ctx.storedResponse = stored;
  readBody(req, deps.maxBodyBytes, (result: BodyResult) => bodyRead(ctx, result));
}

function bodyRead(ctx: RequestContext, result: BodyResult): void {
  if (!result.ok) {
    if (result.reason === 'too_large') {
      // Kept alive: Node discards the rest of the body, so the client reads this answer (read-body.ts lingers).
      refuse(ctx, new RouterError('request_too_large', `request body exceeds the limit of ${ctx.deps.maxBodyBytes} bytes`));
    } else if (result.reason === 'unreadable') {
      ctx.res.shouldKeepAlive = false; // the request's framing is lost
      refuse(ctx, result.error);
    } else {
      ctx.ended = true;
      ctx.deps.onRequestDone(endRecord(ctx.record, 0, null, null)); // the client went away while sending the body
    }
    return;
  }
  ctx.clientBody = result.body;
  runPipeline(ctx);
}

/** The client's x-request-id when it is usable (the first, when it sent several), else a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  if (typeof header !== 'string') return newRequestId();
  // Node joins repeated headers with ", ": a request id holds no comma.
  const comma = header.indexOf(',');
  const given = comma < 0 ? header : header.slice(0, comma).trim();
  if (given.length > 0 && given.length <= MAX_REQUEST_ID_LENGTH) return given;
  return newRequestId();
}

/**
 * Request ids shaped like UUIDs: a random UUID's first 20 hex digits (fixed per process, drawn again every 2^32 ids)
 * and a counter in the last 12. Unique without drawing random bytes per request (randomUUID costs ~0.5 µs).
 */
let idPrefix = '';
let idCounter = 0x1_0000_0000;
function newRequestId(): string {
  if (idCounter >= 0x1_0000_0000) {
    idPrefix = randomUUID().slice(0, 24);
    idCounter = 0;
  }
  const hex = (idCounter++).toString(16);
  return `${idPrefix}${ID_ZEROS.slice(hex.length)}${hex}`;
}
const ID_ZEROS = '000000000000';

export function sendError(res: ServerResponse, error: RouterError, requestId: string | null, close: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // Errors answered outside the inference pipeline (unknown path, wrong method) pass no id: every router error carries one.
  writeErrorResponse(res, error, requestId ?? requestIdOf(res.req), close);
}
