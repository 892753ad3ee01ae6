// Token rate limits of ModelRoutes (spec.rateLimit), keyed as Kthena should have keyed them: per namespace and
// requested model name or LoRA adapter, so two routes of one model in one namespace share their buckets, LoRA
// routes are limited, and an edited or removed limit takes effect with the configuration that changes it. The
// table is rebuilt on every snapshot swap (never on the request path); local buckets keep their level across
// reloads. Routes with `global.redis.address` keep their buckets in Redis (one client per address).
import type { CompiledRoute, RoutingSnapshot } from '../../snapshot/types.ts';
import type { RateLimit } from '../../resources/types.ts';
import { LocalBackend, type BucketBackend, type BucketCheck, type LimitSpec, type LimitType } from './bucket-backend.ts';
import { RedisBackend } from './redis-backend.ts';
import { bucketSpec, unitSeconds, type BucketSpec } from './token-bucket.ts';

/** What to do with a request when Redis cannot be asked: let it through (default, as Envoy) or refuse it (Kthena). */
export type RateLimitFailureMode = 'open' | 'closed';

export interface RateLimiterOptions {
  readonly failureMode: RateLimitFailureMode;
  /** Redis failed (a request's check or the connection): for the log, at most once per second per address. */
  readonly onStoreError?: (address: string, failureMode: RateLimitFailureMode, err: Error) => void;
  /** A request's check could not be answered and the failure mode decided (every time: the metric). */
  readonly onStoreFailure?: (failureMode: RateLimitFailureMode) => void;
}

/** The answer to one request; `headers` describes the bucket the x-ratelimit-* headers report. */
export interface RateLimitVerdict {
  /** null: allowed. */
  readonly refused: LimitType | null;
  /** The store failed and the failure mode is closed. */
  readonly unavailable: boolean;
  /** Seconds until the refusing bucket has room (Retry-After), at least 1. */
  readonly retryAfterSeconds: number;
  /** x-ratelimit-limit-tokens / remaining / reset; null when unknown (store failed). */
  readonly limit: number;
  readonly remaining: number;
  readonly resetMs: number;
  /** The refusing bucket's size and what it holds (the headers may describe the other bucket). */
  readonly refusedLimit?: number;
  readonly refusedRemaining?: number;
  /** Tokens the check took from the input bucket (0: none); refunded if the request never reaches a backend. */
  readonly inputTaken: number;
}

const MIN_TTL_S = 600;
const MAX_TTL_S = 90 * 86_400;
const ERROR_REPORT_INTERVAL_MS = 1000;
/**
 * How long a Redis client the configuration no longer names stays open: requests that were checked through it
 * (streams under way) charge their output to it when they end, instead of failing against a closed client.
 */
const RETIRED_CLIENT_GRACE_MS = 10 * 60_000;

/** One requested model's limits and where its buckets live. */
export class ModelLimit {
  readonly spec: LimitSpec;
  readonly model: string;
  private readonly backend: BucketBackend;
  private readonly limiter: RateLimiter;

  constructor(spec: LimitSpec, model: string, backend: BucketBackend, limiter: RateLimiter) {
    this.spec = spec;
    this.model = model;
    this.backend = backend;
    this.limiter = limiter;
  }

  /** Checks a request estimated at `inputTokens`; synchronous for local buckets. */
  check(inputTokens: number): RateLimitVerdict | Promise<RateLimitVerdict> {
    const checked = this.backend.check(this.spec, inputTokens);
    if (!(checked instanceof Promise)) return verdictOf(this.spec, checked, inputTokens);
    return checked.then((c) => verdictOf(this.spec, c, inputTokens), (err: unknown) => this.limiter.storeFailed(this.backend, err));
  }

  /** Puts back the input tokens a check took, for a request that never reached a backend. */
  refund(inputTokens: number): void {
    if (this.spec.input === null || inputTokens <= 0) return;
    const refunded = this.backend.refund(this.spec, inputTokens);
    if (refunded instanceof Promise) refunded.catch(this.settleFailed);
  }

