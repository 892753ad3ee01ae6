// One list/watch loop over one collection of the API server, as client-go's reflector does it: list, then watch
// from the list's resourceVersion with bookmarks; after a watch ends, resume from the last resourceVersion seen
// (an event's or a bookmark's); relist only on 410 Gone; back off (with jitter) on errors while the last known
// objects stay in place. Unlike client-go, a resume first asks the collection's current resourceVersion (a list of
// one item): when it is lower than the one to resume from, etcd was restored or wiped, and a watch from a version
// the server has not reached yet would hang without an event until it got there; the loop relists instead. The
// caller sees every object change and whether the loop is connected.
import { Watch, type KubeConfig } from '@kubernetes/client-node';

/** The fields of any Kubernetes object that the loop reads. */
export interface KubeObject {
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly resourceVersion?: string };
}

export interface ListResult {
  readonly items: readonly KubeObject[];
  readonly resourceVersion: string;
}

export interface ListWatchHandlers {
  /** Replaces the whole collection (initial list and every relist). */
  replace(items: readonly KubeObject[]): void;
  upsert(object: KubeObject): void;
  remove(object: KubeObject): void;
  /** Connected (true) after a successful list or watch start; false with the error while backing off. */
  status(connected: boolean, error?: unknown): void;
}

export interface ListWatchOptions {
  /** API path of the collection, e.g. /api/v1/pods or /apis/g/v/namespaces/ns/modelroutes. */
  readonly path: string;
  /** The collection; with `limit`, at most that many items (the resourceVersion is the collection's all the same). */
  readonly list: (limit?: number) => Promise<ListResult>;
  readonly labelSelector?: string;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Server-side watch timeout; the loop resumes from the last resourceVersion right after. */
  readonly watchTimeoutSeconds?: number;
  /** The loop relists because the server's resourceVersion went back (etcd restored or wiped). */
  readonly onResync?: (reason: string) => void;
}

interface WatchEvent {
  readonly type?: string;
  readonly object?: KubeObject & { readonly code?: number };
}

export class ListWatch {
  private readonly kc: KubeConfig;
  private readonly options: ListWatchOptions;
  private readonly handlers: ListWatchHandlers;
  private resourceVersion = '';
  private stopped = false;
  private abort: AbortController | null = null;
  private wake: (() => void) | null = null;
  private backoffMs = 0;
  private loop: Promise<void> | null = null;
  /** The resourceVersion to resume from came from a watch, not a list just made: check it before resuming. */
  private resuming = false;

  constructor(kc: KubeConfig, options: ListWatchOptions, handlers: ListWatchHandlers) {
    this.kc = kc;
    this.options = options;
    this.handlers = handlers;
  }

