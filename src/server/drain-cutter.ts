// What the drain does with the requests still open when --drain-timeout expires: an event stream ends with one SSE
// error event (`draining`) and a proper end of its body, anything else has its connection closed. The pipeline then
// reports each of them as abandoned by its client (status 0); from the cut on, such a report is the cut's doing, so
// the record gets the drain's error and the status its client saw, and the access log and metrics say why it ended.
import type { ServerResponse } from 'node:http';
import { RouterError, errorDialectOf } from '../errors/router-error.ts';
import type { RequestRecord } from '../observability/request-record.ts';

const DRAIN_ERROR = new RouterError('draining', 'the router shut down before the response finished (drain timeout)');
const DRAIN_EVENTS = { openai: DRAIN_ERROR.toSseEvent('openai'), anthropic: DRAIN_ERROR.toSseEvent('anthropic') } as const;
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
      if (sse && !res.writableEnded) res.end(DRAIN_EVENTS[errorDialectOf(res.req.url)]);
      else res.destroy();
    }
  }
}
