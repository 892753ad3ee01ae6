import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseUsageTap, parseUsageFromJsonBody } from './sse-usage.ts';
import type { TokenUsage } from './sse-usage.ts';

interface Stream {
  name: string;
  /** Raw event texts, each including its terminating blank line. */
  events: { text: string; usageOnly?: boolean }[];
  usage: TokenUsage | null;
}

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const chatChunk = (delta: string, extra = ''): string =>
  `data: {"id":"chatcmpl-7f3a","object":"chat.completion.chunk","created":1718000000,"model":"${MODEL}","choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":null}]${extra}}\n\n`;
const chatUsage = (prompt: number, completion: number): string =>
  `data: {"id":"chatcmpl-7f3a","object":"chat.completion.chunk","created":1718000000,"model":"${MODEL}","choices":[],"usage":{"prompt_tokens":${prompt},"total_tokens":${prompt + completion},"completion_tokens":${completion}}}\n\n`;
const completionChunk = (text: string, finish = 'null'): string =>
  `data: {"id":"cmpl-91c2","object":"text_completion","created":1718000001,"model":"${MODEL}","choices":[{"index":0,"text":${JSON.stringify(text)},"logprobs":null,"finish_reason":${finish},"stop_reason":null}]}\n\n`;
const DONE = 'data: [DONE]\n\n';
const usage = (promptTokens: number, completionTokens: number, totalTokens = promptTokens + completionTokens): TokenUsage => ({
  promptTokens,
  completionTokens,
  totalTokens,
});

const vllmChat: Stream = {
  name: 'vLLM chat with usage chunk',
  events: [
    { text: chatChunk('{"role":"assistant","content":""}') },
    { text: chatChunk('{"content":"Hello"}') },
    { text: chatChunk('{"content":" \\"wörld\\" 🌍 {[\\n"}') },
    { text: chatChunk('{"content":""}').replace('"finish_reason":null', '"finish_reason":"stop"') },
    { text: chatUsage(12, 3), usageOnly: true },
    { text: DONE },
  ],
  usage: usage(12, 3),
};

