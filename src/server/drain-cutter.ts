// What the drain does with the requests still open when --drain-timeout expires: an event stream ends with one SSE
// error event (`draining`) and a proper end of its body; a request not answered yet (waiting in the fair queue, or
// for its pod's headers) gets the drain's 503 with Retry-After, written on its connection, which then closes; an
// answer under way has its connection closed. The pipeline then reports each of them as abandoned by its client
// (status 0); from the cut on, such a report is the cut's doing, so the record gets the drain's error and the status
// its client saw, and the access log and metrics say why it ended.
import type { ServerResponse } from 'node:http';
import { RouterError, errorDialectOf } from '../errors/router-error.ts';
import type { RequestRecord } from '../observability/request-record.ts';
import { watchedContextOf } from '../pipeline/context.ts';
import { exchangedRequestOf } from '../proxy/exchange.ts';

const DRAIN_ERROR = new RouterError('draining', 'the router shut down before the response finished (drain timeout)');
const DRAIN_EVENTS = { openai: DRAIN_ERROR.toSseEvent('openai'), anthropic: DRAIN_ERROR.toSseEvent('anthropic') } as const;
const DRAIN_BODIES = { openai: DRAIN_ERROR.toBody('openai'), anthropic: DRAIN_ERROR.toBody('anthropic') } as const;
const ignore = (): void => undefined;
const SSE_HEADER = /^content-type:\s*text\/event-stream/im;
/** The head as written (Node's field): headers given to writeHead as a list are not readable with getHeader. */
type SentResponse = ServerResponse & { _header?: string | null };

export class DrainCutter {
  private cutting = false;
  private readonly report: (record: RequestRecord) => void;

  constructor(report: (record: RequestRecord) => void) {
    this.report = report;
  }

  /** The pipeline's onRequestDone: passes every record on, the cut ones with the drain's error. */
  readonly onRequestDone = (record: RequestRecord): void => {
    if (this.cutting && record.status === 0 && record.error === null) {
      const outcome = record.outcome;
      // Headers from a pod went to the client (its status), or the client got nothing: logged as the 503 of the drain.
      const status = outcome !== null && (outcome.headersAt ?? 0) > 0 ? outcome.upstreamStatus : DRAIN_ERROR.status;
      record.status = status;
      record.error = DRAIN_ERROR;
      if (outcome !== null) record.outcome = { ...outcome, status, clientAborted: false };
    }
    this.report(record);
  };

  cut(open: Iterable<ServerResponse>): void {
    this.cutting = true;
    for (const res of [...open]) {
      // The upstream may still write before the response's close reaches its exchange: that must not throw.
      res.on('error', ignore);
      const sse = res.headersSent && SSE_HEADER.test((res as SentResponse)._header ?? '');
      const socket = res.socket;
      if (sse && !res.writableEnded) res.end(DRAIN_EVENTS[errorDialectOf(res.req.url)]);
      else if (!res.headersSent && socket !== null && socket.writable) socket.end(drainAnswer(res));
      else res.destroy();
    }
  }
}

/** The drain's 503 as raw bytes: the response object stays unanswered, so its request ends as its client leaving. */
function drainAnswer(res: ServerResponse): string {
  const body = DRAIN_BODIES[errorDialectOf(res.req.url)];
  const given = res.req.headers['x-request-id'];
  const requestId = exchangedRequestOf(res)?.requestId ?? watchedContextOf(res)?.requestId ?? (typeof given === 'string' ? given : '-');
  return `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `x-request-id: ${requestId}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${body}`;
}
