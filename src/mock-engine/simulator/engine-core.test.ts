import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from './clock.ts';
import { EngineCore, type EngineCoreConfig } from './engine-core.ts';

const BASE: EngineCoreConfig = {
  maxNumSeqs: 256,
  maxNumBatchedTokens: 0,
  kvBlocks: 1024,
  blockSize: 16,
  maxLoras: 0,
  prefillMsPerToken: 0,
  prefillMsPerRequest: 0,
  decodeMsBase: 10,
  decodeMsPerSeq: 0,
  loraLoadMs: 0,
};

/** `count` distinct word tokens, as text.ts cuts them. */
function words(count: number, tag = 'w'): string[] {
  return Array.from({ length: count }, (_, index) => `${index === 0 ? '' : ' '}${tag}${index}`);
}

interface Trace {
  submittedAt: number;
  tokenTimes: number[];
  finishedAt: number | undefined;
  readonly ttft: number;
  readonly gaps: number[];
}

function setup(config: Partial<EngineCoreConfig> = {}) {
  const clock = new VirtualClock();
  const admissions: { queried: number; hit: number; queuedMs: number | undefined }[] = [];
  let preemptions = 0;
  const core = new EngineCore({ ...BASE, ...config }, clock, {
    admitted: (queried, hit, queuedMs) => admissions.push({ queried, hit, queuedMs }),
    preempted: (count) => (preemptions += count),
  });
  const submit = (prompt: string[], outputTokens: number, adapter: string | null = null) => {
    const trace: Trace = {
      submittedAt: clock.now(),
      tokenTimes: [],
      finishedAt: undefined,
      get ttft() {
        return this.tokenTimes[0] - this.submittedAt;
      },
      get gaps() {
        return this.tokenTimes.slice(1).map((time, index) => time - this.tokenTimes[index]);
      },
    };
    const handle = core.submit(
      { prompt, output: words(outputTokens, 'out'), adapter },
      {
        onToken: (index) => {
          assert.equal(index, trace.tokenTimes.length, 'tokens arrive in order');
          trace.tokenTimes.push(clock.now());
        },
        onFinish: () => (trace.finishedAt = clock.now()),
      },
    );
    return Object.assign(trace, { cancel: () => handle.cancel() });
  };
  return { clock, core, submit, admissions, preemptions: () => preemptions };
}

describe('EngineCore: prefix caching', () => {
  it('a repeated long prompt is mostly served from the cache: far lower TTFT, hits counted in tokens', () => {
    const { clock, core, submit, admissions } = setup({ prefillMsPerToken: 1 });
    const prompt = words(2000);
    const first = submit(prompt, 4);
    clock.run();
    assert.equal(first.ttft, 2000, 'the whole prompt is prefilled at 1 ms per token');
    assert.deepEqual(first.gaps, [10, 10, 10]);
    assert.equal(first.finishedAt, 2030);

    const second = submit(prompt, 4);
    clock.run();
    // Only whole blocks are cached, and the last prompt token is always recomputed: 124 blocks of 16 hit.
    assert.equal(second.ttft, 16);
    assert.deepEqual(admissions.map(({ queried, hit }) => [queried, hit]), [[2000, 0], [2000, 1984]]);
    const snapshot = core.snapshot();
    assert.equal(snapshot.prefixCacheQueries, 4000);
    assert.equal(snapshot.prefixCacheHits, 1984);
    assert.equal(snapshot.kvBlocksUsed, 0, 'finished sequences hold no blocks');
    assert.equal(snapshot.kvBlocksCached, 125, 'their full blocks stay cached (prompt and generated tokens)');
  });

  it('shares only the common prefix, and never across adapters', () => {
    const { clock, submit, admissions } = setup({ prefillMsPerToken: 1 });
    const system = words(320, 'sys');
    submit([...system, ...words(50, 'q1')], 1);
    clock.run();
    submit([...system, ...words(50, 'q2')], 1);
    clock.run();
    submit([...system, ...words(50, 'q1')], 1, 'lora-a');
    clock.run();
    assert.deepEqual(admissions.map(({ hit }) => hit), [0, 320, 0]);
  });

  it('evicts least recently used prefixes when the cache is full', () => {
    const { clock, submit, admissions } = setup({ kvBlocks: 20, blockSize: 16 });
    const a = words(160, 'a'); // 10 blocks each
    const b = words(160, 'b');
    const c = words(160, 'c');
    for (const prompt of [a, b, a, c, a, b]) {
      submit(prompt, 1);
      clock.run();
    }
    // a, b miss; a hits; c evicts b (least recently used, a was just touched); a hits; b misses again.
    assert.deepEqual(admissions.map(({ hit }) => hit), [0, 0, 144, 0, 144, 0]);
  });
});

