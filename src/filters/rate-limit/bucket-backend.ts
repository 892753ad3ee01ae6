// Where a route's token buckets live: in this process (LocalBackend) or in Redis, shared by every replica that
// names the same address (redis-backend.ts). Both answer the same question with the same arithmetic.
import { inputNeed, LocalBucket, msUntil, type BucketSpec } from './token-bucket.ts';

export type LimitType = 'input_tokens' | 'output_tokens';

/** A route's limits for one requested model (a ModelRoute's modelName or one of its LoRA adapters). */
export interface LimitSpec {
  /** "namespace/model": the buckets' identity, shared by every route of that model in that namespace. */
  readonly key: string;
  /** `${key}:input`, `${key}:output`: the buckets' names, computed once. */
  readonly inputKey: string;
  readonly outputKey: string;
  readonly input: BucketSpec | null;
  readonly output: BucketSpec | null;
  /** How long Redis keeps an idle bucket: 3 units, within 10 minutes and 90 days (as Kthena). */
  readonly ttlSeconds: number;
}

/** The buckets' answer to one request. Levels are after the request's input was taken (NaN: no such bucket). */
export interface BucketCheck {
  readonly refused: LimitType | null;
  readonly inputLevel: number;
  readonly outputLevel: number;
  /** ms until the refusing bucket has room; 0 when allowed. */
  readonly waitMs: number;
}

export interface BucketBackend {
  /** Input: take `cost` when the bucket holds min(cost, capacity); output: refuse when under 1 token is left. */
  check(spec: LimitSpec, cost: number): BucketCheck | Promise<BucketCheck>;
  /** Charge output tokens the engine reported (always, also beyond what is left). */
  charge(spec: LimitSpec, outputTokens: number): void | Promise<void>;
  /** Put back input tokens a check took for a request that never reached a backend (up to the capacity). */
  refund(spec: LimitSpec, inputTokens: number): void | Promise<void>;
}

export class LocalBackend implements BucketBackend {
  private readonly buckets = new Map<string, LocalBucket>();

  check(spec: LimitSpec, cost: number): BucketCheck {
    const now = performance.now();
    const input = spec.input === null ? null : this.bucket(spec.inputKey, spec.input, now);
    const output = spec.output === null ? null : this.bucket(spec.outputKey, spec.output, now);
    let inputLevel = input === null ? NaN : input.level(now);
    const outputLevel = output === null ? NaN : output.level(now);
    if (input !== null) {
      const need = inputNeed(input.spec, cost);
      if (inputLevel < need) return { refused: 'input_tokens', inputLevel, outputLevel, waitMs: msUntil(input.spec, inputLevel, need) };
    }
    if (output !== null && outputLevel < 1) return { refused: 'output_tokens', inputLevel, outputLevel, waitMs: msUntil(output.spec, outputLevel, 1) };
    if (input !== null) inputLevel = input.take(cost, now);
    return { refused: null, inputLevel, outputLevel, waitMs: 0 };
  }

  charge(spec: LimitSpec, outputTokens: number): void {
    if (spec.output === null) return;
    const now = performance.now();
    this.bucket(spec.outputKey, spec.output, now).take(outputTokens, now);
  }

  refund(spec: LimitSpec, inputTokens: number): void {
    if (spec.input === null) return;
    const now = performance.now();
    this.bucket(spec.inputKey, spec.input, now).giveBack(inputTokens, now);
  }

  /** Keeps the buckets of these keys (their level survives a reload; a changed limit applies to it), drops the rest. */
  retain(specs: Iterable<LimitSpec>): void {
    const keep = new Set<string>();
    for (const spec of specs) {
      if (spec.input !== null) keep.add(spec.inputKey);
      if (spec.output !== null) keep.add(spec.outputKey);
    }
    for (const key of this.buckets.keys()) if (!keep.has(key)) this.buckets.delete(key);
  }

  private bucket(key: string, spec: BucketSpec, now: number): LocalBucket {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) this.buckets.set(key, (bucket = new LocalBucket(spec, now)));
    else if (bucket.spec !== spec) bucket.spec = spec;
    return bucket;
  }
}
