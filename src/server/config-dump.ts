// Kthena's /debug/config_dump views of the live configuration (debug/handlers.go): ModelRoutes, ModelServers with
// their pods (and, for a pdGroup, by role), and pods with their scraped engine metrics. Switchyard adds, per pod,
// the router's own view of each endpoint (in flight, health, scrape state).
import type { EngineStateTable } from '../engines/engine-state.ts';
import type { PodStateTable } from '../pods/pod-state.ts';
import type { CompiledProvider, CompiledRoute, CompiledServer, PodEndpoint, RoutingSnapshot } from '../snapshot/types.ts';

export interface DumpSources {
  readonly engines: EngineStateTable;
  readonly podStates: PodStateTable;
}

export type DumpKind = 'modelroutes' | 'modelservers' | 'pods' | 'externalmodelproviders';

export function dumpList(kind: DumpKind, snapshot: RoutingSnapshot | null, sources: DumpSources): Record<string, unknown[]> {
  if (snapshot === null) return { [kind]: [] };
  if (kind === 'modelroutes') return { modelroutes: routesOf(snapshot).map(routeView) };
  if (kind === 'modelservers') return { modelservers: [...snapshot.servers.values()].map(serverView) };
  if (kind === 'externalmodelproviders') return { externalmodelproviders: [...snapshot.providers.values()].map(providerView) };
  return { pods: [...podsOf(snapshot).values()].map((p) => podView(p, sources, false)) };
}

/** One object, or null when there is none of that name. */
export function dumpOne(kind: DumpKind, namespace: string, name: string, snapshot: RoutingSnapshot | null, sources: DumpSources): unknown {
  if (snapshot === null) return null;
  const key = `${namespace}/${name}`;
  if (kind === 'modelroutes') {
    const route = routesOf(snapshot).find((r) => r.key === key);
    return route === undefined ? null : routeView(route);
  }
  if (kind === 'modelservers') {
    const server = snapshot.servers.get(key);
    return server === undefined ? null : serverView(server);
  }
  if (kind === 'externalmodelproviders') {
    const provider = snapshot.providers.get(key);
    return provider === undefined ? null : providerView(provider);
  }
  const pod = podsOf(snapshot).get(key);
  return pod === undefined ? null : podView(pod, sources, true);
}

export const KIND_NAMES: Readonly<Record<DumpKind, string>> = {
  modelroutes: 'ModelRoute', modelservers: 'ModelServer', pods: 'Pod', externalmodelproviders: 'ExternalModelProvider',
};

/** A provider with the status conditions Kthena's controller would write; never its credential. */
function providerView(provider: CompiledProvider): unknown {
  return {
    name: provider.name,
    namespace: provider.namespace,
    spec: provider.resource.spec,
    status: { conditions: provider.conditions },
    timeoutMs: provider.timeoutMs,
  };
}

function routesOf(snapshot: RoutingSnapshot): CompiledRoute[] {
  const routes = new Map<string, CompiledRoute>();
  for (const list of [...snapshot.routesByModel.values(), ...snapshot.routesByLora.values()]) {
    for (const route of list) routes.set(route.key, route);
  }
  return [...routes.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function routeView(route: CompiledRoute): unknown {
  const spec = route.resource.spec;
  return {
    name: route.name,
    namespace: route.namespace,
    spec,
    routeInfo: { model: spec.modelName ?? '', loras: spec.loraAdapters ?? [] },
    rules: route.rules.map((rule) => ({
      name: rule.name,
      targets: rule.targets.map((t) => ({
        target: t.kind === 'server' ? t.serverKey : t.providerKey,
        kind: t.kind,
        weight: t.weight,
        ...(t.kind === 'provider' && t.model !== undefined && { model: t.model }),
      })),
      // Smooth weighted round-robin running weights (Switchyard).
      currentWeights: rule.picker?.state() ?? null,
    })),
  };
}

function serverView(server: CompiledServer): unknown {
  const view: Record<string, unknown> = {
    name: server.name,
    namespace: server.namespace,
    spec: server.resource.spec,
    associatedPods: server.pods.map((p) => p.podKey),
  };
  const pd = server.pd;
  if (pd !== null) {
    view.decodePods = server.pods.filter((p) => pd.roleOf.get(p.podKey) === 'decode').map((p) => p.podKey);
    view.prefillPods = server.pods.filter((p) => pd.roleOf.get(p.podKey) === 'prefill').map((p) => p.podKey);
    view.pdGroups = Object.fromEntries([...pd.groups].map(([group, pods]) => [group, { prefill: pods.prefill.map((p) => p.podKey), decode: pods.decode.map((p) => p.podKey) }]));
  }
  return view;
}

interface PodEntry {
  readonly pod: PodEndpoint;
  /** Every (ModelServer, endpoint) the pod serves under. */
  readonly uses: { server: CompiledServer; endpoint: PodEndpoint }[];
}

function podsOf(snapshot: RoutingSnapshot): Map<string, PodEntry> {
  const pods = new Map<string, PodEntry>();
  for (const server of snapshot.servers.values()) {
    for (const endpoint of server.pods) {
      let entry = pods.get(endpoint.podKey);
      if (entry === undefined) pods.set(endpoint.podKey, (entry = { pod: endpoint, uses: [] }));
      entry.uses.push({ server, endpoint });
    }
  }
  return new Map([...pods].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function podView(entry: PodEntry, sources: DumpSources, details: boolean): unknown {
  const now = Date.now();
  const { pod, uses } = entry;
  const engine = sources.engines.peek(pod.origin);
  const view: Record<string, unknown> = {
    name: pod.name,
    namespace: pod.namespace,
    engine: uses[0]?.server.engine ?? '',
    metrics: engine === undefined || engine.metricsAt === 0 ? null : {
      gpuCacheUsage: finite(engine.kvCacheUsage),
      requestWaitingNum: finite(engine.waiting),
      requestRunningNum: finite(engine.running),
      tpot: finite(engine.tpotSeconds),
      ttft: finite(engine.ttftSeconds),
    },
    models: engine?.models === null || engine === undefined ? [] : [...engine.models].sort(),
    modelServers: [...new Set(uses.map((u) => u.server.key))],
  };
  if (details) view.podInfo = { podIP: pod.ip, labels: pod.labels };
  view.endpoints = uses.map(({ server, endpoint }) => {
    const state = sources.podStates.peek(endpoint.origin);
    const scraped = sources.engines.peek(endpoint.origin);
    return {
      modelServer: server.key,
      origin: endpoint.origin,
      role: server.pd?.roleOf.get(endpoint.podKey) ?? null,
      inFlight: state?.inFlight ?? 0,
      healthy: state === undefined || state.isHealthy(now),
      lastError: state?.lastError ?? null,
      metricsAgeMs: scraped === undefined || scraped.metricsAt === 0 ? null : now - scraped.metricsAt,
      metricsFresh: sources.engines.metrics(endpoint.origin, now) !== null,
      metricsError: scraped?.metricsError ?? null,
      modelsError: scraped?.modelsError ?? null,
    };
  });
  return view;
}

function finite(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}
