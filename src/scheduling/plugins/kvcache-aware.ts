// kvcache-aware (score), Kthena's plugin with its args, fed directly by the engines' own KV events instead of
// Kthena's Redis: each pod's block index (engines/kv-events) holds the chained hashes of the token ids of the blocks
// its engine caches. The prompt is tokenized like the engine does it (its POST /tokenize, in prepare(), before
// scheduling) and cut into blocks of the engine's block size (from its events; blockSizeToHash until one arrived),
// at most maxBlocksToMatch. A pod's score is Kthena's: the longest run of cached blocks from the first one, as a
// share of the prompt's blocks, 0-100. Pods whose index is not trustworthy (no events yet, disconnected, warming up
// after lost events) get no opinion (the neutral 50), as does every pod when the prompt could not be tokenized.
// Pods can instead be scored from Kthena's Redis index, which Kthena's runtime sidecar fills (kvcache-redis.ts):
// `indexSource` auto (default) uses it for the pods without a KV events port while Redis is configured
// (REDIS_HOST or `redisAddress`), `redis` for every pod, `kv-events` never.
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { promptBlockHashes } from '../../engines/kv-events/block-hash.ts';
import type { KvBlockSource } from '../../engines/kv-events/kv-event-table.ts';
import type { EngineTokenizer } from '../../tokenization/engine-tokenizer.ts';
import { TRUNCATION_SLACK } from '../../tokenization/local-tokenizer.ts';
import { LocalTokenizers } from '../../tokenization/local-tokenizers.ts';
import { promptInput } from '../../tokenization/prompt-input.ts';
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulingCycle } from '../framework/cycle.ts';
import type { PluginEnv, SchedulerPlugin } from '../framework/types.ts';
import type { ScheduleRequest } from '../pod-picker.ts';
import { KthenaRedisMatcher, type RedisMatch } from './kvcache-redis.ts';
import { kthenaOwner } from '../../engines/kthena-redis/block-keys.ts';
import { countArg, definePlugin } from './plugin-definition.ts';

export const KVCACHE_AWARE = 'kvcache-aware';

const port = z.number().int().min(1).max(65535).nullish();
// Read once when the configuration is loaded (not on the request path).
const existingFile = z.string().min(1).refine((path) => existsSync(path), 'no such file');

const args = z.strictObject({
  blockSizeToHash: countArg(16, 1 << 16),
  maxBlocksToMatch: countArg(128, 1 << 16),
  /** Kthena tokenizes on this fixed port; absent: the pod's own serving port (workloadPort or its annotation). */
  vllmTokenizerPort: port,
  sglangTokenizerPort: port,
  /** Kthena's tokenizer service (speaks vLLM's /tokenize). */
  tokenizerService: z
    .strictObject({
      enabled: z.boolean().nullish(),
      endpoint: z.url({ protocol: /^https?$/ }).nullish(),
      fallbackToEngine: z.boolean().nullish(),
    })
    .nullish(),
  /** Switchyard: timeout of one /tokenize call (ms); default 5000 as Kthena. */
  tokenizeTimeoutMs: countArg(5_000, 600_000),
  /** Switchyard: local tokenizers (tokenizer.json + chat template) by ModelServer or model name. */
  tokenizers: z
    .array(
      z
        .strictObject({
          model: z.string().min(1).nullish(),
          modelServer: z.string().regex(/^[^/]+\/[^/]+$/, 'must be "namespace/name"').nullish(),
          path: existingFile,
          config: existingFile.nullish(),
          chatTemplate: existingFile.nullish(),
        })
        .refine((t) => Boolean(t.model) || Boolean(t.modelServer), 'needs model or modelServer'),
    )
    .nullish(),
  /** Switchyard: prompts longer than this (characters) are tokenized locally on a worker thread; default 16384. */
  inlineTokenizeMaxChars: countArg(16_384),
  /** Switchyard: which block index scores a pod: auto (KV events if the pod has a port, else Kthena's Redis), kv-events, redis. */
  indexSource: z.enum(['auto', 'kv-events', 'redis']).nullish(),
  /** Switchyard: Kthena's Redis as "host:port"; default REDIS_HOST:REDIS_PORT (REDIS_PASSWORD in either case). */
  redisAddress: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+)(:\d{1,5})?$/, 'must be "host:port", "[ipv6]:port" or "host"').nullish(),
  /** Switchyard: bound on one Redis lookup (ms); default 250. */
  redisTimeoutMs: z.number().int().min(1).max(60_000).nullish(),
});

export type KvCacheAwareArgs = z.output<typeof args>;

const DEFAULT_REDIS_TIMEOUT_MS = 250;

/** Characters of a completion prompt sent to be tokenized: enough for maxBlocks × blockSize tokens of any text. */
const MAX_CHARS_PER_TOKEN = 16;

interface Tokens {
  ids: readonly number[] | null;
  reason: string | null;
  /** Kthena's Redis answer when some candidate uses that source; null otherwise. */
  redis: RedisMatch | null;
  /** The work still under way (tokenizing, looking up), for a second prepare() of the same request. */
  pending: Promise<void> | null;
}