const STREAMS: Stream[] = [
  vllmChat,
  {
    name: 'vLLM chat without usage chunk',
    events: vllmChat.events.filter((event) => event.usageOnly !== true),
    usage: null,
  },
  {
    name: 'vLLM completion with usage chunk',
    events: [
      { text: completionChunk(' Paris') },
      { text: completionChunk(' is the capital "usage": {no}') },
      { text: completionChunk('.', '"length"') },
      {
        text: `data: {"id":"cmpl-91c2","object":"text_completion","created":1718000001,"model":"${MODEL}","choices":[],"usage":{"prompt_tokens":5,"total_tokens":12,"completion_tokens":7,"prompt_tokens_details":null}}\n\n`,
        usageOnly: true,
      },
      { text: DONE },
    ],
    usage: usage(5, 7),
  },
  {
    name: 'OpenAI style: "usage":null on every chunk, usage chunk last',
    events: [
      { text: chatChunk('{"role":"assistant","content":"Hi"}', ',"usage":null') },
      { text: chatChunk('{"content":"!"}', ', "usage" : null') },
      { text: chatUsage(9, 2), usageOnly: true },
      { text: DONE },
    ],
    usage: usage(9, 2),
  },
  {
    name: 'vLLM continuous usage stats',
    events: [
      { text: chatChunk('{"content":"a"}', ',"usage":{"prompt_tokens":4,"total_tokens":5,"completion_tokens":1}') },
      { text: chatChunk('{"content":"b"}', ',"usage":{"prompt_tokens":4,"total_tokens":6,"completion_tokens":2}') },
      { text: chatUsage(4, 2), usageOnly: true },
      { text: DONE },
    ],
    usage: usage(4, 2),
  },
  {
    name: 'comments, event/id fields and multi-line data',
    events: [
      { text: ': keep-alive\n\n' },
      { text: 'id: 1\nevent: message\ndata: {"choices":[{"index":0,\ndata: "delta":{"content":"a"}}]}\n\n' },
      { text: ': ping\n\n' },
      { text: 'id: 2\ndata:{"choices":[],\ndata:"usage":\ndata: {"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n', usageOnly: true },
      { text: 'data:[DONE]\n\n' },
    ],
    usage: usage(1, 2),
  },
  {
    name: 'malformed usage event is forwarded untouched',
    events: [
      { text: chatChunk('{"content":"x"}') },
      { text: 'data: {"choices":[],"usage":{"prompt_tokens":1,\n\n' },
      { text: DONE },
    ],
    usage: null,
  },
  {
    name: 'Responses API stream',
    events: [
      {
        text: 'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[],"usage":null}}\n\n',
      },
      {
        text: 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi [DONE]"}\n\n',
      },
      {
        text: 'event: response.completed\ndata: {"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","object":"response","status":"completed","output":[{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Hi [DONE]","annotations":[]}]}],"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":0},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":13}}}\n\n',
      },
    ],
    usage: usage(10, 3, 13),
  },
  {
    name: 'Messages API stream: input (with cache tokens) from message_start, output from message_delta',
    events: [
      {
        text: 'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":7,"cache_creation_input_tokens":2,"cache_read_input_tokens":3,"output_tokens":1}}}\n\n',
      },
      { text: 'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' },
      { text: 'event: ping\ndata: {"type": "ping"}\n\n' },
      { text: 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \\"usage\\": {"}}\n\n' },
      { text: 'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n' },
      { text: 'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}\n\n' },
      { text: 'event: message_stop\ndata: {"type":"message_stop"}\n\n' },
    ],
    usage: usage(12, 15),
  },
  {
    name: 'incomplete last event',
    events: [{ text: chatChunk('{"content":"a"}') }, { text: chatUsage(2, 1), usageOnly: true }, { text: 'data: [DONE]\n' }],
    usage: usage(2, 1),
  },
];

const withLineEnding = (stream: Stream, ending: string, label: string): Stream => ({
  ...stream,
  name: `${stream.name} (${label})`,
  events: stream.events.map((event) => ({ ...event, text: event.text.replaceAll('\n', ending) })),
});
const ALL_STREAMS = [...STREAMS, ...STREAMS.map((s) => withLineEnding(s, '\r\n', 'CRLF')), ...STREAMS.map((s) => withLineEnding(s, '\r', 'CR'))];

function expectedBytes(stream: Stream, hide: boolean): Buffer {
  return Buffer.from(stream.events.filter((event) => !(hide && event.usageOnly === true)).map((event) => event.text).join(''));
}

/** Feeds `chunks` and returns what was forwarded, checking that only whole events are ever forwarded. */
function run(chunks: readonly Buffer[], hide: boolean): { forwarded: Buffer; tap: SseUsageTap } {
  const tap = new SseUsageTap(hide);
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    const forwarded = tap.push(chunk);
    if (forwarded !== null) {
      out.push(forwarded);
      assert.ok(/(\n\n|\r\n\r\n|\r\r)$/.test(forwarded.toString('latin1')), 'forwarded bytes end at an event boundary');
    }
  }
  const rest = tap.end();
  if (rest !== null) out.push(rest);
  return { forwarded: Buffer.concat(out), tap };
}

function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    chunks.push(Buffer.from(bytes.subarray(from, cut)));
    from = cut;
  }
  chunks.push(Buffer.from(bytes.subarray(from)));
  return chunks;
}

function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function check(stream: Stream, chunks: readonly Buffer[], hide: boolean, how: string): void {
  const { forwarded, tap } = run(chunks, hide);
  const expected = expectedBytes(stream, hide);
  if (!forwarded.equals(expected)) assert.fail(`${stream.name}, hide=${hide}, ${how}: got ${JSON.stringify(forwarded.toString())}`);
  assert.deepEqual(tap.usage, stream.usage, `${stream.name}, hide=${hide}, ${how}`);
}