  /** Charges the output tokens the engine reported. */
  charge(outputTokens: number): void {
    if (this.spec.output === null || outputTokens <= 0) return;
    const charged = this.backend.charge(this.spec, outputTokens);
    if (charged instanceof Promise) charged.catch(this.settleFailed);
  }

  /** A refund or charge failed; not reported for a store a reload retired (it says nothing about the current limits). */
  private readonly settleFailed = (err: unknown): void => {
    if (this.backend instanceof RedisBackend && this.backend.retired) return;
    this.limiter.storeFailed(this.backend, err);
  };
}

export class RateLimiter {
  private readonly options: RateLimiterOptions;
  private readonly local = new LocalBackend();
  private readonly redis = new Map<string, RedisBackend>();
  /** Clients of addresses a reload removed, until their grace ends (or the address is named again). */
  private readonly retired = new Map<string, { readonly backend: RedisBackend; readonly timer: NodeJS.Timeout }>();
  /** route → requested model → its limit. */
  private table = new Map<CompiledRoute, Map<string, ModelLimit>>();
  private readonly lastReport = new Map<string, number>();

  constructor(options: RateLimiterOptions) {
    this.options = options;
  }

  /** True when some route of the current configuration is limited. */
  get active(): boolean {
    return this.table.size > 0;
  }

  /** The limit of `model` requested through `route`, or null when it is not limited. */
  limitFor(route: CompiledRoute, model: string): ModelLimit | null {
    return this.table.get(route)?.get(model) ?? null;
  }

  /** Rebuilds the table for a new snapshot (called on every swap, before it serves requests). */
  update(snapshot: RoutingSnapshot): void {
    const table = new Map<CompiledRoute, Map<string, ModelLimit>>();
    const specs = new Map<string, LimitSpec>();
    const addresses = new Set<string>();
    const seen = new Set<CompiledRoute>();
    for (const routes of [...snapshot.routesByModel.values(), ...snapshot.routesByLora.values()]) {
      for (const route of routes) {
        const rateLimit = route.resource.spec.rateLimit;
        if (seen.has(route) || rateLimit === undefined) continue;
        seen.add(route);
        if (rateLimit.inputTokensPerUnit === undefined && rateLimit.outputTokensPerUnit === undefined) continue;
        const address = rateLimit.global?.redis.address;
        const backend = address === undefined ? this.local : this.redisFor(address);
        if (address !== undefined) addresses.add(address);
        const models = new Map<string, ModelLimit>();
        const names = [route.resource.spec.modelName, ...route.resource.spec.loraAdapters];
        for (const name of names) {
          if (name === undefined || name === '') continue;
          const spec = limitSpec(`${route.namespace}/${name}`, rateLimit);
          specs.set(spec.key, spec);
          models.set(name, new ModelLimit(spec, name, backend, this));
        }
        table.set(route, models);
      }
    }
    this.table = table;
    this.local.retain(specs.values());
    for (const [address, backend] of this.redis) {
      if (addresses.has(address)) continue;
      this.redis.delete(address);
      backend.retired = true;
      const timer = setTimeout(() => {
        this.retired.delete(address);
        void backend.close();
      }, RETIRED_CLIENT_GRACE_MS);
      timer.unref();
      this.retired.set(address, { backend, timer });
    }
  }

  /** Waits (bounded) for every Redis client to connect; false when one did not. */
  async ready(timeoutMs: number): Promise<boolean> {
    const results = await Promise.all([...this.redis.values()].map((r) => r.ready(timeoutMs)));
    return results.every(Boolean);
  }

  async close(): Promise<void> {
    const clients = [...this.redis.values()];
    for (const { backend, timer } of this.retired.values()) {
      clearTimeout(timer);
      clients.push(backend);
    }
    this.redis.clear();
    this.retired.clear();
    this.table = new Map();
    await Promise.all(clients.map((c) => c.close()));
  }

