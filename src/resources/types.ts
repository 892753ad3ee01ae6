// Typed models of the resources Switchyard reads, after validation and with Kthena's defaults applied.
// Field names follow networking.serving.volcano.sh/v1alpha1 (Kthena) and core/v1 Pod.

export const API_GROUP = 'networking.serving.volcano.sh';
export const API_VERSION = `${API_GROUP}/v1alpha1`;

export interface ObjectMeta {
  name: string;
  /** Defaults to "default". */
  namespace: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  /** RFC 3339 time, when the document carries one. */
  creationTimestamp?: string;
  resourceVersion?: string;
  deletionTimestamp?: string;
}

/** exact wins over prefix, which wins over regex; `{}` matches anything. */
export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

export interface ModelMatch {
  headers?: Readonly<Record<string, StringMatch>>;
  uri?: StringMatch;
  body?: { model?: string };
}

export interface TargetModel {
  modelServerName?: string;
  externalModelProviderName?: string;
  /**
   * The upstream model for requests through this provider target, replacing the provider's spec.model. Never read
   * from YAML: only the draft form `externalProviderRef: {name, model}` sets it (proposal-aliases.ts).
   */
  providerModel?: string;
  /** 0-100, default 100. */
  weight: number;
}

export interface Rule {
  name?: string;
  modelMatch?: ModelMatch;
  targetModels: readonly TargetModel[];
}

export type RateLimitUnit = 'second' | 'minute' | 'hour' | 'day' | 'month';

export interface RateLimit {
  inputTokensPerUnit?: number;
  outputTokensPerUnit?: number;
  /** Default "second". */
  unit: RateLimitUnit;
  global?: { redis: { address: string } };
}

export interface ParentReference {
  group: string;
  kind: string;
  name: string;
  namespace?: string;
  sectionName?: string;
  port?: number;
}

export interface ModelRouteSpec {
  modelName?: string;
  loraAdapters: readonly string[];
  parentRefs: readonly ParentReference[];
  rules: readonly Rule[];
  rateLimit?: RateLimit;
}

export interface ModelRoute {
  apiVersion: typeof API_VERSION;
  kind: 'ModelRoute';
  metadata: ObjectMeta;
  spec: ModelRouteSpec;
}

export type InferenceEngine = 'vLLM' | 'SGLang';
export type KVConnectorType = 'http' | 'lmcache' | 'nixl' | 'mooncake';

export interface PDGroup {
  groupKey: string;
  prefillLabels: Readonly<Record<string, string>>;
  decodeLabels: Readonly<Record<string, string>>;
}

export interface ModelServerSpec {
  model?: string;
  inferenceEngine: InferenceEngine;
  workloadSelector: {
    matchLabels: Readonly<Record<string, string>>;
    pdGroup?: PDGroup;
  };
  workloadPort: {
    port: number;
    /** Default "http". */
    protocol: 'http' | 'https';
  };
  trafficPolicy?: {
    /** Milliseconds; absent means no timeout. */
    timeoutMs?: number;
    retry?: {
      attempts?: number;
      /** Milliseconds, default 100. */
      retryIntervalMs: number;
    };
  };
  kvConnector?: {
    /** Default "http" once a kvConnector object exists. */
    type: KVConnectorType;
  };
}

export interface ModelServer {
  apiVersion: typeof API_VERSION;
  kind: 'ModelServer';
  metadata: ObjectMeta;
  spec: ModelServerSpec;
}

export interface ExternalModelProviderSpec {
  /** Default "OpenAI". */
  providerType: 'OpenAI' | 'Anthropic';
  model?: string;
  baseURL: string;
  /** Default false. */
  insecureSkipVerify: boolean;
  auth?: {
    scheme?: 'Bearer' | 'APIKey';
    secretRef: { name: string; key: string; optional?: boolean };
  };
  headers: Readonly<Record<string, string>>;
}

export interface ExternalModelProvider {
  apiVersion: typeof API_VERSION;
  kind: 'ExternalModelProvider';
  metadata: ObjectMeta;
  spec: ExternalModelProviderSpec;
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
}

/** The part of a v1 ContainerStatus the router reads: when a running container started. */
export interface ContainerStatus {
  state?: { running?: { startedAt?: string } };
}

