// When the tokens of an answer come out: on each request's own clock (fixed ttftMs / itlMs delays, the default),
// or from the simulated engine loop (simulator/) when the simulator is on. Request handling and metrics only see
// the TokenGenerator interface.
import { HttpError } from './http-io.ts';
import type { EngineLoad, EngineMetrics } from './metrics.ts';
import type { ResolvedMockEngineOptions } from './options.ts';
import { realClock, type Clock } from './simulator/clock.ts';
import { EngineCore, type EngineSnapshot } from './simulator/engine-core.ts';
import type { KvCacheListener } from './simulator/kv-cache.ts';
import { pause, runTokenLoop } from './token-loop.ts';

export interface GenerationJob {
  /** Prompt token texts (text.ts). */
  prompt: readonly string[];
  /** The answer's tokens, already cut to max_tokens. */
  output: readonly string[];
  /** LoRA adapter asked for, or null for the base model. */
  adapter: string | null;
}

/** The engine part of GET /mock/stats. Counters (queries, hits, preemptions, steps, loads) restart at /mock/reset. */
export interface EngineStats extends EngineSnapshot {
  simulated: boolean;
}

export interface TokenGenerator {
  /** Throws an HttpError (400) for a job that can never run. */
  check(job: GenerationJob): void;
  /** Emits the job's output tokens in order, each when it exists; stops once `signal` aborts. Returns how many were emitted. */
  generate(job: GenerationJob, signal: AbortSignal, emit: (index: number) => void | Promise<void>): Promise<number>;
  /** What the gauges show. */
  load(): EngineLoad;
  stats(): EngineStats;
  /** Restarts the counters of stats(). */
  resetStats(): void;
  /** An adapter was unloaded. */
  forgetAdapter(name: string): void;
  /** Drops cached prefixes no request uses; returns how many blocks were dropped. */
  resetPrefixCache(): number;
  /** The simulator's prefix cache reports registrations and evictions here (KV events); absent without it. */
  setKvListener?(listener: KvCacheListener | null): void;
  close(): void;
}

export function createGenerator(options: ResolvedMockEngineOptions, metrics: EngineMetrics, clock: Clock = realClock): TokenGenerator {
  return options.simulate ? new SimulatedGenerator(options, metrics, clock) : new FixedDelayGenerator(options, metrics);
}

/** Capacity the legacy KV-cache gauge is measured against: running requests / 64. */
const KV_CACHE_REQUEST_CAPACITY = 64;

/** Today's behaviour: every request on its own timers, no batch limit, no cache. */
class FixedDelayGenerator implements TokenGenerator {
  readonly #options: ResolvedMockEngineOptions;
  readonly #metrics: EngineMetrics;
  #running = 0;

  constructor(options: ResolvedMockEngineOptions, metrics: EngineMetrics) {
    this.#options = options;
    this.#metrics = metrics;
  }

  check(): void {}

