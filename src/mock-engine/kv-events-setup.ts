// Wires the KV event publisher to the simulator and adds its test hook:
// POST /mock/kv-events {"drop": n, "forget"?: bool} leaves the next n batches unsent (forget: unrecoverable too);
// GET /mock/kv-events → {"port","replayPort","published"}.
import { sendJson } from './http-io.ts';
import { MockKvEventPublisher } from './kv-events.ts';
import type { TokenGenerator } from './generator.ts';
import type { ResolvedMockEngineOptions } from './options.ts';
import type { ServerResponse } from 'node:http';

export async function startKvEvents(options: ResolvedMockEngineOptions, generator: TokenGenerator): Promise<MockKvEventPublisher | null> {
  if (options.kvEventsPort === undefined || generator.setKvListener === undefined) return null;
  const publisher = new MockKvEventPublisher({
    host: options.host,
    port: options.kvEventsPort,
    replayPort: options.kvReplayPort ?? null,
    blockSize: options.blockSize,
  });
  await publisher.start();
  generator.setKvListener(publisher);
  return publisher;
}

/** The context length the engine reports everywhere (/v1/models, /tokenize, server info): the simulator's whole cache. */
export function maxModelLen(options: ResolvedMockEngineOptions): number {
  return options.simulate ? options.kvBlocks * options.blockSize : 32_768;
}

type JsonRoute = { kind: 'json'; run: (req: unknown, res: ServerResponse, body: Record<string, unknown>) => void };
type PlainRoute = { kind: 'plain'; run: (req: unknown, res: ServerResponse) => void };

export function kvEventRoutes(publisher: MockKvEventPublisher | null | undefined): Record<string, { GET?: PlainRoute; POST?: JsonRoute }> {
  if (publisher === null || publisher === undefined) return {};
  return {
    '/mock/kv-events': {
      GET: { kind: 'plain', run: (_req, res) => sendJson(res, 200, { port: publisher.port, replayPort: publisher.replayPort, published: publisher.published }) },
      POST: {
        kind: 'json',
        run: (_req, res, body) => {
          publisher.drop(typeof body.drop === 'number' ? body.drop : 0, body.forget === true);
          sendJson(res, 200, { ok: true });
        },
      },
    },
  };
}
