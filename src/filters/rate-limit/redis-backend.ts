// Token buckets in Redis, shared by every router replica that names the same `global.redis.address`. One ioredis
// client per address; one atomic Lua script per request that reads Redis' own clock (TIME), so replicas with skewed
// clocks agree. Commands fail at once while the connection is down (no offline queue): the caller applies the
// configured failure mode instead of making clients wait. Only a client's first connection is waited for (bounded),
// so that a limit a reload adds does not fail or let through its first requests while the new client connects.
// A check that timed out is still on the wire and runs once a hung Redis wakes up: failing closed, the request it
// stood for was refused, so each check carries a deadline on Redis' clock after which the script takes nothing.
// A command that times out also drops the connection (as go-redis does): a Redis gone without closing it (its node
// failed, its Service now names another pod) would otherwise hold every check for the timeout until TCP gives up.
import { Redis } from 'ioredis';
import { parseAddress } from '../../util/redis-address.ts';
import type { BucketBackend, BucketCheck, LimitSpec, LimitType } from './bucket-backend.ts';

export { parseAddress };

// KEYS: input bucket, output bucket. ARGV: mode (check|charge|refund), input capacity, input tokens/ms, cost,
// output capacity, output tokens/ms, ttl seconds, deadline (Redis ms; 0: none). A capacity of 0 means no such
// bucket. Mirrors token-bucket.ts. Replies end with Redis' clock (ms), which the deadlines are set by.
const BUCKET_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local ttl = tonumber(ARGV[7])
local deadline = tonumber(ARGV[8])
if deadline > 0 and now > deadline then return {0, 3, 'nan', '0', 'nan', tostring(now)} end
local function level(key, cap, perMs)
  local v = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(v[1]), tonumber(v[2])
  if tokens == nil or at == nil then return cap end
  local refilled = tokens + math.max(0, now - at) * perMs
  if refilled > cap then return cap end
  return refilled
end
local function store(key, tokens)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('EXPIRE', key, ttl)
end
local inCap, inPerMs, cost = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local outCap, outPerMs = tonumber(ARGV[5]), tonumber(ARGV[6])
if ARGV[1] == 'charge' then
  local out = level(KEYS[2], outCap, outPerMs) - cost
  store(KEYS[2], out)
  return {1, 0, 'nan', '0', tostring(out), tostring(now)}
end
if ARGV[1] == 'refund' then
  local back = math.min(level(KEYS[1], inCap, inPerMs) + cost, inCap)
  store(KEYS[1], back)
  return {1, 0, tostring(back), '0', 'nan', tostring(now)}
end
local inLevel, outLevel = 'nan', 'nan'
local inTokens, outTokens = 0, 0
if inCap > 0 then
  inTokens = level(KEYS[1], inCap, inPerMs)
  inLevel = tostring(inTokens)
  local need = math.min(cost, inCap)
  if inTokens < need then return {0, 1, inLevel, tostring((need - inTokens) / inPerMs), outLevel, tostring(now)} end
end
if outCap > 0 then
  outTokens = level(KEYS[2], outCap, outPerMs)
  outLevel = tostring(outTokens)
  if outTokens < 1 then return {0, 2, inLevel, tostring((1 - outTokens) / outPerMs), outLevel, tostring(now)} end
end
if inCap > 0 then
  inTokens = inTokens - cost
  store(KEYS[1], inTokens)
  inLevel = tostring(inTokens)
