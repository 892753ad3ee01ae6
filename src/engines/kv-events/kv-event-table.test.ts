import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startMockEngine, type MockEngineHandle } from '../../mock-engine/index.ts';
import { promptBlockHashes } from './block-hash.ts';
import { KvEventTable } from './kv-event-table.ts';

const MODEL = 'test/model';
const PROMPT = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');

async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Record<string, unknown>;
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function promptHashes(engine: MockEngineHandle, body: Record<string, unknown>, lora: string | null = null): Promise<Float64Array> {
  const { tokens } = (await post(`${engine.url}/tokenize`, body)) as { tokens: number[] };
  return promptBlockHashes(tokens, 16, 128, lora);
}

describe('KV events from the mock engine drive the block index', () => {
  let engine: MockEngineHandle;
  let table: KvEventTable;
  const counts = { received: 0, lost: 0, replayed: 0 };
  const origin = 'http://pod-a';

  before(async () => {
    engine = await startMockEngine({ model: MODEL, port: 0, kvEventsPort: 0, kvReplayPort: 0, loraAdapters: ['sql'], maxTokens: 4 });
    table = new KvEventTable({
      warmupMs: 60_000,
      replayTimeoutMs: 2_000,
      counters: {
        received: (_o, n) => void (counts.received += n),
        lost: (_o, n) => void (counts.lost += n),
        replayed: (_o, n) => void (counts.replayed += n),
      },
    });
    table.setTargets(new Map([[origin, { endpoint: `tcp://127.0.0.1:${engine.kvEventsPort}`, replayEndpoint: `tcp://127.0.0.1:${engine.kvReplayPort}` }]]));
    await until('the subscription to be trusted', () => table.trustedIndex(origin, Date.now()) !== null);
  });
  after(async () => {
    await table.close();
    await engine.close();
  });

  it('indexes the blocks of a served prompt under the hashes of its token ids', async () => {
    const hashes = await promptHashes(engine, { prompt: PROMPT });
    assert.equal(hashes.length, 5);
    await post(`${engine.url}/v1/completions`, { model: MODEL, prompt: PROMPT });
    await until('the prompt blocks to be indexed', () => table.trustedIndex(origin, Date.now())?.matchRun(hashes) === 5);
    const chat = await promptHashes(engine, { messages: [{ role: 'user', content: PROMPT }] });
    assert.equal(table.trustedIndex(origin, Date.now())?.matchRun(chat), 0, 'a chat prompt of the same text is other tokens');
  });

  it('keeps LoRA blocks apart from base-model blocks', async () => {
    const prompt = `${PROMPT} adapter`;
    await post(`${engine.url}/v1/completions`, { model: 'sql', prompt });
    const lora = await promptHashes(engine, { prompt }, 'sql');
    await until('the adapter blocks to be indexed', () => table.trustedIndex(origin, Date.now())?.matchRun(lora) === lora.length);
    const base = await promptHashes(engine, { prompt });
    assert.equal(table.trustedIndex(origin, Date.now())?.matchRun(base), 5, 'only the blocks the base model cached');
  });

  it('recovers dropped batches through the replay socket', async () => {
    await post(`${engine.url}/mock/kv-events`, { drop: 2 });
    const first = `${PROMPT} first`.replace('word0', 'other0');
    const second = `${PROMPT} second`.replace('word0', 'again0');
    await post(`${engine.url}/v1/completions`, { model: MODEL, prompt: first });
    await post(`${engine.url}/v1/completions`, { model: MODEL, prompt: second });
    const replayedBefore = counts.replayed;
    await post(`${engine.url}/v1/completions`, { model: MODEL, prompt: `${PROMPT} third`.replace('word0', 'third0') });
    const hashes = await promptHashes(engine, { prompt: first });
    await until('the dropped blocks to be replayed', () => table.trustedIndex(origin, Date.now())?.matchRun(hashes) === 5);
    assert.ok(counts.replayed > replayedBefore, 'batches came through the replay socket');
    assert.equal(counts.lost, 0);
  });

  it('clears the index and distrusts it after an unrecoverable gap', async () => {
    await post(`${engine.url}/mock/kv-events`, { drop: 1, forget: true });
    await post(`${engine.url}/v1/completions`, { model: MODEL, prompt: `${PROMPT} lost`.replace('word0', 'lost0') });
    await post(`${engine.url}/v1/completions`, { model: MODEL, prompt: `${PROMPT} after`.replace('word0', 'after0') });
    await until('the loss to be noticed', () => counts.lost > 0);
    assert.equal(table.trustedIndex(origin, Date.now()), null, 'untrusted while warming up');
    const [, index, trusted] = [...table.entries()][0];
    assert.equal(trusted, false);
    const hashes = await promptHashes(engine, { prompt: PROMPT });
    assert.equal(index.matchRun(hashes), 0, 'what was known before the gap is gone');
  });
});
