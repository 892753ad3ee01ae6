/*
 * Test hooks of the mock engine (not part of vLLM/SGLang; used by Switchyard's tests and demos):
 *
 *   GET  /mock/stats   → {"instance","received","completed","cancelled","dropped","inFlight","lastRequest","engine"}
 *        Counts inference requests only (/v1/completions, /v1/chat/completions, /v1/embeddings), so health checks
 *        and metric scrapes never disturb them. `completed`: the response was fully sent (whatever its status).
 *        `cancelled`: the client went away before the response ended (generation stops at once).
 *        `dropped`: the mock itself cut the connection because of a dropAfterChunks fault.
 *        `inFlight`: received and not yet ended. `lastRequest`: {"method","path","headers","body"} of the latest
 *        inference request (body parsed as JSON when possible, else the raw text), or null. `engine`: the state of
 *        the engine (EngineStats in generator.ts): running / waiting requests, KV blocks, prefix-cache queries and
 *        hits in tokens, preemptions, steps, LoRA slots; with the simulator off, only running and kvCacheUsage move.
 *   POST /mock/faults  {"status"?, "body"?, "count"? (default 1), "headerDelayMs"?, "dropAfterChunks"?}
 *        The next `count` inference requests: wait `headerDelayMs` before sending any headers; then answer
 *        `status` with `body` (default: a vLLM-style error body; `body` alone means status 500); or, with
 *        `dropAfterChunks`, destroy the socket after that many SSE events (non-streaming answers: instead of
 *        sending the body). Faults queue up: each posted fault applies to `count` requests, then the next one.
 *   POST /mock/reset   → clears queued faults and the counters above, engine counters included (the engine's
 *        state, such as its prefix cache, stays; Prometheus metrics stay monotonic).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { EngineStats } from './generator.ts';
import { HttpError, errorBody, sendJson, sendText } from './http-io.ts';
import { pause } from './token-loop.ts';

export interface Fault {
  status?: number;
  body?: string;
  headerDelayMs?: number;
  dropAfterChunks?: number;
}

export interface LastRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface MockStats {
  instance: string;
  received: number;
  completed: number;
  cancelled: number;
  dropped: number;
  inFlight: number;
  lastRequest: LastRequest | null;
  engine: EngineStats;
}

/** The engine as the hooks see it. */
export interface EngineStatsSource {
  stats(): EngineStats;
  resetStats(): void;
}

/** One inference request as the hooks see it. */
export interface TrackedRequest {
  /** Aborted when the response closes for any reason; generation loops stop on it. */
  readonly signal: AbortSignal;
  /** The fault this request must suffer, taken from the queue when it arrived. */
  readonly fault: Fault | undefined;
  setBody(body: unknown): void;
  /** Cuts the connection on purpose; counted as dropped, not cancelled. */
  drop(): void;
}

export class TestHooks {
  readonly #instance: string;
  readonly #engine: EngineStatsSource;
  #counts = { received: 0, completed: 0, cancelled: 0, dropped: 0 };
  #inFlight = 0;
  #lastRequest: LastRequest | null = null;
  /** Bumped by reset so requests that started before it do not count into the fresh counters. */
  #epoch = 0;
  readonly #faults: { fault: Fault; remaining: number }[] = [];

  constructor(instance: string, engine: EngineStatsSource) {
    this.#instance = instance;
    this.#engine = engine;
  }

  stats(): MockStats {
    return { instance: this.#instance, ...this.#counts, inFlight: this.#inFlight, lastRequest: this.#lastRequest, engine: this.#engine.stats() };
  }

  track(req: IncomingMessage, res: ServerResponse, path: string): TrackedRequest {
    const epoch = this.#epoch;
    const controller = new AbortController();
    const lastRequest: LastRequest = { method: req.method ?? '', path, headers: req.headers, body: null };
    let droppedOnPurpose = false;
    this.#counts.received++;
    this.#inFlight++;
    this.#lastRequest = lastRequest;
    res.on('close', () => {
      this.#inFlight--;
      if (epoch === this.#epoch) {
        if (res.writableFinished) this.#counts.completed++;
        else if (droppedOnPurpose) this.#counts.dropped++;
        else this.#counts.cancelled++;
      }
      controller.abort();
    });
    return {
      signal: controller.signal,
      fault: this.#takeFault(),
      setBody: (body) => {
        lastRequest.body = body;
      },
      drop: () => {
        droppedOnPurpose = true;
        res.destroy();
      },
    };
  }

  handleStats(_req: IncomingMessage, res: ServerResponse): void {
    sendJson(res, 200, this.stats());
  }

  handleFaults(_req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): void {
    const { fault, count } = parseFault(body);
    this.#faults.push({ fault, remaining: count });
    sendJson(res, 200, { queued: this.#faults.map(({ fault: queued, remaining }) => ({ ...queued, count: remaining })) });
  }

  handleReset(_req: IncomingMessage, res: ServerResponse): void {
    this.#epoch++;
    this.#faults.length = 0;
    this.#counts = { received: 0, completed: 0, cancelled: 0, dropped: 0 };
    this.#lastRequest = null;
    this.#engine.resetStats();
    sendJson(res, 200, this.stats());
  }

  #takeFault(): Fault | undefined {
    const next = this.#faults[0];
    if (next === undefined) return undefined;
    if (--next.remaining <= 0) this.#faults.shift();
    return next.fault;
  }
}

function optionalInteger(body: Record<string, unknown>, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new HttpError(400, `\`${key}\` must be an integer in ${min}..${max}.`);
  }
  return value;
}

function parseFault(body: Record<string, unknown>): { fault: Fault; count: number } {
  const fault: Fault = {};
  const status = optionalInteger(body, 'status', 200, 599);
  const headerDelayMs = optionalInteger(body, 'headerDelayMs', 0);
  const dropAfterChunks = optionalInteger(body, 'dropAfterChunks', 0);
  if (body.body !== undefined && typeof body.body !== 'string') throw new HttpError(400, '`body` must be a string.');
  if (status !== undefined) fault.status = status;
  if (typeof body.body === 'string') fault.body = body.body;
  if (headerDelayMs !== undefined) fault.headerDelayMs = headerDelayMs;
  if (dropAfterChunks !== undefined) fault.dropAfterChunks = dropAfterChunks;
  if (Object.keys(fault).length === 0) throw new HttpError(400, 'A fault needs at least one of status, body, headerDelayMs, dropAfterChunks.');
  return { fault, count: optionalInteger(body, 'count', 1) ?? 1 };
}

/**
 * Applies the part of a fault that comes before the normal answer: the header delay, then a forced status.
 * Returns true when the request has been fully dealt with (answered or abandoned by the client).
 */
export async function applyFaultPrelude(tracked: TrackedRequest, res: ServerResponse): Promise<boolean> {
  const fault = tracked.fault;
  if (fault === undefined) return false;
  if (fault.headerDelayMs !== undefined && !(await pause(fault.headerDelayMs, tracked.signal))) return true;
  if (fault.status === undefined && fault.body === undefined) return false;
  const status = fault.status ?? 500;
  if (fault.body === undefined) {
    sendJson(res, status, errorBody(status, `Injected fault: HTTP ${status}.`));
  } else {
    sendText(res, status, fault.body, looksLikeJson(fault.body) ? 'application/json' : 'text/plain; charset=utf-8');
  }
  return true;
}

function looksLikeJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