describe('SseUsageTap', () => {
  for (const stream of ALL_STREAMS) {
    const original = Buffer.from(stream.events.map((event) => event.text).join(''));
    for (const hide of [false, true]) {
      it(`${stream.name}, hide=${hide}: whole, event by event, split anywhere, random multi-splits`, () => {
        check(stream, [original], hide, 'one chunk');
        check(stream, stream.events.map((event) => Buffer.from(event.text)), hide, 'event per chunk');
        for (let cut = 0; cut <= original.length; cut++) check(stream, splitAt(original, [cut]), hide, `split at ${cut}`);
        const random = prng(original.length * 2 + Number(hide));
        for (let run = 0; run < 300; run++) {
          const cuts = Array.from({ length: 1 + Math.floor(random() * 30) }, () => Math.floor(random() * (original.length + 1)));
          check(stream, splitAt(original, cuts), hide, `cuts ${cuts.join(',')}`);
        }
        const bytewise = Array.from({ length: original.length - 1 }, (_, i) => i + 1);
        check(stream, splitAt(original, bytewise), hide, 'byte by byte');
      });
    }
  }

  it('returns the same Buffer for whole events that need no hiding, and null for the hidden one', () => {
    const tap = new SseUsageTap(true);
    for (const event of vllmChat.events) {
      const chunk = Buffer.from(event.text);
      const forwarded = tap.push(chunk);
      if (event.usageOnly === true) assert.equal(forwarded, null);
      else assert.equal(forwarded, chunk);
    }
    assert.equal(tap.end(), null);
    assert.deepEqual(tap.usage, usage(12, 3));
  });

  it('returns the same Buffer for whole events without hiding, and holds an incomplete event back', () => {
    const tap = new SseUsageTap(false);
    for (const event of vllmChat.events) {
      const chunk = Buffer.from(event.text);
      assert.equal(tap.push(chunk), chunk);
    }
    const split = new SseUsageTap(false);
    const text = chatChunk('{"content":"a"}');
    assert.equal(split.push(Buffer.from(text.slice(0, 10))), null);
    assert.equal(split.push(Buffer.from(text.slice(10)))?.toString(), text);
    assert.equal(split.push(Buffer.from('data: {"cho')), null);
    assert.equal(split.end()?.toString(), 'data: {"cho', 'an unfinished last event still goes out when upstream ends');
  });

  it('parses only events whose usage is an object', () => {
    const chunks = [
      chatChunk('{"content":"a"}'),
      chatChunk('{"content":"b"}', ',"usage":null'),
      chatChunk('{"content":"\\"usage\\":{}"}'),
      chatUsage(3, 2),
      DONE,
    ].map((text) => Buffer.from(text));
    const realParse = JSON.parse;
    let parses = 0;
    JSON.parse = (...args: Parameters<typeof JSON.parse>): unknown => {
      parses++;
      return realParse(...args);
    };
    try {
      const tap = new SseUsageTap(true);
      for (const chunk of chunks) tap.push(chunk);
      assert.deepEqual(tap.usage, usage(3, 2));
    } finally {
      JSON.parse = realParse;
    }
    assert.equal(parses, 1);
  });

  it('forwards several events of one chunk minus the hidden one', () => {
    const tap = new SseUsageTap(true);
    const chunk = Buffer.from(chatChunk('{"content":"z"}') + chatUsage(1, 1) + DONE);
    assert.equal(tap.push(chunk)?.toString(), chatChunk('{"content":"z"}') + DONE);
  });

  it('gives up holding an event that never ends, forwarding everything', () => {
    const tap = new SseUsageTap(true);
    const forwarded: Buffer[] = [];
    const first = Buffer.from('data: {"choices":[],"usage":{"prompt_tokens":1,"x":"');
    const filler = Buffer.alloc(1024 * 1024, 0x61);
    for (const chunk of [first, ...Array.from({ length: 9 }, () => filler)]) {
      const out = tap.push(chunk);
      if (out !== null) forwarded.push(out);
    }
    const last = Buffer.from('"}}\n\n');
    assert.equal(tap.push(last), last);
    assert.equal(tap.end(), null);
    assert.equal(Buffer.concat(forwarded).length + last.length, first.length + 9 * filler.length + last.length);
  });
});

