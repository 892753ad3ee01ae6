// The scraper against real mock engines on loopback: every value checked here comes from the mock's real state.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startMockEngine, type MockEngineHandle } from '../mock-engine/index.ts';
import { EngineStateTable } from './engine-state.ts';
import { EngineScraper, parseModelList } from './scraper.ts';

const post = (url: string, body: unknown): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('EngineScraper', () => {
  let vllm: MockEngineHandle;
  let sglang: MockEngineHandle;
  let table: EngineStateTable;
  let scraper: EngineScraper;

  before(async () => {
    vllm = await startMockEngine({ model: 'org/base', servedModelName: 'base', port: 0, ttftMs: 30, itlMs: 5 });
    sglang = await startMockEngine({ model: 'org/other', port: 0, engine: 'sglang', loraAdapters: ['sql'] });
    table = new EngineStateTable({ staleAfterMs: 60_000 });
    // A long interval: every scrape in these tests is explicit (start, scrapeAll or a new pod).
    scraper = new EngineScraper(table, { intervalMs: 60_000, timeoutMs: 2000, concurrency: 4, maxBodyBytes: 1 << 20 });
    scraper.setOrigins([vllm.url, sglang.url]);
    scraper.start();
    await scraper.scrapeAll();
  });
  after(async () => {
    await scraper.stop();
    await Promise.allSettled([vllm.close(), sglang.close()]);
  });

  it('reads the idle gauges of both engines', () => {
    for (const url of [vllm.url, sglang.url]) {
      const stats = table.metrics(url, Date.now());
      assert.ok(stats !== null, `${url} has metrics`);
      assert.deepEqual([stats.waiting, stats.running, stats.kvCacheUsage], [0, 0, 0]);
    }
  });

  it('lists the served model and the adapters from /v1/models', () => {
    assert.deepEqual([...(table.models(vllm.url, Date.now()) ?? [])], ['base']);
    assert.deepEqual([...(table.models(sglang.url, Date.now()) ?? [])].sort(), ['org/other', 'sql']);
  });

  it('sees a LoRA adapter loaded at runtime', async () => {
    const res = await post(`${vllm.url}/v1/load_lora_adapter`, { lora_name: 'lora-A', lora_path: '/adapters/a' });
    assert.equal(res.status, 200);
    await res.text();
    await scraper.scrapeAll();
    assert.deepEqual([...(table.models(vllm.url, Date.now()) ?? [])], ['base', 'lora-A']);
  });

  it('sees a running request in the running gauge and the KV-cache usage', async () => {
    const res = await post(`${vllm.url}/v1/completions`, { model: 'base', prompt: 'hello', max_tokens: 2000, stream: true });
    const reader = res.body!.getReader();
    try {
      await reader.read(); // the stream has started: the request is running
      await scraper.scrapeAll();
      const stats = table.metrics(vllm.url, Date.now());
      assert.equal(stats?.running, 1);
      assert.ok(stats.kvCacheUsage > 0 && stats.kvCacheUsage < 1, `usage ${stats.kvCacheUsage}`);
    } finally {
      await reader.cancel();
    }
    await until(async () => {
      await scraper.scrapeAll();
      return table.metrics(vllm.url, Date.now())?.running === 0;
    }, 'the request to end');
  });

  it('averages TTFT and TPOT from the histograms over the last interval', async () => {
    const res = await post(`${vllm.url}/v1/completions`, { model: 'base', prompt: 'hello', max_tokens: 4 });
    assert.equal(res.status, 200);
    await res.text();
    await scraper.scrapeAll();
    const stats = table.metrics(vllm.url, Date.now());
    assert.ok(stats !== null);
    // The mock waits 30 ms before the first token and 5 ms between tokens; timers never fire early.
    assert.ok(stats.ttftSeconds >= 0.029 && stats.ttftSeconds < 10, `ttft ${stats.ttftSeconds}`);
    assert.ok(stats.tpotSeconds >= 0.004 && stats.tpotSeconds < 10, `tpot ${stats.tpotSeconds}`);
  });

  it('scrapes a new pod at once and forgets a removed one', async () => {
    const extra = await startMockEngine({ model: 'late', port: 0 });
    try {
      scraper.setOrigins([vllm.url, sglang.url, extra.url]);
      await until(() => table.models(extra.url, Date.now()) !== null, 'the new pod to be scraped');
      assert.deepEqual([...(table.models(extra.url, Date.now()) ?? [])], ['late']);
      scraper.setOrigins([vllm.url, sglang.url]);
      assert.equal(table.peek(extra.url), undefined);
    } finally {
      await extra.close();
    }
  });

  it('marks a pod whose scrapes fail as stale, not zero', async () => {
    const doomed = await startMockEngine({ model: 'doomed', port: 0 });
    scraper.setOrigins([vllm.url, sglang.url, doomed.url]);
    await scraper.scrapeAll();
    assert.equal(table.metrics(doomed.url, Date.now())?.running, 0);
    await doomed.close();
    await scraper.scrapeAll();
    assert.equal(table.metrics(doomed.url, Date.now()), null);
    assert.equal(table.models(doomed.url, Date.now()), null);
    assert.match(table.peek(doomed.url)?.metricsError ?? '', /GET \/metrics/);
    assert.ok(table.metrics(vllm.url, Date.now()) !== null, 'other pods are unaffected');
    scraper.setOrigins([vllm.url, sglang.url]);
  });

  describe('against misbehaving servers', () => {
    let server: Server;
    let origin: string;
    let mode: 'hang' | 'garbage' | 'huge' = 'hang';

    before(async () => {
      server = createServer((req, res) => {
        if (mode === 'hang') return; // never answers
        if (mode === 'huge') {
          res.end('x'.repeat(4096));
          return;
        }
        res.end(req.url === '/metrics' ? 'vllm:num_requests_running{oops 1\n' : '{"data":"nope"}');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    const cases: ['hang' | 'garbage' | 'huge', RegExp, RegExp][] = [
      ['hang', /GET \/metrics: .*(timeout|abort)/i, /GET \/v1\/models/],
      ['garbage', /GET \/metrics: line 1:/, /GET \/v1\/models: expected an object with a "data" list/],
      ['huge', /larger than 1024 bytes/, /larger than 1024 bytes/],
    ];
    for (const [which, metricsError, modelsError] of cases) {
      it(`treats a pod that answers ${which === 'hang' ? 'nothing' : which} as unknown`, async () => {
        mode = which;
        const ownTable = new EngineStateTable({ staleAfterMs: 60_000 });
        const own = new EngineScraper(ownTable, { intervalMs: 60_000, timeoutMs: 200, concurrency: 2, maxBodyBytes: 1024 });
        try {
          own.setOrigins([origin]);
          await own.scrapeAll();
          assert.equal(ownTable.metrics(origin, Date.now()), null);
          assert.equal(ownTable.models(origin, Date.now()), null);
          assert.match(ownTable.peek(origin)?.metricsError ?? '', metricsError);
          assert.match(ownTable.peek(origin)?.modelsError ?? '', modelsError);
        } finally {
          await own.stop();
        }
      });
    }
  });
});

describe('parseModelList', () => {
  it('returns the ids', () => assert.deepEqual([...parseModelList('{"object":"list","data":[{"id":"a"},{"id":"b"}]}')], ['a', 'b']));
  it('rejects a model without id', () => assert.throws(() => parseModelList('{"data":[{"name":"a"}]}'), /no string "id"/));
  it('rejects invalid JSON', () => assert.throws(() => parseModelList('<html>'), SyntaxError));
});