/** A v1 Pod as far as the router cares: where it is, whether it is ready, and when its containers last started. */
export interface PodStub {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta;
  status: {
    podIP?: string;
    phase?: string;
    conditions?: readonly PodCondition[];
    containerStatuses?: readonly ContainerStatus[];
  };
}

/**
 * A v1 Secret (in standalone mode a document of the config files; in a cluster from the Kubernetes source). Only
 * ExternalModelProvider credentials are read from it. `data` is decoded from base64 and merged with `stringData`
 * (stringData wins, as in the API server). Its values are never logged or dumped.
 */
export interface SecretDocument {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta;
  type?: string;
  /** Decoded values of `data` and `stringData`. */
  values: Readonly<Record<string, string>>;
}

export type Resource = ModelRoute | ModelServer | ExternalModelProvider | PodStub | SecretDocument;
export type ResourceKind = Resource['kind'];

/** Label a Secret needs before a provider may use it (Kthena's Secret informer selects on it). */
export const CREDENTIAL_LABEL = 'networking.serving.volcano.sh/external-model-provider-credential';

/** Annotation on an ExternalModelProvider: how long to wait for the provider's response headers (Go duration). */
export const PROVIDER_TIMEOUT_ANNOTATION = 'switchyard.dev/response-timeout';
/** The wait for a provider's response headers when the annotation names none (or 0). */
export const DEFAULT_PROVIDER_TIMEOUT_MS = 60_000;

/** Annotation on a Pod stub that overrides the ModelServer's workloadPort.port for that pod. */
export const PORT_ANNOTATION = 'switchyard.dev/port';

/**
 * Annotation on a Pod stub naming the port of the SGLang bootstrap server of a prefill pod (SGLang's
 * --disaggregation-bootstrap-port); sent to decode pods as bootstrap_port. Default: SGLang's 8998.
 */
export const BOOTSTRAP_PORT_ANNOTATION = 'switchyard.dev/bootstrap-port';
export const DEFAULT_BOOTSTRAP_PORT = 8998;

/**
 * Port of the engine's KV event publisher (vLLM --kv-events-config endpoint, ZeroMQ PUB) and of its replay socket
 * (replay_endpoint, ZeroMQ ROUTER), for the kvcache-aware plugin. On a Pod stub: that pod; on a ModelServer: the
 * default of the pods it selects.
 */
export const KV_EVENTS_PORT_ANNOTATION = 'switchyard.dev/kv-events-port';
export const KV_REPLAY_PORT_ANNOTATION = 'switchyard.dev/kv-replay-port';

/** Where a resource came from, for error messages and stable ordering. */
export interface ResourceOrigin {
  /** File path, or a source-specific locator such as "kubernetes". */
  file: string;
  /** 0-based index of the document in its file. */
  documentIndex: number;
  /** Position across the whole load (files sorted by path, documents in order). */
  loadOrder: number;
}

export interface LoadedResource<R extends Resource = Resource> {
  resource: R;
  origin: ResourceOrigin;
}

/** A problem found in configuration. Errors reject the whole config; warnings do not. */
export interface ConfigIssue {
  severity: 'error' | 'warning';
  file: string;
  /** 0-based; absent when the problem is about a whole file (unreadable, not YAML). */
  documentIndex?: number;
  /** "ModelRoute default/deepseek-simple" when known. */
  object?: string;
  /** Field path such as "spec.rules[0].targetModels[1].weight"; empty for the whole document. */
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = [issue.file];
  if (issue.documentIndex !== undefined) where.push(`document ${issue.documentIndex}`);
  if (issue.object) where.push(issue.object);
  const field = issue.path ? ` field ${issue.path}:` : '';
  return `${issue.severity}: ${where.join(', ')}:${field} ${issue.message}`;
}

/** The complete state of one config source at one moment; sources always emit whole states, never deltas. */
export interface SourceState {
  /** "file", "kubernetes", … */
  readonly source: string;
  readonly resources: readonly LoadedResource[];
  /** Problems found while reading and validating; any error rejects the state. */
  readonly issues: readonly ConfigIssue[];
}
