// Prometheus metrics through the real router: known traffic (successes, an unknown model, a timeout, a retry) is
// sent, /metrics is scraped over HTTP, parsed with the strict exposition parser, and the values are checked.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { KTHENA_METRIC_SUFFIXES } from '../../src/observability/metric-definitions.ts';
import { createEnv, mockFault, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { samples, scrape, single, total, type Families } from '../support/metrics.ts';

const MODEL = 'my-model';
const UPSTREAM = 'org/upstream-model';
const SLOW_MODEL = 'slow-model';
const KTHENA_REQUEST_LABELS = ['backend_name', 'backend_type', 'error_type', 'model', 'model_route', 'path', 'status_code', 'upstream_model'];

const main = { model: MODEL, model_route: 'default/main-route', backend_type: 'model_server', backend_name: 'default/main', upstream_model: UPSTREAM };

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

describe('Prometheus metrics', () => {
  let env: TestEnv;
  let router: RouterApp;
  let a: MockEngineHandle;
  let b: MockEngineHandle;
  let slow: MockEngineHandle;
  let metricsUrl: string;

  before(async () => {
    env = await createEnv();
    a = await startMock(env, { model: UPSTREAM, instanceName: 'a' });
    b = await startMock(env, { model: UPSTREAM, instanceName: 'b' });
    slow = await startMock(env, { model: UPSTREAM, instanceName: 'slow' });
    await writeYaml(env, 'config.yaml', [
      modelServer('main', { model: UPSTREAM, retry: { attempts: 1 } }),
      podStub('pod-a', 'main', a.port),
      podStub('pod-b', 'main', b.port),
      simpleRoute('main-route', MODEL, 'main'),
      modelServer('slow', { model: UPSTREAM, timeout: '1s' }),
      podStub('pod-slow', 'slow', slow.port),
      simpleRoute('slow-route', SLOW_MODEL, 'slow'),
    ]);
    // The default plugins, prefix-cache weighted up so that a pod holding the prompt always comes first.
    const routerConfigFile = join(env.dir, '..', `${basename(env.dir)}-router.yaml`);
    await writeFile(routerConfigFile, [
      'scheduler:',
      '  plugins:',
      '    Score:',
      '      enabled:',
      '      - {name: least-request, weight: 1}',
      '      - {name: gpu-usage, weight: 1}',
      '      - {name: least-latency, weight: 1}',
      '      - {name: prefix-cache, weight: 10}',
    ].join('\n'));
    cleanupFiles.push(routerConfigFile);
    router = await startRouter(env, { metricsPort: 0, debugPort: 0, metricsScrapeIntervalMs: 100, routerConfigFile });
    assert.ok(router.metricsUrl !== null);
    metricsUrl = router.metricsUrl;
  });
  const cleanupFiles: string[] = [];
  after(async () => {
    await env.cleanup();
    await Promise.all(cleanupFiles.map((f) => rm(f, { force: true })));
  });

  const delta = (before: Families, now: Families, family: string, labels: Record<string, string>, sample = family): number =>
    total(now, family, labels, sample) - total(before, family, labels, sample);

  it('the metrics listener answers HEAD /metrics like GET, without a body', async () => {
    const head = await request(`${metricsUrl}/metrics`, { method: 'HEAD' });
    assert.equal(head.statusCode, 200);
    assert.match(String(head.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.equal(await head.body.text(), '');
  });

  it('counts successes with Kthena labels, durations, tokens from usage, and every scheduler plugin call', async () => {
    const before = await scrape(metricsUrl);
    const usages: Usage[] = [];
    for (const prompt of ['one two three', 'four five', 'six']) {
      const res = await post(`${router.url}/v1/completions`, { model: MODEL, prompt, max_tokens: 4 });
      assert.equal(res.status, 200, res.text);
      usages.push((res.json() as { usage: Usage }).usage);
    }
    const chat = await post(`${router.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true });
    assert.equal(chat.status, 200);
    const now = await scrape(metricsUrl);

    const completions = { ...main, path: '/v1/completions' };
    assert.equal(delta(before, now, 'switchyard_requests_total', { ...completions, status_code: '200', error_type: 'successful_request' }), 3);
    assert.equal(delta(before, now, 'switchyard_requests_total', { ...main, path: '/v1/chat/completions', status_code: '200', error_type: 'successful_request' }), 1);
    assert.equal(delta(before, now, 'switchyard_request_duration_seconds', { ...completions, status_code: '200' }, 'switchyard_request_duration_seconds_count'), 3);
    assert.equal(delta(before, now, 'switchyard_tokens_total', { ...completions, token_type: 'input' }), usages.reduce((s, u) => s + u.prompt_tokens, 0));
    assert.equal(delta(before, now, 'switchyard_tokens_total', { ...completions, token_type: 'output' }), usages.reduce((s, u) => s + u.completion_tokens, 0));
    // The stream's usage was asked for by the router and hidden from the client, yet counted.
    assert.ok(delta(before, now, 'switchyard_tokens_total', { ...main, path: '/v1/chat/completions', token_type: 'output' }) > 0);
    for (const sample of samples(now, 'switchyard_requests_total')) assert.deepEqual(Object.keys(sample.labels).sort(), KTHENA_REQUEST_LABELS);

    for (const [plugin, type] of [['lora-affinity', 'filter'], ['least-request', 'filter'], ['least-request', 'score'], ['prefix-cache', 'score'], ['gpu-usage', 'score']]) {
      const labels = { model: MODEL, plugin, type };
      assert.equal(delta(before, now, 'switchyard_scheduler_plugin_duration_seconds', labels, 'switchyard_scheduler_plugin_duration_seconds_count'), 4, `${plugin} ${type}`);
    }
    assert.equal(single(now, 'switchyard_active_requests'), 0);
  });

  it('an unknown model is counted as model="unknown", route_not_found, unresolved, with estimated input tokens', async () => {
    const before = await scrape(metricsUrl);
    const prompt = 'abcdefghij'; // 10 runes: ceil(10/4) = 3 tokens, as Kthena estimates
    assert.equal((await post(`${router.url}/v1/completions`, { model: 'no-such-model', prompt })).status, 404);
    assert.equal((await post(`${router.url}/v1/completions`, '{not json')).status, 400);
    const now = await scrape(metricsUrl);
    const unresolved = { model: 'unknown', path: '/v1/completions', model_route: 'none', backend_type: 'unresolved', backend_name: 'none', upstream_model: 'none' };
    assert.equal(delta(before, now, 'switchyard_requests_total', { ...unresolved, status_code: '404', error_type: 'route_not_found' }), 1);
    assert.equal(delta(before, now, 'switchyard_requests_total', { ...unresolved, status_code: '400', error_type: 'request_parsing' }), 1);
    assert.equal(delta(before, now, 'switchyard_tokens_total', { ...unresolved, token_type: 'input' }), 3);
    assert.equal(samples(now, 'switchyard_requests_total', { model: 'no-such-model' }).length, 0, 'client-chosen model names never become label values');
  });

  it('every inference path the router forwards is its own path label (count_tokens was "unknown")', async () => {
    const before = await scrape(metricsUrl);
    const res = await post(`${router.url}/v1/messages/count_tokens`, { model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.status, 200, res.text);
    const now = await scrape(metricsUrl);
    assert.equal(delta(before, now, 'switchyard_requests_total', { ...main, path: '/v1/messages/count_tokens', status_code: '200' }), 1);
    assert.equal(delta(before, now, 'switchyard_requests_total', { path: 'unknown' }), 0);
  });

  it('a timeout is a 504 with error_type proxy; while it waits the active gauges count it', async () => {
    await mockFault(slow, { headerDelayMs: 3000 });
    const before = await scrape(metricsUrl);
    const pending = post(`${router.url}/v1/completions`, { model: SLOW_MODEL, prompt: 'wait' });
    const upstream = { model_server: 'default/slow', model_route: 'default/slow-route', backend_type: 'model_server', backend_name: 'default/slow', upstream_model: UPSTREAM };
    let during: Families | null = null;
    await waitFor(async () => {
      during = await scrape(metricsUrl);
      return total(during, 'switchyard_active_upstream_requests', upstream) === 1;
    }, 3000, 'the request in the active_upstream_requests gauge');
    assert.equal(single(during!, 'switchyard_active_downstream_requests', { model: SLOW_MODEL }), 1);
    assert.ok(single(during!, 'switchyard_active_requests') >= 1);

    assert.equal((await pending).status, 504);
    const now = await scrape(metricsUrl);
    const labels = { model: SLOW_MODEL, path: '/v1/completions', model_route: 'default/slow-route', backend_name: 'default/slow', status_code: '504', error_type: 'proxy' };
    assert.equal(delta(before, now, 'switchyard_requests_total', labels), 1);
    assert.equal(single(now, 'switchyard_active_upstream_requests', upstream), 0);
    assert.equal(single(now, 'switchyard_active_downstream_requests', { model: SLOW_MODEL }), 0);
  });

  it('a retry: the pod holding the prompt answers 503, the other serves; upstream_retries_total and prefix-cache metrics count it', async () => {
    const prompt = `${'the same long prompt that prefix-cache remembers '.repeat(6)}end`;
    const received = async (): Promise<number[]> => [(await mockStats(a)).received, (await mockStats(b)).received];
    const start = await received();
    assert.equal((await post(`${router.url}/v1/completions`, { model: MODEL, prompt, max_tokens: 2 })).status, 200);
    const warm = await received();
    const holder = warm[0] > start[0] ? a : b;
    const other = holder === a ? b : a;

    // prefix-cache now prefers the holder: the explanation says so, and so does the real request below.
    const explained = await post(`${router.debugUrl!}/debug/explain`, { path: '/v1/completions', body: { model: MODEL, prompt } });
    const holderPod = holder === a ? 'default/pod-a' : 'default/pod-b';
    assert.equal((explained.json() as { pod: string }).pod, holderPod);

    const before = await scrape(metricsUrl);
    const holderBefore = (await mockStats(holder)).received;
    const otherBefore = (await mockStats(other)).received;
    await mockFault(holder, { status: 503, body: '{"error":"busy"}' });
    const res = await post(`${router.url}/v1/completions`, { model: MODEL, prompt, max_tokens: 2 });
    assert.equal(res.status, 200, res.text);
    assert.equal((await mockStats(holder)).received - holderBefore, 1);
    assert.equal((await mockStats(other)).received - otherBefore, 1);

    const now = await scrape(metricsUrl);
    assert.equal(delta(before, now, 'switchyard_upstream_retries_total', { model: MODEL, model_server: 'default/main' }), 1);
    assert.equal(delta(before, now, 'switchyard_requests_total', { ...main, status_code: '200', error_type: 'successful_request' }), 1);
    // The warm-up missed (ratio 0); the retried request matched fully (the explanation is not counted).
    assert.ok(total(now, 'switchyard_prefix_cache_match_ratio', { model: MODEL, le: '0' }, 'switchyard_prefix_cache_match_ratio_bucket') >= 1);
    assert.equal(delta(before, now, 'switchyard_prefix_cache_match_ratio', { model: MODEL }, 'switchyard_prefix_cache_match_ratio_count'), 1);
    assert.equal(delta(before, now, 'switchyard_prefix_cache_match_ratio', { model: MODEL }, 'switchyard_prefix_cache_match_ratio_sum'), 1);
    assert.ok(single(now, 'switchyard_prefix_cache_entries') > 0);
  });

  it('explaining sends nothing upstream and counts nothing', async () => {
    const before = await scrape(metricsUrl);
    const receivedBefore = (await mockStats(a)).received + (await mockStats(b)).received;
    const res = await post(`${router.debugUrl!}/debug/explain`, { path: '/v1/completions', body: { model: MODEL, prompt: 'explain me' } });
    assert.equal(res.status, 200);
    const now = await scrape(metricsUrl);
    assert.equal((await mockStats(a)).received + (await mockStats(b)).received, receivedBefore);
    assert.equal(total(now, 'switchyard_requests_total') - total(before, 'switchyard_requests_total'), 0);
    const count = 'switchyard_scheduler_plugin_duration_seconds_count';
    assert.equal(total(now, 'switchyard_scheduler_plugin_duration_seconds', {}, count) - total(before, 'switchyard_scheduler_plugin_duration_seconds', {}, count), 0);
  });

  it("exports each pod's scraped engine state and the router's own view of it", async () => {
    const pod = { namespace: 'default', pod: 'pod-a', model_server: 'default/main' };
    let now: Families = new Map();
    await waitFor(async () => {
      now = await scrape(metricsUrl);
      // Scraped after the earlier tests' requests to pod-a finished (the scrape interval may catch one running).
      return samples(now, 'switchyard_pod_requests_waiting', pod).length === 1 &&
        single(now, 'switchyard_pod_requests_running', pod) === 0 && single(now, 'switchyard_pod_in_flight_requests', pod) === 0;
    }, 5000, 'pod-a scraped with no request in flight');
    assert.equal(single(now, 'switchyard_pod_requests_waiting', pod), 0);
    assert.equal(single(now, 'switchyard_pod_requests_running', pod), 0);
    const kv = single(now, 'switchyard_pod_kv_cache_usage_ratio', pod);
    assert.ok(kv >= 0 && kv <= 1);
    assert.equal(single(now, 'switchyard_pod_in_flight_requests', pod), 0);
    assert.equal(single(now, 'switchyard_pod_healthy', pod), 1);
    // Every pod of every ModelServer has its series.
    assert.deepEqual(samples(now, 'switchyard_pod_healthy').map((s) => s.labels.pod).sort(), ['pod-a', 'pod-b', 'pod-slow']);
  });
});

describe('--metrics-prefix kthena_router on the router port', () => {
  let env: TestEnv;
  let router: RouterApp;

  before(async () => {
    env = await createEnv();
    const mock = await startMock(env, { model: UPSTREAM });
    await writeYaml(env, 'config.yaml', [modelServer('main', { model: UPSTREAM }), podStub('pod-a', 'main', mock.port), simpleRoute('main-route', MODEL, 'main')]);
    router = await startRouter(env, { metricsPrefix: 'kthena_router', exposeMetricsOnRouterPort: true });
  });
  after(() => env.cleanup());

  it("serves every Kthena metric under Kthena's own names, and nothing under switchyard_", async () => {
    assert.equal(router.metricsUrl, null, 'no separate listener was asked for');
    assert.equal((await post(`${router.url}/v1/completions`, { model: MODEL, prompt: 'hello' })).status, 200);
    assert.equal((await post(`${router.url}/v1/completions`, { model: 'unknown-model', prompt: 'hello' })).status, 404);
    const families = await scrape(router.url);
    for (const suffix of KTHENA_METRIC_SUFFIXES) assert.ok(families.has(`kthena_router_${suffix}`), `kthena_router_${suffix}`);
    assert.deepEqual([...families.keys()].filter((name) => name.startsWith('switchyard')), []);
    // Kthena's e2e TestMetrics: an unroutable request is counted under model="unknown".
    assert.equal(total(families, 'kthena_router_requests_total', { model: 'unknown', status_code: '404', error_type: 'route_not_found' }), 1);
    assert.equal(total(families, 'kthena_router_requests_total', { model: MODEL, status_code: '200', error_type: 'successful_request' }), 1);
    assert.equal(families.get('kthena_router_request_duration_seconds')?.type, 'histogram');
    assert.equal(families.get('kthena_router_active_requests')?.type, 'gauge');
  });
});