describe('EngineCore: batching and queueing', () => {
  it('queues requests beyond max-num-seqs in FIFO order, and their TTFT includes the wait', () => {
    const { clock, core, submit, admissions } = setup({ maxNumSeqs: 2, prefillMsPerToken: 1 });
    const traces = [0, 1, 2, 3].map((index) => submit(words(100, `p${index}`), 5));
    clock.run(1);
    assert.deepEqual([core.snapshot().running, core.snapshot().waiting], [2, 2]);
    clock.run();
    assert.deepEqual(traces.map((trace) => trace.ttft), [200, 200, 440, 440]);
    assert.deepEqual(traces.map((trace) => trace.finishedAt), [240, 240, 480, 480]);
    assert.deepEqual(admissions.map(({ queuedMs }) => queuedMs), [0, 0, 240, 240]);
    assert.deepEqual([core.snapshot().running, core.snapshot().waiting], [0, 0]);
  });

  it('decodes slower as the batch grows', () => {
    const alone = setup({ decodeMsBase: 10, decodeMsPerSeq: 5 });
    const single = alone.submit(words(8), 6);
    alone.clock.run();
    assert.deepEqual(single.gaps, [15, 15, 15, 15, 15]);

    const crowded = setup({ decodeMsBase: 10, decodeMsPerSeq: 5 });
    const batch = Array.from({ length: 8 }, (_, index) => crowded.submit(words(8, `s${index}`), 6));
    crowded.clock.run();
    for (const trace of batch) assert.deepEqual(trace.gaps, [50, 50, 50, 50, 50]);
  });

  it('stalls running decodes during a long prefill, unless prefill is chunked', () => {
    for (const [budget, expectedMaxGap] of [[0, 1010], [64, 73]] as const) {
      const { clock, submit } = setup({ prefillMsPerToken: 1, maxNumBatchedTokens: budget });
      const decoding = submit(words(4, 'd'), 30);
      clock.run(25);
      const long = submit(words(1000, 'long'), 1);
      clock.run();
      assert.equal(Math.max(...decoding.gaps), expectedMaxGap, `budget ${budget}`);
      assert.ok(long.ttft >= 1000, 'the long prompt is prefilled either way');
    }
  });

  it('keeps a request waiting when its blocks do not fit, and preempts when decodes run out of blocks', () => {
    const full = setup({ kvBlocks: 4, blockSize: 4 });
    full.submit(words(14, 'big'), 2);
    full.submit(words(4, 'small'), 2);
    full.clock.run(1);
    const snapshot = full.core.snapshot();
    assert.deepEqual([snapshot.running, snapshot.waiting, snapshot.kvBlocksUsed, snapshot.kvCacheUsage], [1, 1, 4, 1]);
    full.clock.run();
    assert.equal(full.core.snapshot().waiting, 0);

    const tight = setup({ kvBlocks: 4, blockSize: 4 });
    const traces = [tight.submit(words(6, 'x'), 6), tight.submit(words(6, 'y'), 6)];
    tight.clock.run();
    assert.ok(tight.preemptions() >= 1, 'the second sequence was preempted');
    assert.equal(tight.core.snapshot().preemptions, tight.preemptions());
    assert.equal(tight.admissions.length, 2 + tight.preemptions(), 'a preempted sequence is admitted again');
    assert.equal(tight.admissions.filter(({ queuedMs }) => queuedMs === undefined).length, tight.preemptions(), 'its queue time counts once');
    for (const trace of traces) assert.equal(trace.tokenTimes.length, 6, 'every token still arrives once');
    assert.equal(tight.core.snapshot().kvBlocksUsed, 0);
  });

  it('frees a cancelled sequence at once and refuses one that can never fit', () => {
    const { clock, core, submit } = setup({ kvBlocks: 4, blockSize: 4 });
    const cancelled = submit(words(10), 5);
    clock.run(25);
    assert.ok(core.snapshot().kvBlocksUsed > 0);
    cancelled.cancel();
    assert.equal(core.snapshot().kvBlocksUsed, 0);
    const emitted = cancelled.tokenTimes.length;
    clock.run();
    assert.equal(cancelled.tokenTimes.length, emitted, 'nothing after cancel');
    assert.equal(cancelled.finishedAt, undefined);
    assert.throws(() => submit(words(10), 7), RangeError);
  });
});

