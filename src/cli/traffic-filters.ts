// The pipeline's authenticate and admit filters as `serve` runs them: authentication from the router configuration's
// `auth` section, fair queueing from Kthena's environment variables overridden by its `fairness` section. Both follow
// the file's hot reload: a changed `auth` section builds a new authenticator (the old JWKS store is closed), the API
// key file is re-read on every reload and watched on its own (key-file-watcher.ts), and the fair queue is reconfigured in place (queued requests stay queued).
import type { Logger } from 'pino';
import type { EngineStatsSource } from '../engines/engine-state.ts';
import {
  credentialHeadersToStrip, loadApiKeyFile, parseAuthConfig, startAuthentication, type AuthConfig, type AuthLog, type Authentication,
} from '../filters/auth/index.ts';
import { FairQueue, fairnessConfigFromEnv, parseFairnessConfig, type BackendLoad, type FairnessConfig } from '../filters/fairness/index.ts';
import type { QueueMetricSet } from '../observability/metric-definitions.ts';
import type { Admission, AdmissionRequest, AdmissionTicket, AuthResult, Authenticator } from '../pipeline/filters.ts';
import type { RouterError } from '../errors/router-error.ts';
import { formatIssue, type ConfigIssue } from '../resources/types.ts';
import type { PreparedSections } from '../scheduling/config/scheduler-setup.ts';
import type { RouterConfigSections } from '../scheduling/config/router-config.ts';
import type { PodEndpoint } from '../snapshot/types.ts';
import { emptiedKeyFile, KeyFileWatcher } from './key-file-watcher.ts';

const NOTHING_STRIPPED: readonly string[] = Object.freeze([]);

/** The authenticator the pipeline holds for the router's lifetime; what it delegates to changes on reload. */
class ReloadableAuthenticator implements Authenticator {
  current: Authentication | null = null;
  podHeadersToStrip: readonly string[] = NOTHING_STRIPPED;

  authenticate(rawHeaders: readonly string[], signal: AbortSignal): AuthResult | Promise<AuthResult> {
    const current = this.current;
    return current === null ? null : current.authenticator.authenticate(rawHeaders, signal);
  }
}

/** The fair queue behind the pipeline's Admission, with the pods of each model for session boost's backpressure. */
class QueueAdmission implements Admission {
  readonly queue: FairQueue;
  private readonly podsByModel = new Map<string, readonly PodEndpoint[]>();
  private readonly engines: EngineStatsSource;

  constructor(config: FairnessConfig, metrics: QueueMetricSet | null, engines: EngineStatsSource) {
    this.engines = engines;
    this.queue = new FairQueue({ config, metrics, backendLoad: (model) => this.backendLoad(model) });
  }

  get active(): boolean {
    return this.queue.active;
  }

  keysOf(identityUser: string | null, rawHeaders: readonly string[]): { user: string; sessionKey: string | null } {
    return this.queue.keysOf(identityUser, rawHeaders);
  }

  admit(request: AdmissionRequest, signal: AbortSignal): AdmissionTicket | RouterError | Promise<AdmissionTicket | RouterError> {
    if (request.pods !== undefined && this.podsByModel.get(request.model) !== request.pods) this.podsByModel.set(request.model, request.pods);
    return this.queue.admit(request, signal);
  }

  /** The model's pods (as last routed) and the lowest num_requests_waiting the engine scrapes report among them. */
  private backendLoad(model: string): BackendLoad | null {
    const pods = this.podsByModel.get(model);
    if (pods === undefined) return null;
    const now = Date.now(); // the engine scrapes' clock
    let minWaiting = Infinity;
    for (const pod of pods) {
      const waiting = this.engines.metrics(pod.origin, now)?.waiting;
      minWaiting = Math.min(minWaiting, waiting === undefined || Number.isNaN(waiting) ? 0 : waiting);
    }
    return { pods: pods.length, minWaiting: pods.length === 0 ? 0 : minWaiting };
  }
}

export interface TrafficFiltersOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  readonly engines: EngineStatsSource;
  readonly queueMetrics: QueueMetricSet | null;
  /** Debounce of the API key file's watch. */
  readonly reloadDebounceMs: number;
}

export class TrafficFilters {
  readonly authenticator = new ReloadableAuthenticator();
  readonly admission: QueueAdmission;
  private readonly envFairness: FairnessConfig;
  private readonly log: Logger;
  private authKey = 'null';
  private readonly debounceMs: number;
  private keyWatcher: KeyFileWatcher | null = null;
  private watchedKeyFile: string | null = null;
  /** Starting or stopping the key file's watch, in order. */
  private keyWatching: Promise<void> = Promise.resolve();

  private constructor(envFairness: FairnessConfig, options: TrafficFiltersOptions) {
    this.envFairness = envFairness;
    this.log = options.log;
    this.debounceMs = options.reloadDebounceMs;
    this.admission = new QueueAdmission(envFairness, options.queueMetrics, options.engines);
  }

  /** From the environment (Kthena's variables); errors (both strategies on) mean the router must not start. */
  static create(options: TrafficFiltersOptions): { filters: TrafficFilters | null; issues: readonly ConfigIssue[] } {
    const { config, issues } = fairnessConfigFromEnv(options.env);
    if (issues.some((i) => i.severity === 'error')) return { filters: null, issues };
    return { filters: new TrafficFilters(config, options), issues };
  }

