// Token-bucket arithmetic shared by the local buckets and the Redis script (whose Lua mirrors it): capacity is the
// per-unit limit, refilled continuously at limit/unit. Kthena's accounting with its edge defects removed: a request
// whose input estimate exceeds the whole limit passes when the bucket is full (and leaves it in debt) instead of
// never passing, and output tokens are always charged, also beyond what is left (the bucket goes negative).
import type { RateLimitUnit } from '../../resources/types.ts';

const UNIT_SECONDS: Readonly<Record<RateLimitUnit, number>> = {
  second: 1,
  minute: 60,
  hour: 3600,
  day: 86_400,
  month: 30 * 86_400, // Kthena: a month is 30 days
};

export function unitSeconds(unit: RateLimitUnit): number {
  return UNIT_SECONDS[unit];
}

/** A bucket's size and refill rate. */
export interface BucketSpec {
  /** Tokens per unit: the bucket's capacity. */
  readonly capacity: number;
  /** Tokens refilled per ms. */
  readonly perMs: number;
}

export function bucketSpec(tokensPerUnit: number, unit: RateLimitUnit): BucketSpec {
  return { capacity: tokensPerUnit, perMs: tokensPerUnit / (unitSeconds(unit) * 1000) };
}

/** Tokens a request needs available to pass: its cost, at most the capacity. */
export function inputNeed(spec: BucketSpec, cost: number): number {
  return cost < spec.capacity ? cost : spec.capacity;
}

/** ms until `tokens` has refilled to `need`. */
export function msUntil(spec: BucketSpec, tokens: number, need: number): number {
  return tokens >= need ? 0 : (need - tokens) / spec.perMs;
}

/** One bucket in this process. */
export class LocalBucket {
  spec: BucketSpec;
  private tokens: number;
  private at: number;

  constructor(spec: BucketSpec, now: number) {
    this.spec = spec;
    this.tokens = spec.capacity; // starts full, as Kthena's (burst = limit)
    this.at = now;
  }

  /** The level now, refilled. */
  level(now: number): number {
    const { capacity, perMs } = this.spec;
    const refilled = this.tokens + (now - this.at) * perMs;
    this.tokens = refilled > capacity ? capacity : refilled;
    this.at = now;
    return this.tokens;
  }

  take(cost: number, now: number): number {
    this.level(now);
    this.tokens -= cost;
    return this.tokens;
  }

  /** Puts back tokens taken for a request that was never served, up to the capacity. */
  giveBack(tokens: number, now: number): void {
    this.level(now);
    const level = this.tokens + tokens;
    this.tokens = level > this.spec.capacity ? this.spec.capacity : level;
  }
}
