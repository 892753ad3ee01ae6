// The Redis that Kthena's runtime sidecars fill (matrix:kv:block:{model}@{hash} → owner → write time), read by
// kvcache-aware as an alternative to the engines' own KV events. One ioredis client per address, created the first
// time a plugin asks for it and kept until shutdown. Like the rate-limit store's client it fails fast: no offline
// queue, so while Redis is unreachable a lookup fails at once; each lookup is also bounded by a timeout and by a cap
// on lookups in flight (a hung Redis cannot pile up requests), and any failure makes the caller neutral. Only a
// client's first connection is waited for (within the lookup's timeout): a client a reload of the router
// configuration creates would otherwise fail the first requests' lookups while it connects. A connection that
// answers nothing for a while is dropped and the address dialled again: a Redis whose host died never closes it.
import { Redis } from 'ioredis';
import { parseAddress } from '../../util/redis-address.ts';

export interface KthenaRedisAddress {
  readonly host: string;
  readonly port: number;
  readonly password?: string;
  /** Kthena's default host, not configured: tried once at start (as Kthena does), never again if it fails. */
  readonly probeOnce?: boolean;
}

export type KthenaLookup =
  | { readonly ok: true; readonly replies: readonly Readonly<Record<string, string>>[] }
  | { readonly ok: false; readonly reason: string };

/** Lookups in flight at once per client; beyond it a request is not looked up (neutral). */
const MAX_IN_FLIGHT = 256;
/** Connection errors are logged at most this often per client. */
const ERROR_LOG_INTERVAL_MS = 30_000;
const CONNECT_TIMEOUT_MS = 2000;
/** A lookup timing out when the connection has answered nothing for this long drops it (and reconnects). */
const SILENT_CONNECTION_MS = 2000;

export class KthenaRedisIndex {
  readonly address: string;
  readonly #client: Redis;
  #inFlight = 0;
  /** When the connection last answered a lookup (or connected). */
  #lastAnswerAt = performance.now();
  #connectedOnce = false;
  #abandoned = false;
  /** The first connection attempt, until it settles (connected, failed or timed out); then null. */
  #connecting: Promise<void> | null;

  constructor(address: KthenaRedisAddress, onError: (address: string, message: string) => void) {
    this.address = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
    const probeOnce = address.probeOnce === true;
    this.#client = new Redis({
      host: address.host,
      port: address.port,
      ...(address.password !== undefined && address.password !== '' && { password: address.password }),
      db: 0,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (times) => (probeOnce && !this.#connectedOnce ? null : Math.min(times * 100, 2000)),
    });
    this.#client.on('ready', () => {
      this.#connectedOnce = true;
      this.#lastAnswerAt = performance.now();
    });
    this.#client.on('end', () => {
      if (this.#connectedOnce || this.#abandoned) return;
      this.#abandoned = true;
      onError(this.address, "Kthena's default Redis host did not answer at start-up; its KV block index is not read");
    });
    let lastLogged = 0;
    this.#client.on('error', (err: Error) => {
      if (probeOnce && !this.#connectedOnce) return; // reported once, on 'end'
      const now = Date.now();
      if (now - lastLogged < ERROR_LOG_INTERVAL_MS) return;
      lastLogged = now;
      onError(this.address, err.message);
    });
    this.#connecting = new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        for (const event of ['ready', 'error', 'end']) this.#client.off(event, done);
        this.#connecting = null;
        resolve();
      };
      const timer = setTimeout(done, CONNECT_TIMEOUT_MS);
      for (const event of ['ready', 'error', 'end']) this.#client.on(event, done);
    });
  }

  /** The first connection is being made: a lookup now waits for it. */
  get connecting(): boolean {
    return this.#connecting !== null;
  }

  /** False once a probe of Kthena's default host failed: the plugin then scores no pod from Redis. */
  get active(): boolean {
    return !this.#abandoned;
  }

  /** Connected now: a lookup can be answered. */
  get ready(): boolean {
    return this.#client.status === 'ready';
  }

  /** HGETALL of every key in one pipelined round trip, within `timeoutMs`; never rejects. */
  async lookup(keys: readonly string[], timeoutMs: number): Promise<KthenaLookup> {
    if (this.#inFlight >= MAX_IN_FLIGHT) return { ok: false, reason: 'too many Redis lookups in flight' };
    if (!this.ready && this.#connecting !== null) {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([this.#connecting, waited]);
      clearTimeout(timer);
      timeoutMs -= performance.now() - started;
      if (timeoutMs <= 0) return { ok: false, reason: `Redis ${this.address} did not connect within the lookup's time` };
    }
    if (!this.ready) return { ok: false, reason: `Redis ${this.address} is not connected` };
    this.#inFlight++;
    const pipeline = this.#client.pipeline();
    for (const key of keys) pipeline.hgetall(key);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<KthenaLookup>((resolve) => {
      timer = setTimeout(() => {
        // Silent for long: a dead peer (no FIN, no RST). Pending lookups fail and the client reconnects.
        if (performance.now() - this.#lastAnswerAt >= SILENT_CONNECTION_MS && this.#client.status === 'ready') this.#client.disconnect(true);
        resolve({ ok: false, reason: `Redis ${this.address} did not answer within ${timeoutMs} ms` });
      }, timeoutMs);
    });
    const answered = pipeline.exec().then(
      (results): KthenaLookup => {
        this.#lastAnswerAt = performance.now();
        if (results === null) return { ok: false, reason: 'the Redis pipeline was not run' };
        const replies = new Array<Readonly<Record<string, string>>>(results.length);
        for (let i = 0; i < results.length; i++) {
          const [err, reply] = results[i];
          // Kthena gives up on the first failed command too (go-redis Pipeline.Exec).
          if (err !== null) return { ok: false, reason: `Redis HGETALL failed: ${err.message}` };
          replies[i] = reply as Record<string, string>;
        }
        return { ok: true, replies };
      },
      (err: unknown): KthenaLookup => ({ ok: false, reason: `Redis lookup failed: ${(err as Error).message}` }),
    ).finally(() => this.#inFlight--);
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves once connected, or false after `timeoutMs` or once given up. */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    if (this.#abandoned) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.#client.off('ready', onReady);
        this.#client.off('end', onEnd);
        resolve(ok);
      };
      const onReady = (): void => done(true);
      const onEnd = (): void => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#client.on('ready', onReady);
      this.#client.on('end', onEnd);
    });
  }

  async close(): Promise<void> {
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }
}

