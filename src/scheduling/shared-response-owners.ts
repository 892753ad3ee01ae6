// Response owners shared by router replicas through Redis (Kthena's REDIS_HOST, REDIS_PORT, REDIS_PASSWORD): with
// several replicas behind one Service, the replica that relayed a response is rarely the one that gets its follow-up
// or its GET. Each owner is one key, `switchyard:response-owner:{id}` (JSON), expiring a day after it was written.
// Fails fast like the router's other Redis clients: no offline queue, a bounded wait per lookup, and a connection
// that answers nothing for a while is dropped and dialled again (a Redis whose host died never closes it).
import { Redis } from 'ioredis';
import type { ResponseOwner } from './response-owners.ts';

export const SHARED_OWNER_KEY_PREFIX = 'switchyard:response-owner:';
/** How long a shared owner is kept: engines keep stored responses in memory, rarely longer than a day of traffic. */
export const SHARED_OWNER_TTL_S = 24 * 60 * 60;
const CONNECT_TIMEOUT_MS = 2000;
/** A lookup timing out when the connection has answered nothing for this long drops it (and reconnects). */
const SILENT_CONNECTION_MS = 2000;
/** Failures are logged at most this often. */
const ERROR_LOG_INTERVAL_MS = 30_000;

export type SharedOwnerLookup = { readonly ok: true; readonly owner: ResponseOwner | undefined } | { readonly ok: false; readonly reason: string };

export interface SharedOwnersAddress {
  readonly host: string;
  readonly port: number;
  readonly password?: string;
}

export class SharedResponseOwners {
  readonly address: string;
  readonly #client: Redis;
  readonly #onError: (message: string) => void;
  #lastAnswerAt = performance.now();
  #lastLoggedAt = 0;

  constructor(settings: SharedOwnersAddress, onError: (message: string) => void) {
    this.address = settings.host.includes(':') ? `[${settings.host}]:${settings.port}` : `${settings.host}:${settings.port}`;
    this.#onError = onError;
    this.#client = new Redis({
      host: settings.host,
      port: settings.port,
      ...(settings.password !== undefined && settings.password !== '' && { password: settings.password }),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    this.#client.on('ready', () => (this.#lastAnswerAt = performance.now()));
    this.#client.on('error', (err: Error) => this.#report(`Redis ${this.address}: ${err.message}`));
  }

  /** Records where `id` is stored, for every replica (not waited for; a failure is logged). */
  write(id: string, owner: ResponseOwner): void {
    if (this.#client.status !== 'ready') {
      this.#report(`Redis ${this.address} is not connected: the owner of response ${id} is known to this replica only`);
      return;
    }
    this.#client.set(SHARED_OWNER_KEY_PREFIX + id, JSON.stringify(owner), 'EX', SHARED_OWNER_TTL_S).then(
      () => (this.#lastAnswerAt = performance.now()),
      (err: unknown) => this.#report(`Redis ${this.address} did not store the owner of response ${id}: ${(err as Error).message}`),
    );
  }

  /** Where another replica recorded `id` (undefined: nowhere), within `timeoutMs`; never rejects. */
  async lookup(id: string, timeoutMs: number): Promise<SharedOwnerLookup> {
    if (this.#client.status !== 'ready') return { ok: false, reason: `Redis ${this.address} is not connected` };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<SharedOwnerLookup>((resolve) => {
      timer = setTimeout(() => {
        if (performance.now() - this.#lastAnswerAt >= SILENT_CONNECTION_MS && this.#client.status === 'ready') this.#client.disconnect(true);
        resolve({ ok: false, reason: `Redis ${this.address} did not answer within ${timeoutMs} ms` });
      }, timeoutMs);
    });
    const answered = this.#client.get(SHARED_OWNER_KEY_PREFIX + id).then(
      (text): SharedOwnerLookup => {
        this.#lastAnswerAt = performance.now();
        return { ok: true, owner: text === null ? undefined : parseOwner(text) };
      },
      (err: unknown): SharedOwnerLookup => ({ ok: false, reason: `Redis ${this.address}: ${(err as Error).message}` }),
    );
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves once connected, or false after `timeoutMs`. */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.#client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#client.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#client.once('ready', onReady);
    });
  }

  async close(): Promise<void> {
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  #report(message: string): void {
    const now = Date.now();
    if (now - this.#lastLoggedAt < ERROR_LOG_INTERVAL_MS) return;
    this.#lastLoggedAt = now;
    this.#onError(message);
  }
}

/** A stored owner as written by write(); undefined when the value is not one (another program's key). */
function parseOwner(text: string): ResponseOwner | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { podKey, server, provider, model, user, outputUnmetered } = value as Record<string, unknown>;
  if (typeof podKey !== 'string' || typeof server !== 'string' || typeof model !== 'string' || (user !== null && typeof user !== 'string')) return undefined;
  if (provider !== undefined && typeof provider !== 'string') return undefined;
  return { podKey, server, ...(provider !== undefined && { provider }), model, user, outputUnmetered: outputUnmetered === true };
}
