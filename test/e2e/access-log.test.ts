// The access log through the real router, written to a file in both formats, and W3C trace context on the upstream
// request: one line per request with Kthena's fields, never a secret or a prompt.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { createEnv, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';

const MODEL = 'logged-model';
const UPSTREAM = 'org/logged-upstream';
const CLIENT_TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

async function setUp(format: 'json' | 'text'): Promise<{ env: TestEnv; router: RouterApp; mock: MockEngineHandle; logFile: string }> {
  const env = await createEnv();
  const mock = await startMock(env, { model: UPSTREAM, instanceName: 'logged' });
  await writeYaml(env, 'config.yaml', [modelServer('ms', { model: UPSTREAM }), podStub('pod-a', 'ms', mock.port), simpleRoute('r', MODEL, 'ms')]);
  // Beside the watched configuration directory, not in it.
  const logDir = await mkdtemp(join(tmpdir(), 'switchyard-access-log-'));
  const cleanup = env.cleanup.bind(env);
  env.cleanup = async () => {
    await cleanup();
    await rm(logDir, { recursive: true, force: true });
  };
  const logFile = join(logDir, `access.${format}.log`);
  const router = await startRouter(env, { accessLog: { output: logFile, format } });
  return { env, router, mock, logFile };
}

async function lines(file: string, count: number): Promise<string[]> {
  let found: string[] = [];
  await waitFor(async () => {
    found = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
    return found.length >= count;
  }, 5000, `${count} access-log lines`);
  assert.equal(found.length, count, found.join('\n'));
  return found;
}

