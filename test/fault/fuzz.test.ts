// The standing fault suite over raw request bytes: a corpus of bad inputs and a property-based fuzz test. Whatever
// arrives, the router answers with well-formed responses (one per request it could parse) or closes, keeps running,
// and forwards nothing malformed: every request a pod receives is a POST on an inference path with a JSON body
// naming a model.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createEnv, get, modelServer, podStub, simpleRoute, startRouter, writeYaml, type TestEnv } from '../support/harness.ts';
import { startFakePod, type FakePod } from '../support/proxy-fixtures.ts';
import { DEFAULT_INFERENCE_PATHS } from '../../src/routing/path-policy.ts';
import { BAD_INPUTS } from './corpus.ts';
import { exchange } from './raw-exchange.ts';

const FUZZ_RUNS = 100;

describe('fault suite: raw request bytes', () => {
  let env: TestEnv;
  let pod: FakePod;
  let url: string;
  before(async () => {
    env = await createEnv();
    pod = await startFakePod('pod');
    await writeYaml(env, 'fake.yaml', [modelServer('srv', { model: 'up' }), podStub('pod-0', 'srv', pod.port), simpleRoute('m', 'm', 'srv')]);
    url = (await startRouter(env, { maxBodyBytes: 64 * 1024, limits: { headersTimeoutMs: 250, bodyTimeoutMs: 250, keepAliveTimeoutMs: 100 } })).url;
  });
  after(async () => {
    await env.cleanup();
    await pod.close();
  });

  /** Everything the pod ever received was a well-formed inference request. */
  const assertNothingMalformedForwarded = (): void => {
    for (const request of pod.requests) {
      assert.equal(request.method, 'POST', JSON.stringify(request));
      assert.ok(DEFAULT_INFERENCE_PATHS.includes(request.path.split('?')[0]), `forwarded path ${request.path}`);
      const body = JSON.parse(request.body) as { model?: unknown };
      assert.equal(body.model, 'up', `forwarded body ${request.body.slice(0, 200)}`);
    }
  };

  const assertAlive = async (): Promise<void> => assert.equal((await get(`${url}/healthz`)).status, 200);

  it(`the bad-input corpus (${BAD_INPUTS.length} inputs, sent at once): one well-formed answer or a close each`, async () => {
    const outcomes = await Promise.all(BAD_INPUTS.map(([, text]) => exchange(url, Buffer.from(text, 'latin1'))));
    const problems: string[] = [];
    outcomes.forEach((outcome, i) => {
      const name = BAD_INPUTS[i][0];
      if (outcome.malformed !== null) problems.push(`${name}: ${outcome.malformed}: ${outcome.data.toString('latin1', 0, 300)}`);
      else if (outcome.responses > 1) problems.push(`${name}: ${outcome.responses} responses: ${outcome.data.toString('latin1', 0, 300)}`);
    });
    assert.deepEqual(problems, []);
    assertNothingMalformedForwarded();
    await assertAlive();
  });

  // Requests built from plausible and implausible parts (mostly plausible, so that many get past the parser), then
  // sometimes mutated at one byte.
  const weighted = <T,>(usual: T, other: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ arbitrary: fc.constant(usual), weight: 3 }, { arbitrary: other, weight: 1 });
  const eol = weighted('\r\n', fc.constantFrom('\n', '\r', ''));
  const method = weighted('POST', fc.oneof(fc.constantFrom('GET', 'PUT', 'HEAD', 'OPTIONS', 'CONNECT', 'post'), fc.string({ maxLength: 8 })));
  const path = fc.oneof(
    { arbitrary: fc.constantFrom('/v1/completions', '/v1/chat/completions'), weight: 3 },
    fc.constantFrom('/v1/models', '/v1/models/m', '/healthz', '/v1/load_lora_adapter', '/v1/../metrics', '/v1/%2e%2e/x', '*', 'http://x/v1/completions'),
    fc.string({ maxLength: 40 }).map((s) => `/v1/${s}`),
  );
  const version = weighted('HTTP/1.1', fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1\x00', 'HTTP/9', ''));
  const extraHeader = fc.oneof(
    fc.constantFrom('content-type: application/json', 'expect: 100-continue', 'connection: close', 'x-request-id: fuzz', 'transfer-encoding: chunked'),
    fc.nat({ max: 100_000 }).map((n) => `content-length: ${n}`),
    fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 30 })).map(([n, v]) => `${n}: ${v}`),
  );
  const body = fc.oneof(
    { arbitrary: fc.constantFrom('{"model":"m","prompt":"hi","max_tokens":1}', '{"model":"m","messages":[{"role":"user","content":"x"}]}'), weight: 3 },
    fc.json({ maxDepth: 3 }),
    fc.string({ maxLength: 200 }),
  );
  const mutation = fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), weight: 1 });
  const mutate = (bytes: Buffer, at: [number, number] | null): Buffer => {
    if (at !== null) bytes[at[0] % bytes.length] = at[1];
    return bytes;
  };
  const valid = fc
    .tuple(fc.constantFrom('/v1/completions', '/v1/chat/completions'), body, mutation)
    .map(([p, b, at]) => mutate(Buffer.from(`POST ${p} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\n\r\n${b}`, 'utf8'), at));
  const messy = fc
    .tuple(method, path, version, fc.array(extraHeader, { maxLength: 3 }), eol, body, fc.boolean(), mutation)
    .map(([m, p, v, extra, e, b, withLength, at]) => {
      const headers = ['host: x', ...(withLength ? [`content-length: ${Buffer.byteLength(b)}`] : []), ...extra];
      return mutate(Buffer.from(`${m} ${p} ${v}${e}${headers.join(e)}${e}${e}${b}`, 'utf8'), at);
    });
  const request = fc.oneof({ arbitrary: valid, weight: 2 }, { arbitrary: messy, weight: 3 });
  const noise = fc.uint8Array({ maxLength: 600 });

  it(`fuzz: ${FUZZ_RUNS} generated requests and byte strings, one well-formed answer or a close each`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.oneof(request, noise), async (bytes) => {
        const outcome = await exchange(url, bytes);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(outcome.data.toString('latin1'))?.[1] ?? 0);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        assert.equal(outcome.malformed, null, `${outcome.malformed}\n${outcome.data.toString('latin1', 0, 300)}`);
        // Several responses only when the bytes held several parseable requests (never from one).
        assert.ok(outcome.responses <= 3, `${outcome.responses} responses`);
        assertNothingMalformedForwarded();
      }),
      { numRuns: FUZZ_RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261205), endOnFailure: true },
    );
    await assertAlive();
    // The generators reach every outcome: answered, forwarded, refused by the parser and by the router.
    assert.equal([...statuses.values()].reduce((a, b) => a + b, 0), FUZZ_RUNS);
    for (const status of [200, 400, 404]) assert.ok((statuses.get(status) ?? 0) > 0, `no ${status} among ${JSON.stringify([...statuses])}`);
  });
});
