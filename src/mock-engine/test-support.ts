// Helpers shared by the mock engine's tests (not used at runtime).
import { startMockEngine, type MockEngineHandle, type MockEngineOptions } from './index.ts';
import type { MockStats } from './test-hooks.ts';

/** Starts a mock on an ephemeral port, runs `body`, and always closes it. */
export async function withMockEngine(
  options: Partial<MockEngineOptions> & { model: string },
  body: (engine: MockEngineHandle) => Promise<void>,
): Promise<void> {
  const engine = await startMockEngine({ port: 0, ...options });
  try {
    await body(engine);
  } finally {
    await engine.close();
  }
}

export function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...init });
}

/** The `data:` payloads of an SSE body, in order (including the literal "[DONE]"). */
export function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
}

export async function stats(engine: MockEngineHandle): Promise<MockStats> {
  return (await (await fetch(`${engine.url}/mock/stats`)).json()) as MockStats;
}

/** Polls until `check` holds, failing after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Value of one sample line of Prometheus text, e.g. metricValue(text, 'vllm:prompt_tokens_total{model_name="m"}'). */
export function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
