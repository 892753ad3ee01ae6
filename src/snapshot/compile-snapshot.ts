// Resources → RoutingSnapshot. Everything a request needs is computed here: indexes, matchers, weighted pickers,
// each server's ready pods, the /v1/models body. Cross-object problems become warnings, never request-time surprises.
import type {
  ConfigIssue,
  ExternalModelProvider,
  LoadedResource,
  ModelRoute,
  ModelServer,
  PodStub,
  Rule,
  SecretDocument,
} from '../resources/types.ts';
import { compileProviders } from './providers.ts';
import { classifyPdPods } from './pd-groups.ts';
import { PodIndex, isPodReady, toEndpoint } from './pod-selection.ts';
import { compileHeaderMatch, compileStringMatch } from './string-matcher.ts';
import type {
  CompiledRoute,
  CompiledRule,
  CompiledProvider,
  CompiledServer,
  CompiledTarget,
  HeaderMatcher,
  PodEndpoint,
  RoutingSnapshot,
} from './types.ts';
import type { WeightedPickerRegistry } from './weighted-picker.ts';

export interface CompileResult {
  snapshot: RoutingSnapshot;
  issues: ConfigIssue[];
}

export function compileSnapshot(
  loaded: readonly LoadedResource[],
  generation: number,
  pickers: WeightedPickerRegistry,
): CompileResult {
  const issues: ConfigIssue[] = [];
  const routes: LoadedResource<ModelRoute>[] = [];
  const servers: ModelServer[] = [];
  const pods: PodStub[] = [];
  const providerItems: LoadedResource<ExternalModelProvider>[] = [];
  const secrets = new Map<string, SecretDocument>();
  for (const item of loaded) {
    const r = item.resource;
    if (r.kind === 'ModelRoute') routes.push(item as LoadedResource<ModelRoute>);
    else if (r.kind === 'ModelServer') servers.push(r);
    else if (r.kind === 'Pod') pods.push(r);
    else if (r.kind === 'Secret') secrets.set(keyOf(r.metadata), r);
    else providerItems.push(item as LoadedResource<ExternalModelProvider>);
  }
  const providers = compileProviders(providerItems, secrets, issues);

  const podIndex = new PodIndex(pods);
  const compiledServers = new Map<string, CompiledServer>();
  const endpoints = new Map<string, PodEndpoint>();
  let podCount = 0;
  for (const server of servers) {
    const compiled = compileServer(server, podIndex.select(server.metadata.namespace, server.spec.workloadSelector.matchLabels));
    compiledServers.set(compiled.key, compiled);
    for (const pod of compiled.pods) endpoints.set(pod.origin, pod);
    podCount += compiled.pods.length;
  }

  routes.sort(compareRouteAge);
  const routesByModel = new Map<string, CompiledRoute[]>();
  const routesByLora = new Map<string, CompiledRoute[]>();
  pickers.beginBuild();
  for (const item of routes) {
    const route = compileRoute(item, pickers);
    checkRouteReferences(route, item, compiledServers, providers, issues);
    const spec = item.resource.spec;
    if (spec.parentRefs.length > 0) {
      issues.push(routeIssue(item, 'spec.parentRefs', 'the route is bound to a Gateway; without Gateway support it is never matched (as in Kthena with the Gateway API disabled)'));
      continue;
    }
    if (spec.modelName) append(routesByModel, spec.modelName, route);
    for (const lora of spec.loraAdapters) append(routesByLora, lora, route);
  }

  const snapshot: RoutingSnapshot = {
    generation,
    builtAt: new Date(),
    routesByModel,
    routesByLora,
    servers: compiledServers,
    providers,
    endpoints,
    modelsListBody: buildModelsList([...routesByModel.keys(), ...routesByLora.keys()]),
    stats: { routes: routes.length, servers: compiledServers.size, pods: podCount, providers: providers.size },
  };
  return { snapshot, issues };
}

function keyOf(meta: { namespace: string; name: string }): string {
  return `${meta.namespace}/${meta.name}`;
}

function append<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** A ModelServer with the pods its selector selects (ready or not; only the ready ones are kept). */
export function compileServer(server: ModelServer, selected: readonly PodStub[]): CompiledServer {
  const { metadata, spec } = server;
  const pods = selected
    .filter(isPodReady)
    .map((pod) => toEndpoint(pod, spec.workloadPort.port, spec.workloadPort.protocol))
    .sort((a, b) => (a.podKey < b.podKey ? -1 : a.podKey > b.podKey ? 1 : 0));
  return {
    key: keyOf(metadata),
    namespace: metadata.namespace,
    name: metadata.name,
    model: spec.model,
    engine: spec.inferenceEngine,
    timeoutMs: spec.trafficPolicy?.timeoutMs,
    retryAttempts: spec.trafficPolicy?.retry?.attempts ?? 0,
    retryIntervalMs: spec.trafficPolicy?.retry?.retryIntervalMs ?? 100,
    pods,
    pdGroup: spec.workloadSelector.pdGroup,
    kvConnectorType: spec.kvConnector?.type,
    pd: spec.workloadSelector.pdGroup ? classifyPdPods(spec.workloadSelector.pdGroup, pods) : null,
    resource: server,
  };
}

