// startMockEngine: one node:http server imitating one vLLM / SGLang engine. Routes are listed in ROUTES below;
// the test hooks under /mock/ are documented in test-hooks.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { handleEmbeddings } from './embeddings.ts';
import { createGenerator } from './generator.ts';
import { HttpError, canRespond, errorBody, parseJsonObject, readBodyText, sendError, sendJson, sendText } from './http-io.ts';
import { handleGeneration, type EngineContext } from './inference.ts';
import { handleCountTokens, handleMessages } from './messages-api.ts';
import { handleResponses, handleStoredResponse } from './responses-api.ts';
import { EngineMetrics } from './metrics.ts';
import { ModelRegistry } from './models.ts';
import { resolveMockEngineOptions, type MockEngineOptions } from './options.ts';
import { advertisedHost, startPdRole } from './pd-factory.ts';
import type { PdRole } from './pd-role.ts';
import { TestHooks, applyFaultPrelude, type TrackedRequest } from './test-hooks.ts';
import { workerInfoRoutes } from './worker-info.ts';
import { kvEventRoutes, maxModelLen, startKvEvents } from './kv-events-setup.ts';
import { handleTokenize } from './tokenize.ts';
import { MockTokenizer } from './hf-tokenizer.ts';

export interface MockEngineHandle {
  /** e.g. "http://127.0.0.1:41234" (no trailing slash, no /v1). */
  url: string;
  port: number;
  instanceName: string;
  /** Whether the batch simulator times the tokens (else fixed ttftMs / itlMs delays). */
  simulated: boolean;
  /** An SGLang-style prefill's bootstrap server port (role prefill, engine sglang), else null. */
  bootstrapPort: number | null;
  /** KV event PUB and replay ports (kvEventsPort / kvReplayPort), else null. */
  kvEventsPort: number | null;
  kvReplayPort: number | null;
  /** Stops listening and destroys open connections, streams included. */
  close(): Promise<void>;
}