describe('access log, JSON (the default format)', () => {
  let env: TestEnv;
  let router: RouterApp;
  let mock: MockEngineHandle;
  let logFile: string;
  before(async () => ({ env, router, mock, logFile } = await setUp('json')));
  after(() => env.cleanup());

  it("writes one line per request with Kthena's fields, and no prompt, body, query or credential", async () => {
    const ok = await post(`${router.url}/v1/completions?api_key=QUERY-SECRET`, { model: MODEL, prompt: 'PROMPT-SECRET words', max_tokens: 3 }, {
      authorization: 'Bearer sk-HEADER-SECRET',
      'x-request-id': 'req-1',
      traceparent: CLIENT_TRACEPARENT,
      tracestate: 'vendor=1',
      'x-switchyard-explain': '1',
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-switchyard-explain'], undefined, 'the explain header is ignored without --allow-explain-header');
    const usage = (ok.json() as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    assert.equal((await post(`${router.url}/v1/completions`, { model: 'missing-model', prompt: 'x' })).status, 404);
    assert.equal((await post(`${router.url}/v1/completions`, '{"model": "BODY-SECRET", ')).status, 400);

    const [first, notFound, broken] = (await lines(logFile, 3)).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(Object.keys(first).slice(0, 6), ['timestamp', 'method', 'path', 'protocol', 'status_code', 'model_name']);
    assert.ok(!Number.isNaN(Date.parse(first.timestamp as string)));
    assert.deepEqual(
      { ...first, timestamp: 0, duration_total: 0, duration_request_processing: 0, duration_upstream_processing: 0, duration_response_processing: 0 },
      {
        timestamp: 0, method: 'POST', path: '/v1/completions', protocol: 'HTTP/1.1', status_code: 200,
        model_name: MODEL, model_route: 'default/r', model_rule: 'default', model_server: 'default/ms', selected_pod: 'pod-a',
        request_id: 'req-1', backend_type: 'model_server', backend_name: 'default/ms', upstream_model: UPSTREAM,
        upstream_status_code: 200, upstream_attempts: 1, trace_id: '0af7651916cd43dd8448eb211c80319c',
        input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens,
        duration_total: 0, duration_request_processing: 0, duration_upstream_processing: 0, duration_response_processing: 0,
      },
    );
    const parts = ['duration_request_processing', 'duration_upstream_processing', 'duration_response_processing'].map((k) => first[k] as number);
    for (const part of parts) assert.ok(Number.isInteger(part) && part >= 0 && part <= (first.duration_total as number) + 1);

    assert.equal(notFound.status_code, 404);
    assert.deepEqual(notFound.error, { type: 'route_not_found', message: 'The model `missing-model` does not exist.' });
    assert.equal(notFound.error_origin, 'router');
    assert.equal(notFound.model_name, 'missing-model');
    assert.equal(notFound.model_route, undefined);
    assert.equal(notFound.input_tokens, 1, 'estimated: ceil(1 rune / 4)');

    assert.equal(broken.status_code, 400);
    assert.deepEqual(broken.error, { type: 'request_parsing', message: 'request body is not valid JSON' });

    const text = await readFile(logFile, 'utf8');
    for (const secret of ['PROMPT-SECRET', 'HEADER-SECRET', 'QUERY-SECRET', 'BODY-SECRET', 'sk-']) assert.ok(!text.includes(secret), secret);
  });

  it('passes a valid traceparent and its tracestate upstream unchanged', async () => {
    assert.equal((await post(`${router.url}/v1/completions`, { model: MODEL, prompt: 'x' }, { traceparent: CLIENT_TRACEPARENT, tracestate: 'a=1,b=2' })).status, 200);
    const headers = (await mockStats(mock)).lastRequest!.headers;
    assert.equal(headers.traceparent, CLIENT_TRACEPARENT);
    assert.equal(headers.tracestate, 'a=1,b=2');
  });

  it('creates a traceparent when the client sent none, or an invalid one (dropping its tracestate); the log names the trace', async () => {
    const before = (await readFile(logFile, 'utf8')).split('\n').filter(Boolean).length;
    const seen: string[] = [];
    const cases: Record<string, string>[] = [{}, { traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01', tracestate: 'a=1' }, { traceparent: 'garbage' }];
    for (const headers of cases) {
      assert.equal((await post(`${router.url}/v1/completions`, { model: MODEL, prompt: 'x' }, headers)).status, 200);
      const upstream = (await mockStats(mock)).lastRequest!.headers;
      assert.match(upstream.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.equal(upstream.tracestate, undefined);
      seen.push(upstream.traceparent);
    }
    assert.equal(new Set(seen.map((t) => t.slice(3, 35))).size, 3, 'a new random trace id each time');
    const logged = (await lines(logFile, before + 3)).slice(before).map((l) => (JSON.parse(l) as { trace_id: string }).trace_id);
    assert.deepEqual(logged, seen.map((t) => t.slice(3, 35)));
  });
});

describe('access log, --access-log-format text', () => {
  let env: TestEnv;
  let router: RouterApp;
  let logFile: string;
  before(async () => ({ env, router, logFile } = await setUp('text')));
  after(() => env.cleanup());

  it("writes Kthena's text shape, one line per request even for hostile values", async () => {
    assert.equal((await post(`${router.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true }, { 'x-request-id': 'req-t' })).status, 200);
    assert.equal((await post(`${router.url}/v1/completions`, { model: 'evil\nmodel', prompt: 'x' }, { 'x-request-id': 'req-u' })).status, 404);
    const [ok, notFound] = await lines(logFile, 2);
    assert.match(
      ok,
      new RegExp(
        String.raw`^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] "POST /v1/chat/completions HTTP/1\.1" 200 model_name=${MODEL} model_route=default/r model_rule=default ` +
          String.raw`model_server=default/ms selected_pod=pod-a request_id=req-t backend_type=model_server backend_name=default/ms ` +
          String.raw`upstream_model=org/logged-upstream upstream_status_code=200 upstream_attempts=1 trace_id=[0-9a-f]{32} tokens=\d+/\d+ timings=\d+ms\(\d+\+\d+\+\d+\)$`,
      ),
    );
    assert.match(
      notFound,
      /^\[\S+\] "POST \/v1\/completions HTTP\/1\.1" 404 error=route_not_found:The model `evil\\x0amodel` does not exist\. model_name=evil\\x0amodel request_id=req-u error_origin=router tokens=1\/0 timings=\d+ms\(\d+\+0\+0\)$/,
    );
  });
});
