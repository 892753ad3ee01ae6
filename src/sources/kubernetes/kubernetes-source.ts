// Kubernetes config source: list/watch of ModelRoutes, ModelServers and ExternalModelProviders
// (networking.serving.volcano.sh/v1alpha1), of the providers' credential Secrets (only those with Kthena's credential
// label, selected server-side) and of Pods, in every namespace or in the ones given. Objects are
// validated one by one with the file loader's code: an invalid object is left out and reported, the rest applies.
// Pods are watched with a label selector derived from the ModelServers (pod-selector.ts) where one exists.
// Every change, coalesced per event-loop turn, emits the whole state; while the API server is unreachable the
// last state stays (nothing is emitted) and status() says so.
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { fieldsNotActedOn } from '../../resources/fields-not-acted-on.ts';
import { nameOfRawObject } from '../../resources/object-name.ts';
import { parseResourceObject } from '../../resources/parse-object.ts';
import { API_GROUP, type ConfigIssue, type LoadedResource, type ModelServer, type PodStub, type SourceState } from '../../resources/types.ts';
import type { ConfigSource, PodDeltaSink } from '../config-source.ts';
import { ListWatch, describeKubeError, type KubeObject, type ListResult } from './list-watch.ts';
import { CREDENTIAL_SELECTOR, secretDocumentOf } from './credential-secret.ts';
import { derivePodSelector } from './pod-selector.ts';
import { podStubOf } from './pod-stub.ts';
import { ProviderStatusWriter, type ProviderConditionInput } from './provider-status.ts';

const VERSION = 'v1alpha1';
/** Pod changes handed over per event-loop turn: a burst of pod events never blocks the loop for long at a stretch. */
export const POD_CHANGES_PER_TURN = 100;
const KINDS = [
  { kind: 'ModelRoute', plural: 'modelroutes' },
  { kind: 'ModelServer', plural: 'modelservers' },
  { kind: 'ExternalModelProvider', plural: 'externalmodelproviders' },
] as const;

export interface KubernetesSourceOptions {
  /** kubeconfig file; absent: as kubectl finds it (KUBECONFIG, ~/.kube/config), else the in-cluster service account. */
  readonly kubeconfig?: string;
  /** Namespaces to watch; empty: all. */
  readonly namespaces: readonly string[];
  /** Server-side timeout of each watch request (default 300 s); every watch then resumes from its resourceVersion. */
  readonly watchTimeoutSeconds?: number;
  /** An object left out (errors) or applied with warnings; called once per object version. */
  readonly onIssue?: (issue: ConfigIssue) => void;
  /** Fields an object holds that Switchyard does not act on (status, ownerReferences, …): once per object and set. */
  readonly onFieldsNotActedOn?: (object: string, fields: readonly string[]) => void;
    /** Connection changes of the watches as a whole. */
  readonly onStatus?: (status: KubernetesSourceStatus) => void;
  /** A collection is listed again because the API server's resourceVersion went back (etcd restored or wiped). */
  readonly onResync?: (path: string, reason: string) => void;
  /** A status write-back failed (it is tried again with the next change). */
  readonly onStatusWriteError?: (object: string, error: Error) => void;
}

export interface KubernetesSourceStatus {
  /** Every list/watch is connected. */
  readonly connected: boolean;
  /** The latest error while disconnected. */
  readonly error?: string;
  /** Objects left out because they are invalid, now. */
  readonly invalidObjects: number;
}

interface CollectionHandlers {
  readonly replace: (items: readonly KubeObject[]) => void;
  readonly upsert: (item: KubeObject) => void;
  readonly remove: (item: KubeObject) => void;
}

interface Collection {
  readonly watch: ListWatch;
  connected: boolean;
  error?: string;
}

export class KubernetesSource implements ConfigSource {
  readonly name = 'kubernetes';
  private readonly options: KubernetesSourceOptions;
  private readonly kc = new KubeConfig();
  private readonly custom: CustomObjectsApi;
  private readonly providerStatus: ProviderStatusWriter;
  private readonly core: CoreV1Api;
  /** Valid objects of our kinds by "Kind/namespace/name". */
  private readonly resources = new Map<string, { readonly loaded: LoadedResource; readonly version: string }>();
  /** Keys of invalid objects, with the resourceVersion reported (so each version is reported once). */
  private readonly invalid = new Map<string, string>();
  /** Fields not acted on, as last reported per object key (so a status update does not repeat the line). */
  private readonly reportedNotActedOn = new Map<string, string>();
  private readonly pods = new Map<string, PodStub>();
  private readonly crdWatches: Collection[] = [];
  private podWatches: Collection[] = [];
  private podSelector: string | undefined;
  private emit: ((state: SourceState) => void) | null = null;
  private podSink: PodDeltaSink | null = null;
  private pending = false;
  /** Since the last emit: whether a ModelRoute/ModelServer/provider changed, and which pods (null: gone). */
  private crdChanged = false;
  private readonly podChanges = new Map<string, PodStub | null>();
  private closed = false;
  private loadOrder = 0;
  private lastStatus: KubernetesSourceStatus | null = null;
  private reselecting: Promise<void> = Promise.resolve();

