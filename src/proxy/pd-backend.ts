// A PD-disaggregated ModelServer as a backend: each attempt is a prefill/decode pair, run as its KV connector says.
//   sequential connectors: prefill (whole answer collected, checked) → decode body from it → decode;
//   concurrent (SGLang): both legs at once; the decode's 2xx answer is held back until the prefill succeeded, so a
//   prefill failure can still be retried on another pair and nothing of a failed pair ever reaches the client.
// Either leg failing abandons the other one (the pods see their requests cancelled), and its pod is excluded from the
// request's later pairs. trafficPolicy.timeout bounds each leg: the prefill's whole answer, the decode's headers.
import type { IncomingHttpHeaders } from 'node:http';
import { RouterError } from '../errors/router-error.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import type { PdPair } from '../scheduling/pd-pairs.ts';
import type { PdRole, PodEndpoint } from '../snapshot/types.ts';
import { RETRYABLE_STATUS, type AttemptSink, type Backend, type BackendAttempt, type BackendType, type ExchangeOutcome, type FailureKind, type PhaseTiming } from './backend.ts';
import { PdProtocolError, type ConnectorName, type PairBodies, type PdConnector } from './connectors/index.ts';
import { UpstreamLeg, type LegFailure, type LegListener, type LegRequest } from './upstream-leg.ts';
import type { UpstreamPools } from './upstream-pools.ts';

export type { PhaseTiming } from './backend.ts';

/** A prefill answer is one token; anything this large is not one. */
const MAX_PREFILL_ANSWER = 1 << 20;

/** The pairs of one request, best first (scheduling/pd-pairs.ts). */
export interface PairSource {
  /** The best pair with no excluded pod; the same until something is excluded. */
  next(): PdPair | null;
  exclude(pod: PodEndpoint): void;
  /** Post-schedule hooks of both roles: `pair` served the request. */
  served(pair: PdPair): void;
}

export interface PdOutcome extends ExchangeOutcome {
  readonly connector: ConnectorName;
  /** The pair whose answer the client got (`pod` is its decode pod, or the prefill pod whose error was passed on). */
  readonly pair: PdPair | null;
  /** Prefill pod of `pair`. */
  readonly prefillPod: PodEndpoint | null;
  readonly prefillPhase: PhaseTiming | null;
  readonly decodePhase: PhaseTiming | null;
}

class PairAbandoned extends Error {}

export class PdBackend implements Backend {
  readonly type: BackendType = 'model_server';
  readonly connector: PdConnector;
  readonly pairs: PairSource;
  readonly pools: UpstreamPools;
  readonly states: PodStateTable;
  private readonly bodiesFor: (pair: PdPair) => PairBodies;
  /** Prefill legs need a plain JSON answer: no content coding. */
  private prefillHeaders: string[] | null = null;
  /** The latest attempt, kept after it failed: its legs' timings go into the outcome. */
  private latest: PairAttempt | null = null;
  /** The pair whose answer the client got. */
  servedPair: PdPair | null = null;

  constructor(connector: PdConnector, pairs: PairSource, bodiesFor: (pair: PdPair) => PairBodies, pools: UpstreamPools, states: PodStateTable) {
    this.connector = connector;
    this.pairs = pairs;
    this.bodiesFor = bodiesFor;
    this.pools = pools;
    this.states = states;
  }

  next(exchange: AttemptSink): BackendAttempt | null {
    const pair = this.pairs.next();
    if (pair === null) return null;
    let bodies: PairBodies;
    try {
      bodies = this.bodiesFor(pair);
    } catch (err) {
      throw new RouterError('internal_error', `internal error building the prefill request: ${(err as Error).message}`);
    }
    this.prefillHeaders ??= withoutHeader(exchange.request.headers, 'accept-encoding');
    return (this.latest = new PairAttempt(this, exchange, pair, bodies, this.prefillHeaders));
  }

  hasNext(): boolean {
    return this.pairs.next() !== null;
  }

  exhausted(): RouterError {
    return new RouterError('no_pd_pair', 'no PD group has both a ready prefill pod and a ready decode pod');
  }

  served(): void {
    if (this.servedPair !== null) this.pairs.served(this.servedPair);
  }

  describe(outcome: ExchangeOutcome): void {
    const pair = this.servedPair;
    const details: Pick<PdOutcome, 'connector' | 'pair' | 'prefillPod' | 'prefillPhase' | 'decodePhase'> = {
      connector: this.connector.name,
      pair,
      prefillPod: pair?.prefill ?? null,
      prefillPhase: this.latest?.phase('prefill') ?? null,
      decodePhase: this.latest?.phase('decode') ?? null,
    };
    Object.assign(outcome, details);
  }
}

