// Writes ExternalModelProviders' status conditions (CredentialsResolved, Ready) back to the API server, as Kthena's
// router does, so that `kubectl get externalmodelproviders` tells the truth after a switch from Kthena instead of
// what Kthena last wrote. Only a change is written, and a condition keeps its lastTransitionTime while its status
// stays: replicas computing the same conditions agree after the first write instead of overwriting each other.
// Other condition types and status fields are kept.

/** A condition as Switchyard computes it (snapshot/providers.ts). */
export interface ProviderConditionInput {
  readonly type: string;
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
}

interface ApiCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

interface SeenProvider {
  readonly generation: number | undefined;
  readonly status: { readonly observedGeneration?: number; readonly conditions?: readonly ApiCondition[] } & Record<string, unknown>;
}

/** Replaces the object's status (a JSON patch); rejects on failure. */
export type StatusPatch = (namespace: string, name: string, status: Record<string, unknown>) => Promise<void>;

export class ProviderStatusWriter {
  private readonly seen = new Map<string, SeenProvider>();
  /** Keys with a write under way, and the conditions to write after it when they changed meanwhile. */
  private readonly writing = new Map<string, readonly ProviderConditionInput[] | null>();
  private readonly patch: StatusPatch;
  private readonly onError: (object: string, error: Error) => void;
  /** A failed write is tried again after this (doubling up to maxRetryMs), unless a newer report comes first. */
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly retries = new Map<string, { timer: NodeJS.Timeout | null; delayMs: number }>();

  constructor(patch: StatusPatch, onError: (object: string, error: Error) => void, options: { retryMs?: number; maxRetryMs?: number } = {}) {
    this.patch = patch;
    this.onError = onError;
    this.retryMs = options.retryMs ?? 2000;
    this.maxRetryMs = options.maxRetryMs ?? 60_000;
  }

  /** The provider as the API server holds it now (from its watch). */
  observe(namespace: string, name: string, generation: number | undefined, status: unknown): void {
    const current = typeof status === 'object' && status !== null ? (status as SeenProvider['status']) : {};
    this.seen.set(`${namespace}/${name}`, { generation, status: current });
  }

  forget(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    this.seen.delete(key);
    this.clearRetry(key);
  }

  /** Stops the retries (on shutdown). */
  close(): void {
    for (const key of [...this.retries.keys()]) this.clearRetry(key);
  }

  /** The conditions Switchyard computed for the provider: written when they differ from its status. */
  report(namespace: string, name: string, conditions: readonly ProviderConditionInput[]): void {
    const key = `${namespace}/${name}`;
    if (this.writing.has(key)) {
      this.writing.set(key, conditions); // written once the write under way ended, if still needed
      return;
    }
    const retry = this.retries.get(key);
    if (retry?.timer != null) {
      clearTimeout(retry.timer); // this report is the retry, or supersedes it
      retry.timer = null;
    }
    const seen = this.seen.get(key);
    if (seen === undefined) return; // deleted, or not seen from the watch yet
    const desired = desiredStatus(seen, conditions, new Date());
    if (desired === null) {
      this.clearRetry(key);
      return;
    }
    this.writing.set(key, null);
    let failed = false;
    void this.patch(namespace, name, desired)
      .then(
        () => this.clearRetry(key),
        (err: unknown) => {
          failed = true;
          this.onError(`ExternalModelProvider ${key}`, err as Error);
        },
      )
      .finally(() => {
        const next = this.writing.get(key);
        this.writing.delete(key);
        if (next != null) this.report(namespace, name, next);
        else if (failed && this.seen.has(key)) this.retryLater(key, namespace, name, conditions);
      });
  }

  /** A write failed (forbidden for a while, the API server busy): tried again with backoff, not only on the next change. */
  private retryLater(key: string, namespace: string, name: string, conditions: readonly ProviderConditionInput[]): void {
    const previous = this.retries.get(key);
    const delayMs = previous === undefined ? this.retryMs : Math.min(previous.delayMs * 2, this.maxRetryMs);
    const timer = setTimeout(() => this.report(namespace, name, conditions), delayMs);
    timer.unref();
    this.retries.set(key, { timer, delayMs });
  }

  private clearRetry(key: string): void {
    const retry = this.retries.get(key);
    if (retry?.timer != null) clearTimeout(retry.timer);
    this.retries.delete(key);
  }
}

/** The status to write, or null when the object's status already says it. */
export function desiredStatus(seen: SeenProvider, conditions: readonly ProviderConditionInput[], now: Date): Record<string, unknown> | null {
  const existing = seen.status.conditions ?? [];
  const stamp = `${now.toISOString().slice(0, 19)}Z`; // metav1.Time: RFC 3339, whole seconds
  let changed = seen.generation !== undefined && seen.status.observedGeneration !== seen.generation;
  const ours = conditions.map((condition): ApiCondition => {
    const before = existing.find((c) => c.type === condition.type);
    const same =
      before !== undefined && before.status === condition.status && before.reason === condition.reason &&
      before.message === condition.message && before.observedGeneration === seen.generation;
    if (!same) changed = true;
    return {
      type: condition.type,
      status: condition.status,
      reason: condition.reason,
      message: condition.message,
      // The time of the last change of status, kept across changes of reason or message (metav1 SetStatusCondition).
      lastTransitionTime: before !== undefined && before.status === condition.status && before.lastTransitionTime !== undefined ? before.lastTransitionTime : stamp,
      ...(seen.generation !== undefined && { observedGeneration: seen.generation }),
    };
  });
  if (!changed) return null;
  const others = existing.filter((c) => !conditions.some((ours) => ours.type === c.type));
  return {
    ...seen.status,
    ...(seen.generation !== undefined && { observedGeneration: seen.generation }),
    conditions: [...others, ...ours],
  };
}
