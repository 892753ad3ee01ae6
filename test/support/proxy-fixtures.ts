// Fixtures for the error-handling and proxy e2e tests: a scriptable fake pod, a port nobody listens on, a way to
// make one pod busy so the least-request picker's first choice is known, and YAML the harness builders lack.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { mockFault, mockStats, waitFor } from './harness.ts';

export interface FakePodRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type FakePodHandler = (req: FakePodRequest, res: ServerResponse) => void;

export interface FakePod {
  readonly url: string;
  readonly port: number;
  /** Inference requests (everything but GET /health, /metrics and /v1/models), in arrival order. */
  readonly requests: FakePodRequest[];
  /** Status GET /health answers; change it at any time. */
  healthStatus: number;
  /** GET /health requests received so far. */
  healthProbes: number;
  handler: FakePodHandler;
  close(): Promise<void>;
}

/** A completion answer shaped like vLLM's, so real clients accept it. */
export function completionJson(model: string, text: string): string {
  return JSON.stringify({
    id: 'cmpl-fake',
    object: 'text_completion',
    created: 0,
    model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
}

/** An engine stand-in whose every answer the test scripts; by default a 200 completion naming `name`. */
export async function startFakePod(name: string): Promise<FakePod> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/health') {
        pod.healthProbes++;
        res.writeHead(pod.healthStatus, { 'content-type': 'text/plain' });
        res.end(pod.healthStatus === 200 ? '' : 'unhealthy');
        return;
      }
      if (req.method === 'GET' && (req.url === '/metrics' || req.url === '/v1/models')) {
        // The router's engine scraper: not an inference request. Unknown metrics leave scheduling neutral.
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
        return;
      }
      const recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      pod.requests.push(recorded);
      pod.handler(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const pod: FakePod = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests: [],
    healthStatus: 200,
    healthProbes: 0,
    handler: (_req, res) => {
      const body = completionJson(name, `answer from ${name}`);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return pod;
}

/** A loopback port that was free a moment ago and has no listener: connections to it are refused. */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Makes `mock` busy by one router-tracked request that hangs before its headers, sent to `model` (a route whose
 * only pod is `mock`). The router's in-flight count for that origin is then 1, so the least-request picker tries
 * any idle pod before it. Returns a function that cancels the request and waits until the mock is idle again.
 */
export async function occupy(routerUrl: string, model: string, mock: MockEngineHandle): Promise<() => Promise<void>> {
  const before = await mockStats(mock);
  await mockFault(mock, { headerDelayMs: 30_000 });
  const abort = new AbortController();
  const pending = request(`${routerUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt: 'hold' }),
    signal: abort.signal,
  }).then(
    (res) => res.body.dump(),
    () => undefined,
  );
  await waitFor(async () => (await mockStats(mock)).received > before.received, 5000, 'the holding request to reach the mock');
  return async () => {
    abort.abort();
    await pending;
    await waitFor(async () => (await mockStats(mock)).inFlight === 0, 5000, 'the holding request to end');
  };
}

/** A Pod with free-form status (the harness's podStub always has a podIP). */
export function podYaml(name: string, app: string, port: number, status: { ip?: string; phase?: string; ready?: boolean }): string {
  const lines = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    `  name: ${name}`,
    '  namespace: default',
    '  labels:',
    `    app: ${app}`,
    '  annotations:',
    `    switchyard.dev/port: "${port}"`,
    'status:',
  ];
  if (status.ip !== undefined) lines.push(`  podIP: ${status.ip}`);
  if (status.phase !== undefined) lines.push(`  phase: ${status.phase}`);
  if (status.ready !== undefined) lines.push('  conditions:', '  - type: Ready', `    status: "${status.ready ? 'True' : 'False'}"`);
  if (lines[lines.length - 1] === 'status:') lines[lines.length - 1] = 'status: {}';
  return lines.join('\n');
}

/** A ModelRoute serving base model `modelName` and LoRA adapters from one ModelServer. */
export function loraRoute(name: string, modelName: string, adapters: readonly string[], serverName: string): string {
  return [
    'apiVersion: networking.serving.volcano.sh/v1alpha1',
    'kind: ModelRoute',
    'metadata:',
    `  name: ${name}`,
    '  namespace: default',
    'spec:',
    `  modelName: "${modelName}"`,
    '  loraAdapters:',
    ...adapters.map((a) => `  - "${a}"`),
    '  rules:',
    '  - name: default',
    '    targetModels:',
    `    - modelServerName: "${serverName}"`,
  ].join('\n');
}