  /** Validates a router configuration file's auth and fairness sections; commit() puts them in force. */
  async prepare(sections: RouterConfigSections, file: string): Promise<PreparedSections> {
    const fairness = parseFairnessConfig(sections.fairness, file, this.envFairness);
    const auth = parseAuthConfig(sections.auth, file);
    const issues = [...fairness.issues, ...auth.issues];
    if (!fairness.ok || !auth.ok) return { issues, commit: null };
    const key = JSON.stringify(auth.config);
    if (key === this.authKey) {
      // Unchanged section: keep the authenticator (and its JWKS cache); re-read the API key file only.
      const keys = await this.reloadApiKeys(auth.config, file);
      if (!keys.ok) return { issues: [...issues, ...keys.issues], commit: null };
      return {
        issues,
        commit: () => {
          this.admission.queue.configure(fairness.config);
          keys.apply();
          this.watchKeyFile(auth.config?.apiKeysFile ?? null);
        },
      };
    }
    let next: Authentication | null = null;
    if (auth.config !== null) {
      const started = await startAuthentication(auth.config, { log: this.authLog() });
      // Its only failure is the key file's: named as the field of this file that points at it.
      if (!started.ok) return { issues: [...issues, ...asKeyFileField(started.issues, file)], commit: null };
      if (this.keyFileEmptied(auth.config.apiKeysFile, started.config.authenticator.apiKeyCount)) {
        started.config.close();
        return { issues: [...issues, ...asKeyFileField([emptiedKeyFile(auth.config.apiKeysFile ?? '')], file)], commit: null };
      }
      next = started.config;
    }
    const config = auth.config;
    return {
      issues,
      commit: () => {
        const previous = this.authenticator.current;
        this.authenticator.current = next;
        this.authenticator.podHeadersToStrip = next === null ? NOTHING_STRIPPED : credentialHeadersToStrip('in-cluster', next.forwardCredential);
        this.authKey = key;
        previous?.close();
        this.admission.queue.configure(fairness.config);
        this.watchKeyFile(config?.apiKeysFile ?? null);
        if (config !== null) this.log.info({ jwt: config.jwt !== null, apiKeys: config.apiKeysFile !== null }, 'authentication configured');
        else if (previous !== null) this.log.info('authentication turned off');
      },
    };
  }

  /** Resolves once the API key file's watch (if any) is in place: from then on no edit of it is missed. */
  keyFileWatched(): Promise<void> {
    return this.keyWatching;
  }

  async close(): Promise<void> {
    this.authenticator.current?.close();
    this.authenticator.current = null;
    this.admission.queue.close();
    this.watchKeyFile(null);
    await this.keyWatching;
  }

  private watchKeyFile(file: string | null): void {
    if (file === this.watchedKeyFile) return;
    this.watchedKeyFile = file;
    this.keyWatching = this.keyWatching.then(async () => {
      await this.keyWatcher?.close();
      this.keyWatcher = null;
      if (file === null) return;
      this.keyWatcher = await KeyFileWatcher.start(file, this.debounceMs, (keys) => {
        const current = this.authenticator.current;
        if (current === null || this.watchedKeyFile !== file) return;
        current.authenticator.setApiKeys(keys);
        this.log.info({ file }, 'API key file reloaded');
      }, (issues) => {
        for (const issue of issues) this.log.error({ file: issue.file, field: issue.path }, formatIssue(issue));
        this.log.error({ file }, 'API key file rejected; the last good keys stay in force');
      });
    }).catch((err: unknown) => this.log.error({ file, err: (err as Error).message }, 'cannot watch the API key file'));
  }

  private async reloadApiKeys(config: AuthConfig | null, file: string): Promise<{ ok: true; apply: () => void } | { ok: false; issues: readonly ConfigIssue[] }> {
    const current = this.authenticator.current;
    if (config === null || config.apiKeysFile === null || current === null) return { ok: true, apply: () => undefined };
    const loaded = await loadApiKeyFile(config.apiKeysFile);
    if (!loaded.ok) return { ok: false, issues: asKeyFileField(loaded.issues, file) };
    if (this.keyFileEmptied(config.apiKeysFile, loaded.config.size)) return { ok: false, issues: asKeyFileField([emptiedKeyFile(config.apiKeysFile)], file) };
    return { ok: true, apply: () => current.authenticator.setApiKeys(loaded.config) };
  }

  /** The key file in force held keys and now reads none: the same guard as the key-file watcher's. */
  private keyFileEmptied(keyFile: string | null, keysRead: number): boolean {
    return keyFile !== null && keysRead === 0 && keyFile === this.watchedKeyFile && (this.authenticator.current?.authenticator.apiKeyCount ?? 0) > 0;
  }

  private authLog(): AuthLog {
    return { info: (message) => this.log.info(message), warn: (message) => this.log.warn(message) };
  }
}

/** The key file's own issues, each also naming the router configuration field that points at the file. */
function asKeyFileField(issues: readonly ConfigIssue[], routerConfigFile: string): ConfigIssue[] {
  return issues.map((issue) => ({ ...issue, message: `${issue.message} (auth.apiKeysFile of ${routerConfigFile})` }));
}