  async generate(job: GenerationJob, signal: AbortSignal, emit: (index: number) => void | Promise<void>): Promise<number> {
    this.#running++;
    this.#metrics.observeQueueTime(0);
    try {
      return await runTokenLoop(job.output.length, this.#options, signal, emit);
    } finally {
      this.#running--;
    }
  }

  load(): EngineLoad {
    return { running: this.#running, waiting: 0, kvCacheUsage: Math.min(1, this.#running / KV_CACHE_REQUEST_CAPACITY), cacheHitRate: 0 };
  }

  stats(): EngineStats {
    const load = this.load();
    return {
      simulated: false,
      running: load.running,
      waiting: 0,
      maxNumSeqs: 0,
      blockSize: 0,
      kvBlocks: 0,
      kvBlocksUsed: 0,
      kvBlocksCached: 0,
      kvCacheUsage: load.kvCacheUsage,
      prefixCacheQueries: 0,
      prefixCacheHits: 0,
      preemptions: 0,
      steps: 0,
      loras: { maxLoras: 0, resident: [], loads: 0, running: [], waiting: [] },
    };
  }

  resetStats(): void {}
  forgetAdapter(): void {}
  resetPrefixCache(): number {
    return 0;
  }
  close(): void {}
}

type Counters = Pick<EngineSnapshot, 'prefixCacheQueries' | 'prefixCacheHits' | 'preemptions' | 'steps'> & { loads: number };

function countersOf(snapshot: EngineSnapshot): Counters {
  const { prefixCacheQueries, prefixCacheHits, preemptions, steps } = snapshot;
  return { prefixCacheQueries, prefixCacheHits, preemptions, steps, loads: snapshot.loras.loads };
}

/** The batch simulator: one EngineCore whose step loop times every token. */
class SimulatedGenerator implements TokenGenerator {
  readonly #core: EngineCore;
  #baseline: Counters = { prefixCacheQueries: 0, prefixCacheHits: 0, preemptions: 0, steps: 0, loads: 0 };

  constructor(options: ResolvedMockEngineOptions, metrics: EngineMetrics, clock: Clock) {
    this.#core = new EngineCore(
      {
        maxNumSeqs: options.maxNumSeqs,
        maxNumBatchedTokens: options.maxNumBatchedTokens,
        kvBlocks: options.kvBlocks,
        blockSize: options.blockSize,
        maxLoras: options.maxLoras,
        prefillMsPerToken: options.prefillMsPerToken,
        prefillMsPerRequest: options.ttftMs,
        decodeMsBase: options.decodeMsBase,
        decodeMsPerSeq: options.decodeMsPerSeq,
        loraLoadMs: options.loraLoadMs,
      },
      clock,
      {
        admitted: (queried, hit, queuedMs) => {
          metrics.countPrefixCacheQuery(queried, hit);
          if (queuedMs !== undefined) metrics.observeQueueTime(queuedMs / 1000);
        },
        preempted: (count) => metrics.countPreemptions(count),
        ...(options.prefixOracle !== undefined && {
          admittedSequence: (seq, queried, hit) => options.prefixOracle?.admitted(seq, queried, hit),
        }),
      },
    );
    options.prefixOracle?.join((seq) => this.#core.cachedTokensFor(seq));
    metrics.exposeLoraInfo(() => {
      const { loras } = this.#core.snapshot();
      return { maxLoras: loras.maxLoras, running: loras.running, waiting: loras.waiting };
    });
  }

  check(job: GenerationJob): void {
    const prompt = Math.max(1, job.prompt.length);
    const limit = this.#core.maxModelLen;
    if (prompt + job.output.length <= limit) return;
    throw new HttpError(
      400,
      `This model's maximum context length is ${limit} tokens. However, you requested ${prompt + job.output.length} tokens ` +
        `(${prompt} in the messages, ${job.output.length} in the completion). Please reduce the length of the messages or completion.`,
    );
  }

  async generate(job: GenerationJob, signal: AbortSignal, emit: (index: number) => void | Promise<void>): Promise<number> {
    if (signal.aborted) return 0;
    const ready: number[] = [];
    let finished = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const handle = this.#core.submit(job, {
      onToken: (index) => {
        ready.push(index);
        notify();
      },
      onFinish: () => {
        finished = true;
        notify();
      },
    });
    signal.addEventListener('abort', notify, { once: true });
    let emitted = 0;
    try {
      let waited = true;
      while (!signal.aborted) {
        const index = ready.shift();
        if (index === undefined) {
          if (finished) break;
          await new Promise<void>((resolve) => (wake = resolve));
          waited = true;
          continue;
        }
        // Tokens that piled up still leave in separate event-loop turns, so their writes never coalesce.
        if (!waited && !(await pause(0, signal))) break;
        waited = false;
        await emit(index);
        emitted++;
      }
    } finally {
      signal.removeEventListener('abort', notify);
      handle.cancel();
    }
    return emitted;
  }

  load(): EngineLoad {
    const snapshot = this.#core.snapshot();
    return {
      running: snapshot.running,
      waiting: snapshot.waiting,
      kvCacheUsage: snapshot.kvCacheUsage,
      cacheHitRate: snapshot.prefixCacheQueries > 0 ? snapshot.prefixCacheHits / snapshot.prefixCacheQueries : 0,
    };
  }

  stats(): EngineStats {
    const snapshot = this.#core.snapshot();
    const base = this.#baseline;
    return {
      simulated: true,
      ...snapshot,
      prefixCacheQueries: snapshot.prefixCacheQueries - base.prefixCacheQueries,
      prefixCacheHits: snapshot.prefixCacheHits - base.prefixCacheHits,
      preemptions: snapshot.preemptions - base.preemptions,
      steps: snapshot.steps - base.steps,
      loras: { ...snapshot.loras, loads: snapshot.loras.loads - base.loads },
    };
  }

  resetStats(): void {
    this.#baseline = countersOf(this.#core.snapshot());
  }

  forgetAdapter(name: string): void {
    this.#core.forgetAdapter(name);
  }

  setKvListener(listener: KvCacheListener | null): void {
    this.#core.setKvListener(listener);
  }

  resetPrefixCache(): number {
    return this.#core.resetPrefixCache();
  }

  close(): void {
    this.#core.close();
  }
}