  /**
   * Lists (retrying transient failures, such as 429 or 5xx from an API server that is starting, for up to
   * `startTimeoutMs`), then keeps watching in the background until stop(). Rejects at once on 401, 403 and 404.
   */
  async start(startTimeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + startTimeoutMs;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        await this.relist();
        break;
      } catch (err) {
        const code = statusOf(err);
        if (code === 401 || code === 403 || code === 404 || Date.now() + delay > deadline || this.stopped) {
          throw new Error(describeKubeError(this.options.path, err), { cause: err });
        }
        await this.sleep(delay);
      }
    }
    this.loop = this.run();
  }

  /** Lists and watches in the background, retrying a failed list with backoff like a failed watch. */
  startInBackground(): void {
    this.resourceVersion = '';
    this.loop = this.run();
  }

  private async relist(): Promise<void> {
    const result = await this.options.list();
    this.resourceVersion = result.resourceVersion;
    this.resuming = false;
    this.handlers.replace(result.items);
    this.handlers.status(true);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.resourceVersion === '') await this.relist();
        else if (this.resuming && (await this.serverWentBack())) continue;
        this.resuming = true;
        const gone = await this.watchOnce();
        if (gone) this.resourceVersion = '';
        this.backoffMs = 0;
      } catch (err) {
        if (this.stopped) return;
        if (statusOf(err) === 410) {
          this.resourceVersion = '';
          continue;
        }
        this.handlers.status(false, err);
        const initial = this.options.initialBackoffMs ?? 200;
        this.backoffMs = Math.min(this.backoffMs === 0 ? initial : this.backoffMs * 2, this.options.maxBackoffMs ?? 10_000);
        await this.sleep(this.backoffMs * (0.8 + Math.random() * 0.4));
      }
    }
  }

  /** True (and the next turn relists) when the collection's resourceVersion is now lower than the one to resume from. */
  private async serverWentBack(): Promise<boolean> {
    const current = (await this.options.list(1)).resourceVersion;
    if (!DECIMAL.test(current) || !DECIMAL.test(this.resourceVersion) || BigInt(current) >= BigInt(this.resourceVersion)) return false;
    this.options.onResync?.(`the API server's resourceVersion ${current} is lower than ${this.resourceVersion}, the last one seen (etcd restored or wiped?): listing again`);
    this.resourceVersion = '';
    return true;
  }

  /** Resolves when the watch ends normally: true when the server said the resourceVersion is gone. */
  private watchOnce(): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let gone = false;
      let sawEvent = false;
      const params: Record<string, string | number | boolean> = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
      };
      if (this.options.labelSelector !== undefined) params.labelSelector = this.options.labelSelector;
      const onEvent = (type: string, object: WatchEvent['object']): void => {
        if (!sawEvent) {
          sawEvent = true;
          this.handlers.status(true);
        }
        if (type === 'ERROR') {
          if (object?.code === 410) gone = true;
          return;
        }
        const rv = object?.metadata?.resourceVersion;
        if (object !== undefined && (type === 'ADDED' || type === 'MODIFIED')) this.handlers.upsert(object);
        else if (object !== undefined && type === 'DELETED') this.handlers.remove(object);
        if (rv !== undefined && rv !== '') this.resourceVersion = rv;
      };
      let ended = false;
      const onDone = (err: unknown): void => {
        ended = true;
        this.abort = null;
        if (err !== null && err !== undefined && !(err instanceof DOMException && err.name === 'TimeoutError')) reject(err instanceof Error ? err : new Error('watch failed', { cause: err }));
        else resolve(gone);
      };
      new Watch(this.kc).watch(this.options.path, params, onEvent, onDone).then(
        (controller) => {
          if (ended) return;
          // The API server answered 200: the watch is established, even before its first event.
          this.abort = controller;
          if (!sawEvent) {
            sawEvent = true;
            this.handlers.status(true);
          }
          if (this.stopped) controller.abort();
        },
        reject,
      );
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    await this.loop;
  }
}

/** resourceVersions are opaque to clients; the API server's (etcd revisions) are decimal and compared only then. */
const DECIMAL = /^\d+$/;

/** HTTP status of an error from client-node (ApiException.code) or its Watch (statusCode). */
function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return typeof e?.code === 'number' ? e.code : undefined;
}

/**
 * A failed list or watch in words: the collection, the status with the API server's own message (client-node's
 * ApiException prints its whole response), and what to do for the usual causes; a network failure with its cause.
 */
export function describeKubeError(path: string, err: unknown): string {
  const code = statusOf(err);
  if (code === undefined) {
    const cause = (err as { cause?: unknown } | null)?.cause;
    const detail = cause instanceof Error ? `${(err as Error).message}: ${cause.message}` : err instanceof Error ? err.message : String(err);
    return `cannot reach the Kubernetes API server for ${path} (${detail})`;
  }
  const message = apiMessage(err);
  const said = message === null ? '' : `: ${message}`;
  if (code === 404 && path.startsWith('/apis/')) {
    return `listing ${path} answered 404${said}; is the CRD installed? (kubectl apply -f deploy/crds/)`;
  }
  if (code === 401) return `listing ${path} answered 401 Unauthorized${said}; check the kubeconfig's credentials`;
  if (code === 403) return `listing ${path} answered 403 Forbidden${said}; deploy/rbac.yaml grants what the router needs`;
  return `${path} answered ${code}${said}`;
}

/** The `message` of a Kubernetes Status body, when the error carries one. */
function apiMessage(err: unknown): string | null {
  let body = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    const text = body;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      return text.length > 0 && text.length <= 300 ? text.trim() : null;
    }
  }
  const message = (body as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message !== '' ? message : null;
}
