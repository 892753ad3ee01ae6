// Scrapes every pod's GET /metrics (Prometheus text) and GET /v1/models at an interval, with bounded concurrency
// and a per-scrape timeout, into an EngineStateTable. A pod still being scraped is not queued again, so one slow
// pod delays nobody else. New pods are scraped at once (setOrigins), removed ones are forgotten.
import { Agent } from 'undici';
import { tlsConnect } from '../util/tls-trust.ts';
import { backgroundGet, type BackgroundGet } from '../util/background-get.ts';
import type { EngineStateTable } from './engine-state.ts';
import { READ_SERIES, readEngineMetrics } from './metric-names.ts';
import { parsePrometheusText } from './prometheus-text.ts';

export interface ScraperOptions {
  /** Time between two scrapes of a pod; Kthena's METRICS_SCRAPE_INTERVAL. */
  readonly intervalMs: number;
  /** Per request (/metrics or /v1/models), headers and body together. */
  readonly timeoutMs: number;
  /** Pods scraped at the same time. */
  readonly concurrency: number;
  /** Larger responses are refused (the pod's data becomes unknown). */
  readonly maxBodyBytes: number;
  /** CA certificates trusted for https pods (--upstream-ca), besides Node's; absent: Node's only. */
  readonly ca?: string;
}

export const DEFAULT_SCRAPER_OPTIONS: ScraperOptions = { intervalMs: 1000, timeoutMs: 5000, concurrency: 100, maxBodyBytes: 8 * 1024 * 1024 };

/** How long scraped data stays usable without a successful refresh. */
export function staleAfterMs(options: Pick<ScraperOptions, 'intervalMs' | 'timeoutMs'>): number {
  return Math.max(3 * options.intervalMs, options.intervalMs + options.timeoutMs);
}

export class EngineScraper {
  private readonly table: EngineStateTable;
  private readonly options: ScraperOptions;
  private readonly agent: Agent;
  /** Requests in progress, cancelled by stop(). */
  private readonly inFlight = new Set<BackgroundGet<string>>();
  private origins: readonly string[] = [];
  private originSet: ReadonlySet<string> = new Set();
  /** Origin → completion of its queued or running scrape. */
  private readonly pending = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  private readonly queue: string[] = [];
  private active = 0;
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private stopped = false;

  constructor(table: EngineStateTable, options: ScraperOptions = DEFAULT_SCRAPER_OPTIONS) {
    this.table = table;
    this.options = options;
    this.agent = new Agent({ connections: 2, keepAliveTimeout: Math.max(options.intervalMs * 4, 4000), connectTimeout: options.timeoutMs, connect: tlsConnect(options.ca) });
  }

  /** Replaces the set of pods; pods not seen before are scraped at once (after start()), gone ones forgotten. */
  setOrigins(origins: Iterable<string>): void {
    const previous = this.originSet;
    this.origins = [...new Set(origins)];
    this.originSet = new Set(this.origins);
    this.table.retain(this.originSet);
    if (!this.started || this.stopped) return;
    for (const origin of this.origins) if (!previous.has(origin)) void this.enqueue(origin);
  }

  /** Scrapes every pod now and then at the interval. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    void this.scrapeAll();
    this.timer = setInterval(() => void this.scrapeAll(), this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const stopped = new DOMException('This operation was aborted', 'AbortError');
    for (const get of this.inFlight) get.cancel(stopped);
    this.queue.length = 0;
    for (const entry of this.pending.values()) entry.resolve();
    this.pending.clear();
    await this.agent.close();
  }

  /** Scrapes every current pod (those already in progress are awaited, not repeated); resolves when all are done. */
  scrapeAll(): Promise<void> {
    return Promise.all(this.origins.map((origin) => this.enqueue(origin))).then(() => undefined);
  }

  private enqueue(origin: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const existing = this.pending.get(origin);
    if (existing !== undefined) return existing.promise;
    const entry = Promise.withResolvers<void>();
    this.pending.set(origin, entry);
    this.queue.push(origin);
    this.pump();
    return entry.promise;
  }

  private pump(): void {
    while (this.active < this.options.concurrency && this.queue.length > 0 && !this.stopped) {
      const origin = this.queue.shift()!;
      this.active++;
      void this.scrape(origin).finally(() => {
        this.active--;
        const entry = this.pending.get(origin);
        this.pending.delete(origin);
        entry?.resolve();
        this.pump();
      });
    }
  }

  private async scrape(origin: string): Promise<void> {
    const [metrics, models] = await Promise.allSettled([this.fetchText(origin, '/metrics'), this.fetchText(origin, '/v1/models')]);
    // A pod removed while it was being scraped must not come back into the table.
    if (this.stopped || !this.originSet.has(origin)) return;
    const state = this.table.get(origin);
    const now = Date.now();
    try {
      if (metrics.status === 'rejected') throw metrics.reason;
      state.applyMetrics(readEngineMetrics(parsePrometheusText(metrics.value, READ_SERIES)), now);
    } catch (err) {
      state.metricsFailed(`GET /metrics: ${(err as Error).message}`);
    }
    try {
      if (models.status === 'rejected') throw models.reason;
      state.applyModels(parseModelList(models.value), now);
    } catch (err) {
      state.modelsFailed(`GET /v1/models: ${(err as Error).message}`);
    }
  }

  /** The body of a 2xx answer; rejects on anything else ("status N", errors, the timeout, stop()). */
  private async fetchText(origin: string, path: string): Promise<string> {
    const get = backgroundGet(this.agent, origin, path, {
      headers: { accept: path === '/metrics' ? 'text/plain;version=0.0.4' : 'application/json' },
      timeoutMs: this.options.timeoutMs,
      read: 'text',
      maxBodyBytes: this.options.maxBodyBytes,
    });
    this.inFlight.add(get);
    try {
      return await get.done;
    } finally {
      this.inFlight.delete(get);
    }
  }
}

/** The ids of an OpenAI-style model list: {"data":[{"id":…},…]}. */
export function parseModelList(text: string): ReadonlySet<string> {
  const parsed = JSON.parse(text) as unknown;
  const data = typeof parsed === 'object' && parsed !== null ? (parsed as { data?: unknown }).data : undefined;
  if (!Array.isArray(data)) throw new Error('expected an object with a "data" list');
  const ids = new Set<string>();
  for (const item of data) {
    const id = typeof item === 'object' && item !== null ? (item as { id?: unknown }).id : undefined;
    if (typeof id !== 'string') throw new Error('a model in "data" has no string "id"');
    ids.add(id);
  }
  return ids;
}
