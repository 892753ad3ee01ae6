// What a PD-disaggregated request reports to observability: the pair that answered, the connector, the attempts,
// and the prefill and decode phases (Kthena's request_prefill/decode_duration_seconds with status 200 or 500).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { startRouterApp } from '../../src/cli/router-app.ts';
import { accessLogEntry } from '../../src/observability/access-log.ts';
import { requestTokens } from '../../src/observability/token-estimate.ts';
import type { PdOutcome } from '../../src/proxy/pd-backend.ts';
import type { RequestRecord } from '../../src/server/inference-handler.ts';
import { createEnv, mockFault, post, simpleRoute, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { pdPods, pdServer, startPdMocks, type PdPairMocks } from '../support/pd-fixtures.ts';

describe('PD request records', () => {
  let env: TestEnv;
  let url: string;
  let pairs: PdPairMocks[];
  const records: RequestRecord[] = [];
  let prompts = 0;

  before(async () => {
    env = await createEnv();
    pairs = await startPdMocks(env, 'rec', 'nixl', ['g1', 'g2'], { model: 'm' });
    await writeYaml(env, 'pd.yaml', [pdServer('rec', 'nixl', { model: 'm', retry: { attempts: 2 } }), ...pdPods('rec', pairs), simpleRoute('rec', 'rec', 'rec')]);
    env.router = await startRouterApp({
      configPaths: [env.dir], port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50, healthCheckIntervalMs: 0,
      metricsScrapeIntervalMs: 0, logger: pino({ level: 'silent' }), onRequestDone: (record) => records.push(record),
    });
    url = env.router.url;
  });
  after(() => env.cleanup());

  type PdRecord = RequestRecord & { outcome: PdOutcome };
  /** Sends one request; returns its answer and its record. */
  const send = async (extra: object = {}): Promise<{ res: Awaited<ReturnType<typeof post>>; record: PdRecord }> => {
    const count = records.length;
    const res = await post(`${url}/v1/completions`, { model: 'rec', prompt: `p${++prompts}`, ...extra });
    await waitFor(() => records.length > count, 2000, 'the record');
    assert.equal(records.length, count + 1);
    return { res, record: records[count] as PdRecord };
  };

  it('names the pair, the connector and both phases of a served request', async () => {
    const { res, record } = await send();
    assert.equal(res.status, 200);
    assert.equal(record.status, 200);
    assert.equal(record.error, null);
    assert.equal(record.outcome.connector, 'nixl');
    assert.equal(record.outcome.pod?.name, res.headers['x-mock-pd-decode']);
    assert.equal(record.outcome.prefillPod?.name, res.headers['x-mock-pd-prefill']);
    assert.equal(record.outcome.pair?.group, record.outcome.pod?.name.split('-')[1]);
    assert.equal(record.prefill?.status, 200);
    assert.equal(record.decode?.status, 200);
    assert.ok(record.prefill.durationMs >= 0 && record.decode.durationMs >= 0);
  });

  it('fills the access-log fields as the aggregated path does: selected pod, trace id, backend, tokens', async () => {
    const { res, record } = await send({ stream: true });
    assert.equal(res.status, 200);
    const entry = accessLogEntry(record, requestTokens(record.outcome.usage, record.body));
    assert.equal(entry.selected_pod, res.headers['x-mock-pd-decode'], 'the decode pod of the pair chosen first');
    assert.equal(entry.upstream_pod, undefined, 'the first pair answered');
    assert.match(entry.trace_id ?? '', /^[0-9a-f]{32}$/);
    assert.equal(entry.backend_type, 'model_server');
    assert.equal(entry.upstream_attempts, 1);
    assert.ok((entry.output_tokens ?? 0) > 0, 'usage read from the decode stream');
  });

  it('counts the pair attempts of a retried request', async () => {
    const [g1] = pairs;
    await mockFault(g1.prefill, { status: 503, count: 1000 });
    try {
      let retried: PdRecord | undefined;
      for (let i = 0; i < 40 && retried === undefined; i++) {
        const { res, record } = await send();
        assert.equal(res.status, 200);
        if (record.outcome.attempts === 2) retried = record;
        else assert.equal(record.outcome.attempts, 1);
      }
      assert.ok(retried !== undefined, 'some request met the failing prefill first');
      assert.equal(retried.error, null, 'the client got an answer');
      assert.equal(retried.outcome.pair?.group, 'g2');
    } finally {
      await post(`${g1.prefill.url}/mock/reset`, '');
    }
  });

  it('reports a decode broken mid-stream as a failed decode phase after a successful prefill', async () => {
    for (const pair of pairs) await mockFault(pair.decode, { dropAfterChunks: 2 });
    try {
      const { res, record } = await send({ stream: true });
      assert.equal(res.status, 200);
      assert.equal(record.error?.code, 'upstream_stream_error');
      assert.equal(record.prefill?.status, 200);
      assert.equal(record.decode?.status, 500);
      assert.equal(record.outcome.attempts, 1);
    } finally {
      for (const pair of pairs) await post(`${pair.decode.url}/mock/reset`, '');
    }
  });
});
