import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineStateTable, intervalMean } from './engine-state.ts';
import { readEngineMetrics, type EngineReading } from './metric-names.ts';
import { parsePrometheusText } from './prometheus-text.ts';

const read = (text: string): EngineReading => readEngineMetrics(parsePrometheusText(text));

describe('readEngineMetrics', () => {
  it('reads vLLM names', () => {
    const r = read(
      [
        'vllm:num_requests_waiting{model_name="m"} 2',
        'vllm:num_requests_running{model_name="m"} 5',
        'vllm:kv_cache_usage_perc{model_name="m"} 0.25',
        '# TYPE vllm:time_to_first_token_seconds histogram',
        'vllm:time_to_first_token_seconds_bucket{le="+Inf"} 4',
        'vllm:time_to_first_token_seconds_sum 2',
        'vllm:time_to_first_token_seconds_count 4',
        '# TYPE vllm:inter_token_latency_seconds histogram',
        'vllm:inter_token_latency_seconds_sum 1',
        'vllm:inter_token_latency_seconds_count 10',
      ].join('\n'),
    );
    assert.deepEqual(r, { waiting: 2, running: 5, kvCacheUsage: 0.25, ttft: { sum: 2, count: 4 }, tpot: { sum: 1, count: 10 }, loraAdapters: null, loraSlots: NaN });
  });

  it("reads the adapters of vLLM's running and waiting requests from the newest lora_requests_info series", () => {
    const r = read(
      [
        '# TYPE vllm:lora_requests_info gauge',
        'vllm:lora_requests_info{max_lora="2",running_lora_adapters="old",waiting_lora_adapters=""} 1700000000.5',
        'vllm:lora_requests_info{max_lora="2",running_lora_adapters="sql,chat",waiting_lora_adapters="math"} 1700000009.25',
        'vllm:lora_requests_info{max_lora="2",running_lora_adapters="",waiting_lora_adapters=""} 1700000003',
      ].join('\n'),
    );
    assert.deepEqual(r.loraAdapters, ['sql', 'chat', 'math']);
    assert.equal(r.loraSlots, 2);
    const idle = read('vllm:lora_requests_info{max_lora="1",running_lora_adapters="",waiting_lora_adapters=""} 1\n');
    assert.deepEqual([idle.loraAdapters, idle.loraSlots], [[], 1]);
    assert.ok(Number.isNaN(read('vllm:lora_requests_info{max_lora="0",running_lora_adapters="",waiting_lora_adapters=""} 1\n').loraSlots), 'no LoRA: no slots');
  });

  it('reads SGLang names', () => {
    const r = read('sglang:num_queue_reqs 1\nsglang:num_running_reqs 3\nsglang:token_usage 0.5\n');
    assert.deepEqual([r.waiting, r.running, r.kvCacheUsage], [1, 3, 0.5]);
  });

  it("falls back to vLLM's older names", () => {
    const r = read(
      'vllm:gpu_cache_usage_perc 0.75\nvllm:time_per_output_token_seconds_sum 3\nvllm:time_per_output_token_seconds_count 6\n',
    );
    assert.equal(r.kvCacheUsage, 0.75);
    assert.deepEqual(r.tpot, { sum: 3, count: 6 });
  });

  it('prefers the current name when both are exposed', () => {
    assert.equal(read('vllm:kv_cache_usage_perc 0.1\nvllm:gpu_cache_usage_perc 0.9\n').kvCacheUsage, 0.1);
  });

  it('combines series: counts summed, cache usage max, histograms added', () => {
    const r = read(
      [
        'vllm:num_requests_running{model_name="a"} 1',
        'vllm:num_requests_running{model_name="b"} 2',
        'vllm:kv_cache_usage_perc{engine="0"} 0.2',
        'vllm:kv_cache_usage_perc{engine="1"} 0.6',
        '# TYPE vllm:time_to_first_token_seconds histogram',
        'vllm:time_to_first_token_seconds_sum{model_name="a"} 1',
        'vllm:time_to_first_token_seconds_count{model_name="a"} 1',
        'vllm:time_to_first_token_seconds_sum{model_name="b"} 3',
        'vllm:time_to_first_token_seconds_count{model_name="b"} 3',
      ].join('\n'),
    );
    assert.equal(r.running, 3);
    assert.equal(r.kvCacheUsage, 0.6);
    assert.deepEqual(r.ttft, { sum: 4, count: 4 });
  });

  it('reports missing metrics as unknown, not zero', () => {
    const r = read('something_else 1\n');
    assert.ok(Number.isNaN(r.waiting) && Number.isNaN(r.running) && Number.isNaN(r.kvCacheUsage));
    assert.equal(r.ttft, null);
    assert.equal(r.tpot, null);
  });
});