export class KvCacheAwarePlugin implements SchedulerPlugin {
  readonly name = KVCACHE_AWARE;
  readonly cacheAffinity = true;
  readonly options: KvCacheAwareArgs;
  readonly #blocks: KvBlockSource | null;
  readonly #tokenizer: EngineTokenizer | null;
  readonly #random: () => number;
  readonly #podStates: PluginEnv['podStates'];
  readonly #engines: PluginEnv['engines'];
  readonly #observer: PluginEnv['observer'];
  readonly #local: LocalTokenizers | null;
  readonly #redis: KthenaRedisMatcher | null;
  /** Token ids per request body, from prepare(). */
  readonly #tokens = new WeakMap<object, Tokens>();

  constructor(options: KvCacheAwareArgs, env: PluginEnv) {
    this.options = options;
    this.#blocks = env.kvBlocks ?? null;
    this.#tokenizer = env.engineTokenizer ?? null;
    this.#random = env.random;
    this.#podStates = env.podStates;
    this.#engines = env.engines;
    this.#observer = env.observer ?? null;
    const settings = options.tokenizers ?? [];
    this.#local = settings.length === 0 ? null : new LocalTokenizers(settings, options.inlineTokenizeMaxChars, this.#maxChars(), (message) => env.log?.(message));
    const index = options.indexSource === 'kv-events' ? null : (env.kthenaRedis?.resolve(options.redisAddress) ?? null);
    if (index === null && options.indexSource === 'redis') env.log?.('kvcache-aware: indexSource is redis but no Redis is configured (REDIS_HOST or redisAddress); no pod is scored');
    const timeoutMs = options.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    this.#redis = index === null ? null : new KthenaRedisMatcher(index, { blockSize: options.blockSizeToHash, maxBlocks: options.maxBlocksToMatch, timeoutMs }, this.#observer);
  }

  retire(): void {
    this.#local?.retire();
  }

  /** The pod is scored from Kthena's Redis index rather than its own KV events. */
  #viaRedis(pod: PodEndpoint): boolean {
    if (this.#redis === null || !this.#redis.index.active) return false;
    return this.options.indexSource === 'redis' || this.#blocks === null || !this.#blocks.subscribed(pod.origin);
  }

  prepare(request: ScheduleRequest, candidates: readonly PodEndpoint[]): Promise<void> | null {
    const body = request.body;
    if (body === undefined || candidates.length === 0) return null;
    const prepared = this.#tokens.get(body);
    if (prepared !== undefined) return prepared.pending;
    // Without a pod whose KV events are trusted, or one read from a connected Redis, there is nothing to match: no
    // tokenization, no round trip.
    const now = Date.now();
    const redis = this.#redis;
    let redisUsable: boolean | null = null;
    let pod: PodEndpoint | null = null;
    let withIndex = 0;
    let bestRank = -1;
    let viaRedis = false;
    // The model the engine is asked to tokenize for: a LoRA request's adapter, which not every pod may have loaded.
    const model = request.isLora ? request.model : request.upstreamModel;
    for (const candidate of candidates) {
      if (this.#viaRedis(candidate)) {
        if (!(redisUsable ??= redis!.usable(request.model))) continue;
        viaRedis = true;
      } else if (this.options.indexSource === 'redis' || this.#blocks === null || this.#blocks.trustedIndex(candidate.origin, now) === null) {
        continue;
      }
      // Tokenize on a random pod among those with an index (engines serve /tokenize), a healthy one when there is
      // one (a pod failing its health checks may hold the request for the whole tokenize timeout), and among those
      // one whose engine lists the model (another answers 404 for an adapter it has not loaded).
      const healthy = this.#podStates.peek(candidate.origin)?.isHealthy(now) ?? true;
      const serves = this.#engines.models(candidate.origin, now)?.has(model) ?? true;
      const rank = (healthy ? 2 : 0) + (serves ? 1 : 0);
      if (rank < bestRank) continue;
      if (rank > bestRank) {
        bestRank = rank;
        withIndex = 0;
      }
      if (this.#random() * ++withIndex < 1) pod = candidate;
    }
    if (pod === null) return null;
    const input = promptInput(body, this.#maxChars(), request.path);
    if (input === null) return null;
    const entry: Tokens = { ids: null, reason: null, redis: null, pending: null };
    this.#tokens.set(body, entry);
    const track = (work: Promise<void> | null): Promise<void> | null => {
      if (work === null) return null;
      return (entry.pending = work.finally(() => (entry.pending = null)));
    };
    const lookUp = (): Promise<void> | null => {
      if (!viaRedis || entry.ids === null || request.client?.ended === true) return null;
      return redis!.match(request, entry.ids, candidates, (candidate) => this.#viaRedis(candidate)).then((match) => {
        entry.redis = match;
      });
    };
    if (input.kind === 'ids') {
      entry.ids = input.ids;
      return track(lookUp());
    }
    const engine = request.server.engine === 'SGLang' ? 'sglang' : 'vllm';
    const started = performance.now();
    const done = (ids: readonly number[] | null, reason: string | null): void => {
      // The tokens at a cut may differ from those of the whole prompt.
      entry.ids = ids !== null && input.kind === 'text' && input.truncated ? ids.slice(0, -TRUNCATION_SLACK) : ids;
      entry.reason = reason;
      this.#observer?.tokenizeDuration?.(request.model, (performance.now() - started) / 1000, ids !== null);
      if (ids === null && reason !== null) this.#observer?.kvCacheError?.(request.model, 'tokenize');
    };
    const local = this.#local?.tokenize(request.server.key, [request.upstreamModel, request.model], input, engine) ?? null;
    if (local !== null && !(local instanceof Promise)) {
      done(local.ids, null);
      return track(lookUp());
    }
    const tokenizer = this.#tokenizer;
    if (local === null && tokenizer === null) return null;
    const service = this.options.tokenizerService;
    const enginePort = engine === 'sglang' ? this.options.sglangTokenizerPort : this.options.vllmTokenizerPort;
    const engineUrl = enginePort === null || enginePort === undefined ? pod.origin : pod.origin.replace(/:\d+$/, `:${enginePort}`);
    const run = async (): Promise<void> => {
      if (local !== null) {
        const ids = await local;
        if (ids !== null || tokenizer === null) {
          done(ids, ids === null ? 'the local tokenizer failed' : null);
          return lookUp() ?? undefined;
        }
      }
      if (tokenizer === null) return;
      // A client that leaves cancels its tokenize call: it would hold a connection and a slot of the in-flight cap.
      const client = request.client?.signal;
      let result = service?.enabled === true && service.endpoint ? await tokenizer.tokenize(service.endpoint.replace(/\/$/, ''), model, input, engine, this.options.tokenizeTimeoutMs, client) : null;
      if (result === null || (!result.ok && service?.fallbackToEngine !== false)) result = await tokenizer.tokenize(engineUrl, model, input, engine, this.options.tokenizeTimeoutMs, client);
      if (client?.aborted === true) return; // nobody waits for it: neither a result nor a tokenize error to count
      done(result.ok ? result.ids : null, result.ok ? null : result.reason);
      return lookUp() ?? undefined;
    };
    return track(run());
  }

  /** Characters of a prompt worth tokenizing: enough for maxBlocksToMatch blocks of any text. */
  #maxChars(): number {
    return this.options.maxBlocksToMatch * Math.max(this.options.blockSizeToHash, 16) * MAX_CHARS_PER_TOKEN;
  }