type Handler =
  /** No body needed. */
  | { kind: 'plain'; run: (req: IncomingMessage, res: ServerResponse) => void | Promise<void> }
  /** A JSON object body. */
  | { kind: 'json'; run: (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => void }
  /** Inference: tracked by the test hooks and subject to injected faults. */
  | { kind: 'inference'; run: (tracked: TrackedRequest, res: ServerResponse, body: Record<string, unknown>) => void | Promise<void> };

type RouteTable = Record<string, Partial<Record<string, Handler>>>;

/** The routes' key for every `/v1/responses/{id}…` path. */
const STORED_RESPONSES = '/v1/responses/';

function buildRoutes(context: EngineContext, hooks: TestHooks): RouteTable {
  return {
    '/v1/completions': { POST: { kind: 'inference', run: (tracked, res, body) => handleGeneration('completion', context, tracked, res, body) } },
    '/v1/chat/completions': { POST: { kind: 'inference', run: (tracked, res, body) => handleGeneration('chat', context, tracked, res, body) } },
    '/v1/embeddings': { POST: { kind: 'inference', run: (tracked, res, body) => handleEmbeddings(context, tracked, res, body) } },
    '/v1/responses': { POST: { kind: 'inference', run: (tracked, res, body) => handleResponses(context, tracked, res, body) } },
    // Every /v1/responses/{id}… path (the handler checks the method).
    [STORED_RESPONSES]: Object.fromEntries(['GET', 'POST', 'DELETE'].map((method) => [method, { kind: 'plain', run: (req: IncomingMessage, res: ServerResponse) => handleStoredResponse(context, req, res, pathOf(req) ?? '') }])),
    '/v1/messages': { POST: { kind: 'inference', run: (tracked, res, body) => handleMessages(context, tracked, res, body) } },
    '/v1/messages/count_tokens': { POST: { kind: 'inference', run: (tracked, res, body) => handleCountTokens(context, tracked, res, body) } },
    '/v1/models': { GET: { kind: 'plain', run: (req, res) => context.models.handleList(req, res) } },
    '/v1/load_lora_adapter': { POST: { kind: 'json', run: (req, res, body) => context.models.handleLoad(req, res, body) } },
    '/v1/unload_lora_adapter': {
      POST: {
        kind: 'json',
        run: (req, res, body) => {
          context.models.handleUnload(req, res, body); // throws unless the adapter was known
          context.generator.forgetAdapter(String(body.lora_name));
        },
      },
    },
    // vLLM serves this in dev mode (VLLM_SERVER_DEV_MODE=1): forget every cached prefix not in use.
    '/reset_prefix_cache': {
      POST: {
        kind: 'plain',
        run: (_req, res) => {
          context.generator.resetPrefixCache();
          sendText(res, 200, '');
        },
      },
    },
    '/tokenize': { POST: { kind: 'json', run: (_req, res, body) => handleTokenize(context.models, maxModelLen(context.options), context.tokenizer ?? null, res, body) } },
    ...kvEventRoutes(context.kvEvents),
    '/health': { GET: { kind: 'plain', run: (_req, res) => sendText(res, 200, '') } },
    '/metrics': {
      GET: {
        kind: 'plain',
        run: async (_req, res) => {
          const { contentType, text } = await context.metrics.render();
          sendText(res, 200, text, contentType);
        },
      },
    },
    '/mock/stats': { GET: { kind: 'plain', run: (req, res) => hooks.handleStats(req, res) } },
    '/mock/faults': { POST: { kind: 'json', run: (req, res, body) => hooks.handleFaults(req, res, body) } },
    '/mock/reset': {
      POST: {
        kind: 'plain',
        run: (req, res) => {
          context.pd?.resetStats();
          hooks.handleReset(req, res);
        },
      },
    },
    ...pdRoutes(context.pd),
    ...workerInfo(context),
  };
}

/** What routers in front of vLLM / SGLang probe (worker-info.ts); /tokenize is the engine's own (tokenize.ts). */
function workerInfo(context: EngineContext): RouteTable {
  const info = workerInfoRoutes(context.options, context.tokenizer ?? null, maxModelLen(context.options));
  return {
    '/v1/completions/render': { POST: { kind: 'json', run: info.render } },
    '/v1/chat/completions/render': { POST: { kind: 'json', run: info.render } },
    '/version': { GET: { kind: 'plain', run: info.version } },
    '/get_model_info': { GET: { kind: 'plain', run: info.modelInfo } },
    '/get_server_info': { GET: { kind: 'plain', run: info.serverInfo } },
    '/server_info': { GET: { kind: 'plain', run: info.serverInfo } },
  };
}

/** GET /mock/pd (the role's counters) and, on vLLM-style prefills, POST /mock/pd/claim (pd-vllm.ts). */
function pdRoutes(pd: PdRole | undefined): RouteTable {
  if (pd === undefined) return {};
  const routes: RouteTable = { '/mock/pd': { GET: { kind: 'plain', run: (_req, res) => sendJson(res, 200, pd.stats()) } } };
  const claim = pd.handleClaim?.bind(pd);
  if (claim !== undefined) routes['/mock/pd/claim'] = { POST: { kind: 'json', run: claim } };
  return routes;
}

/** The path without query; absolute-form targets (`http://host/path`, as sent to proxies) are accepted too. */
function pathOf(req: IncomingMessage): string | undefined {
  const target = req.url ?? '/';
  if (target.startsWith('/')) return target.split('?', 1)[0];
  try {
    return new URL(target).pathname;
  } catch {
    return undefined;
  }
}

async function runInference(handler: Extract<Handler, { kind: 'inference' }>, hooks: TestHooks, req: IncomingMessage, res: ServerResponse, path: string) {
  const tracked = hooks.track(req, res, path);
  let text: string;
  try {
    text = await readBodyText(req);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    return; // the client went away mid-body; the hooks count it as cancelled
  }
  let body: Record<string, unknown> | undefined;
  let invalidBody: unknown;
  try {
    body = parseJsonObject(text);
    tracked.setBody(body);
  } catch (error) {
    tracked.setBody(text);
    invalidBody = error;
  }
  if (await applyFaultPrelude(tracked, res)) return;
  if (body === undefined) throw invalidBody;
  await handler.run(tracked, res, body);
}

async function dispatch(routes: RouteTable, hooks: TestHooks, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = pathOf(req);
  if (path === undefined) throw new HttpError(400, 'Invalid request URL.');
  const route = Object.hasOwn(routes, path) ? routes[path] : path.startsWith(STORED_RESPONSES) ? routes[STORED_RESPONSES] : undefined;
  // Unknown paths and methods answer like vLLM's FastAPI server does.
  if (route === undefined) return sendJson(res, 404, { detail: 'Not Found' });
  const method = req.method ?? '';
  const handler = Object.hasOwn(route, method) ? route[method] : undefined;
  if (handler === undefined) {
    res.setHeader('allow', Object.keys(route).join(', '));
    return sendJson(res, 405, { detail: 'Method Not Allowed' });
  }
  if (handler.kind === 'plain') return handler.run(req, res);
  if (handler.kind === 'json') return handler.run(req, res, parseJsonObject(await readBodyText(req)));
  return runInference(handler, hooks, req, res, path);
}

function respondToFailure(res: ServerResponse, error: unknown): void {
  if (canRespond(res)) {
    sendError(res, error instanceof HttpError ? error : new HttpError(500, `Internal error in the mock engine: ${String(error)}`));
  } else if (!res.writableEnded) {
    res.destroy(); // a stream was under way: cut it so the client sees the failure
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startMockEngine(options: Partial<MockEngineOptions> & { model: string }): Promise<MockEngineHandle> {
  const resolved = resolveMockEngineOptions(options);
  const server: Server = resolved.tls === undefined ? createServer() : createHttpsServer({ cert: resolved.tls.cert, key: resolved.tls.key });
  const port = await listen(server, resolved.port, resolved.host);
  const instanceName = resolved.instanceName ?? `${resolved.host}:${port}`;
  // The gauges read the generator, which needs the metrics to count into: tie the knot through a closure.
  let readLoad = () => ({ running: 0, waiting: 0, kvCacheUsage: 0, cacheHitRate: 0 });
  const metrics = new EngineMetrics(resolved.engine, resolved.servedModelName, () => readLoad());
  const generator = createGenerator(resolved, metrics);
  readLoad = () => generator.load();
  let pd: PdRole | null;
  try {
    pd = await startPdRole(resolved, { instance: instanceName, host: advertisedHost(resolved.host), port }, resolved.host);
  } catch (error) {
    generator.close();
    await new Promise((resolve) => server.close(resolve));
    throw new Error(`cannot start the ${resolved.role} role: ${(error as Error).message}`, { cause: error });
  }
  let kvEvents: Awaited<ReturnType<typeof startKvEvents>>;
  try {
    kvEvents = await startKvEvents(resolved, generator);
  } catch (error) {
    // Nothing of a failed start stays open (a caller may retry on the same ports).
    generator.close();
    await Promise.all([pd?.close(), new Promise((resolve) => server.close(resolve))]);
    throw new Error(`cannot start the KV event publisher: ${(error as Error).message}`, { cause: error });
  }
  const context: EngineContext = {
    kvEvents,
    tokenizer: resolved.tokenizer === undefined ? null : new MockTokenizer(resolved.tokenizer),
    options: resolved,
    models: new ModelRegistry(resolved.servedModelName, resolved.model, resolved.engine, resolved.loraAdapters, maxModelLen(resolved)),
    metrics,
    generator,
    ...(pd !== null && { pd }),
  };
  const hooks = new TestHooks(instanceName, generator);
  const routes = buildRoutes(context, hooks);
  // Attached in the same tick as 'listening', before any connection can be served.
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('x-mock-instance', instanceName);
    dispatch(routes, hooks, req, res).catch((error: unknown) => respondToFailure(res, error));
  });

  // Requests too broken for node:http to parse still get a JSON error tagged with the instance.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(errorBody(400, `Malformed HTTP request: ${error.message}`));
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-mock-instance: ${instanceName}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      generator.close();
      server.close(() => resolve());
      server.closeAllConnections(); // open streams end now; their generation loops stop on the close event
    }).then(() => Promise.all([pd?.close(), kvEvents?.close()])).then(() => undefined);
    return closing;
  };
  const urlHost = resolved.host.includes(':') ? `[${resolved.host}]` : resolved.host;
  return { url: `${resolved.tls === undefined ? 'http' : 'https'}://${urlHost}:${port}`, port, instanceName, simulated: resolved.simulate, bootstrapPort: pd?.bootstrapPort ?? null, kvEventsPort: kvEvents?.port ?? null, kvReplayPort: kvEvents?.replayPort ?? null, close };
}