/** One leg of a pair. */
class PdLeg extends UpstreamLeg {
  readonly role: PdRole;
  readonly pod: PodEndpoint;

  constructor(role: PdRole, pod: PodEndpoint, states: PodStateTable, listener: LegListener, request: LegRequest) {
    super(pod.origin, states, listener, request, role === 'prefill');
    this.role = role;
    this.pod = pod;
  }

  get label(): string {
    return `${this.role} pod ${this.pod.podKey}`;
  }
}

class PairAttempt implements BackendAttempt, LegListener {
  readonly pair: PdPair;
  private readonly backend: PdBackend;
  private readonly ex: AttemptSink;
  private readonly bodies: PairBodies;
  private readonly prefillHeaders: string[];
  private readonly concurrent: boolean;
  private prefill: PdLeg | null = null;
  private decode: PdLeg | null = null;
  private prefillStatus = 0;
  private prefillResponseHeaders: IncomingHttpHeaders = {};
  private prefillChunks: Buffer[] = [];
  private prefillSize = 0;
  private prefillOk = false;
  private decodeStatus = 0;
  private decodeHeaders: IncomingHttpHeaders = {};
  /** Concurrent: the decode's answer, held until the prefill succeeded. */
  private held: Buffer[] | null = null;
  private heldEnded = false;
  /** The decode's answer is the client's. */
  private relaying = false;
  /** performance.now() when each leg started and ended (0: not yet), and whether it succeeded. */
  private readonly timing = { prefill: { start: 0, end: 0, ok: false }, decode: { start: 0, end: 0, ok: false } };

  constructor(backend: PdBackend, exchange: AttemptSink, pair: PdPair, bodies: PairBodies, prefillHeaders: string[]) {
    this.backend = backend;
    this.ex = exchange;
    this.pair = pair;
    this.bodies = bodies;
    this.prefillHeaders = prefillHeaders;
    this.concurrent = backend.connector.concurrent;
  }

  start(): void {
    this.prefill = this.send('prefill', this.pair.prefill, this.bodies.prefill);
    if (this.concurrent) this.decode = this.send('decode', this.pair.decode, this.bodies.decode(null));
  }

  /** Cancels both legs; nothing more comes from this attempt. */
  abandon(reason: Error): void {
    this.prefill?.abandon(reason);
    this.decode?.abandon(reason);
    this.legEnded('prefill', false);
    this.legEnded('decode', false);
  }

  resume(): void {
    this.decode?.resume();
  }

  /** How long each leg took and whether it succeeded (Kthena's status label: 200 or 500); null if it never started. */
  phase(role: PdRole): PhaseTiming | null {
    const t = this.timing[role];
    if (t.start === 0) return null;
    return { durationMs: (t.end === 0 ? performance.now() : t.end) - t.start, status: t.ok ? 200 : 500 };
  }

  private legEnded(role: PdRole, ok: boolean): void {
    const t = this.timing[role];
    if (t.start === 0 || t.end !== 0) return;
    t.end = performance.now();
    t.ok = ok;
  }

  // ---- leg events ----

  onStart(leg: UpstreamLeg, status: number, headers: IncomingHttpHeaders): void {
    const { role, pod } = leg as PdLeg;
    if (role === 'prefill') {
      this.prefillStatus = status;
      this.prefillResponseHeaders = headers;
      return;
    }
    this.decodeStatus = status;
    this.decodeHeaders = headers;
    if (RETRYABLE_STATUS.has(status) && this.retryInsteadOf(pod)) {
      this.failed([pod], new RouterError('upstream_unavailable', `decode pod ${pod.podKey} answered ${status}`), 'retryable');
      return;
    }
    if (this.concurrent && !this.prefillOk) {
      if (isSuccess(status)) {
        this.held = [];
        return;
      }
      // The decode's final answer is an error: the prefill no longer matters.
      this.prefill?.abandon(new PairAbandoned('the decode answered an error'));
    }
    this.relay();
  }

  onData(leg: UpstreamLeg, chunk: Buffer): boolean {
    if ((leg as PdLeg).role === 'prefill') {
      this.prefillSize += chunk.length;
      if (this.prefillSize <= MAX_PREFILL_ANSWER) this.prefillChunks.push(chunk);
      return true;
    }
    if (this.held !== null) {
      this.held.push(chunk);
      return true;
    }
    return this.ex.relay(chunk);
  }

