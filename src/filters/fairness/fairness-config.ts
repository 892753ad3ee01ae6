// Fair queueing and session boost settings: Kthena's environment variables (same names, defaults and fallbacks:
// an invalid value is a warning and keeps the default), and a `fairness:` section of the router configuration whose
// fields override them. Kthena refuses to start with both strategies on; so does fairnessConfigFromEnv (an error).
import { z } from 'zod';
import { parseGoDuration } from '../../resources/duration.ts';
import type { ConfigIssue } from '../../resources/types.ts';
import { durationMs, issueAt, parseSection, type SectionResult } from '../config-issues.ts';

export type QueueMode = 'off' | 'fairness' | 'session-boost';

export interface FairnessConfig {
  readonly mode: QueueMode;
  /** FAIRNESS_QUEUE_TIMEOUT: longest wait in fairness mode. */
  readonly queueTimeoutMs: number;
  /** FAIRNESS_WINDOW_SIZE: the usage window (1m-1h). */
  readonly windowMs: number;
  readonly inputTokenWeight: number;
  readonly outputTokenWeight: number;
  /** FAIRNESS_MAX_CONCURRENT: per model; 0 = QPS mode. */
  readonly maxConcurrent: number;
  /** FAIRNESS_MAX_QPS: admissions per second per model in QPS mode. */
  readonly maxQps: number;
  readonly priorityTokenWeight: number;
  readonly priorityRequestNumWeight: number;
  readonly sessionHeader: string;
  readonly maxSessions: number;
  readonly inflightPerPod: number;
  readonly gracePeriodMs: number;
  /** SESSION_BOOST_TIMEOUT: longest wait in session-boost mode; 0 = none. */
  readonly sessionBoostTimeoutMs: number;
  /** Switchyard: header whose value is the fairness key of requests without an identity (null: one shared key). */
  readonly userHeader: string | null;
  /** Switchyard: Retry-After of a queue_timeout answer. */
  readonly retryAfterSeconds: number;
  /** Switchyard: how often a session-boost queue re-checks busy pods (Kthena only re-checks on events and can stall). */
  readonly backpressurePollMs: number;
}

export const DEFAULT_FAIRNESS_CONFIG: FairnessConfig = Object.freeze({
  mode: 'off',
  queueTimeoutMs: 60_000,
  windowMs: 5 * 60_000,
  inputTokenWeight: 1,
  outputTokenWeight: 2,
  maxConcurrent: 0,
  maxQps: 100,
  priorityTokenWeight: 1,
  priorityRequestNumWeight: 0,
  sessionHeader: 'X-Session-ID',
  maxSessions: 4096,
  inflightPerPod: 16,
  gracePeriodMs: 0,
  sessionBoostTimeoutMs: 30_000,
  userHeader: null,
  retryAfterSeconds: 5,
  backpressurePollMs: 250,
});

const MIN_WINDOW_MS = 60_000;
const MAX_WINDOW_MS = 3_600_000;
const ENV = 'environment';

/** Go's strconv.ParseBool. */
function goBool(text: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return null;
}

function goInt(text: string): number | null {
  return /^[+-]?\d+$/.test(text) ? Number(text) : null;
}

function goFloat(text: string): number | null {
  const value = text.trim() === '' ? NaN : Number(text);
  return Number.isFinite(value) ? value : null;
}

