// Support for end-to-end tests of the scheduler plugins: simulated mock engines behind the real router, a Kthena
// router configuration file per test, long streams that keep a pod busy, and counting which pod served what.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { EngineStats } from '../../src/engines/engine-state.ts';
import type { MockEngineHandle, MockEngineOptions } from '../../src/mock-engine/index.ts';
import { openStream, type RawStream } from './process.ts';
import { get, modelServer, podStub, post, simpleRoute, startMock, startRouter, writeYaml, type TestEnv } from './harness.ts';

export const BASE = 'org/base-model';
/** Scrape interval of every router in these tests. */
export const SCRAPE_MS = 100;

/** The engine part of GET /mock/stats (the simulator's state). */
export interface SimulatedEngineStats {
  simulated: boolean;
  running: number;
  waiting: number;
  kvBlocks: number;
  kvBlocksUsed: number;
  kvCacheUsage: number;
  prefixCacheQueries: number;
  prefixCacheHits: number;
  loras: { maxLoras: number; resident: string[]; loads: number; running: string[]; waiting: string[] };
}

export async function engineStats(mock: MockEngineHandle): Promise<SimulatedEngineStats> {
  return ((await get(`${mock.url}/mock/stats`)).json() as { engine: SimulatedEngineStats }).engine;
}

/** A simulated engine (random answers of exactly max_tokens words) named `name` in x-mock-instance. */
export function startSimulated(env: TestEnv, name: string, options: Partial<MockEngineOptions> = {}): Promise<MockEngineHandle> {
  return startMock(env, { model: BASE, instanceName: name, mode: 'random', simulate: true, ...options });
}

export interface SchedulerSettings {
  /** Filter.enabled; default: none. */
  readonly filters?: readonly string[];
  /** Score.enabled. */
  readonly scores: readonly { readonly name: string; readonly weight?: number }[];
  /** pluginConfig: args per plugin name. */
  readonly args?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** A Kthena router configuration file enabling just the plugins given. */
export function schedulerYaml(settings: SchedulerSettings): string {
  const lines = ['scheduler:'];
  const args = Object.entries(settings.args ?? {});
  if (args.length > 0) {
    lines.push('  pluginConfig:');
    for (const [name, values] of args) lines.push(`    - name: ${name}`, `      args: ${JSON.stringify(values)}`);
  }
  lines.push('  plugins:', '    Filter:', `      enabled: [${(settings.filters ?? []).join(', ')}]`, '    Score:', '      enabled:');
  for (const { name, weight } of settings.scores) lines.push(`        - {name: ${name}, weight: ${weight ?? 1}}`);
  return `${lines.join('\n')}\n`;
}

/** Writes the router configuration file next to (not inside) the watched config directory; removed by env.cleanup(). */
export async function writeRouterConfig(env: TestEnv, text: string): Promise<string> {
  const dir = `${env.dir}-router`;
  await mkdir(dir, { recursive: true });
  const file = `${dir}/router.yaml`;
  await writeFile(file, text);
  const cleanup = env.cleanup.bind(env);
  env.cleanup = async () => {
    await cleanup();
    await rm(dir, { recursive: true, force: true });
  };
  return file;
}

/**
 * Resources for `mocks` as pods of ModelServer "base" (model BASE, route BASE). Each mock also gets a second pod stub
 * at the same address in a ModelServer of its own, reachable as model `pin-<i>`: requests sent there occupy that pod
 * in the router's own in-flight count (kept per address) without the scheduler choosing it.
 */
export async function writePods(env: TestEnv, mocks: readonly MockEngineHandle[], extra: readonly string[] = []): Promise<void> {
  await writeYaml(env, 'config.yaml', [
    modelServer('base', { app: 'base', model: BASE }),
    simpleRoute('base-route', BASE, 'base'),
    ...mocks.flatMap((m, i) => [
      podStub(`pod-${i}`, 'base', m.port),
      podStub(`pin-${i}`, `pin-${i}`, m.port),
      modelServer(`pin-${i}`, { app: `pin-${i}`, model: BASE }),
      simpleRoute(`pin-${i}`, `pin-${i}`, `pin-${i}`),
    ]),
    ...extra,
  ]);
}

/** The router on env.dir, scraping every SCRAPE_MS, with this scheduler configuration. */
export async function startScheduledRouter(env: TestEnv, settings: SchedulerSettings | string): Promise<RouterApp> {
  const file = await writeRouterConfig(env, typeof settings === 'string' ? settings : schedulerYaml(settings));
  return startRouter(env, { metricsScrapeIntervalMs: SCRAPE_MS, routerConfigFile: file });
}

/** Scraped metrics of a pod as the router sees them now (null: unknown). */
export function scraped(router: RouterApp, mock: MockEngineHandle): EngineStats | null {
  return router.engines.metrics(mock.url, Date.now());
}

/** Long streams that stay open until released. */
export class Holds {
  private readonly streams: RawStream[] = [];

  /** Opens `count` streams of `maxTokens` tokens at `url` (a router or a mock), one after the other. */
  async open(url: string, count: number, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<void> {
    for (let i = 0; i < count; i++) {
      const stream = await openStream(`${url}/v1/completions`, { prompt: `hold ${i}`, max_tokens: 5000, ...body }, headers);
      this.streams.push(stream);
      if (stream.status !== 200) throw new Error(`a held stream was answered ${stream.status}`);
    }
  }

  /** Client-side disconnect of every stream; resolves once they all ended. */
  async release(): Promise<void> {
    const streams = this.streams.splice(0);
    for (const stream of streams) stream.abort();
    await Promise.all(streams.map((s) => s.done));
  }
}

/**
 * Sends `count` completions through the router, `concurrency` at a time, and counts the pods (x-mock-instance)
 * that served them. Every answer must be 200.
 */
export async function spread(
  router: RouterApp,
  count: number,
  body: (i: number) => Record<string, unknown>,
  options: { concurrency?: number; headers?: Record<string, string> } = {},
): Promise<Map<string, number>> {
  const served = new Map<string, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const res = await post(`${router.url}/v1/completions`, { model: BASE, prompt: `request ${i}`, max_tokens: 2, ...body(i) }, options.headers);
      if (res.status !== 200) throw new Error(`request ${i} answered ${res.status}: ${res.text}`);
      const pod = String(res.headers['x-mock-instance']);
      served.set(pod, (served.get(pod) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 1 }, worker));
  return served;
}

export function describeSpread(served: ReadonlyMap<string, number>): string {
  return [...served].map(([pod, n]) => `${pod}: ${n}`).join(', ') || 'none';
}
