// A streaming request that waited for admission long enough to get heartbeats already has its status line (200,
// text/event-stream) on the wire. The answer that follows must continue that stream: the upstream exchange's own
// status line is swallowed, an event stream passes through, and any other answer (an upstream error) becomes one
// SSE error event. Installed on that one response only, so the proxy layer stays unaware of queueing.
import type { ServerResponse } from 'node:http';
import { anthropicErrorBody, errorBody, errorDialectOf } from '../../errors/router-error.ts';
import type { RequestContext } from '../context.ts';

const MAX_ERROR_TEXT = 1000;

export function openQueuedStream(ctx: RequestContext): void {
  const res = ctx.res;
  if (res.headersSent) return;
  const headers = ['content-type', 'text/event-stream', 'cache-control', 'no-cache', 'x-request-id', ctx.requestId];
  if (ctx.deps.draining()) headers.push('connection', 'close');
  res.writeHead(200, headers);
  res.flushHeaders();
  ctx.sseOpened = true;
  const write = res.write.bind(res) as (chunk: Buffer | string) => boolean;
  const end = res.end.bind(res) as (chunk?: Buffer | string) => ServerResponse;
  override(res, 'writeHead', (status: number) => {
    if (status >= 200 && status < 300) return res;
    // An error answer: collect its body and send it as one SSE error event.
    const parts: Buffer[] = [];
    const collect = (chunk: unknown): void => {
      if (typeof chunk === 'string') parts.push(Buffer.from(chunk));
      else if (Buffer.isBuffer(chunk)) parts.push(chunk);
    };
    override(res, 'write', (chunk: unknown) => {
      collect(chunk);
      return true;
    });
    override(res, 'end', (chunk?: unknown) => {
      collect(chunk);
      const text = Buffer.concat(parts).toString('utf8').slice(0, MAX_ERROR_TEXT);
      const message = `upstream answered ${status}: ${text}`;
      write(
        errorDialectOf(ctx.req.url) === 'anthropic'
          ? `event: error\ndata: ${anthropicErrorBody(message, 'api_error')}\n\n`
          : `data: ${errorBody(message, 'upstream_error', `upstream_status_${status}`)}\n\n`,
      );
      return end();
    });
    return res;
  });
}

function override(res: ServerResponse, method: 'writeHead' | 'write' | 'end', fn: (...args: never[]) => unknown): void {
  Object.defineProperty(res, method, { value: fn, configurable: true, writable: true });
}