/** Reads Kthena's ENABLE_FAIRNESS_SCHEDULING, FAIRNESS_*, ENABLE_SESSION_BOOST and SESSION_BOOST_* variables. */
export function fairnessConfigFromEnv(env: Readonly<Record<string, string | undefined>>): { config: FairnessConfig; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const config: { -readonly [K in keyof FairnessConfig]: FairnessConfig[K] } = { ...DEFAULT_FAIRNESS_CONFIG };
  const read = <T>(name: string, parse: (text: string) => T | null, valid: (value: T) => boolean, apply: (value: T) => void, fallback: unknown): void => {
    const text = env[name];
    if (text === undefined || text === '') return;
    const value = parse(text);
    if (value !== null && valid(value)) apply(value);
    else issues.push(issueAt('warning', ENV, [name], `invalid value ${JSON.stringify(text)}, using the default ${String(fallback)}`));
  };
  const seconds = (ms: number): string => `${ms / 1000}s`;

  let fairness = false;
  let sessionBoost = false;
  read('ENABLE_FAIRNESS_SCHEDULING', goBool, () => true, (v) => (fairness = v), false);
  read('ENABLE_SESSION_BOOST', goBool, () => true, (v) => (sessionBoost = v), false);
  if (fairness && sessionBoost) {
    issues.push(issueAt('error', ENV, ['ENABLE_SESSION_BOOST'], 'ENABLE_FAIRNESS_SCHEDULING and ENABLE_SESSION_BOOST are mutually exclusive; enable only one'));
  }
  config.mode = sessionBoost ? 'session-boost' : fairness ? 'fairness' : 'off';

  read('FAIRNESS_QUEUE_TIMEOUT', parseGoDuration, (ms) => ms > 0, (ms) => (config.queueTimeoutMs = ms), seconds(config.queueTimeoutMs));
  read('FAIRNESS_WINDOW_SIZE', parseGoDuration, (ms) => ms >= MIN_WINDOW_MS && ms <= MAX_WINDOW_MS, (ms) => (config.windowMs = ms), '5m (must be 1m-1h)');
  read('FAIRNESS_INPUT_TOKEN_WEIGHT', goFloat, (v) => v >= 0, (v) => (config.inputTokenWeight = v), config.inputTokenWeight);
  read('FAIRNESS_OUTPUT_TOKEN_WEIGHT', goFloat, (v) => v >= 0, (v) => (config.outputTokenWeight = v), config.outputTokenWeight);
  read('FAIRNESS_MAX_CONCURRENT', goInt, (n) => n >= 0, (n) => (config.maxConcurrent = n), config.maxConcurrent);
  read('FAIRNESS_MAX_QPS', goInt, (n) => n > 0, (n) => (config.maxQps = n), config.maxQps);
  read('FAIRNESS_PRIORITY_TOKEN_WEIGHT', goFloat, (v) => v >= 0, (v) => (config.priorityTokenWeight = v), config.priorityTokenWeight);
  read('FAIRNESS_PRIORITY_REQUEST_NUM_WEIGHT', goFloat, (v) => v >= 0, (v) => (config.priorityRequestNumWeight = v), config.priorityRequestNumWeight);
  // Kthena's dequeue-time refresh knobs: priorities here are always computed when the next request is picked.
  read('FAIRNESS_PRIORITY_REFRESH_RETRIES', goInt, (n) => n >= 0, () => undefined, 0);
  read('FAIRNESS_REBUILD_THRESHOLD', goInt, (n) => n > 0, () => undefined, 64);
  if (config.priorityTokenWeight === 0 && config.priorityRequestNumWeight === 0) config.priorityTokenWeight = 1; // as Kthena

  if (sessionBoost) {
    if (env.SESSION_BOOST_HEADER) config.sessionHeader = env.SESSION_BOOST_HEADER;
    read('SESSION_BOOST_MAX_SESSIONS', goInt, (n) => n > 0, (n) => (config.maxSessions = n), config.maxSessions);
    read('SESSION_BOOST_INFLIGHT_PER_POD', goInt, (n) => n > 0, (n) => (config.inflightPerPod = n), config.inflightPerPod);
    read('SESSION_BOOST_GRACE_PERIOD', parseGoDuration, (ms) => ms >= 0, (ms) => (config.gracePeriodMs = ms), '0s');
  }
  // A non-positive SESSION_BOOST_TIMEOUT disables the timeout (Kthena).
  read('SESSION_BOOST_TIMEOUT', parseGoDuration, () => true, (ms) => (config.sessionBoostTimeoutMs = Math.max(0, ms)), '30s');
  return { config: Object.freeze(config), issues };
}

