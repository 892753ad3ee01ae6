import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Gauge, Histogram, Registry } from 'prom-client';
import { PrometheusParseError, parsePrometheusText } from './prometheus-text.ts';

describe('parsePrometheusText', () => {
  it('reads families, types, help, labels, values and timestamps', () => {
    const families = parsePrometheusText(
      [
        '# HELP vllm:num_requests_running Number of requests in model execution batches.',
        '# TYPE vllm:num_requests_running gauge',
        'vllm:num_requests_running{model_name="m",engine="0"} 3',
        'vllm:num_requests_running{model_name="n"} 4.5 1700000000000',
        '# some other comment',
        '',
        'plain_metric 1e-3',
      ].join('\n'),
    );
    const running = families.get('vllm:num_requests_running');
    assert.equal(running?.type, 'gauge');
    assert.equal(running?.help, 'Number of requests in model execution batches.');
    assert.deepEqual(
      running?.samples.map((s) => [s.name, { ...s.labels }, s.value, s.timestampMs]),
      [
        ['vllm:num_requests_running', { model_name: 'm', engine: '0' }, 3, null],
        ['vllm:num_requests_running', { model_name: 'n' }, 4.5, 1700000000000],
      ],
    );
    assert.equal(families.get('plain_metric')?.type, 'untyped');
    assert.equal(families.get('plain_metric')?.samples[0].value, 0.001);
  });

  it('keeps the last sample of a text without a final newline', () => {
    const families = parsePrometheusText('# TYPE a gauge\na 1\n# TYPE b gauge\nb 2');
    assert.equal(families.get('b')?.samples[0]?.value, 2);
  });

  it('groups histogram and summary samples under their family', () => {
    const families = parsePrometheusText(
      [
        '# TYPE ttft histogram',
        'ttft_bucket{le="0.1"} 1',
        'ttft_bucket{le="+Inf"} 2',
        'ttft_sum 0.3',
        'ttft_count 2',
        '# TYPE lat summary',
        'lat{quantile="0.5"} 0.2',
        'lat_sum 4',
        'lat_count 8',
      ].join('\n'),
    );
    assert.deepEqual(families.get('ttft')?.samples.map((s) => s.name), ['ttft_bucket', 'ttft_bucket', 'ttft_sum', 'ttft_count']);
    assert.deepEqual(families.get('lat')?.samples.map((s) => s.name), ['lat', 'lat_sum', 'lat_count']);
    assert.equal(families.has('ttft_sum'), false);
  });

  const values: [string, number][] = [
    ['0', 0], ['-2', -2], ['+3.5', 3.5], ['.5', 0.5], ['1.', 1], ['1E3', 1000], ['2.5e-2', 0.025],
    ['+Inf', Infinity], ['-Inf', -Infinity], ['Inf', Infinity], ['NaN', NaN],
  ];
  for (const [text, expected] of values) {
    it(`parses the value ${text}`, () => {
      const value = parsePrometheusText(`m ${text}\n`).get('m')?.samples[0].value;
      assert.ok(Object.is(value, expected), `got ${String(value)}`);
    });
  }

  it('unescapes label values and help text', () => {
    const families = parsePrometheusText('# HELP m a\\\\b\\nc\nm{a="x\\"y\\\\z\\nw",b=""} 1\n');
    assert.equal(families.get('m')?.help, 'a\\b\nc');
    assert.deepEqual({ ...families.get('m')?.samples[0].labels }, { a: 'x"y\\z\nw', b: '' });
  });

  it('accepts blanks inside braces and a trailing comma, and CRLF line ends', () => {
    const families = parsePrometheusText('m{ a = "1" , b="2", } 7\r\nn 8\r\n');
    assert.deepEqual({ ...families.get('m')?.samples[0].labels }, { a: '1', b: '2' });
    assert.equal(families.get('n')?.samples[0].value, 8);
  });

  const invalid: [string, string, RegExp][] = [
    ['a non-numeric value', 'm notanumber', /line 1: invalid value "notanumber"/],
    ['a missing value', 'm{a="1"}', /line 1: sample m has no value/],
    ['an unterminated label value', 'm{a="1} 1', /unterminated value of label a/],
    ['an unknown escape', 'm{a="\\t"} 1', /invalid escape/],
    ['a duplicate label', 'm{a="1",a="2"} 1', /label a given twice/],
    ['a bad metric name', '1m 1', /invalid metric name "1m"/],
    ['a bad label name', 'm{1a="x"} 1', /invalid label name/],
    ['an unquoted label value', 'm{a=1} 1', /expected a quoted value/],
    ['a missing comma', 'm{a="1" b="2"} 1', /expected "," or "}"/],
    ['text after the timestamp', 'm 1 2 3', /unexpected text/],
    ['a fractional timestamp', 'm 1 2.5', /invalid timestamp/],
    ['an unknown type', '# TYPE m meter', /unknown metric type "meter"/],
    ['a second TYPE line', '# TYPE m gauge\n# TYPE m gauge', /line 2: second TYPE line/],
    ['a TYPE after samples', 'm 1\n# TYPE m gauge', /TYPE line for m after its samples/],
    ['a family split in two groups', 'a 1\nb 2\na 3', /line 3: lines of metric family a are not contiguous/],
  ];
  for (const [what, text, message] of invalid) {
    it(`rejects ${what}`, () => {
      assert.throws(() => parsePrometheusText(text), (err: unknown) => err instanceof PrometheusParseError && message.test(err.message));
    });
  }

  describe('with only the series it needs', () => {
    const page = [
      '# HELP python_gc_objects_collected_total Objects collected during gc',
      '# TYPE python_gc_objects_collected_total counter',
      'python_gc_objects_collected_total{generation="0"} 1.2e+04',
      '# TYPE vllm:num_requests_waiting gauge',
      'vllm:num_requests_waiting{model_name="m"} 3',
      '# HELP vllm:time_to_first_token_seconds Time to first token.',
      '# TYPE vllm:time_to_first_token_seconds histogram',
      'vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} 1',
      'vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 2',
      'vllm:time_to_first_token_seconds_count{model_name="m"} 2',
      'vllm:time_to_first_token_seconds_sum{model_name="m"} 0.55',
      '# TYPE vllm:e2e_request_latency_seconds histogram',
      'vllm:e2e_request_latency_seconds_bucket{le="1",model_name="m"} 2',
    ].join('\n');
    const needed = new Set(['vllm:num_requests_waiting', 'vllm:time_to_first_token_seconds', 'vllm:time_to_first_token_seconds_sum', 'vllm:time_to_first_token_seconds_count']);

    it('reads the named series, a histogram\'s totals without its buckets, and nothing else', () => {
      const families = parsePrometheusText(page, needed);
      assert.deepEqual([...families.keys()], ['vllm:num_requests_waiting', 'vllm:time_to_first_token_seconds']);
      const ttft = families.get('vllm:time_to_first_token_seconds')!;
      assert.equal(ttft.type, 'histogram');
      assert.equal(ttft.help, 'Time to first token.');
      assert.deepEqual(ttft.samples.map((s) => [s.name, s.value]), [['vllm:time_to_first_token_seconds_count', 2], ['vllm:time_to_first_token_seconds_sum', 0.55]]);
      assert.equal(families.get('vllm:num_requests_waiting')?.samples[0].value, 3);
    });

    it('does not check the lines it skips, and still checks the ones it reads', () => {
      const brokenElsewhere = `${page}\nvllm:e2e_request_latency_seconds_bucket{le="2" 3 x y\n# TYPE other meter`;
      assert.equal(parsePrometheusText(brokenElsewhere, needed).get('vllm:num_requests_waiting')?.samples[0].value, 3);
      assert.throws(() => parsePrometheusText(brokenElsewhere), PrometheusParseError);
      assert.throws(() => parsePrometheusText(`${page}\nvllm:num_requests_waiting{model_name="n"} three`, needed), /line 14: invalid value "three"/);
    });

    it('still finds a needed family split by another family\'s lines, but not by its own skipped buckets', () => {
      const split = 'vllm:num_requests_waiting{model_name="m"} 3\npython_gc_objects_collected_total{generation="0"} 1\nvllm:num_requests_waiting{model_name="n"} 1';
      assert.throws(() => parsePrometheusText(split), /line 3: lines of metric family vllm:num_requests_waiting are not contiguous/);
      assert.throws(() => parsePrometheusText(split, needed), /line 3: lines of metric family vllm:num_requests_waiting are not contiguous/);
      const bucketsBetween = page.replace('vllm:time_to_first_token_seconds_count{model_name="m"} 2\n', '') + '\n';
      const reordered = bucketsBetween.replace('vllm:time_to_first_token_seconds_bucket{le="0.1"', 'vllm:time_to_first_token_seconds_count{model_name="m"} 2\nvllm:time_to_first_token_seconds_bucket{le="0.1"');
      assert.equal(parsePrometheusText(reordered, needed).get('vllm:time_to_first_token_seconds')?.samples.length, 2);
    });
  });

  it("parses prom-client's own output (the mock engine's registry)", async () => {
    const registry = new Registry();
    const gauge = new Gauge({ name: 'vllm:num_requests_running', help: 'Running "now".\nSecond line', labelNames: ['model_name'], registers: [registry] });
    gauge.set({ model_name: 'a "quoted" \\ name' }, 2);
    const histogram = new Histogram({ name: 'vllm:time_to_first_token_seconds', help: 'h', labelNames: ['model_name'], buckets: [0.1, 1], registers: [registry] });
    histogram.observe({ model_name: 'm' }, 0.05);
    histogram.observe({ model_name: 'm' }, 0.5);
    const families = parsePrometheusText(await registry.metrics());
    assert.equal(families.get('vllm:num_requests_running')?.samples[0].labels.model_name, 'a "quoted" \\ name');
    assert.equal(families.get('vllm:num_requests_running')?.help, 'Running "now".\nSecond line');
    const ttft = families.get('vllm:time_to_first_token_seconds');
    assert.equal(ttft?.type, 'histogram');
    assert.equal(ttft?.samples.find((s) => s.name.endsWith('_count'))?.value, 2);
    assert.equal(ttft?.samples.find((s) => s.name.endsWith('_sum'))?.value, 0.55);
  });
});