  constructor(options: KubernetesSourceOptions) {
    this.options = options;
    if (options.kubeconfig !== undefined) this.kc.loadFromFile(options.kubeconfig);
    else this.kc.loadFromDefault();
    this.custom = this.kc.makeApiClient(CustomObjectsApi);
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.providerStatus = new ProviderStatusWriter(
      async (namespace, name, status) => {
        const body = [{ op: 'add', path: '/status', value: status }];
        await this.custom.patchNamespacedCustomObjectStatus({ group: API_GROUP, version: VERSION, namespace, plural: 'externalmodelproviders', name, body });
      },
      (object, error) => this.options.onStatusWriteError?.(object, error),
    );
  }

  /** Writes a provider's conditions to its status when they changed (Kthena's router keeps them up to date too). */
  reportProviderConditions(namespace: string, name: string, conditions: readonly ProviderConditionInput[]): void {
    this.providerStatus.report(namespace, name, conditions);
  }

  /** Where the source reads from, for logs. */
  get server(): string {
    return this.kc.getCurrentCluster()?.server ?? '(unknown)';
  }

  private get namespaces(): readonly (string | undefined)[] {
    return this.options.namespaces.length === 0 ? [undefined] : this.options.namespaces;
  }

  /** Lists every kind (the initial sync), starts the watches, and returns the state. Rejects if a list fails. */
  async load(): Promise<SourceState> {
    for (const { kind, plural } of KINDS) {
      for (const namespace of this.namespaces) {
        const path = `/apis/${API_GROUP}/${VERSION}${namespace === undefined ? '' : `/namespaces/${namespace}`}/${plural}`;
        const list = async (limit?: number): Promise<ListResult> => {
          const group = API_GROUP;
          const version = VERSION;
          const body = (namespace === undefined
            ? await this.custom.listClusterCustomObject({ group, version, plural, limit })
            : await this.custom.listNamespacedCustomObject({ group, version, namespace, plural, limit })) as { items?: KubeObject[]; metadata?: { resourceVersion?: string } };
          return { items: body.items ?? [], resourceVersion: body.metadata?.resourceVersion ?? '' };
        };
        this.crdWatches.push(this.collection(path, list, undefined, this.resourceHandlers(kind, namespace)));
      }
    }
    for (const namespace of this.namespaces) this.crdWatches.push(this.secretCollection(namespace));
    await Promise.all(this.crdWatches.map((c) => c.watch.start()));
    this.podSelector = derivePodSelector(this.modelServers());
    this.podWatches = this.podCollections(this.podSelector);
    await Promise.all(this.podWatches.map((c) => c.watch.start()));
    this.reportStatus();
    // The state returned holds every change so far; only later ones are emitted.
    this.pending = false;
    this.crdChanged = false;
    this.podChanges.clear();
    return this.state();
  }

  watch(emit: (state: SourceState) => void, pods?: PodDeltaSink): Promise<void> {
    this.emit = emit;
    this.podSink = pods ?? null;
    // Changes between load() and now are not lost: emit once if anything changed meanwhile.
    if (this.pending) this.flush();
    return Promise.resolve();
  }

  status(): KubernetesSourceStatus {
    const all = [...this.crdWatches, ...this.podWatches];
    const down = all.find((c) => !c.connected);
    return { connected: down === undefined, ...(down?.error !== undefined && { error: down.error }), invalidObjects: this.invalid.size };
  }

  private collection(
    path: string,
    list: (limit?: number) => Promise<ListResult>,
    labelSelector: string | undefined,
    handlers: CollectionHandlers,
  ): Collection {
    const onResync = (reason: string): void => this.options.onResync?.(path, reason);
    const collection: Collection = {
      connected: false,
      watch: new ListWatch(this.kc, { path, list, labelSelector, watchTimeoutSeconds: this.options.watchTimeoutSeconds, onResync }, {
        replace: (items) => {
          handlers.replace(items);
          this.changed();
        },
        upsert: (item) => {
          handlers.upsert(item);
          this.changed();
        },
        remove: (item) => {
          handlers.remove(item);
          this.changed();
        },
        status: (connected, error) => {
          collection.connected = connected;
          collection.error = connected ? undefined : describeKubeError(path, error);
          this.reportStatus();
        },
      }),
    };
    return collection;
  }