const positiveNumber = z.number().min(0);
const sectionSchema = z.strictObject({
  mode: z.enum(['off', 'fairness', 'session-boost']).optional(),
  queueTimeout: durationMs.refine((ms) => ms > 0, 'must be more than 0').optional(),
  windowSize: durationMs.refine((ms) => ms >= MIN_WINDOW_MS && ms <= MAX_WINDOW_MS, 'must be between 1m and 1h').optional(),
  inputTokenWeight: positiveNumber.optional(),
  outputTokenWeight: positiveNumber.optional(),
  maxConcurrent: z.int().min(0).optional(),
  maxQPS: z.int().min(1).optional(),
  priorityTokenWeight: positiveNumber.optional(),
  priorityRequestNumWeight: positiveNumber.optional(),
  userHeader: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name').nullable().optional(),
  retryAfter: durationMs.refine((ms) => ms >= 1000, 'must be at least 1s').optional(),
  sessionBoost: z
    .strictObject({
      header: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name').optional(),
      maxSessions: z.int().min(1).optional(),
      inflightPerPod: z.int().min(1).optional(),
      gracePeriod: durationMs.optional(),
      timeout: durationMs.optional(),
      backpressurePoll: durationMs.refine((ms) => ms >= 10, 'must be at least 10ms').optional(),
    })
    .optional(),
});

/**
 * Validates the router configuration's `fairness:` section (`raw` is its value). Fields it sets override `base`
 * (the environment's configuration); null/undefined leaves `base` as it is.
 */
export function parseFairnessConfig(raw: unknown, file: string, base: FairnessConfig = DEFAULT_FAIRNESS_CONFIG): SectionResult<FairnessConfig> {
  if (raw === undefined || raw === null) return { ok: true, config: base, issues: [] };
  const parsed = parseSection(sectionSchema, raw, file, ['fairness']);
  if (!parsed.ok) return parsed;
  const s = parsed.config;
  const b = s.sessionBoost ?? {};
  const config: FairnessConfig = Object.freeze({
    mode: s.mode ?? base.mode,
    queueTimeoutMs: s.queueTimeout ?? base.queueTimeoutMs,
    windowMs: s.windowSize ?? base.windowMs,
    inputTokenWeight: s.inputTokenWeight ?? base.inputTokenWeight,
    outputTokenWeight: s.outputTokenWeight ?? base.outputTokenWeight,
    maxConcurrent: s.maxConcurrent ?? base.maxConcurrent,
    maxQps: s.maxQPS ?? base.maxQps,
    priorityTokenWeight: s.priorityTokenWeight ?? base.priorityTokenWeight,
    priorityRequestNumWeight: s.priorityRequestNumWeight ?? base.priorityRequestNumWeight,
    sessionHeader: b.header ?? base.sessionHeader,
    maxSessions: b.maxSessions ?? base.maxSessions,
    inflightPerPod: b.inflightPerPod ?? base.inflightPerPod,
    gracePeriodMs: b.gracePeriod ?? base.gracePeriodMs,
    sessionBoostTimeoutMs: b.timeout ?? base.sessionBoostTimeoutMs,
    userHeader: s.userHeader === undefined ? base.userHeader : s.userHeader,
    retryAfterSeconds: s.retryAfter !== undefined ? Math.ceil(s.retryAfter / 1000) : base.retryAfterSeconds,
    backpressurePollMs: b.backpressurePoll ?? base.backpressurePollMs,
  });
  const issues: ConfigIssue[] = [];
  if (config.priorityTokenWeight === 0 && config.priorityRequestNumWeight === 0) {
    issues.push(issueAt('error', file, ['fairness', 'priorityTokenWeight'], 'priorityTokenWeight and priorityRequestNumWeight cannot both be 0'));
    return { ok: false, issues };
  }
  return { ok: true, config, issues };
}
