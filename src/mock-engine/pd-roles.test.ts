// The PD roles check their handshake for real: driven here by hand, the way a correct (or a broken) router would.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startMockEngine, type MockEngineHandle, type MockEngineOptions, type PdStats } from './index.ts';
import { eventually, postJson, stats } from './test-support.ts';

const M = 'pd-model';
const started: MockEngineHandle[] = [];
after(() => Promise.all(started.map((m) => m.close())));

async function mock(options: Partial<MockEngineOptions>): Promise<MockEngineHandle> {
  const engine = await startMockEngine({ model: M, port: 0, ...options });
  started.push(engine);
  return engine;
}

async function pdStats(engine: MockEngineHandle): Promise<PdStats> {
  return (await (await fetch(`${engine.url}/mock/pd`)).json()) as PdStats;
}

const PROMPT = { model: M, prompt: 'San Francisco is a' };
const PREFILL = { ...PROMPT, max_tokens: 1 };

interface KvParams {
  do_remote_prefill: boolean;
  remote_engine_id: string;
  remote_host: string;
  remote_port: number;
  remote_request_id: string;
}

async function errorMessage(res: Response): Promise<string> {
  return ((await res.json()) as { message: string }).message;
}

describe('vLLM nixl roles', () => {
  const prefillFor = async (url: string, extra: object = {}): Promise<KvParams> => {
    const res = await postJson(`${url}/v1/completions`, { ...PREFILL, kv_transfer_params: { do_remote_decode: true, do_remote_prefill: false }, ...extra });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-mock-pd-prefill'), 'P0');
    const body = (await res.json()) as { kv_transfer_params: KvParams; choices: { text: string }[] };
    assert.equal(body.choices[0].text, 'This', 'one token');
    return body.kv_transfer_params;
  };

  it('a prefill names itself and a one-time id; the decode claims it once, from the prefill it names', async () => {
    const prefill = await mock({ role: 'prefill', kvConnector: 'nixl', group: 'g1', instanceName: 'P0' });
    const decode = await mock({ role: 'decode', kvConnector: 'nixl', group: 'g1', instanceName: 'D0' });
    const params = await prefillFor(prefill.url);
    assert.equal(params.do_remote_prefill, true);
    assert.equal(params.remote_engine_id, 'P0');
    assert.equal(params.remote_port, prefill.port);
    const res = await postJson(`${decode.url}/v1/completions`, { ...PROMPT, kv_transfer_params: params });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('x-mock-pd-prefill'), 'P0');
    assert.equal(res.headers.get('x-mock-pd-decode'), 'D0');
    // The same id again: refused, with the reason.
    const replay = await postJson(`${decode.url}/v1/completions`, { ...PROMPT, kv_transfer_params: params });
    assert.equal(replay.status, 400);
    assert.match(await errorMessage(replay), /already claimed by D0/);
    assert.deepEqual([(await pdStats(prefill)).handedOver, (await pdStats(prefill)).claimsRefused], [1, 1]);
  });

  it('a decode refuses missing, invented, foreign-group and other-prompt transfers', async () => {
    const prefill = await mock({ role: 'prefill', kvConnector: 'nixl', group: 'g1', instanceName: 'P0' });
    const decode = await mock({ role: 'decode', kvConnector: 'nixl', group: 'g1', instanceName: 'D0' });
    const stranger = await mock({ role: 'decode', kvConnector: 'mooncake', group: 'g2', instanceName: 'D9' });
    const none = await postJson(`${decode.url}/v1/completions`, PROMPT);
    assert.equal(none.status, 400);
    assert.match(await errorMessage(none), /needs the kv_transfer_params a prefill instance answered; the request has none/);
    const nulled = await postJson(`${decode.url}/v1/completions`, { ...PROMPT, kv_transfer_params: null });
    assert.equal(nulled.status, 400, 'Kthena sends null when the prefill gave none: refused');

    const params = await prefillFor(prefill.url);
    const invented = await postJson(`${decode.url}/v1/completions`, { ...PROMPT, kv_transfer_params: { ...params, remote_request_id: 'xfer-made-up' } });
    assert.equal(invented.status, 400);
    assert.match(await errorMessage(invented), /did not issue transfer "xfer-made-up"/);
    const foreign = await postJson(`${stranger.url}/v1/completions`, { ...PROMPT, kv_transfer_params: params });
    assert.equal(foreign.status, 400);
    assert.match(await errorMessage(foreign), /PD group "g1"; D9 of group "g2" may not take its KV/);
    const otherPrompt = await postJson(`${decode.url}/v1/completions`, { ...PROMPT, prompt: 'Paris is a', kv_transfer_params: params });
    assert.equal(otherPrompt.status, 400);
    assert.match(await errorMessage(otherPrompt), /another prompt/);
    const dead = await postJson(`${decode.url}/v1/completions`, { ...PROMPT, kv_transfer_params: { ...params, remote_port: 1 } });
    assert.equal(dead.status, 400);
    assert.match(await errorMessage(dead), /Cannot reach the prefill instance named in kv_transfer_params \(127\.0\.0\.1:1\)/);
    // The refusals left the transfer alone: the rightful decode still gets it.
    assert.equal((await postJson(`${decode.url}/v1/completions`, { ...PROMPT, kv_transfer_params: params })).status, 200);
  });

  it('a prefill checks the shape of a PD request and serves plain requests like any engine', async () => {
    const prefill = await mock({ role: 'prefill', kvConnector: 'nixl', instanceName: 'P0' });
    const kv = { kv_transfer_params: { do_remote_decode: true } };
    const streaming = await postJson(`${prefill.url}/v1/completions`, { ...PROMPT, ...kv, stream: true, max_tokens: 1 });
    assert.equal(streaming.status, 400);
    assert.match(await errorMessage(streaming), /must not stream/);
    const long = await postJson(`${prefill.url}/v1/completions`, { ...PROMPT, ...kv, max_tokens: 16 });
    assert.match(await errorMessage(long), /max_tokens must be 1, got 16/);
    const plain = await postJson(`${prefill.url}/v1/completions`, PROMPT);
    assert.equal(plain.status, 200);
    assert.equal(((await plain.json()) as Record<string, unknown>).kv_transfer_params, undefined);
  });

  it('transfers expire after pdTimeoutMs', async () => {
    const prefill = await mock({ role: 'prefill', kvConnector: 'nixl', instanceName: 'P0', pdTimeoutMs: 50 });
    const decode = await mock({ role: 'decode', kvConnector: 'nixl', instanceName: 'D0' });
    const params = await prefillFor(prefill.url);
    await new Promise((resolve) => setTimeout(resolve, 120));
    const late = await postJson(`${decode.url}/v1/completions`, { ...PROMPT, kv_transfer_params: params });
    assert.equal(late.status, 400);
    assert.match(await errorMessage(late), /or it expired/);
    assert.equal((await pdStats(prefill)).expired, 1);
  });
});