  /** Replace/upsert/remove of one kind's objects in one namespace (or all), keyed "Kind/namespace/name". */
  private resourceHandlers(kind: string, namespace: string | undefined): CollectionHandlers {
    const prefix = `${kind}/${namespace === undefined ? '' : `${namespace}/`}`;
    return {
      replace: (items) => {
        // Objects still listed keep their last valid version, should the listed one be invalid (an edit made while
        // the watch was down); those no longer listed are gone.
        const listed = new Set(items.map((item) => `${kind}/${item.metadata?.namespace ?? ''}/${item.metadata?.name ?? ''}`));
        for (const key of [...this.resources.keys(), ...this.invalid.keys()]) if (key.startsWith(prefix) && !listed.has(key)) this.forget(key);
        for (const item of items) this.upsertResource(kind, item);
        this.crdChanged = true;
      },
      upsert: (item) => {
        this.crdChanged = this.upsertResource(kind, item) || this.crdChanged;
      },
      remove: (item) => {
        const key = `${kind}/${item.metadata?.namespace ?? ''}/${item.metadata?.name ?? ''}`;
        if (kind === 'ExternalModelProvider') this.providerStatus.forget(item.metadata?.namespace ?? '', item.metadata?.name ?? '');
        this.forget(key);
        this.reportedNotActedOn.delete(key);
        this.crdChanged = true;
      },
    };
  }

  /**
   * Credential Secrets: the label selector goes to the API server, so only labelled Secrets are ever read; a Secret
   * that loses the label leaves the watch (DELETED) and its provider turns not ready, as one without the Secret.
   */
  private secretCollection(namespace: string | undefined): Collection {
    const path = namespace === undefined ? '/api/v1/secrets' : `/api/v1/namespaces/${namespace}/secrets`;
    const list = async (limit?: number): Promise<ListResult> => {
      const labelSelector = CREDENTIAL_SELECTOR;
      const body = namespace === undefined
        ? await this.core.listSecretForAllNamespaces({ labelSelector, limit })
        : await this.core.listNamespacedSecret({ namespace, labelSelector, limit });
      return { items: body.items.map((secret) => secretDocumentOf(secret)), resourceVersion: body.metadata?.resourceVersion ?? '' };
    };
    const handlers = this.resourceHandlers('Secret', namespace);
    return this.collection(path, list, CREDENTIAL_SELECTOR, {
      replace: handlers.replace,
      upsert: (item) => handlers.upsert(secretDocumentOf(item)),
      remove: handlers.remove,
    });
  }

  private podCollections(labelSelector: string | undefined): Collection[] {
    return this.namespaces.map((namespace) => {
      const path = namespace === undefined ? '/api/v1/pods' : `/api/v1/namespaces/${namespace}/pods`;
      const list = async (limit?: number): Promise<ListResult> => {
        const body = namespace === undefined
          ? await this.core.listPodForAllNamespaces({ labelSelector, limit })
          : await this.core.listNamespacedPod({ namespace, labelSelector, limit });
        return { items: body.items, resourceVersion: body.metadata?.resourceVersion ?? '' };
      };
      const inNamespace = (key: string): boolean => namespace === undefined || key.startsWith(`${namespace}/`);
      return this.collection(path, list, labelSelector, {
        replace: (items) => {
          for (const key of [...this.pods.keys()]) if (inNamespace(key)) this.removePod(key);
          for (const item of items) this.upsertPod(item);
        },
        upsert: (item) => this.upsertPod(item),
        remove: (item) => this.removePod(`${item.metadata?.namespace ?? ''}/${item.metadata?.name ?? ''}`),
      });
    });
  }

  private upsertPod(item: KubeObject): void {
    const stub = podStubOf(item);
    const key = `${stub.metadata.namespace}/${stub.metadata.name}`;
    this.pods.set(key, stub);
    this.podChanges.set(key, stub);
  }

  private removePod(key: string): void {
    if (this.pods.delete(key)) this.podChanges.set(key, null);
  }

