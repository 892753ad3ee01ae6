// The client of `npm run bench:routing`. Open loop (the default): sends each workload request at its arrival offset,
// whatever happened to the earlier ones. Closed loop (`closedLoop`): N clients each send the next request in workload
// order as soon as their previous one finished, arrival offsets ignored, so the fleet runs at saturation. Each
// request is a streaming chat completion through the router, and records per request the
// time to the first content chunk (TTFT, measured here at the client), the end-to-end time, the output tokens
// (the usage chunk the request asks for), the engine that served it (x-mock-instance) and any error.
import { Agent, request } from 'undici';
import type { WorkloadRequest } from './workload.ts';

export interface RequestResult {
  readonly index: number;
  /** Send time relative to the run start, ms (the scheduled arrival plus the client's lag). */
  readonly sentMs: number;
  readonly lagMs: number;
  readonly status: number;
  /** Time to the first non-empty content delta, ms; null when none came. */
  readonly ttftMs: number | null;
  readonly e2eMs: number;
  /** Completion tokens from the usage chunk (content chunks when it is missing). */
  readonly outputTokens: number;
  readonly contentChunks: number;
  readonly engine: string | null;
  /** null: a 200 stream with content, a usage chunk and [DONE]. */
  readonly error: string | null;
}

export interface LoadOptions {
  readonly url: string;
  readonly path: string;
  /** After the last arrival, requests still running after this long are aborted (and count as errors). */
  readonly drainLimitMs: number;
  /** Called with the number finished so far, about once a second. */
  readonly progress?: (finished: number, total: number, elapsedMs: number) => void;
  /** Closed loop: this many concurrent clients, arrival offsets ignored. */
  readonly closedLoop?: number;
  /** Rewrites a request body before sending (e.g. the model name for a router without model routes). */
  readonly rewriteBody?: (body: string) => string;
}

export interface LoadResult {
  readonly results: readonly RequestResult[];
  /** First send to last completion, ms. */
  readonly makespanMs: number;
  readonly aborted: number;
}

interface ChunkFields {
  choices?: { delta?: { content?: string } }[];
  usage?: { completion_tokens?: number } | null;
  error?: unknown;
}

export async function runLoad(requests: readonly WorkloadRequest[], options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAliveTimeout: 60_000, connections: null, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
  const controllers = new Set<AbortController>();
  const results: RequestResult[] = new Array<RequestResult>(requests.length);
  const start = performance.now();
  let finished = 0;
  let lastEnd = start;

  const send = async (item: WorkloadRequest): Promise<void> => {
    const sentAt = performance.now();
    const controller = new AbortController();
    controllers.add(controller);
    let status = 0;
    let ttftMs: number | null = null;
    let outputTokens: number | null = null;
    let contentChunks = 0;
    let engine: string | null = null;
    let error: string | null = null;
    let sawDone = false;
    try {
      const res = await request(`${options.url}${options.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-session-id': `conversation-${item.conversation}` },
        body: options.rewriteBody === undefined ? item.body : options.rewriteBody(item.body),
        dispatcher: agent,
        signal: controller.signal,
      });
      status = res.statusCode;
      const instance = res.headers['x-mock-instance'];
      engine = typeof instance === 'string' ? instance : null;
      if (status !== 200) {
        error = `HTTP ${status}: ${(await res.body.text()).slice(0, 300)}`;
      } else {
        let buffer = '';
        for await (const chunk of res.body) {
          buffer += (chunk as Buffer).toString('utf8');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (event.startsWith('event: error') || event.includes('\nevent: error')) {
              error ??= `SSE error event: ${event.slice(0, 300)}`;
              continue;
            }
            if (!event.startsWith('data: ')) continue;
            const data = event.slice(6);
            if (data === '[DONE]') {
              sawDone = true;
              continue;
            }
            const parsed = JSON.parse(data) as ChunkFields;
            if (parsed.error !== undefined) error ??= `error chunk: ${data.slice(0, 300)}`;
            const content = parsed.choices?.[0]?.delta?.content;
            if (content !== undefined && content !== '') {
              contentChunks++;
              ttftMs ??= performance.now() - sentAt;
            }
            if (typeof parsed.usage?.completion_tokens === 'number') outputTokens = parsed.usage.completion_tokens;
          }
        }
        if (error === null && !sawDone) error = 'stream ended without [DONE]';
        if (error === null && contentChunks === 0) error = 'stream without content';
        if (error === null && outputTokens === null) error = 'stream without a usage chunk';
      }
    } catch (err) {
      error = controller.signal.aborted ? 'aborted: still running at the drain limit' : `client error: ${(err as Error).message}`;
    }
    controllers.delete(controller);
    const endAt = performance.now();
    if (endAt > lastEnd) lastEnd = endAt;
    results[item.index] = {
      index: item.index,
      sentMs: sentAt - start,
      lagMs: options.closedLoop === undefined ? sentAt - start - item.atMs : 0,
      status,
      ttftMs,
      e2eMs: endAt - sentAt,
      outputTokens: outputTokens ?? contentChunks,
      contentChunks,
      engine,
      error,
    };
    finished++;
  };

  const inFlight: Promise<void>[] = [];
  const ticker = options.progress === undefined
    ? null
    : setInterval(() => options.progress!(finished, requests.length, performance.now() - start), 1000);
  try {
    if (options.closedLoop === undefined) {
      for (const item of requests) {
        const wait = item.atMs - (performance.now() - start);
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        inFlight.push(send(item));
      }
    } else {
      let next = 0;
      const client = async (): Promise<void> => {
        while (next < requests.length) await send(requests[next++]);
      };
      for (let i = 0; i < options.closedLoop; i++) inFlight.push(client());
    }
    const all = Promise.all(inFlight);
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<'limit'>((resolve) => (timer = setTimeout(() => resolve('limit'), options.drainLimitMs)));
    const outcome = await Promise.race([all.then(() => 'done' as const), limit]);
    clearTimeout(timer);
    let aborted = 0;
    if (outcome === 'limit') {
      aborted = controllers.size;
      for (const controller of controllers) controller.abort();
      await all;
    }
    return { results, makespanMs: lastEnd - start, aborted };
  } finally {
    if (ticker !== null) clearInterval(ticker);
    await agent.close();
  }
}