describe('SGLang bootstrap roles', () => {
  const room = (n: number) => ({ bootstrap_room: n });

  it('prefill and decode of one room meet on the bootstrap server, in either order', async () => {
    const prefill = await mock({ role: 'prefill', engine: 'sglang', bootstrapPort: 0, group: 'g', instanceName: 'SP' });
    const decode = await mock({ role: 'decode', engine: 'sglang', group: 'g', instanceName: 'SD' });
    assert.ok(prefill.bootstrapPort !== null && prefill.bootstrapPort > 0 && prefill.bootstrapPort !== prefill.port);
    const where = { bootstrap_host: '127.0.0.1', bootstrap_port: prefill.bootstrapPort };
    for (const [n, decodeFirst] of [[1, false], [2, true]] as const) {
      const sendPrefill = () => postJson(`${prefill.url}/v1/completions`, { ...PREFILL, ...room(n), ...where });
      const sendDecode = () => postJson(`${decode.url}/v1/completions`, { ...PROMPT, ...room(n), ...where, stream: true });
      const [p, d] = decodeFirst
        ? await Promise.all([sendDecode(), new Promise((r) => setTimeout(r, 30)).then(sendPrefill)]).then(([x, y]) => [y, x])
        : await Promise.all([sendPrefill(), new Promise((r) => setTimeout(r, 30)).then(sendDecode)]);
      assert.equal(p.status, 200, await p.clone().text());
      assert.equal(d.status, 200, await d.clone().text());
      assert.equal(p.headers.get('x-mock-pd-decode'), 'SD');
      assert.equal(d.headers.get('x-mock-pd-prefill'), 'SP');
      assert.match(await d.text(), /data: \[DONE\]/);
    }
    assert.equal((await pdStats(prefill)).handedOver, 2);
  });

  it('a prefill alone, or one told another bootstrap port, never answers 200', async () => {
    const prefill = await mock({ role: 'prefill', engine: 'sglang', bootstrapPort: 0, instanceName: 'SP', pdTimeoutMs: 100 });
    const alone = await postJson(`${prefill.url}/v1/completions`, { ...PREFILL, ...room(7) });
    assert.equal(alone.status, 500);
    assert.match(await errorMessage(alone), /no decode instance connected/);
    const wrongPort = await postJson(`${prefill.url}/v1/completions`, { ...PREFILL, ...room(8), bootstrap_port: 8998 });
    assert.equal(wrongPort.status, 400);
    assert.match(await errorMessage(wrongPort), /is not this prefill's bootstrap port/);
    const noRoom = await postJson(`${prefill.url}/v1/completions`, PREFILL);
    assert.match(await errorMessage(noRoom), /needs bootstrap_room/);
  });

  it('a decode needs room, host and port, and fails when its prefill never comes', async () => {
    const prefill = await mock({ role: 'prefill', engine: 'sglang', bootstrapPort: 0, group: 'a', instanceName: 'SP', pdTimeoutMs: 100 });
    const decode = await mock({ role: 'decode', engine: 'sglang', group: 'a', instanceName: 'SD', pdTimeoutMs: 100 });
    const other = await mock({ role: 'decode', engine: 'sglang', group: 'b', instanceName: 'SX' });
    const noPort = await postJson(`${decode.url}/v1/completions`, { ...PROMPT, ...room(1), bootstrap_host: '127.0.0.1' });
    assert.equal(noPort.status, 400);
    assert.match(await errorMessage(noPort), /needs bootstrap_port/, 'Kthena never sends it');
    const where = { bootstrap_host: '127.0.0.1', bootstrap_port: prefill.bootstrapPort };
    const never = await postJson(`${decode.url}/v1/completions`, { ...PROMPT, ...room(2), ...where });
    assert.equal(never.status, 504);
    assert.match(await errorMessage(never), /No prefill request with bootstrap_room 2/);
    const foreign = await postJson(`${other.url}/v1/completions`, { ...PROMPT, ...room(3), ...where });
    assert.equal(foreign.status, 400);
    assert.match(await errorMessage(foreign), /PD group "a"; SX of group "b"/);
  });

  it('a cancelled decode stops waiting, and counts as cancelled', async () => {
    const prefill = await mock({ role: 'prefill', engine: 'sglang', bootstrapPort: 0, instanceName: 'SP' });
    const decode = await mock({ role: 'decode', engine: 'sglang', instanceName: 'SD' });
    const abort = new AbortController();
    const pending = postJson(`${decode.url}/v1/completions`, { ...PROMPT, ...room(5), bootstrap_host: '127.0.0.1', bootstrap_port: prefill.bootstrapPort }, { signal: abort.signal }).catch(() => null);
    await eventually(async () => (await stats(decode)).received === 1, 5000);
    abort.abort();
    await pending;
    await eventually(async () => (await stats(decode)).cancelled === 1, 5000);
    assert.equal((await pdStats(decode)).admitted, 0, 'it never took a KV cache');
  });
});

describe('http-mode roles', () => {
  it('accept any order and name themselves', async () => {
    const decode = await mock({ role: 'decode', instanceName: 'HD' });
    const prefill = await mock({ role: 'prefill', kvConnector: 'lmcache', instanceName: 'HP' });
    const d = await postJson(`${decode.url}/v1/completions`, PROMPT);
    assert.equal(d.status, 200);
    assert.equal(d.headers.get('x-mock-pd-decode'), 'HD');
    const p = await postJson(`${prefill.url}/v1/completions`, PREFILL);
    assert.equal(p.headers.get('x-mock-pd-role'), 'prefill');
    assert.deepEqual([(await pdStats(prefill)).admitted, (await pdStats(prefill)).protocol], [1, 'lmcache']);
  });

  it('rejects bad role options', async () => {
    await assert.rejects(startMockEngine({ model: M, port: 0, role: 'middle' as 'prefill' }), /role must be prefill or decode/);
    await assert.rejects(startMockEngine({ model: M, port: 0, kvConnector: 'p2p' as 'nixl' }), /kvConnector must be/);
  });
});