  /** Whether the set of valid objects changed. */
  private upsertResource(kind: string, item: KubeObject): boolean {
    if (kind === 'ExternalModelProvider') {
      const { metadata, status } = item as KubeObject & { metadata?: { generation?: number }; status?: unknown };
      this.providerStatus.observe(metadata?.namespace ?? '', metadata?.name ?? '', metadata?.generation, status);
    }
    const key = `${kind}/${item.metadata?.namespace ?? ''}/${item.metadata?.name ?? ''}`;
    const version = item.metadata?.resourceVersion ?? '';
    const previous = this.resources.get(key);
    if (previous !== undefined && previous.version === version) return false;
    if (this.invalid.get(key) === version) return false;
    const parsed = parseResourceObject(item);
    const object = nameOfRawObject(item) ?? key;
    for (const problem of parsed.problems) {
      this.options.onIssue?.({ severity: problem.severity, file: 'kubernetes', object, path: problem.path, message: problem.message });
    }
    if (parsed.resource === undefined) {
      this.invalid.set(key, version);
      // An invalid edit of a live object does not take it down: its last valid version keeps serving (as a bad file
      // never replaces the last good configuration) until the object is fixed or deleted.
      if (previous !== undefined) {
        this.options.onIssue?.({ severity: 'warning', file: 'kubernetes', object, path: '', message: 'this version is invalid: the last valid version keeps serving until the object is fixed or deleted' });
      }
      return false;
    }
    this.invalid.delete(key);
    if (kind !== 'Secret') this.reportFieldsNotActedOn(key, object, item);
    // Route order is creationTimestamp, then namespace/name: the resourceVersion changes with every edit and must
    // not reorder routes, so it is kept only to skip unchanged objects.
    const resource = { ...parsed.resource, metadata: { ...parsed.resource.metadata, resourceVersion: undefined } } as typeof parsed.resource;
    const origin = { file: 'kubernetes', documentIndex: 0, loadOrder: this.loadOrder++ };
    this.resources.set(key, { loaded: { resource, origin }, version });
    return true;
  }

  private reportFieldsNotActedOn(key: string, object: string, item: KubeObject): void {
    const fields = fieldsNotActedOn(item);
    const joined = fields.join(',');
    if ((this.reportedNotActedOn.get(key) ?? '') === joined) return;
    this.reportedNotActedOn.set(key, joined);
    if (fields.length > 0) this.options.onFieldsNotActedOn?.(object, fields);
  }

  private forget(key: string): void {
    this.resources.delete(key);
    this.invalid.delete(key);
  }

  private *modelServers(): Iterable<ModelServer> {
    for (const { loaded } of this.resources.values()) if (loaded.resource.kind === 'ModelServer') yield loaded.resource;
  }

  private changed(): void {
    if (this.pending) return;
    this.pending = true;
    if (this.emit !== null) setImmediate(() => this.flush());
  }

  /** Pod-only changes go out as a delta when the consumer takes them; anything else as the whole state. */
  private flush(): void {
    if (!this.pending || this.closed || this.emit === null) return;
    this.pending = false;
    this.reportStatus(); // the count of invalid objects changes with objects, not only with the connection
    if (this.crdChanged || this.podSink === null) {
      this.crdChanged = false;
      this.podChanges.clear();
      this.maybeReselectPods();
      this.emit(this.state());
      return;
    }
    if (this.podChanges.size === 0) return;
    const upserted: PodStub[] = [];
    const removed: string[] = [];
    for (const [key, pod] of this.podChanges) {
      if (upserted.length + removed.length === POD_CHANGES_PER_TURN) break;
      if (pod === null) removed.push(key);
      else upserted.push(pod);
      this.podChanges.delete(key);
    }
    if (this.podChanges.size > 0) this.changed();
    this.podSink({ upserted, removed });
  }

  /** A ModelServer change may widen or narrow the pod selector: then the pod watches restart with the new one. */
  private maybeReselectPods(): void {
    const selector = derivePodSelector(this.modelServers());
    if (selector === this.podSelector || this.closed) return;
    this.podSelector = selector;
    const old = this.podWatches;
    const next = this.podCollections(selector);
    this.podWatches = next;
    this.reselecting = this.reselecting.then(async () => {
      await Promise.all(old.map((c) => c.watch.stop()));
      if (this.closed) return;
      for (const c of next) c.watch.startInBackground();
    });
  }

  private state(): SourceState {
    const resources: LoadedResource[] = [];
    for (const { loaded } of this.resources.values()) resources.push(loaded);
    let order = this.loadOrder;
    for (const pod of this.pods.values()) resources.push({ resource: pod, origin: { file: 'kubernetes', documentIndex: 0, loadOrder: order++ } });
    return { source: this.name, resources, issues: [] };
  }

  private reportStatus(): void {
    const status = this.status();
    const last = this.lastStatus;
    if (last !== null && last.connected === status.connected && last.invalidObjects === status.invalidObjects) return;
    this.lastStatus = status;
    this.options.onStatus?.(status);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.providerStatus.close();
    await this.reselecting;
    await Promise.all([...this.crdWatches, ...this.podWatches].map((c) => c.watch.stop()));
  }
}
