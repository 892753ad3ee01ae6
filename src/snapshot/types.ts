// The compiled, immutable routing state. Built once per configuration change, read by every request.
import type {
  ExternalModelProvider,
  InferenceEngine,
  KVConnectorType,
  ModelRoute,
  ModelServer,
  PDGroup,
  ResourceOrigin,
} from '../resources/types.ts';
import type { WeightedPicker } from './weighted-picker.ts';

/** One backend address of a ModelServer: a ready pod and the port the ModelServer (or the pod's annotation) names. */
export interface PodEndpoint {
  /** "namespace/name" of the pod. */
  readonly podKey: string;
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  /** "http://ip:port" or "https://ip:port" (workloadPort.protocol; IPv6 in brackets); identifies the upstream connection pool and live state. */
  readonly origin: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Unix seconds when the pod's running containers last started (status.containerStatuses); absent when unknown. */
  readonly startedAt?: number;
}

export interface CompiledServer {
  /** "namespace/name". */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** spec.model: replaces the request's model for non-LoRA requests. */
  readonly model: string | undefined;
  readonly engine: InferenceEngine;
  readonly timeoutMs: number | undefined;
  readonly retryAttempts: number;
  readonly retryIntervalMs: number;
  /** Ready pods selected by workloadSelector, sorted by pod key. */
  readonly pods: readonly PodEndpoint[];
  readonly pdGroup: PDGroup | undefined;
  readonly kvConnectorType: KVConnectorType | undefined;
  /** Prefill/decode classification of `pods` when spec.workloadSelector.pdGroup is set, else null. */
  readonly pd: CompiledPd | null;
  readonly resource: ModelServer;
}

export type PdRole = 'prefill' | 'decode';

export interface PdGroupPods {
  /** Ready pods of the group in each role, sorted by pod key. */
  readonly prefill: readonly PodEndpoint[];
  readonly decode: readonly PodEndpoint[];
}

/** A PD-disaggregated ModelServer's pods by role and group (snapshot/pd-groups.ts). */
export interface CompiledPd {
  readonly groupKey: string;
  /** Every group (value of the groupKey label) with at least one classified pod, by name. */
  readonly groups: ReadonlyMap<string, PdGroupPods>;
  /** Decode candidates: the decode pods of the groups that also have a prefill pod, sorted by pod key. */
  readonly decodePods: readonly PodEndpoint[];
  /** Prefill candidates per group, only for groups that also have a decode pod. */
  readonly prefillPodsByGroup: ReadonlyMap<string, readonly PodEndpoint[]>;
  /** Pod key → group, for every classified pod. */
  readonly groupOf: ReadonlyMap<string, string>;
  /** Pod key → role, for every classified pod. */
  readonly roleOf: ReadonlyMap<string, PdRole>;
}

/** A status condition of a provider, as Kthena's controller writes them (CredentialsResolved, Ready). */
export interface ProviderCondition {
  readonly type: 'CredentialsResolved' | 'Ready';
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
}

/** An ExternalModelProvider, ready to serve requests (snapshot/providers.ts). */
export interface CompiledProvider {
  /** "namespace/name". */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly type: 'OpenAI' | 'Anthropic';
  /** spec.model: replaces the request's model when set. */
  readonly model: string | undefined;
  /** "https://host[:port]" of baseURL: the connection pool's key. */
  readonly origin: string;
  /** baseURL's path without trailing slashes ("" or e.g. "/v1", "/openai/v1"). */
  readonly basePath: string;
  readonly insecureSkipVerify: boolean;
  /** Flat [name, value, …]: spec.headers (but x-request-id, the router's), then the credential header (authorization or x-api-key). */
  readonly headers: readonly string[];
  /** `headers` for streams, which the router asks for in identity encoding: without a static accept-encoding. */
  readonly streamHeaders: readonly string[];
  /** Lower-case names of spec.headers: a client header of the same name is replaced, not sent twice (Kthena: Set). */
  readonly staticHeaderNames: ReadonlySet<string>;
  /** Bound on the wait for response headers (annotation switchyard.dev/response-timeout, default 60 s). */
  readonly timeoutMs: number;
  /** Why requests are refused (credential not resolved), or null when ready. */
  readonly notReady: string | null;
  readonly conditions: readonly ProviderCondition[];
  readonly resource: ExternalModelProvider;
}

export type CompiledTarget =
  | { readonly kind: 'server'; readonly name: string; readonly serverKey: string; readonly weight: number }
  | {
      readonly kind: 'provider';
      readonly name: string;
      readonly providerKey: string;
      readonly weight: number;
      /** This target's upstream model (the draft form externalProviderRef.model), before the provider's spec.model. */
      readonly model: string | undefined;
    };

/** Tests a request value; compiled from a StringMatch. */
export type StringMatcher = (value: string) => boolean;

export interface HeaderMatcher {
  /** Lower-case header name. */
  readonly name: string;
  readonly match: StringMatcher;
}

export interface CompiledRule {
  readonly index: number;
  readonly name: string;
  /** null: the rule has no modelMatch and matches everything. */
  readonly bodyModel: string | null;
  readonly headers: readonly HeaderMatcher[] | null;
  readonly uri: StringMatcher | null;
  readonly targets: readonly CompiledTarget[];
  /** Smooth weighted round-robin over targets; null when all weights are 0 (the rule never matches). */
  readonly picker: WeightedPicker<CompiledTarget> | null;
}

export interface CompiledRoute {
  /** "namespace/name". */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly rules: readonly CompiledRule[];
  readonly resource: ModelRoute;
  readonly origin: ResourceOrigin;
}

export interface RoutingSnapshot {
  /** Increases by one with every snapshot built in this process. */
  readonly generation: number;
  readonly builtAt: Date;
  /** modelName → candidate routes, oldest first. */
  readonly routesByModel: ReadonlyMap<string, readonly CompiledRoute[]>;
  /** LoRA adapter name → candidate routes, oldest first; consulted only when routesByModel has no entry. */
  readonly routesByLora: ReadonlyMap<string, readonly CompiledRoute[]>;
  /** "namespace/name" → ModelServer. */
  readonly servers: ReadonlyMap<string, CompiledServer>;
  /** "namespace/name" → provider. */
  readonly providers: ReadonlyMap<string, CompiledProvider>;
  /**
   * Every distinct origin of every server's pods. For the swap listeners: pod changes (SnapshotStore.applyPodChanges)
   * update this map in place rather than copying 10,000 entries per pod event, so read it from the newest snapshot.
   */
  readonly endpoints: ReadonlyMap<string, PodEndpoint>;
  /** The body of GET /v1/models, precomputed. */
  readonly modelsListBody: string;
  /** Counts for logs. */
  readonly stats: { routes: number; servers: number; pods: number; providers: number };
}