  score(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array, out: Float64Array): void {
    const body = cycle.request.body;
    const tokens = body === undefined ? undefined : this.#tokens.get(body);
    if (tokens === undefined || tokens.ids === null) return; // no opinion
    const ids = tokens.ids;
    const lora = cycle.request.isLora ? cycle.request.model : null;
    let hashesBySize: Map<number, Float64Array> | null = null;
    let best = -1;
    for (let i = 0; i < pods.length; i++) {
      if (alive[i] === 0) continue;
      if (this.#viaRedis(pods[i])) {
        const redis = tokens.redis;
        if (redis === null || !redis.ok) {
          cycle.details?.set(i, { redisError: 1 });
          continue;
        }
        if (redis.blocks === 0) continue;
        const matched = redis.matched.get(kthenaOwner(pods[i].name, pods[i].namespace)) ?? 0;
        out[i] = (matched / redis.blocks) * 100;
        best = Math.max(best, matched / redis.blocks);
        cycle.details?.set(i, { matchedBlocks: matched, promptBlocks: redis.blocks, blockSize: this.options.blockSizeToHash, kthenaRedis: 1 });
        continue;
      }
      const index = this.options.indexSource === 'redis' ? null : (this.#blocks?.trustedIndex(pods[i].origin, cycle.now) ?? null);
      if (index === null) {
        cycle.details?.set(i, { trusted: 0 });
        continue;
      }
      const blockSize = index.blockSize > 0 ? index.blockSize : this.options.blockSizeToHash;
      hashesBySize ??= new Map();
      let hashes = hashesBySize.get(blockSize);
      if (hashes === undefined) hashesBySize.set(blockSize, (hashes = promptBlockHashes(ids, blockSize, this.options.maxBlocksToMatch, lora)));
      if (hashes.length === 0) continue;
      const matched = index.matchRun(hashes);
      out[i] = (matched / hashes.length) * 100;
      best = Math.max(best, matched / hashes.length);
      cycle.details?.set(i, { matchedBlocks: matched, promptBlocks: hashes.length, blockSize, indexedBlocks: index.size });
    }
    if (best >= 0) cycle.observer?.kvCacheMatch?.(cycle.request.model, best);
  }
}

export const kvCacheAwarePlugin = definePlugin({ name: KVCACHE_AWARE, filter: false, score: true, args, create: (options, env) => new KvCacheAwarePlugin(options, env) });
