// What the exchange (exchange.ts) drives: a backend opens attempts and maps its upstream answers onto the exchange's
// few calls; the exchange owns everything they share (retries, the client response, usage, timing, the outcome).
//   pod-backend.ts       one pod per attempt, the scheduler's order
//   pd-backend.ts        a prefill/decode pair per attempt, the KV connector as strategy
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { RouterError } from '../errors/router-error.ts';
import type { PodEndpoint } from '../snapshot/types.ts';
import type { TokenUsage } from './sse-usage.ts';

/** Kthena's backend_type label. */
export type BackendType = 'model_server' | 'external_provider';

/**
 * How a failed attempt may be retried: `connect` never reached its upstream (retried even without a retry policy,
 * a few times), `retryable` within trafficPolicy.retry, `final` not at all.
 */
export type FailureKind = 'connect' | 'retryable' | 'final';

/** Upstream answers a retry policy retries (the connection errors and timeouts aside). */
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([502, 503, 504]);

/** One running attempt, as the exchange sees it. */
export interface BackendAttempt {
  /** Sends the attempt's upstream request(s); events may come back at once (e.g. a refused connection). */
  start(): void;
  /** Cancels everything the attempt has running; it reports nothing afterwards. */
  abandon(reason: Error): void;
  /** The client's socket drained: resume the upstream read paused for it. */
  resume(): void;
}

export interface Backend {
  readonly type: BackendType;
  /**
   * An attempt on the best candidate not yet tried (not started yet), or null when none is left. `exchange` is the
   * attempt's only way to report. May throw a RouterError (the request cannot be built): the exchange fails with it.
   */
  next(exchange: AttemptSink): BackendAttempt | null;
  /** Another attempt could start (a candidate is left). */
  hasNext(): boolean;
  /** The answer when no candidate was ever reachable and no attempt left an error. */
  exhausted(): RouterError;
  /** The request was served (2xx): post-schedule hooks (e.g. prefix-cache learns where the prompt now is). */
  served(pod: PodEndpoint): void;
  /** Adds what only this backend knows to the outcome (a PD pair's phases); called once, at the end. */
  describe?(outcome: ExchangeOutcome): void;
  /** Upstream response headers (lower case) that never reach the client. */
  readonly withheldResponseHeaders?: ReadonlySet<string>;
}

/** The client request an exchange serves: everything a backend needs to build its upstream requests, and the end. */
export interface ExchangeRequest {
  readonly res: ServerResponse;
  /** The upstream request's method (absent: POST). */
  readonly method?: string;
  /** Path and query as the client sent them. */
  readonly path: string;
  /** The upstream body (model rewritten, usage asked for in streams). */
  readonly body: Buffer;
  /** Upstream request headers (buildUpstreamHeaders). */
  readonly headers: string[];
  readonly requestId: string;
  /** The client asked for a stream ("stream": true). */
  readonly stream: boolean;
  /** The router asked for usage on the client's behalf (stream_options.include_usage): hide the usage-only event. */
  readonly hideUsage: boolean;
  /** trafficPolicy.timeout: bounds the wait for each attempt's response headers. */
  readonly timeoutMs: number | undefined;
  /** Retries allowed on 502/503/504, timeouts and broken connections (trafficPolicy.retry.attempts). */
  readonly retryAttempts: number;
  readonly retryIntervalMs: number;
  /** True while draining: the response carries Connection: close. */
  readonly closeConnection: () => boolean;
  /** Called exactly once, when the exchange ended. */
  readonly onDone: (outcome: ExchangeOutcome) => void;
  /** Read the answer's response id (a Responses API request to pods): ExchangeOutcome.responseId. */
  readonly learnResponseId?: boolean;
}

/** The exchange as its attempts see it. Calls from an attempt that is no longer current are ignored. */
export interface AttemptSink {
  readonly request: ExchangeRequest;
  /**
   * A retryable answer arrived: true when the exchange would rather retry (a policy retry and a candidate are left);
   * the attempt then drops the answer and reports attemptFailed.
   */
  wouldRetry(attempt: BackendAttempt): boolean;
  /** The attempt failed before anything reached the client. `delayMs` overrides the retry interval (Retry-After). */
  attemptFailed(attempt: BackendAttempt, error: RouterError, kind: FailureKind, delayMs?: number): void;
  /** The attempt's answer from `pod` is the client's: false when the exchange refused (it has moved on). */
  commit(attempt: BackendAttempt, pod: PodEndpoint | null, status: number, headers: IncomingHttpHeaders): boolean;
  /** One chunk of the committed answer; false when the client's socket is full (resume() follows when it drains). */
  relay(chunk: Buffer): boolean;
  /** The committed answer ended. */
  completed(attempt: BackendAttempt): void;
  /** The committed answer broke after it began: the client's response ends cleanly, never a second response. */
  brokeMidway(attempt: BackendAttempt, error: RouterError): void;
}

/** One leg of a PD pair, for the prefill/decode duration metrics. */
export interface PhaseTiming {
  readonly durationMs: number;
  /** 200 when the leg succeeded, 500 when not (Kthena's labels). */
  readonly status: number;
}

export interface ExchangeOutcome {
  /** Status sent to the client (0 if the client went away first). */
  readonly status: number;
  readonly attempts: number;
  /** The pod whose answer the client got (a PD pair's decode pod, or the prefill pod whose error was passed on). */
  readonly pod: PodEndpoint | null;
  readonly upstreamStatus: number;
  readonly usage: TokenUsage | null;
  /**
   * Events of an event stream passed on to the client. When a stream ends without usage (the client left, the pod
   * broke off), its output is estimated at one token per event: engines stream a token per event.
   */
  readonly streamedEvents?: number;
  readonly error: RouterError | null;
  readonly clientAborted: boolean;
  /** A Responses API answer's response id (the pod that produced it stores it), when the answer completed. */
  readonly responseId?: string | null;
  /** performance.now() when the response headers of the answering attempt arrived; 0 or absent if none did. */
  readonly headersAt?: number;
  /** PD pairs: the legs of the last pair attempt; null when that leg never started. */
  readonly prefillPhase?: PhaseTiming | null;
  readonly decodePhase?: PhaseTiming | null;
}
