// End-to-end test support: real mock engines on loopback ports, real YAML files, the real router, real clients.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import pino from 'pino';
import { request } from 'undici';
import { startRouterApp, type RouterApp, type RouterAppOptions } from '../../src/cli/router-app.ts';
import { startMockEngine, type MockEngineHandle, type MockEngineOptions } from '../../src/mock-engine/index.ts';

export interface TestEnv {
  readonly dir: string;
  readonly mocks: MockEngineHandle[];
  router: RouterApp | null;
  cleanup(): Promise<void>;
}

export async function createEnv(): Promise<TestEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-test-'));
  const env: TestEnv = {
    dir,
    mocks: [],
    router: null,
    async cleanup() {
      await env.router?.shutdown(1000);
      await Promise.allSettled(env.mocks.map((m) => m.close()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  return env;
}

export async function startMock(env: TestEnv, options: Partial<MockEngineOptions> & { model: string }): Promise<MockEngineHandle> {
  const mock = await startMockEngine({ port: 0, ...options });
  env.mocks.push(mock);
  return mock;
}

export async function writeYaml(env: TestEnv, file: string, docs: readonly string[]): Promise<string> {
  const path = join(env.dir, file);
  await writeFile(path, docs.join('\n---\n'));
  return path;
}

export async function startRouter(
  env: TestEnv,
  overrides: {
    maxBodyBytes?: number;
    healthCheckIntervalMs?: number;
    reloadDebounceMs?: number;
    /** Engine metrics scraping is off unless asked for: pods' metrics stay unknown, so scheduling is by in-flight count. */
    metricsScrapeIntervalMs?: number;
    routerConfigFile?: string;
    logger?: RouterAppOptions['logger'];
  } & Pick<RouterAppOptions, 'metricsPort' | 'exposeMetricsOnRouterPort' | 'metricsPrefix' | 'accessLog' | 'debugPort' | 'allowExplainHeader'
    | 'rateLimitFailureMode' | 'authenticator' | 'admission' | 'queueHeartbeatMs' | 'onRequestDone' | 'upstreamCaFile' | 'limits' | 'allowPaths' | 'env' | 'upstream'> = {},
): Promise<RouterApp> {
  env.router = await startRouterApp({
    configPaths: [env.dir],
    port: 0,
    host: '127.0.0.1',
    maxBodyBytes: overrides.maxBodyBytes ?? 16 * 1024 * 1024,
    reloadDebounceMs: overrides.reloadDebounceMs ?? 50,
    healthCheckIntervalMs: overrides.healthCheckIntervalMs ?? 0,
    metricsScrapeIntervalMs: overrides.metricsScrapeIntervalMs ?? 0,
    routerConfigFile: overrides.routerConfigFile,
    metricsPort: overrides.metricsPort,
    exposeMetricsOnRouterPort: overrides.exposeMetricsOnRouterPort,
    metricsPrefix: overrides.metricsPrefix,
    accessLog: overrides.accessLog,
    debugPort: overrides.debugPort,
    allowExplainHeader: overrides.allowExplainHeader,
    rateLimitFailureMode: overrides.rateLimitFailureMode,
    authenticator: overrides.authenticator,
    admission: overrides.admission,
    queueHeartbeatMs: overrides.queueHeartbeatMs,
    onRequestDone: overrides.onRequestDone,
    upstreamCaFile: overrides.upstreamCaFile,
    limits: overrides.limits,
    allowPaths: overrides.allowPaths,
    upstream: overrides.upstream,
    env: overrides.env ?? {},
    logger: overrides.logger ?? pino({ level: 'silent' }),
  });
  return env.router;
}

export function client(router: RouterApp, headers: Record<string, string> = {}): OpenAI {
  return new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'test-key', maxRetries: 0, defaultHeaders: headers });
}

// ---- YAML builders ----

export function modelServer(
  name: string,
  opts: {
    app?: string; model?: string; engine?: 'vLLM' | 'SGLang'; port?: number; protocol?: 'http' | 'https'; timeout?: string;
    retry?: { attempts: number; interval?: string };
  } = {},
): string {
  const lines = [
    'apiVersion: networking.serving.volcano.sh/v1alpha1',
    'kind: ModelServer',
    'metadata:',
    `  name: ${name}`,
    '  namespace: default',
    'spec:',
    '  workloadSelector:',
    '    matchLabels:',
    `      app: ${opts.app ?? name}`,
    '  workloadPort:',
    `    port: ${opts.port ?? 8000}`,
    ...(opts.protocol === undefined ? [] : [`    protocol: ${opts.protocol}`]),
    `  inferenceEngine: ${opts.engine ?? 'vLLM'}`,
  ];
  if (opts.model !== undefined) lines.push(`  model: "${opts.model}"`);
  if (opts.timeout !== undefined || opts.retry !== undefined) {
    lines.push('  trafficPolicy:');
    if (opts.timeout !== undefined) lines.push(`    timeout: ${opts.timeout}`);
    if (opts.retry !== undefined) {
      lines.push('    retry:', `      attempts: ${opts.retry.attempts}`);
      if (opts.retry.interval !== undefined) lines.push(`      retryInterval: ${opts.retry.interval}`);
    }
  }
  return lines.join('\n');
}

export function podStub(name: string, app: string, port: number, status: { phase?: string; ready?: boolean; ip?: string } = {}): string {
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
    `  podIP: ${status.ip ?? '127.0.0.1'}`,
  ];
  if (status.phase !== undefined) lines.push(`  phase: ${status.phase}`);
  if (status.ready !== undefined) lines.push('  conditions:', '  - type: Ready', `    status: "${status.ready ? 'True' : 'False'}"`);
  return lines.join('\n');
}

export function simpleRoute(name: string, modelName: string, serverName: string): string {
  return [
    'apiVersion: networking.serving.volcano.sh/v1alpha1',
    'kind: ModelRoute',
    'metadata:',
    `  name: ${name}`,
    '  namespace: default',
    'spec:',
    `  modelName: "${modelName}"`,
    '  rules:',
    '  - name: default',
    '    targetModels:',
    `    - modelServerName: "${serverName}"`,
  ].join('\n');
}

// ---- raw HTTP helpers ----

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): unknown;
}

export async function post(url: string, body: string | object, headers: Record<string, string> = {}): Promise<RawResponse> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as unknown };
}

export async function get(url: string): Promise<RawResponse> {
  const res = await request(url);
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as unknown };
}

export interface MockStats {
  instance: string;
  received: number;
  completed: number;
  cancelled: number;
  inFlight: number;
  lastRequest: { method: string; path: string; headers: Record<string, string>; body: unknown } | null;
}

export async function mockStats(mock: MockEngineHandle): Promise<MockStats> {
  return (await get(`${mock.url}/mock/stats`)).json() as MockStats;
}

export async function mockFault(mock: MockEngineHandle, fault: Record<string, unknown>): Promise<void> {
  const res = await post(`${mock.url}/mock/faults`, fault);
  if (res.status !== 200) throw new Error(`mock fault not set: ${res.status} ${res.text}`);
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