/** The clients of every address plugins asked for, shared by plugin instances across router-configuration reloads. */
export class KthenaRedisClients {
  readonly #clients = new Map<string, KthenaRedisIndex>();
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #onError: (address: string, message: string) => void;
  readonly #defaultHost: string | null;

  /**
   * `env`: where REDIS_HOST, REDIS_PORT and REDIS_PASSWORD are read; `defaultHost`: Kthena's `redis-server`, probed
   * once when REDIS_HOST is unset (in a cluster), or null to read nothing then.
   */
  constructor(env: Readonly<Record<string, string | undefined>>, onError: (address: string, message: string) => void, defaultHost: string | null = null) {
    this.#env = env;
    this.#onError = onError;
    this.#defaultHost = defaultHost;
  }

  /** The client for the plugin argument `address`, else for REDIS_HOST/REDIS_PORT (or the default host); null when none. */
  resolve(address?: string | null): KthenaRedisIndex | null {
    const settings = kthenaRedisAddress(this.#env, address, this.#defaultHost);
    if (settings === null) return null;
    const key = `${settings.host}\0${settings.port}\0${settings.password ?? ''}\0${settings.probeOnce === true ? 1 : 0}`;
    let client = this.#clients.get(key);
    if (client === undefined) this.#clients.set(key, (client = new KthenaRedisIndex(settings, this.#onError)));
    return client;
  }

  /** Waits (bounded) for every client to connect; false when one did not (a failed probe of the default host counts as settled). */
  async ready(timeoutMs: number): Promise<boolean> {
    const clients = [...this.#clients.values()];
    const results = await Promise.all(clients.map((client) => client.waitReady(timeoutMs)));
    return clients.every((client, i) => results[i] || !client.active);
  }

  async close(): Promise<void> {
    const all = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.all(all.map((client) => client.close()));
  }
}

/**
 * Kthena's Redis settings (utils/redis.go): REDIS_HOST, REDIS_PORT (default 6379), REDIS_PASSWORD. Without
 * REDIS_HOST Kthena tries the host `redis-server` once at start-up: so does Switchyard when `defaultHost` is given
 * (in a cluster), and reads nothing otherwise. `address` ("host:port", "[v6]:port" or "host"), from the plugin's
 * arguments, overrides host and port.
 */
export function kthenaRedisAddress(env: Readonly<Record<string, string | undefined>>, address?: string | null, defaultHost: string | null = null): KthenaRedisAddress | null {
  const password = env.REDIS_PASSWORD;
  const withPassword = (host: string, port: number): KthenaRedisAddress => ({ host, port, ...(password !== undefined && password !== '' && { password }) });
  if (address !== undefined && address !== null) {
    const { host, port } = parseAddress(address);
    return withPassword(host, port);
  }
  const given = env.REDIS_HOST !== undefined && env.REDIS_HOST !== '';
  const host = given ? env.REDIS_HOST! : defaultHost;
  if (host === null || host === undefined) return null;
  const port = Number(env.REDIS_PORT ?? 6379);
  const settings = withPassword(host, Number.isInteger(port) && port > 0 && port < 65536 ? port : 6379);
  return given ? settings : { ...settings, probeOnce: true };
}
