// The JWKS, fetched at start-up with retries and backoff, cached, refreshed on a schedule, and refreshed at once
// (rate-limited, one fetch at a time) when a token names a key id the cache does not know. A request waiting on a
// fetch stops waiting when its signal aborts; the fetch itself is shared and continues for the others.
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

export interface KeySet {
  readonly resolve: JWTVerifyGetKey;
  readonly kids: ReadonlySet<string>;
  /** Changes whenever the key set's content changes (verified-token caches key on it). */
  readonly version: number;
}

export interface AuthLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface JwksStoreOptions {
  readonly uri: string;
  readonly refreshIntervalMs: number;
  readonly minRefreshIntervalMs: number;
  /** Per fetch. Default 5s. */
  readonly fetchTimeoutMs?: number;
  /** Start-up attempts before start() resolves false (retries continue in the background). Default 5. */
  readonly startupAttempts?: number;
  /** First retry delay; doubles per attempt up to maxRetryDelayMs. Defaults 250ms and 30s. */
  readonly retryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
  readonly log?: AuthLog;
}

export class JwksStore {
  private current: KeySet | null = null;
  private currentText = '';
  private inflight: Promise<boolean> | null = null;
  private lastFetchStartedAt = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Fetch count, for tests and the benchmark. */
  fetches = 0;

  private readonly o: JwksStoreOptions;

  constructor(options: JwksStoreOptions) {
    this.o = options;
  }

  get keys(): KeySet | null {
    return this.current;
  }

  /**
   * The first fetch, with retries and backoff. Resolves true once keys are loaded, false after startupAttempts
   * failures; then retries continue in the background with growing delays until one succeeds.
   */
  async start(): Promise<boolean> {
    const attempts = this.o.startupAttempts ?? 5;
    let delay = this.o.retryDelayMs ?? 250;
    for (let attempt = 1; !this.closed; attempt++) {
      if (await this.refresh()) break;
      if (attempt === attempts) {
        this.o.log?.warn(`JWKS ${this.o.uri}: no keys after ${attempts} attempts; retrying in the background, tokens are rejected until then`);
        this.retryInBackground(delay);
        return false;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, this.o.maxRetryDelayMs ?? 30_000);
    }
    this.schedule(this.o.refreshIntervalMs);
    return this.current !== null;
  }

  /**
   * A refresh for a token whose `kid` is unknown (or while no keys are loaded): joins the fetch under way, starts
   * one when the last started at least minRefreshIntervalMs ago, and otherwise returns null (rate-limited).
   */
  refreshForUnknownKid(): Promise<boolean> | null {
    if (this.inflight !== null) return this.inflight;
    if (performance.now() - this.lastFetchStartedAt < this.o.minRefreshIntervalMs) return null;
    return this.refresh();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** One fetch (joined when one is under way); true when the keys were loaded. Never rejects. */
  private refresh(): Promise<boolean> {
    this.inflight ??= this.fetchOnce().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async fetchOnce(): Promise<boolean> {
    this.lastFetchStartedAt = performance.now();
    this.fetches++;
    try {
      const response = await fetch(this.o.uri, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.o.fetchTimeoutMs ?? 5000),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      if (text === this.currentText && this.current !== null) return true;
      const jwks = parseJwks(text);
      const kids = new Set(jwks.keys.flatMap((key) => (typeof key.kid === 'string' ? [key.kid] : [])));
      this.current = { resolve: createLocalJWKSet(jwks), kids, version: (this.current?.version ?? 0) + 1 };
      this.currentText = text;
      this.o.log?.info(`JWKS ${this.o.uri}: ${jwks.keys.length} keys loaded (kids: ${[...kids].join(', ') || 'none'})`);
      return true;
    } catch (err) {
      this.o.log?.warn(`JWKS ${this.o.uri}: fetch failed: ${(err as Error).message}`);
      return false;
    }
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.refresh().then(() => this.schedule(this.o.refreshIntervalMs));
    }, delayMs);
    this.timer.unref();
  }

  private retryInBackground(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.refresh().then((ok) => {
        if (ok) this.schedule(this.o.refreshIntervalMs);
        else this.retryInBackground(Math.min(delayMs * 2, this.o.maxRetryDelayMs ?? 30_000));
      });
    }, delayMs);
    this.timer.unref();
  }
}

function parseJwks(text: string): JSONWebKeySet {
  const value = JSON.parse(text) as unknown;
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw new Error('not a JWKS (no "keys" list)');
  }
  return value as JSONWebKeySet;
}