describe('SseUsageTap: error events in a 200 stream', () => {
  const errorOf = (...chunks: string[]): string | null => {
    const tap = new SseUsageTap(false);
    for (const chunk of chunks) tap.push(Buffer.from(chunk));
    tap.end();
    return tap.upstreamError;
  };
  const chunk = (content: string): string => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;

  it("finds vLLM's error event, Anthropic's event: error and the Responses API's response.failed, split anywhere", () => {
    const vllm = `${chunk('Hel')}data: {"error": {"object": "error", "message": "KV cache exhausted", "type": "InternalServerError", "code": 500}}\n\ndata: [DONE]\n\n`;
    for (let at = 1; at < vllm.length; at += 7) assert.equal(errorOf(vllm.slice(0, at), vllm.slice(at)), 'KV cache exhausted', `split at ${at}`);
    assert.equal(errorOf('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'), 'Overloaded');
    assert.equal(errorOf('event: response.failed\ndata: {"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_error","message":"boom"}}}\n\n'), 'boom');
    assert.equal(errorOf('data: {"error": {}}\n\n'), 'an error event');
  });

  it('sees no error in content about errors, in "error": null, or in a stream without one', () => {
    assert.equal(errorOf(chunk('"error": {"message": "x"}'), chunk('an error'), 'data: [DONE]\n\n'), null);
    assert.equal(errorOf('event: response.created\ndata: {"type":"response.created","response":{"id":"r","error":null}}\n\n'), null);
    assert.equal(errorOf(chunk('fine')), null);
  });

  it('clips a long message', () => {
    const message = errorOf(`data: {"error": {"message": "${'x'.repeat(1000)}"}}\n\n`);
    assert.equal(message?.length, 301);
  });
});

describe('parseUsageFromJsonBody', () => {
  it('reads the Messages API usage, cache reads and writes counted as input', () => {
    const body = '{"id":"msg_1","type":"message","content":[{"type":"text","text":"x"}],"usage":{"input_tokens":4,"cache_read_input_tokens":6,"output_tokens":2}}';
    assert.deepEqual(parseUsageFromJsonBody(Buffer.from(body)), usage(10, 2));
  });

  it('reads chat/completions and Responses API usage', () => {
    const chat = `{"id":"chatcmpl-1","object":"chat.completion","model":"${MODEL}","choices":[{"index":0,"message":{"role":"assistant","content":"{\\"usage\\":1}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"total_tokens":27,"completion_tokens":7,"prompt_tokens_details":null}}`;
    assert.deepEqual(parseUsageFromJsonBody(Buffer.from(chat)), usage(20, 7));
    const responses = '{"id":"resp_1","object":"response","output":[],"usage":{"input_tokens":8,"output_tokens":4,"total_tokens":12}}';
    assert.deepEqual(parseUsageFromJsonBody(Buffer.from(responses)), usage(8, 4));
  });

  it('is null without a usable usage object, and never throws', () => {
    for (const body of ['{"choices":[]}', '{"usage":null}', '{"usage":{"foo":1}}', '[{"usage":{"prompt_tokens":1}}]', '{"usage":{"prompt_tokens":1', 'not json', '']) {
      assert.equal(parseUsageFromJsonBody(Buffer.from(body)), null, body);
    }
  });

  it('lets the last duplicate win, like JSON.parse', () => {
    assert.deepEqual(parseUsageFromJsonBody(Buffer.from('{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2,"completion_tokens":3}}')), usage(2, 3));
  });

  it('finds usage wherever it is: last (read from the end), not last, nested only, in strings, escaped', () => {
    const u = '{"prompt_tokens":2,"completion_tokens":3}';
    const cases: [string, TokenUsage | null][] = [
      [`  {"id":"x","usage" : ${u} }\n`, usage(2, 3)],
      [`{"id":"x","usage":${u},"system_fingerprint":"fp"}`, usage(2, 3)],
      [`{"usage":${u},"k":"usage"}`, usage(2, 3)],
      [`{"a":{"usage":${u}}}`, null],
      [`{"a":[{"usage":${u}}]}`, null],
      [`{"choices":[],"usage":{"prompt_tokens":9},"a":{"usage":${u}}}`, usage(9, 0)],
      [`{"us\\u0061ge":${u}}`, usage(2, 3)],
      [`{"x":"\\",\\"usage\\":${u.replace(/"/g, '\\"')}"}`, null],
      [`{"s":"\\\\","usage":${u}}`, usage(2, 3)],
      [`[{"usage":${u}}]`, null],
    ];
    for (const [body, expected] of cases) assert.deepEqual(parseUsageFromJsonBody(Buffer.from(body)), expected, body);
  });
});
