// Token usage of the answer being relayed to the client, for the aggregated and the prefill/decode paths alike:
// a stream's usage comes through the SSE tap; a JSON body is copied (up to a bound) and its `usage` read at the end.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { parseIdFromJsonBody, parseUsageFromJsonBody, type SseUsageTap, type TokenUsage } from './sse-usage.ts';

/** A JSON answer larger than this is passed on without learning its usage. */
export const MAX_USAGE_BODY = 1 << 20;

export class AnswerUsage {
  readonly tap: SseUsageTap | null;
  private chunks: Buffer[] | null;
  private size = 0;
  private readonly learnResponseId: boolean;
  /** A JSON answer's response id, read when it ended. */
  private bodyResponseId: string | null = null;

  constructor(tap: SseUsageTap | null, status: number, headers: IncomingHttpHeaders, learnResponseId = false) {
    this.tap = tap;
    this.learnResponseId = learnResponseId;
    const type = headers['content-type'];
    this.chunks = tap === null && status < 300 && typeof type === 'string' && type.includes('json') && !isEncoded(headers) ? [] : null;
  }

  /** The bytes to send on for one upstream chunk (null or empty: nothing yet). */
  pass(chunk: Buffer): Buffer | null {
    if (this.tap !== null) return this.tap.push(chunk);
    if (this.chunks !== null) {
      this.size += chunk.length;
      if (this.size <= MAX_USAGE_BODY) this.chunks.push(chunk);
      else this.chunks = null;
    }
    return chunk;
  }

  /** The answer ended: sends what the tap still held, and returns the usage learnt. */
  finish(res: ServerResponse): TokenUsage | null {
    if (this.tap !== null) {
      const rest = this.tap.end();
      if (rest !== null && rest.length > 0) res.write(rest);
      return this.tap.usage;
    }
    const chunks = this.chunks;
    if (chunks === null || chunks.length === 0) return null;
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    if (this.learnResponseId) this.bodyResponseId = parseIdFromJsonBody(body);
    return parseUsageFromJsonBody(body);
  }

  /**
   * The answer's response id (Responses API, when asked to learn it): a JSON answer's once it ended, a stream's as
   * soon as an event named it (also when the stream broke off: a background response generates on at the pod).
   */
  get responseId(): string | null {
    if (!this.learnResponseId) return null;
    return this.tap !== null ? this.tap.responseId : this.bodyResponseId;
  }

  /** Usage seen so far when the answer broke off (streams only). */
  get partialUsage(): TokenUsage | null {
    return this.tap?.usage ?? null;
  }
}

/** The answer has a content coding (gzip, …): its bytes are not readable as they pass. */
export function isEncoded(headers: IncomingHttpHeaders): boolean {
  const coding = headers['content-encoding'];
  return coding !== undefined && coding !== '' && coding !== 'identity';
}
