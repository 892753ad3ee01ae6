import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompiledServer, PodEndpoint } from '../../snapshot/types.ts';
import { editTopLevel } from '../json-body.ts';
import { connectorFor, connectorName, PdProtocolError, type PairRequest } from './index.ts';
import { SglangConnector, randomRoom } from './sglang-connector.ts';

function pod(name: string, ip: string, annotations: Record<string, string> = {}): PodEndpoint {
  return { podKey: `default/${name}`, namespace: 'default', name, ip, port: 8000, origin: `http://${ip}:8000`, labels: {}, annotations };
}

const PREFILL = pod('p', '10.0.0.1');
const DECODE = pod('d', '10.0.0.2');

/** A pair request as the handler builds it: the model rewritten, usage asked for on streams. */
function pairRequest(client: object, prefill = PREFILL): PairRequest {
  const clientBody = Buffer.from(JSON.stringify(client));
  const parsed = JSON.parse(clientBody.toString()) as Record<string, unknown>;
  const commonEdits = [{ key: 'model', value: 'upstream' }];
  const decodeEdits = parsed.stream === true ? [...commonEdits, { key: 'stream_options', value: { include_usage: true } }] : commonEdits;
  return { clientBody, parsed, commonEdits, decodeBase: editTopLevel(clientBody, decodeEdits), prefill, decode: DECODE };
}

const json = (body: Buffer): Record<string, unknown> => JSON.parse(body.toString('utf8')) as Record<string, unknown>;

describe('connector choice', () => {
  const server = (engine: 'vLLM' | 'SGLang', type?: 'http' | 'lmcache' | 'nixl' | 'mooncake') => ({ engine, kvConnectorType: type }) as CompiledServer;
  it('takes kvConnector.type, else SGLang for SGLang engines, else http', () => {
    assert.equal(connectorName(server('vLLM')), 'http');
    assert.equal(connectorName(server('SGLang')), 'sglang');
    assert.equal(connectorName(server('SGLang', 'mooncake')), 'mooncake');
    for (const type of ['http', 'lmcache', 'nixl', 'mooncake'] as const) assert.equal(connectorFor(server('vLLM', type)).name, type);
    assert.equal(connectorFor(server('SGLang')).concurrent, true);
    assert.equal(connectorFor(server('vLLM', 'nixl')).concurrent, false);
  });
});

describe('prefill bodies', () => {
  const stream = { model: 'client', prompt: 'hi', stream: true, stream_options: { include_usage: false, continuous_usage_stats: true }, max_tokens: 50, temperature: 0 };

  it('http and lmcache: no stream, one token; the decode gets the aggregated body', () => {
    for (const type of ['http', 'lmcache'] as const) {
      const bodies = connectorFor({ engine: 'vLLM', kvConnectorType: type }).bodies(pairRequest(stream));
      assert.deepEqual(json(bodies.prefill), { model: 'upstream', prompt: 'hi', max_tokens: 1, temperature: 0 });
      const decode = json(bodies.decode(Buffer.from('{"choices":[]}')));
      assert.deepEqual(decode, { ...stream, model: 'upstream', stream_options: { include_usage: true } });
    }
  });

  it('sets max_completion_tokens to 1 only when the client sent it', () => {
    const http = connectorFor({ engine: 'vLLM', kvConnectorType: 'http' });
    const chat = { model: 'client', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 9 };
    assert.deepEqual(json(http.bodies(pairRequest(chat)).prefill), { model: 'upstream', messages: chat.messages, max_completion_tokens: 1, max_tokens: 1 });
    assert.equal('max_completion_tokens' in json(http.bodies(pairRequest({ model: 'c', prompt: 'x' })).prefill), false);
  });

  it('nixl and mooncake: ask for a remote decode, copy the answer\'s kv_transfer_params to the decode', () => {
    for (const type of ['nixl', 'mooncake'] as const) {
      const bodies = connectorFor({ engine: 'vLLM', kvConnectorType: type }).bodies(pairRequest({ ...stream, kv_transfer_params: 'client' }));
      assert.deepEqual(json(bodies.prefill).kv_transfer_params, { do_remote_decode: true, do_remote_prefill: false });
      const params = { do_remote_prefill: true, remote_engine_id: 'e', remote_block_ids: [1, 2], remote_host: '10.0.0.1', remote_port: 5600 };
      const decode = json(bodies.decode(Buffer.from(JSON.stringify({ id: 'x', choices: [], kv_transfer_params: params }))));
      assert.deepEqual(decode.kv_transfer_params, params);
      assert.equal(decode.stream, true);
    }
  });

  it('nixl: an answer without kv_transfer_params (or not JSON) fails the pair instead of sending null', () => {
    const bodies = connectorFor({ engine: 'vLLM', kvConnectorType: 'nixl' }).bodies(pairRequest({ model: 'c', prompt: 'x' }));
    for (const answer of ['{"choices":[]}', '{"kv_transfer_params":null}', '{"kv_transfer_params":[1]}', 'not json', '']) {
      assert.throws(() => bodies.decode(Buffer.from(answer)), (e: unknown) => e instanceof PdProtocolError && /default\/p answered/.test((e).message), answer);
    }
  });

  it('sglang: one room for both, the prefill pod address and its bootstrap port', () => {
    let rooms = 41;
    const sglang = new SglangConnector(() => ++rooms);
    const bodies = sglang.bodies(pairRequest(stream));
    const prefill = json(bodies.prefill);
    const decode = json(bodies.decode(null));
    assert.deepEqual([prefill.bootstrap_room, prefill.bootstrap_host, prefill.bootstrap_port], [42, '10.0.0.1', 8998]);
    assert.deepEqual([decode.bootstrap_room, decode.bootstrap_host, decode.bootstrap_port], [42, '10.0.0.1', 8998]);
    assert.equal(prefill.stream, undefined);
    assert.equal(decode.stream, true);
    assert.equal(json(sglang.bodies(pairRequest(stream)).prefill).bootstrap_room, 43, 'a new room per pair attempt');
    const annotated = sglang.bodies(pairRequest(stream, pod('p6', 'fd00::6', { 'switchyard.dev/bootstrap-port': '9100' })));
    assert.deepEqual([json(annotated.decode(null)).bootstrap_host, json(annotated.decode(null)).bootstrap_port], ['fd00::6', 9100]);
  });

  it('random rooms are exact integers below 2^53', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const room = randomRoom();
      assert.ok(Number.isSafeInteger(room) && room >= 0);
      seen.add(room);
    }
    assert.ok(seen.size > 990);
  });
});