  /** A Redis command failed: report it (throttled) and answer by the failure mode. */
  storeFailed(backend: BucketBackend, err: unknown): RateLimitVerdict {
    const verdict = this.options.failureMode === 'open' ? OPEN_VERDICT : CLOSED_VERDICT;
    const address = backend instanceof RedisBackend ? backend.address : 'local';
    this.options.onStoreFailure?.(this.options.failureMode);
    this.reportError(address, err instanceof Error ? err : new Error(String(err)));
    return verdict;
  }

  private reportError(address: string, err: Error): void {
    const now = performance.now();
    if (now - (this.lastReport.get(address) ?? -Infinity) < ERROR_REPORT_INTERVAL_MS) return;
    this.lastReport.set(address, now);
    this.options.onStoreError?.(address, this.options.failureMode, err);
  }

  private redisFor(address: string): RedisBackend {
    let backend = this.redis.get(address);
    if (backend !== undefined) return backend;
    const retired = this.retired.get(address);
    if (retired !== undefined) {
      // Named again within its grace: the same client (and connection) serves again.
      clearTimeout(retired.timer);
      this.retired.delete(address);
      backend = retired.backend;
      backend.retired = false;
    } else {
      const created: RedisBackend = new RedisBackend(address, (err) => {
        if (!created.retired) this.reportError(address, err);
      }, { expireChecks: this.options.failureMode === 'closed' });
      backend = created;
    }
    this.redis.set(address, backend);
    return backend;
  }
}

const OPEN_VERDICT: RateLimitVerdict = { refused: null, unavailable: false, retryAfterSeconds: 0, limit: -1, remaining: 0, resetMs: 0, inputTaken: 0 };
const CLOSED_VERDICT: RateLimitVerdict = { refused: null, unavailable: true, retryAfterSeconds: 1, limit: -1, remaining: 0, resetMs: 0, inputTaken: 0 };

function limitSpec(key: string, rateLimit: RateLimit): LimitSpec {
  const unit = unitSeconds(rateLimit.unit);
  const ttl = Math.min(MAX_TTL_S, Math.max(MIN_TTL_S, 3 * unit));
  const spec = (tokens: number | undefined): BucketSpec | null => (tokens === undefined ? null : bucketSpec(tokens, rateLimit.unit));
  return {
    key, inputKey: `${key}:input`, outputKey: `${key}:output`,
    input: spec(rateLimit.inputTokensPerUnit), output: spec(rateLimit.outputTokensPerUnit), ttlSeconds: ttl,
  };
}

/** The headers report the input bucket when there is one (the budget a request spends up front), else the output one. */
function verdictOf(spec: LimitSpec, c: BucketCheck, inputTokens: number): RateLimitVerdict {
  const bucket = spec.input ?? spec.output!;
  const level = spec.input !== null ? c.inputLevel : c.outputLevel;
  const remaining = level > 0 ? Math.floor(level) : 0;
  const resetMs = level >= bucket.capacity ? 0 : (bucket.capacity - level) / bucket.perMs;
  return {
    refused: c.refused,
    unavailable: false,
    retryAfterSeconds: c.refused === null ? 0 : Math.max(1, Math.ceil(c.waitMs / 1000)),
    limit: bucket.capacity,
    remaining,
    resetMs,
    inputTaken: c.refused === null && spec.input !== null ? inputTokens : 0,
    ...(c.refused === 'output_tokens' && spec.output !== null && {
      refusedLimit: spec.output.capacity,
      refusedRemaining: c.outputLevel > 0 ? Math.floor(c.outputLevel) : 0,
    }),
  };
}

/** Go-style duration as OpenAI writes it: "250ms", "1.5s", "6m0s", "1h2m3s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const totalMs = Math.ceil(ms);
  const hours = Math.floor(totalMs / 3_600_000);
  const minutes = Math.floor((totalMs % 3_600_000) / 60_000);
  const seconds = (totalMs % 60_000) / 1000;
  const s = `${Number(seconds.toFixed(3))}s`;
  if (hours > 0) return `${hours}h${minutes}m${s}`;
  if (minutes > 0) return `${minutes}m${s}`;
  return s;
}