end
return {1, 0, inLevel, '0', outLevel, tostring(now)}
`;

/** [allowed, refused (1 input, 2 output, 3 past its deadline), input level, wait ms, output level, Redis now ms]. */
type ScriptReply = [number, number, string, string, string, string];

interface BucketCommands {
  switchyardBucket(inputKey: string, outputKey: string, ...args: (string | number)[]): Promise<ScriptReply>;
}

const KEY_PREFIX = 'switchyard:ratelimit:';
/** ioredis' connect timeout; also the longest a command waits for the client's first connection. */
const CONNECT_TIMEOUT_MS = 2000;
const COMMAND_TIMEOUT_MS = 2000;
/** ioredis' error for a command that hit `commandTimeout`. */
const COMMAND_TIMED_OUT = 'Command timed out';
/** A check's deadline comes this long before the command times out here, so that its reply has time to arrive. */
const DEADLINE_MARGIN_MS = 250;

export interface RedisBackendOptions {
  /** Checks that time out must take nothing when Redis runs them later (failing closed: their request was refused). */
  readonly expireChecks: boolean;
}

export class RedisBackend implements BucketBackend {
  readonly address: string;
  private readonly client: Redis & BucketCommands;
  /** The first connection attempt, until it settles (connected, failed or timed out); then null. */
  private connecting: Promise<void> | null;
  private readonly expireChecks: boolean;
  /** Redis' clock minus performance.now() at the last reply (or TIME on connecting); null until one came. */
  private clockOffsetMs: number | null = null;
  /** The TIME read on the last (re)connection: checks made once it answered have a deadline. */
  private clockRead: Promise<void> = Promise.resolve();
  /** No longer named by the configuration, kept open a while for the requests that checked through it. */
  retired = false;

  constructor(address: string, onError: (err: Error) => void, options: RedisBackendOptions = { expireChecks: false }) {
    this.address = address;
    this.expireChecks = options.expireChecks;
    const { host, port } = parseAddress(address);
    const client = new Redis({
      host,
      port,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    client.on('error', onError);
    client.defineCommand('switchyardBucket', { numberOfKeys: 2, lua: BUCKET_SCRIPT });
    this.client = client as Redis & BucketCommands;
    // Registered first: the listeners below see this connection's clock read.
    client.on('ready', () => {
      this.clockRead = this.readClock();
    });
    this.connecting = this.firstAttempt().then(() => {
      this.connecting = null;
    });
  }

  /** Redis' clock against this process's, for the checks' deadlines (also after a failover to another host). */
  private async readClock(): Promise<void> {
    try {
      const [seconds, micros] = await this.client.time();
      this.clockOffsetMs = Number(seconds) * 1000 + Number(micros) / 1000 - performance.now();
    } catch {
      // The first script reply sets it.
    }
  }

  /** Settles when the first connection is ready (its clock read) or has failed (refused, unresolvable host), at most the connect timeout. */
  private firstAttempt(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        this.client.off('error', done);
        this.client.off('end', done);
        resolve();
      };
      const onReady = (): void => void this.clockRead.then(done);
      const timer = setTimeout(done, CONNECT_TIMEOUT_MS);
      this.client.on('ready', onReady);
      this.client.on('error', done);
      this.client.on('end', done);
    });
  }

  /** Runs the script, after the first connection attempt when it is still under way. */
  private async run(spec: LimitSpec, mode: 'check' | 'charge' | 'refund', cost: number): Promise<ScriptReply> {
    if (this.connecting !== null) await this.connecting;
    const offset = this.clockOffsetMs;
    const deadline = mode === 'check' && this.expireChecks && offset !== null ? performance.now() + offset + COMMAND_TIMEOUT_MS - DEADLINE_MARGIN_MS : 0;
    let reply: ScriptReply;
    try {
      reply = await this.client.switchyardBucket(...keys(spec), mode, ...specArgs(spec, cost), deadline);
    } catch (err) {
      // Reconnect (the address resolved again); commands meanwhile fail at once instead of waiting for the timeout.
      if (err instanceof Error && err.message === COMMAND_TIMED_OUT && this.client.status === 'ready') this.client.disconnect(true);
      throw err;
    }
    this.clockOffsetMs = Number(reply[5]) - performance.now();
    return reply;
  }

  /** Resolves once connected (and Redis' clock read), or after `timeoutMs` (a router starts with Redis down too). */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.client.status === 'ready') return this.clockRead.then(() => true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(ok);
      };
      const onReady = (): void => void this.clockRead.then(() => done(true));
      const timer = setTimeout(() => done(false), timeoutMs);
      this.client.on('ready', onReady);
    });
  }

  async check(spec: LimitSpec, cost: number): Promise<BucketCheck> {
    const reply = await this.run(spec, 'check', cost);
    if (reply[1] === 3) throw new Error(`Redis ${this.address} ran the check after its deadline (it answered too slowly)`);
    const refused: LimitType | null = reply[1] === 1 ? 'input_tokens' : reply[1] === 2 ? 'output_tokens' : null;
    return { refused, inputLevel: Number(reply[2]), outputLevel: Number(reply[4]), waitMs: Number(reply[3]) };
  }

  async charge(spec: LimitSpec, outputTokens: number): Promise<void> {
    if (spec.output === null) return;
    await this.run(spec, 'charge', outputTokens);
  }

  async refund(spec: LimitSpec, inputTokens: number): Promise<void> {
    if (spec.input === null) return;
    await this.run(spec, 'refund', inputTokens);
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

function keys(spec: LimitSpec): [string, string] {
  return [`${KEY_PREFIX}${spec.inputKey}`, `${KEY_PREFIX}${spec.outputKey}`];
}

function specArgs(spec: LimitSpec, cost: number): (string | number)[] {
  return [
    spec.input?.capacity ?? 0, spec.input?.perMs ?? 0, cost,
    spec.output?.capacity ?? 0, spec.output?.perMs ?? 0, spec.ttlSeconds,
  ];
}
