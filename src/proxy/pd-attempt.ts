// One prefill/decode pair attempt of a PdExchange.
//   sequential connectors: prefill (whole answer collected, checked) → decode body from it → decode;
//   concurrent (SGLang): both legs at once; the decode's 2xx answer is held back until the prefill succeeded, so a
//   prefill failure can still be retried on another pair and nothing of a failed pair ever reaches the client.
// Either leg failing abandons the other one (the pods see their requests cancelled).
import type { IncomingHttpHeaders } from 'node:http';
import { RouterError } from '../errors/router-error.ts';
import type { PdPair } from '../scheduling/pd-pairs.ts';
import type { PdRole, PodEndpoint } from '../snapshot/types.ts';
import { PdProtocolError, type PairBodies } from './connectors/index.ts';
import type { PairFailureKind, PdExchange, PhaseTiming } from './pd-exchange.ts';
import { UpstreamLeg, type LegFailure, type LegListener } from './pd-leg.ts';
import { AnswerUsage } from './answer-usage.ts';
import { RETRYABLE_STATUS } from './proxy-exchange.ts';

/** A prefill answer is one token; anything this large is not one. */
const MAX_PREFILL_ANSWER = 1 << 20;

class PairAbandoned extends Error {}

export class PairAttempt implements LegListener {
  readonly pair: PdPair;
  private readonly ex: PdExchange;
  private readonly bodies: PairBodies;
  private readonly concurrent: boolean;
  private prefill: UpstreamLeg | null = null;
  private decode: UpstreamLeg | null = null;
  private prefillStatus = 0;
  private prefillHeaders: IncomingHttpHeaders = {};
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
  private answer: AnswerUsage | null = null;
  /** performance.now() when each leg started and ended (0: not yet), and whether it succeeded. */
  private readonly timing = { prefill: { start: 0, end: 0, ok: false }, decode: { start: 0, end: 0, ok: false } };

  constructor(exchange: PdExchange, pair: PdPair, bodies: PairBodies) {
    this.ex = exchange;
    this.pair = pair;
    this.bodies = bodies;
    this.concurrent = exchange.o.connector.concurrent;
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
    if (leg.role === 'prefill') {
      this.prefillStatus = status;
      this.prefillHeaders = headers;
      return;
    }
    this.decodeStatus = status;
    this.decodeHeaders = headers;
    if (RETRYABLE_STATUS.has(status) && this.ex.retryInsteadOf(this, leg.pod)) {
      this.failed([leg.pod], new RouterError('upstream_unavailable', `decode pod ${leg.pod.podKey} answered ${status}`), 'retryable');
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
    if (leg.role === 'prefill') {
      this.prefillSize += chunk.length;
      if (this.prefillSize <= MAX_PREFILL_ANSWER) this.prefillChunks.push(chunk);
      return true;
    }
    if (this.held !== null) {
      this.held.push(chunk);
      return true;
    }
    return this.forward(chunk);
  }

  onEnd(leg: UpstreamLeg): void {
    this.legEnded(leg.role, leg.role === 'prefill' ? isSuccess(this.prefillStatus) : isSuccess(this.decodeStatus));
    if (leg.role === 'prefill') this.prefillAnswered(leg);
    else if (this.held !== null) this.heldEnded = true;
    else this.finishRelay();
  }

  onFailure(leg: UpstreamLeg, failure: LegFailure): void {
    this.legEnded(leg.role, false);
    if (leg.role === 'decode' && this.relaying) {
      this.ex.brokeMidway(this, failure.error, (this.answer?.tap ?? null) !== null, this.answer?.partialUsage ?? null);
      return;
    }
    this.failed([leg.pod], failure.error, failure.kind === 'connect' ? 'connect' : 'retryable');
  }

  // ---- steps ----

  private send(role: PdRole, pod: PodEndpoint, body: Buffer): UpstreamLeg {
    const { o, pools, podStates } = this.ex;
    const leg = new UpstreamLeg(role, pod, podStates, this, {
      path: o.path,
      headers: role === 'prefill' ? this.ex.prefillHeaders : o.headers,
      body,
      timeoutMs: o.timeoutMs,
      timeoutCoversBody: role === 'prefill',
    });
    this.timing[role].start = performance.now();
    leg.dispatch(pools.get(pod.origin));
    return leg;
  }

  private prefillAnswered(leg: UpstreamLeg): void {
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
    if (RETRYABLE_STATUS.has(status) && this.ex.retryInsteadOf(this, pod)) {
      this.failed([pod], new RouterError('upstream_unavailable', `prefill pod ${pod.podKey} answered ${status}`), 'retryable');
      return;
    }
    // Any other answer is final, as on the aggregated path: the client gets the prefill's error as it is.
    this.decode?.abandon(new PairAbandoned('the prefill answered an error'));
    this.ex.commitWhole(this, pod, status, this.prefillHeaders, answer);
  }

  /** Concurrent: the prefill succeeded, so the decode answer held back so far goes out. */
  private releaseHeld(): void {
    const chunks = this.held ?? [];
    this.held = null;
    if (!this.relay()) return;
    for (const chunk of chunks) this.forward(chunk);
    if (this.heldEnded) this.finishRelay();
  }

  /** Makes the decode's answer the client's. False when the exchange refused (it has moved on). */
  private relay(): boolean {
    const decode = this.decode;
    const committed = decode === null ? null : this.ex.commit(this, decode.pod, this.decodeStatus, this.decodeHeaders);
    if (decode === null || committed === null) {
      this.abandon(new PairAbandoned('the exchange moved on'));
      return false;
    }
    this.relaying = true;
    this.answer = new AnswerUsage(committed.tap, this.decodeStatus, this.decodeHeaders);
    // Backpressure: a slow client pauses the decode read until its socket drains.
    this.ex.response.on('drain', () => decode.resume());
    return true;
  }

  /** Passes a chunk of the committed decode answer on; false when the client's socket is full. */
  private forward(chunk: Buffer): boolean {
    const out = this.answer === null ? chunk : this.answer.pass(chunk);
    return out === null || out.length === 0 || this.ex.response.write(out);
  }

  private finishRelay(): void {
    this.ex.completed(this, this.answer === null ? null : this.answer.finish(this.ex.response));
  }

  private failed(pods: readonly PodEndpoint[], error: RouterError, kind: PairFailureKind): void {
    this.abandon(new PairAbandoned(error.message));
    this.ex.pairFailed(this, pods, error, kind);
  }
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}
