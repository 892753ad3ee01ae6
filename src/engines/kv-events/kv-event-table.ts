// Every pod's KV event subscription and block index, kept outside the routing snapshot and keyed by origin like
// the engine-state table. Follows the snapshot: a pod gets a subscription while it is ready and has a KV events
// port (its annotation, or its ModelServer's); a pod that goes away or becomes unready loses it and its index.
import { isIPv6 } from 'node:net';
import { KV_EVENTS_PORT_ANNOTATION, KV_REPLAY_PORT_ANNOTATION } from '../../resources/types.ts';
import type { RoutingSnapshot } from '../../snapshot/types.ts';
import type { PodBlockIndex } from './block-index.ts';
import { KvEventSubscription, type KvEventCounters } from './subscription.ts';

export interface KvEventTarget {
  readonly endpoint: string;
  readonly replayEndpoint: string | null;
}

/** What the kvcache-aware plugin reads. */
export interface KvBlockSource {
  /** The pod's block index when it can be trusted now; null when unknown (no events, warming up, disconnected). */
  trustedIndex(origin: string, now: number): PodBlockIndex | null;
  /** The pod has a KV events subscription (a KV events port), trusted or not. */
  subscribed(origin: string): boolean;
}

export interface KvEventTableOptions {
  /** How long an index stays untrusted after events were lost for good; default 30 s. */
  readonly warmupMs?: number;
  /** How long to wait for a replay; default 2 s. */
  readonly replayTimeoutMs?: number;
  readonly counters?: KvEventCounters | null;
  readonly onError?: (origin: string, message: string) => void;
}

export class KvEventTable implements KvBlockSource {
  readonly #subscriptions = new Map<string, { readonly key: string; readonly subscription: KvEventSubscription }>();
  readonly #options: KvEventTableOptions;

  constructor(options: KvEventTableOptions = {}) {
    this.#options = options;
  }

  trustedIndex(origin: string, now: number): PodBlockIndex | null {
    const entry = this.#subscriptions.get(origin);
    return entry !== undefined && entry.subscription.trusted(now) ? entry.subscription.index : null;
  }

  subscribed(origin: string): boolean {
    return this.#subscriptions.has(origin);
  }

  /** Every subscribed pod's index, trusted or not (metrics, debugging). */
  entries(): IterableIterator<[string, PodBlockIndex, boolean]> {
    const now = Date.now();
    return (function* (map) {
      for (const [origin, { subscription }] of map) yield [origin, subscription.index, subscription.trusted(now)] as [string, PodBlockIndex, boolean];
    })(this.#subscriptions);
  }

  /** Subscribes to `targets` (origin → endpoints), closing every other subscription and any whose endpoint moved. */
  setTargets(targets: ReadonlyMap<string, KvEventTarget>): void {
    for (const [origin, entry] of this.#subscriptions) {
      const target = targets.get(origin);
      if (target === undefined || keyOf(target) !== entry.key) {
        this.#subscriptions.delete(origin);
        void entry.subscription.close();
      }
    }
    for (const [origin, target] of targets) {
      if (this.#subscriptions.has(origin)) continue;
      const subscription = new KvEventSubscription({
        origin,
        endpoint: target.endpoint,
        replayEndpoint: target.replayEndpoint,
        warmupMs: this.#options.warmupMs ?? 30_000,
        replayTimeoutMs: this.#options.replayTimeoutMs ?? 2_000,
        counters: this.#options.counters ?? null,
        onError: this.#options.onError,
      });
      this.#subscriptions.set(origin, { key: keyOf(target), subscription });
    }
  }

  async close(): Promise<void> {
    const all = [...this.#subscriptions.values()];
    this.#subscriptions.clear();
    await Promise.all(all.map((entry) => entry.subscription.close()));
  }
}

function keyOf(target: KvEventTarget): string {
  return `${target.endpoint} ${target.replayEndpoint ?? ''}`;
}

/** The KV event endpoints of every ready pod of the snapshot that has a KV events port (pod annotation first). */
export function kvEventTargets(snapshot: RoutingSnapshot): Map<string, KvEventTarget> {
  const targets = new Map<string, KvEventTarget>();
  for (const server of snapshot.servers.values()) {
    const defaults = server.resource.metadata.annotations;
    for (const pod of server.pods) {
      if (targets.has(pod.origin)) continue;
      const port = pod.annotations[KV_EVENTS_PORT_ANNOTATION] ?? defaults[KV_EVENTS_PORT_ANNOTATION];
      if (port === undefined) continue;
      const replay = pod.annotations[KV_REPLAY_PORT_ANNOTATION] ?? defaults[KV_REPLAY_PORT_ANNOTATION];
      const host = isIPv6(pod.ip) ? `[${pod.ip}]` : pod.ip;
      targets.set(pod.origin, { endpoint: `tcp://${host}:${port}`, replayEndpoint: replay === undefined ? null : `tcp://${host}:${replay}` });
    }
  }
  return targets;
}