/**
 * Oldest first, as Kthena: creationTimestamp, then resourceVersion (numerically, unlike Kthena's string compare),
 * then namespace/name. Documents without a timestamp come after those with one, in load order.
 */
export function compareRouteAge(a: LoadedResource<ModelRoute>, b: LoadedResource<ModelRoute>): number {
  const ta = a.resource.metadata.creationTimestamp;
  const tb = b.resource.metadata.creationTimestamp;
  if (ta && tb) {
    const diff = Date.parse(ta) - Date.parse(tb);
    if (diff !== 0) return diff;
    const rv = compareResourceVersion(a.resource.metadata.resourceVersion, b.resource.metadata.resourceVersion);
    if (rv !== 0) return rv;
    const ka = keyOf(a.resource.metadata);
    const kb = keyOf(b.resource.metadata);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  }
  if (ta) return -1;
  if (tb) return 1;
  return a.origin.loadOrder - b.origin.loadOrder;
}

function compareResourceVersion(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a < b ? -1 : 1;
}

function compileRoute(item: LoadedResource<ModelRoute>, pickers: WeightedPickerRegistry): CompiledRoute {
  const { metadata, spec } = item.resource;
  const key = keyOf(metadata);
  return {
    key,
    namespace: metadata.namespace,
    name: metadata.name,
    rules: spec.rules.map((rule, index) => compileRule(rule, index, key, metadata.namespace, pickers)),
    resource: item.resource,
    origin: item.origin,
  };
}

function compileRule(
  rule: Rule,
  index: number,
  routeKey: string,
  namespace: string,
  pickers: WeightedPickerRegistry,
): CompiledRule {
  const targets: CompiledTarget[] = rule.targetModels.map((t) =>
    t.modelServerName !== undefined
      ? { kind: 'server', name: t.modelServerName, serverKey: `${namespace}/${t.modelServerName}`, weight: t.weight }
      : {
          kind: 'provider',
          name: t.externalModelProviderName ?? '',
          providerKey: `${namespace}/${t.externalModelProviderName ?? ''}`,
          weight: t.weight,
          model: t.providerModel,
        },
  );
  const weights = targets.map((t) => t.weight);
  const total = weights.reduce((a, b) => a + b, 0);
  // The picker keeps its targets while the signature is unchanged: everything a target carries is in it.
  const signature = targets.map((t) => `${t.kind}:${t.name}${t.kind === 'provider' && t.model !== undefined ? `@${JSON.stringify(t.model)}` : ''}=${t.weight}`).join(',');
  const match = rule.modelMatch;
  let headers: HeaderMatcher[] | null = null;
  if (match?.headers) {
    headers = Object.entries(match.headers).map(([name, m]) => ({ name: name.toLowerCase(), match: compileHeaderMatch(m) }));
    if (headers.length === 0) headers = null;
  }
  return {
    index,
    name: rule.name ?? `rule-${index}`,
    bodyModel: match?.body?.model ?? null,
    headers,
    uri: match?.uri ? compileStringMatch(match.uri) : null,
    targets,
    picker: total > 0 ? pickers.obtain(`${routeKey}#${index}`, targets, weights, signature) : null,
  };
}

function routeIssue(item: LoadedResource<ModelRoute>, path: string, message: string): ConfigIssue {
  return {
    severity: 'warning',
    file: item.origin.file,
    documentIndex: item.origin.documentIndex,
    object: `ModelRoute ${keyOf(item.resource.metadata)}`,
    path,
    message,
  };
}

function checkRouteReferences(
  route: CompiledRoute,
  item: LoadedResource<ModelRoute>,
  servers: ReadonlyMap<string, CompiledServer>,
  providers: ReadonlyMap<string, CompiledProvider>,
  issues: ConfigIssue[],
): void {
  for (const rule of route.rules) {
    rule.targets.forEach((target, t) => {
      const path = `spec.rules[${rule.index}].targetModels[${t}]`;
      if (target.kind === 'server' && !servers.has(target.serverKey)) {
        issues.push(routeIssue(item, `${path}.modelServerName`, `ModelServer ${target.serverKey} does not exist; requests routed to it get 404`));
      } else if (target.kind === 'provider' && !providers.has(target.providerKey)) {
        issues.push(routeIssue(item, `${path}.externalModelProviderName`, `ExternalModelProvider ${target.providerKey} does not exist; requests routed to it get 404`));
      }
    });
  }
}

function buildModelsList(names: readonly string[]): string {
  const created = Math.floor(Date.now() / 1000);
  const data = [...new Set(names)].sort().map((id) => ({ id, object: 'model', created, owned_by: 'switchyard' }));
  return JSON.stringify({ object: 'list', data });
}
