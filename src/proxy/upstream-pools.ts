// One keep-alive undici Pool per upstream origin. Pools of pods that left the configuration are closed once their
// running requests finish (Pool.close waits for them).
import { Pool } from 'undici';
import { tlsConnect } from '../util/tls-trust.ts';

export interface UpstreamPoolOptions {
  /** Connections per pod; each open stream holds one. */
  readonly connectionsPerPod: number;
  readonly connectTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** Wait for a pod's response headers when trafficPolicy.timeout is unset (--upstream-header-timeout). */
  readonly headerTimeoutMs: number;
  /** No byte from an upstream for this long ends its answer (--stream-idle-timeout). */
  readonly streamIdleTimeoutMs: number;
  /** Wait for a free pooled connection (--upstream-connection-wait); beyond: another pod, then 503 upstream_busy. */
  readonly connectionWaitMs: number;
  /** CA certificates trusted for https pods (--upstream-ca), besides Node's; absent: Node's only. */
  readonly ca?: string;
}

export const DEFAULT_POOL_OPTIONS: UpstreamPoolOptions = {
  connectionsPerPod: 1024,
  connectTimeoutMs: 5000,
  keepAliveTimeoutMs: 30_000,
  // Prefill of a long prompt on a loaded pod takes minutes; a pod silent for 10 min is not going to answer.
  headerTimeoutMs: 600_000,
  // Engines send tokens every few ms to s; 5 min of silence (Envoy's stream idle default) is a stuck pod.
  streamIdleTimeoutMs: 300_000,
  connectionWaitMs: 10_000,
};

export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();
  private readonly options: UpstreamPoolOptions;

  constructor(options: UpstreamPoolOptions = DEFAULT_POOL_OPTIONS) {
    this.options = options;
  }

  /** Requests beyond this many to one pod wait in its pool for a connection; the scheduler avoids such pods. */
  get connectionsPerPod(): number {
    return this.options.connectionsPerPod;
  }

  /** Bound on the wait for a free connection in a pod's pool (0: none). */
  get connectionWaitMs(): number {
    return this.options.connectionWaitMs;
  }

  get(origin: string): Pool {
    return this.pools.get(origin) ?? this.create(origin, origin, true);
  }

  /** The pool of an external provider's origin; `insecure` (spec.insecureSkipVerify) skips certificate checks. */
  getProvider(origin: string, insecure: boolean): Pool {
    const key = providerPoolKey(origin, insecure);
    return this.pools.get(key) ?? this.create(key, origin, !insecure);
  }

  private create(key: string, origin: string, verify: boolean): Pool {
    const pool = new Pool(origin, {
      connections: this.options.connectionsPerPod,
      pipelining: 1,
      connectTimeout: this.options.connectTimeoutMs,
      keepAliveTimeout: this.options.keepAliveTimeoutMs,
      connect: verify ? tlsConnect(this.options.ca) : { rejectUnauthorized: false },
      // Without trafficPolicy.timeout (which replaces it per request, upstream-leg.ts); a non-streamed answer can take minutes.
      headersTimeout: this.options.headerTimeoutMs,
      bodyTimeout: this.options.streamIdleTimeoutMs, // idle time between body chunks, like Envoy's stream idle timeout
    });
    this.pools.set(key, pool);
    return pool;
  }

  /** Close the pools of origins that are no longer configured. */
  retain(origins: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const [origin, pool] of this.pools) {
      if (origins.has(origin)) continue;
      this.pools.delete(origin);
      pool.close().catch(() => undefined);
    }
  }

  async closeAll(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.destroy()));
  }
}

/** The pool (and live-state) key of a provider: its origin, marked when its certificate is not verified. */
export function providerPoolKey(origin: string, insecure: boolean): string {
  return insecure ? `${origin}#insecure` : origin;
}
