// Fixtures for scheduler unit tests (not used at runtime).
import type { EngineStats, EngineStatsSource } from '../../engines/engine-state.ts';
import { PodStateTable } from '../../pods/pod-state.ts';
import type { CompiledServer, PodEndpoint } from '../../snapshot/types.ts';
import type { ScheduleRequest } from '../pod-picker.ts';
import { SchedulingCycle } from './cycle.ts';
import type { PluginEnv, SchedulerPlugin, SchedulerProfile } from './types.ts';

export function makePods(count: number): PodEndpoint[] {
  return Array.from({ length: count }, (_, i) => ({
    podKey: `default/p${i}`,
    namespace: 'default',
    name: `p${i}`,
    ip: `10.0.0.${i + 1}`,
    port: 8000,
    origin: `http://10.0.0.${i + 1}:8000`,
    labels: {},
    annotations: {},
  }));
}

/** Engine data set by hand: only pods with an entry are known. */
export class FakeEngines implements EngineStatsSource {
  readonly stats = new Map<string, Partial<EngineStats>>();
  readonly modelLists = new Map<string, ReadonlySet<string>>();

  metrics(origin: string): EngineStats | null {
    const given = this.stats.get(origin);
    if (given === undefined) return null;
    return { waiting: NaN, running: NaN, kvCacheUsage: NaN, ttftSeconds: NaN, tpotSeconds: NaN, ...given };
  }

  models(origin: string): ReadonlySet<string> | null {
    return this.modelLists.get(origin) ?? null;
  }
}

export interface TestEnv extends PluginEnv {
  readonly podStates: PodStateTable;
  readonly engines: FakeEngines;
}

/** `random` returns the values given, in a cycle (0.5 forever when none). */
export function makeEnv(randomValues: readonly number[] = [0.5]): TestEnv {
  let next = 0;
  return { podStates: new PodStateTable(), engines: new FakeEngines(), random: () => randomValues[next++ % randomValues.length] };
}

export function makeRequest(overrides: Partial<ScheduleRequest> = {}): ScheduleRequest {
  return {
    model: 'm',
    upstreamModel: 'm',
    isLora: false,
    server: { key: 'default/server' } as CompiledServer,
    rawHeaders: [],
    ...overrides,
  };
}

const EMPTY_PROFILE: SchedulerProfile = { filters: [], scores: [], hooks: [], plugins: [] };

export function makeCycle(request: ScheduleRequest = makeRequest(), now = Date.now()): SchedulingCycle {
  return new SchedulingCycle(request, now, EMPTY_PROFILE);
}

/** Runs a filter over all pods (or the alive mask given); returns the names of the pods kept. */
export function runFilter(plugin: SchedulerPlugin, pods: readonly PodEndpoint[], cycle = makeCycle(), alive?: Uint8Array): string[] {
  const mask = alive ?? new Uint8Array(pods.length).fill(1);
  plugin.filter!(cycle, pods, mask);
  return pods.filter((_, i) => mask[i] === 1).map((p) => p.name);
}

/** Runs a score plugin; returns its scores (NaN = no opinion). */
export function runScore(plugin: SchedulerPlugin, pods: readonly PodEndpoint[], cycle = makeCycle(), alive?: Uint8Array): number[] {
  const out = new Float64Array(pods.length).fill(NaN);
  plugin.score!(cycle, pods, alive ?? new Uint8Array(pods.length).fill(1), out);
  return [...out];
}

/** Scores rounded to 2 decimals, NaN kept, for table assertions. */
export function rounded(scores: readonly number[]): number[] {
  return scores.map((s) => (Number.isNaN(s) ? NaN : Math.round(s * 100) / 100));
}
