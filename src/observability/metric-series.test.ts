import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CounterFamily, GaugeFamily, HistogramFamily } from './metric-series.ts';

const BUCKETS = [0.005, 0.01, 0.5, 1, 60];

/** The same updates on prom-client's own classes and on the families give the same exposition. */
function both(updates: (m: {
  counter: (...labels: string[]) => { inc(v?: number): void };
  gauge: (...labels: string[]) => { inc(v?: number): void; dec(v?: number): void; set(v: number): void };
  histogram: (...labels: string[]) => { observe(v: number): void };
}) => void): Promise<[string, string]> {
  const reference = new Registry();
  const counter = new Counter({ name: 'x_requests_total', help: 'Requests "all"\nkinds', labelNames: ['model', 'path'], registers: [reference] });
  const gauge = new Gauge({ name: 'x_active', help: 'Active', labelNames: ['model'], registers: [reference] });
  const histogram = new Histogram({ name: 'x_duration_seconds', help: 'Duration', labelNames: ['model', 'status'], buckets: BUCKETS, registers: [reference] });
  updates({ counter: (...l) => counter.labels(...l), gauge: (...l) => gauge.labels(...l), histogram: (...l) => histogram.labels(...l) });

  const ours = new Registry();
  const c = new CounterFamily({ name: 'x_requests_total', help: 'Requests "all"\nkinds', labelNames: ['model', 'path'], registers: [ours] });
  const g = new GaugeFamily({ name: 'x_active', help: 'Active', labelNames: ['model'], registers: [ours] });
  const h = new HistogramFamily({ name: 'x_duration_seconds', help: 'Duration', labelNames: ['model', 'status'], buckets: BUCKETS, registers: [ours] });
  updates({ counter: (...l) => c.labels(...l), gauge: (...l) => g.labels(...l), histogram: (...l) => h.labels(...l) });
  return Promise.all([reference.metrics(), ours.metrics()]);
}

describe('metric series families', () => {
  it("expose exactly what prom-client's Counter, Gauge and Histogram expose for the same updates", async () => {
    const [reference, ours] = await both(({ counter, gauge, histogram }) => {
      counter('b', '/v1/completions').inc();
      counter('a "quoted"\\ \n', '/v1/chat/completions').inc(2.5);
      counter('b', '/v1/completions').inc(3);
      gauge('b').inc();
      gauge('a').inc(2);
      gauge('b').dec();
      gauge('c').set(7);
      for (const v of [0, 0.005, 0.0051, 0.3, 1, 1.5, 59.9, 60, 61, 1e9]) histogram('m', '200').observe(v);
      histogram('m', '503').observe(0.02);
      counter('never', 'updated'); // a series looked up but never updated is not exposed
      histogram('never', 'observed');
    });
    assert.equal(ours, reference);
    assert.match(ours, /x_duration_seconds_bucket\{le="\+Inf",model="m",status="200"\} 10/);
  });

  it('expose nothing but HELP and TYPE before any update, like prom-client', async () => {
    const [reference, ours] = await both(() => undefined);
    assert.equal(ours, reference);
  });

  it('give the same series object for the same label values, and reject a wrong label count or bad values', () => {
    const registry = new Registry();
    const c = new CounterFamily({ name: 'y_total', help: 'y', labelNames: ['a', 'b'], registers: [registry] });
    const h = new HistogramFamily({ name: 'y_seconds', help: 'y', labelNames: ['a'], buckets: BUCKETS, registers: [registry] });
    assert.equal(c.labels('1', '2'), c.labels('1', '2'));
    assert.notEqual(c.labels('1', '2'), c.labels('12', ''));
    assert.throws(() => c.labels('1'), /Invalid number of arguments/);
    assert.throws(() => c.labels('1', '2').inc(-1), /not possible to decrease/);
    assert.throws(() => h.labels('1').observe(Number.NaN), /not a valid number/);
    assert.throws(() => new CounterFamily({ name: 'y_total', help: 'y', registers: [registry] }), /already been registered/);
    assert.throws(() => new HistogramFamily({ name: 'z', help: 'z', labelNames: ['le'], buckets: BUCKETS }), /reserved/);
  });

  it('forget their series on reset(), as prom-client does', async () => {
    const registry = new Registry();
    const c = new CounterFamily({ name: 'r_total', help: 'r', labelNames: ['a'], registers: [registry] });
    const before = c.labels('x');
    before.inc();
    registry.resetMetrics();
    before.inc(); // a detached series updates nothing
    assert.doesNotMatch(await registry.metrics(), /r_total\{/);
    c.labels('x').inc(4);
    assert.match(await registry.metrics(), /r_total\{a="x"\} 4/);
  });

  it('give getMetricsAsJSON the shape prom-client gives', async () => {
    const reference = new Registry();
    new Histogram({ name: 'j_seconds', help: 'j', labelNames: ['a'], buckets: [1], registers: [reference] }).labels('x').observe(0.5);
    const ours = new Registry();
    new HistogramFamily({ name: 'j_seconds', help: 'j', labelNames: ['a'], buckets: [1], registers: [ours] }).labels('x').observe(0.5);
    assert.deepEqual(await ours.getMetricsAsJSON(), await reference.getMetricsAsJSON());
  });
});
