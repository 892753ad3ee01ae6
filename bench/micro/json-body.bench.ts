// Micro-benchmark: splicing top-level edits into a request body vs re-serialising the parsed object.
// Run: npx node bench/micro/json-body.bench.ts
import { editTopLevel, includeUsageEdit } from '../../src/proxy/json-body.ts';

const ROUNDS = 7;
const TARGET_ROUND_MS = 200;

/** A /v1/completions body padded to exactly `size` bytes through its prompt. */
function completionBody(size: number): Buffer {
  const shape = (prompt: string): string =>
    JSON.stringify({ model: 'meta-llama/Llama-3.1-8B-Instruct', prompt, max_tokens: 128, temperature: 0.7, top_p: 0.95, stream: true, stop: ['\n\n'] });
  const base = 'Summarise the following paragraph in one sentence: ';
  const padding = size - Buffer.byteLength(shape(base));
  if (padding < 0) throw new Error(`size ${size} is too small`);
  return Buffer.from(shape(base + 'x'.repeat(padding)));
}

/** A /v1/chat/completions body of about 22 KB: `messages` messages, each `sentence` repeated. */
function chatBody(messages: number, sentence: string): Buffer {
  const repeats = Math.floor(21_000 / messages / Buffer.byteLength(sentence));
  const history = Array.from({ length: messages }, (_, i) => ({
    role: i === 0 ? 'system' : i % 2 === 1 ? 'user' : 'assistant',
    content: `${i}: ${sentence.repeat(repeats)}`,
  }));
  return Buffer.from(JSON.stringify({ model: 'llama', messages: history, stream: true, max_tokens: 512, temperature: 0.2 }, null, 0));
}

let sink = 0;

/** Median µs/op over ROUNDS rounds, each sized to take about TARGET_ROUND_MS. */
function measure(op: () => Buffer): number {
  let iterations = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += op().length;
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (ms >= 20) {
      iterations = Math.max(1, Math.round((iterations * TARGET_ROUND_MS) / ms));
      break;
    }
    iterations *= 4;
  }
  const perOp: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += op().length;
    perOp.push(Number(process.hrtime.bigint() - start) / 1e3 / iterations);
  }
  perOp.sort((a, b) => a - b);
  return perOp[Math.floor(ROUNDS / 2)];
}

for (const [name, body] of [
  ['completion', completionBody(366)],
  // Quotes inside message text cost one extra search each; non-Latin-1 text makes Buffer.from slower.
  ['chat, quotes+unicode', chatBody(20, 'The "router" picks an endpoint by prefix-cache affinity — then {streams} the reply.\nCafé ✓ 漢字 ')],
  ['chat, plain ASCII', chatBody(20, 'The router picks an endpoint by prefix-cache affinity, then streams the reply to the client. ')],
] as const) {
  // Parsing happens once in the router either way; both variants start from the parsed object.
  const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  const splice = (): Buffer => {
    const usageEdit = includeUsageEdit(parsed);
    return editTopLevel(body, usageEdit === null ? [{ key: 'model', value: 'meta/llama-3' }] : [{ key: 'model', value: 'meta/llama-3' }, usageEdit]);
  };
  const restringify = (): Buffer => {
    const copy: Record<string, unknown> = { ...parsed, model: 'meta/llama-3', stream_options: { include_usage: true } };
    return Buffer.from(JSON.stringify(copy));
  };
  // Same result, modulo key order.
  const check = (buf: Buffer): unknown => JSON.parse(buf.toString('utf8'));
  if (JSON.stringify(check(splice())) !== JSON.stringify(check(restringify()))) throw new Error(`${name}: variants disagree`);

  const spliceUs = measure(splice);
  const stringifyUs = measure(restringify);
  console.log(
    `${name.padEnd(20)} ${String(body.length).padStart(6)} B   editTopLevel ${spliceUs.toFixed(2).padStart(6)} µs/op   ` +
      `JSON.stringify+Buffer.from ${stringifyUs.toFixed(2).padStart(6)} µs/op   splice speed-up ${(stringifyUs / spliceUs).toFixed(1)}x`,
  );
}
if (sink === 0) console.log('');