describe('EngineCore: LoRA slots', () => {
  it('pays the load delay on a miss, and evicts the least recently used idle adapter', () => {
    const { clock, core, submit } = setup({ maxLoras: 1, loraLoadMs: 500, prefillMsPerToken: 1 });
    const ttft = (adapter: string) => {
      const trace = submit(words(10), 2, adapter);
      clock.run();
      return trace.ttft;
    };
    assert.equal(ttft('a'), 510, 'first use loads the adapter');
    assert.equal(ttft('a'), 10, 'resident: no load');
    assert.equal(ttft('b'), 510, 'b evicts a');
    assert.equal(ttft('a'), 510, 'a was evicted');
    assert.deepEqual(core.snapshot().loras, { maxLoras: 1, resident: ['a'], loads: 3, running: [], waiting: [] });
  });

  it('makes a request wait while every slot is busy, without blocking base-model requests', () => {
    const { clock, core, submit } = setup({ maxLoras: 1, loraLoadMs: 100 });
    const a = submit(words(4, 'a'), 5, 'a');
    const b = submit(words(4, 'b'), 5, 'b');
    const base = submit(words(4, 'base'), 5);
    clock.run(1);
    const snapshot = core.snapshot();
    assert.deepEqual([snapshot.running, snapshot.waiting], [2, 1]);
    assert.deepEqual([snapshot.loras.running, snapshot.loras.waiting], [['a'], ['b']]);
    clock.run();
    assert.equal(a.ttft, 100);
    assert.equal(base.ttft, 100, 'the base model rides in the same step');
    assert.equal(b.submittedAt + b.ttft, a.finishedAt! + 100, 'b starts after a leaves its slot, then loads');
  });
});

describe('EngineCore: determinism', () => {
  /** A mixed workload: shared prefixes, adapters, a full batch and a small cache. */
  function runWorkload(): string {
    const { clock, core, submit, admissions } = setup({ maxNumSeqs: 3, kvBlocks: 40, blockSize: 8, maxLoras: 1, loraLoadMs: 30, prefillMsPerToken: 0.5, decodeMsPerSeq: 2 });
    const traces: Trace[] = [];
    for (let index = 0; index < 12; index++) {
      clock.run(clock.now() + 7 * (index % 3));
      const prompt = [...words(40 + (index % 4) * 16, `sys${index % 2}`), ...words(index, `q${index}`)];
      traces.push(submit(prompt, 3 + (index % 5), index % 3 === 0 ? `lora-${index % 2}` : null));
    }
    clock.run();
    return JSON.stringify({ times: traces.map((trace) => [trace.tokenTimes, trace.finishedAt]), admissions, snapshot: core.snapshot() });
  }

  it('gives the same timings, hits and token counts on every run', () => {
    const first = runWorkload();
    assert.equal(runWorkload(), first);
    const parsed = JSON.parse(first) as { snapshot: { prefixCacheHits: number; loras: { loads: number } } };
    assert.ok(parsed.snapshot.prefixCacheHits > 0 && parsed.snapshot.loras.loads > 1, 'the workload exercises the cache and the slots');
  });
});
