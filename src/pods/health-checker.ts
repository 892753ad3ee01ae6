// Active health checking: GET /health on every configured pod at an interval. A failed probe takes the pod out of
// scheduling until a probe succeeds again. Used in standalone mode, where no kubelet reports readiness.
import { Agent } from 'undici';
import { tlsConnect } from '../util/tls-trust.ts';
import { backgroundGet } from '../util/background-get.ts';
import type { PodStateTable } from './pod-state.ts';

export interface HealthCheckOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly path: string;
  readonly concurrency: number;
  /** CA certificates trusted for https pods (--upstream-ca), besides Node's; absent: Node's only. */
  readonly ca?: string;
}

export const DEFAULT_HEALTH_CHECK: HealthCheckOptions = { intervalMs: 5000, timeoutMs: 2000, path: '/health', concurrency: 32 };

export class HealthChecker {
  private readonly options: HealthCheckOptions;
  private readonly states: PodStateTable;
  private readonly agent: Agent;
  private origins: readonly string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;

  constructor(states: PodStateTable, options: HealthCheckOptions = DEFAULT_HEALTH_CHECK) {
    this.states = states;
    this.options = options;
    this.agent = new Agent({ connections: 2, keepAliveTimeout: options.intervalMs * 2, connectTimeout: options.timeoutMs, connect: tlsConnect(options.ca) });
  }

  /** Replace the set of pods to probe; new ones are probed at once. */
  setOrigins(origins: Iterable<string>): void {
    const previous = new Set(this.origins);
    this.origins = [...origins];
    const added = this.origins.filter((o) => !previous.has(o));
    if (added.length > 0 && !this.stopped) void this.probeAll(added);
  }

  start(): void {
    if (this.timer !== null || this.stopped) return;
    this.timer = setInterval(() => {
      if (!this.running) void this.probeAll(this.origins);
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.agent.close();
  }

  async probeAll(origins: readonly string[]): Promise<void> {
    this.running = true;
    try {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < origins.length && !this.stopped) await this.probe(origins[next++]);
      };
      await Promise.all(Array.from({ length: Math.min(this.options.concurrency, origins.length) }, worker));
    } finally {
      this.running = false;
    }
  }

  private async probe(origin: string): Promise<void> {
    try {
      const status = await backgroundGet(this.agent, origin, this.options.path, { timeoutMs: this.options.timeoutMs, read: 'status' }).done;
      const ok = status >= 200 && status < 300;
      if (!this.stopped) this.states.reportProbe(origin, ok, ok ? null : `health probe answered ${status}`);
    } catch (err) {
      if (!this.stopped) this.states.reportProbe(origin, false, `health probe failed: ${(err as Error).message}`);
    }
  }
}