describe('intervalMean', () => {
  const cases: [string, { sum: number; count: number } | null, { sum: number; count: number } | null, number][] = [
    ['the delta over the interval', { sum: 10, count: 5 }, { sum: 16, count: 7 }, 3],
    ['the cumulative mean on the first reading', null, { sum: 6, count: 3 }, 2],
    ['the cumulative mean after a restart (count went down)', { sum: 10, count: 5 }, { sum: 1, count: 2 }, 0.5],
    ['the cumulative mean after a restart (sum went down)', { sum: 10, count: 5 }, { sum: 4, count: 8 }, 0.5],
    ['NaN when nothing new was observed', { sum: 10, count: 5 }, { sum: 10, count: 5 }, NaN],
    ['NaN when the first reading is empty', null, { sum: 0, count: 0 }, NaN],
    ['NaN without a current reading', { sum: 1, count: 1 }, null, NaN],
  ];
  for (const [what, previous, current, expected] of cases) {
    it(`is ${what}`, () => assert.ok(Object.is(intervalMean(previous, current), expected)));
  }
});

describe('EngineStateTable', () => {
  const reading = (ttft: { sum: number; count: number } | null): EngineReading => ({ waiting: 1, running: 2, kvCacheUsage: 0.5, ttft, tpot: null });

  it('is unknown before the first scrape, fresh after it, stale after a failure or when too old', () => {
    const table = new EngineStateTable({ staleAfterMs: 3000 });
    assert.equal(table.metrics('http://a', 1000), null);
    table.get('http://a').applyMetrics(reading(null), 1000);
    assert.equal(table.metrics('http://a', 1500)?.running, 2);
    assert.equal(table.metrics('http://a', 4001), null, 'too old');
    table.get('http://a').applyMetrics(reading(null), 5000);
    table.get('http://a').metricsFailed('ECONNREFUSED');
    assert.equal(table.metrics('http://a', 5001), null, 'last scrape failed');
    table.get('http://a').applyMetrics(reading(null), 6000);
    assert.equal(table.metrics('http://a', 6001)?.waiting, 1, 'a good scrape makes it fresh again');
  });

  it('keeps the last latency through idle intervals and follows new requests', () => {
    const state = new EngineStateTable({ staleAfterMs: 3000 }).get('http://a');
    state.applyMetrics(reading({ sum: 1, count: 10 }), 1);
    assert.equal(state.ttftSeconds, 0.1);
    state.applyMetrics(reading({ sum: 1, count: 10 }), 2);
    assert.equal(state.ttftSeconds, 0.1, 'no new requests: previous value kept');
    state.applyMetrics(reading({ sum: 2, count: 12 }), 3);
    assert.equal(state.ttftSeconds, 0.5);
    state.applyMetrics(reading(null), 4);
    assert.ok(Number.isNaN(state.ttftSeconds), 'metric gone: unknown');
  });

  it('tracks models separately and forgets removed pods', () => {
    const table = new EngineStateTable({ staleAfterMs: 3000 });
    table.get('http://a').applyModels(new Set(['base', 'lora-A']), 100);
    table.get('http://b').modelsFailed('status 500');
    assert.deepEqual([...(table.models('http://a', 200) ?? [])], ['base', 'lora-A']);
    assert.equal(table.models('http://b', 200), null);
    assert.equal(table.metrics('http://a', 200), null, 'models do not make metrics known');
    table.retain(new Set(['http://b']));
    assert.equal(table.peek('http://a'), undefined);
    assert.equal(table.size, 1);
  });
});
