// kvcache-aware's choice of the pod that tokenizes a prompt, against real HTTP servers answering POST /tokenize.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { PodBlockIndex } from '../../engines/kv-events/block-index.ts';
import type { KvBlockSource } from '../../engines/kv-events/kv-event-table.ts';
import type { PodEndpoint } from '../../snapshot/types.ts';
import { EngineTokenizer } from '../../tokenization/engine-tokenizer.ts';
import { makeCycle, makeEnv, makeRequest } from '../framework/test-support.ts';
import { kvCacheAwarePlugin } from './kvcache-aware.ts';

/** An engine counting its /tokenize calls; a hung one never answers them. */
async function engine(hung: boolean): Promise<{ server: Server; pod: PodEndpoint; calls: () => number }> {
  let calls = 0;
  const server = createServer((req, res) => {
    req.resume();
    if (req.url !== '/tokenize') return void res.writeHead(404).end();
    calls++;
    if (hung) return;
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ tokens: Array.from({ length: 32 }, (_, i) => i) })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const name = hung ? 'hung' : 'ok';
  const pod: PodEndpoint = { podKey: `default/${name}`, namespace: 'default', name, ip: '127.0.0.1', port, origin: `http://127.0.0.1:${port}`, labels: {}, annotations: {} };
  return { server, pod, calls: () => calls };
}

describe('kvcache-aware: where the prompt is tokenized', () => {
  let hung: Awaited<ReturnType<typeof engine>>;
  let ok: Awaited<ReturnType<typeof engine>>;
  const tokenizer = new EngineTokenizer({ timeoutMs: 60_000, maxInFlight: 16 });

  before(async () => {
    hung = await engine(true);
    ok = await engine(false);
  });
  after(async () => {
    await tokenizer.close();
    for (const { server } of [hung, ok]) {
      server.closeAllConnections();
      server.close();
    }
  });

  it('on a healthy pod, not on one failing its health checks (whose /tokenize may hang the request)', async () => {
    const index = new PodBlockIndex();
    const kvBlocks: KvBlockSource = { trustedIndex: () => index, subscribed: () => true };
    // The random choice would take the first candidate, the unhealthy one.
    const env = { ...makeEnv([0.99]), kvBlocks, engineTokenizer: tokenizer };
    env.podStates.reportProbe(hung.pod.origin, false, 'GET /health timed out');
    const plugin = kvCacheAwarePlugin.create(kvCacheAwarePlugin.args.parse({}), env);
    const request = makeRequest({ body: { model: 'm', prompt: 'a prompt of a few words' } });
    const pods = [hung.pod, ok.pod];
    await plugin.prepare!(request, pods);
    assert.deepEqual([hung.calls(), ok.calls()], [0, 1]);
    const out = new Float64Array(2).fill(NaN);
    plugin.score!(makeCycle(request), pods, new Uint8Array(2).fill(1), out);
    assert.deepEqual([...out], [0, 0], 'tokenized: both pods scored (their indexes hold nothing)');
  });

  it('for a LoRA request, on a pod whose engine lists the adapter (another answers 404 for it)', async () => {
    const index = new PodBlockIndex();
    const kvBlocks: KvBlockSource = { trustedIndex: () => index, subscribed: () => true };
    const env = { ...makeEnv([0.99]), kvBlocks, engineTokenizer: tokenizer };
    env.engines.modelLists.set(hung.pod.origin, new Set(['m']));
    env.engines.modelLists.set(ok.pod.origin, new Set(['m', 'adapter']));
    const plugin = kvCacheAwarePlugin.create(kvCacheAwarePlugin.args.parse({}), env);
    const [hungBefore, okBefore] = [hung.calls(), ok.calls()];
    await plugin.prepare!(makeRequest({ model: 'adapter', upstreamModel: 'adapter', isLora: true, body: { model: 'adapter', prompt: 'a LoRA prompt' } }), [hung.pod, ok.pod]);
    assert.deepEqual([hung.calls() - hungBefore, ok.calls() - okBefore], [0, 1]);
  });

  it('on an unhealthy pod when no healthy one has an index', async () => {
    const index = new PodBlockIndex();
    const kvBlocks: KvBlockSource = { trustedIndex: (origin) => (origin === ok.pod.origin ? index : null), subscribed: () => true };
    const env = { ...makeEnv([0.99]), kvBlocks, engineTokenizer: tokenizer };
    env.podStates.reportProbe(ok.pod.origin, false, 'GET /health failed');
    const plugin = kvCacheAwarePlugin.create(kvCacheAwarePlugin.args.parse({}), env);
    const before = ok.calls();
    await plugin.prepare!(makeRequest({ body: { model: 'm', prompt: 'another prompt' } }), [hung.pod, ok.pod]);
    assert.equal(ok.calls() - before, 1);
  });
});