  onEnd(leg: UpstreamLeg): void {
    const { role } = leg as PdLeg;
    this.legEnded(role, role === 'prefill' ? isSuccess(this.prefillStatus) : isSuccess(this.decodeStatus));
    if (role === 'prefill') this.prefillAnswered(leg as PdLeg);
    else if (this.held !== null) this.heldEnded = true;
    else this.ex.completed(this);
  }

  onFailure(leg: UpstreamLeg, failure: LegFailure): void {
    const { role, pod } = leg as PdLeg;
    this.legEnded(role, false);
    if (role === 'decode' && this.relaying) {
      this.ex.brokeMidway(this, failure.error);
      return;
    }
    this.failed([pod], failure.error, failure.kind === 'connect' || failure.kind === 'busy' ? 'connect' : 'retryable');
  }

  // ---- steps ----

  private send(role: PdRole, pod: PodEndpoint, body: Buffer): PdLeg {
    const { path, headers, timeoutMs } = this.ex.request;
    const request: LegRequest = { path, headers: role === 'prefill' ? this.prefillHeaders : headers, body, timeoutMs };
    const leg = new PdLeg(role, pod, this.backend.states, this, request);
    this.timing[role].start = performance.now();
    leg.dispatch(this.backend.pools.get(pod.origin), this.backend.pools.connectionWaitMs);
    return leg;
  }

  /** A retryable answer from `pod`: true when it should be dropped for another pair (which will not use `pod`). */
  private retryInsteadOf(pod: PodEndpoint): boolean {
    this.backend.pairs.exclude(pod);
    return this.ex.wouldRetry(this);
  }

  private prefillAnswered(leg: PdLeg): void {
    const status = this.prefillStatus;
    const pod = leg.pod;
    if (this.prefillSize > MAX_PREFILL_ANSWER) {
      this.failed([pod], new RouterError('upstream_protocol_error', `prefill pod ${pod.podKey} answered more than ${MAX_PREFILL_ANSWER} bytes`), 'retryable');
      return;
    }
    const answer = this.prefillChunks.length === 1 ? this.prefillChunks[0] : Buffer.concat(this.prefillChunks);
    this.prefillChunks = [];
    if (isSuccess(status)) {
      if (this.concurrent) {
        this.prefillOk = true;
        if (this.held !== null) this.releaseHeld();
        return;
      }
      let decodeBody: Buffer;
      try {
        decodeBody = this.bodies.decode(answer);
      } catch (err) {
        const protocol = err instanceof PdProtocolError;
        const error = protocol
          ? new RouterError('upstream_protocol_error', err.message)
          : new RouterError('internal_error', `internal error building the decode request: ${(err as Error).message}`);
        this.failed([pod], error, protocol ? 'retryable' : 'final');
        return;
      }
      this.decode = this.send('decode', this.pair.decode, decodeBody);
      return;
    }
    if (RETRYABLE_STATUS.has(status) && this.retryInsteadOf(pod)) {
      this.failed([pod], new RouterError('upstream_unavailable', `prefill pod ${pod.podKey} answered ${status}`), 'retryable');
      return;
    }
    // Any other answer is final, as on the aggregated path: the client gets the prefill's error as it is.
    this.decode?.abandon(new PairAbandoned('the prefill answered an error'));
    if (!this.ex.commit(this, pod, status, this.prefillResponseHeaders)) return;
    this.backend.servedPair = this.pair;
    this.ex.relay(answer);
    this.ex.completed(this);
  }

  /** Concurrent: the prefill succeeded, so the decode answer held back so far goes out. */
  private releaseHeld(): void {
    const chunks = this.held ?? [];
    this.held = null;
    if (!this.relay()) return;
    for (const chunk of chunks) this.ex.relay(chunk);
    if (this.heldEnded) this.ex.completed(this);
  }

  /** Makes the decode's answer the client's. False when the exchange refused (it has moved on). */
  private relay(): boolean {
    const decode = this.decode;
    if (decode === null || !this.ex.commit(this, decode.pod, this.decodeStatus, this.decodeHeaders)) {
      this.abandon(new PairAbandoned('the exchange moved on'));
      return false;
    }
    this.relaying = true;
    this.backend.servedPair = this.pair;
    return true;
  }

  private failed(pods: readonly PodEndpoint[], error: RouterError, kind: FailureKind): void {
    this.abandon(new PairAbandoned(error.message));
    for (const pod of pods) this.backend.pairs.exclude(pod);
    this.ex.attemptFailed(this, error, kind);
  }
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function withoutHeader(headers: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].toLowerCase() !== name) out.push(headers[i], headers[i + 1]);
  }
  return out;
}
