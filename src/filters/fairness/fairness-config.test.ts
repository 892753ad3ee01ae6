// Kthena's environment variables and the router configuration's fairness section.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_FAIRNESS_CONFIG, fairnessConfigFromEnv, parseFairnessConfig } from './fairness-config.ts';

describe('fairness configuration from the environment', () => {
  it("has Kthena's defaults and is off unless enabled", () => {
    const { config, issues } = fairnessConfigFromEnv({});
    assert.deepEqual(issues, []);
    assert.equal(config.mode, 'off');
    assert.deepEqual(
      [config.queueTimeoutMs, config.windowMs, config.inputTokenWeight, config.outputTokenWeight, config.maxConcurrent, config.maxQps],
      [60_000, 300_000, 1, 2, 0, 100],
    );
    assert.deepEqual([config.priorityTokenWeight, config.priorityRequestNumWeight], [1, 0]);
    assert.deepEqual([config.sessionHeader, config.maxSessions, config.inflightPerPod, config.gracePeriodMs, config.sessionBoostTimeoutMs], ['X-Session-ID', 4096, 16, 0, 30_000]);
  });

  it('reads every FAIRNESS_* variable', () => {
    const { config, issues } = fairnessConfigFromEnv({
      ENABLE_FAIRNESS_SCHEDULING: 'true', FAIRNESS_QUEUE_TIMEOUT: '10s', FAIRNESS_WINDOW_SIZE: '1h', FAIRNESS_INPUT_TOKEN_WEIGHT: '0.5',
      FAIRNESS_OUTPUT_TOKEN_WEIGHT: '3', FAIRNESS_MAX_CONCURRENT: '8', FAIRNESS_MAX_QPS: '50', FAIRNESS_PRIORITY_TOKEN_WEIGHT: '2',
      FAIRNESS_PRIORITY_REQUEST_NUM_WEIGHT: '10', FAIRNESS_PRIORITY_REFRESH_RETRIES: '3', FAIRNESS_REBUILD_THRESHOLD: '32',
    });
    assert.deepEqual(issues, []);
    assert.equal(config.mode, 'fairness');
    assert.deepEqual(
      [config.queueTimeoutMs, config.windowMs, config.inputTokenWeight, config.outputTokenWeight, config.maxConcurrent, config.maxQps, config.priorityTokenWeight, config.priorityRequestNumWeight],
      [10_000, 3_600_000, 0.5, 3, 8, 50, 2, 10],
    );
  });

  it('reads SESSION_BOOST_* when session boost is on; a non-positive timeout disables it', () => {
    const { config } = fairnessConfigFromEnv({
      ENABLE_SESSION_BOOST: '1', SESSION_BOOST_HEADER: 'X-Conversation', SESSION_BOOST_MAX_SESSIONS: '10', SESSION_BOOST_INFLIGHT_PER_POD: '4',
      SESSION_BOOST_GRACE_PERIOD: '50ms', SESSION_BOOST_TIMEOUT: '0s',
    });
    assert.deepEqual([config.mode, config.sessionHeader, config.maxSessions, config.inflightPerPod, config.gracePeriodMs, config.sessionBoostTimeoutMs], ['session-boost', 'X-Conversation', 10, 4, 50, 0]);
  });

  it('invalid values are warnings and keep the default, as in Kthena; both strategies is an error', () => {
    const { config, issues } = fairnessConfigFromEnv({
      ENABLE_FAIRNESS_SCHEDULING: 'yes', FAIRNESS_WINDOW_SIZE: '2h', FAIRNESS_MAX_QPS: '0', FAIRNESS_QUEUE_TIMEOUT: '60', FAIRNESS_INPUT_TOKEN_WEIGHT: '-1',
    });
    assert.equal(config.mode, 'off');
    assert.deepEqual([config.windowMs, config.maxQps, config.queueTimeoutMs, config.inputTokenWeight], [300_000, 100, 60_000, 1]);
    assert.deepEqual(issues.map((i) => [i.severity, i.file, i.path]), [
      ['warning', 'environment', 'ENABLE_FAIRNESS_SCHEDULING'], ['warning', 'environment', 'FAIRNESS_QUEUE_TIMEOUT'],
      ['warning', 'environment', 'FAIRNESS_WINDOW_SIZE'], ['warning', 'environment', 'FAIRNESS_INPUT_TOKEN_WEIGHT'], ['warning', 'environment', 'FAIRNESS_MAX_QPS'],
    ]);
    const both = fairnessConfigFromEnv({ ENABLE_FAIRNESS_SCHEDULING: 'true', ENABLE_SESSION_BOOST: 'true' });
    assert.equal(both.issues[0]?.severity, 'error');
    assert.match(both.issues[0]?.message ?? '', /mutually exclusive/);
  });
});

describe('fairness section of the router configuration', () => {
  it('overrides the environment field by field', () => {
    const base = fairnessConfigFromEnv({ ENABLE_FAIRNESS_SCHEDULING: 'true', FAIRNESS_MAX_QPS: '50' }).config;
    const parsed = parseFairnessConfig({ maxConcurrent: 4, queueTimeout: '15s', userHeader: 'X-Team', sessionBoost: { timeout: '5s' } }, 'router.yaml', base);
    assert.ok(parsed.ok);
    assert.deepEqual(
      [parsed.config.mode, parsed.config.maxQps, parsed.config.maxConcurrent, parsed.config.queueTimeoutMs, parsed.config.userHeader, parsed.config.sessionBoostTimeoutMs],
      ['fairness', 50, 4, 15_000, 'X-Team', 5000],
    );
    const absent = parseFairnessConfig(undefined, 'router.yaml', base);
    assert.ok(absent.ok && absent.config === base);
    const defaults = parseFairnessConfig({}, 'router.yaml');
    assert.ok(defaults.ok);
    assert.deepEqual(defaults.config, DEFAULT_FAIRNESS_CONFIG);
  });

  it('names the file and the field of every problem', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ mode: 'fair' }, 'fairness.mode', /one of/],
      [{ windowSize: '2h' }, 'fairness.windowSize', /between 1m and 1h/],
      [{ maxQPS: 0 }, 'fairness.maxQPS', /at least 1/],
      [{ sessionBoost: { gracePeriod: 'later' } }, 'fairness.sessionBoost.gracePeriod', /invalid duration/],
      [{ userHeader: 'x team' }, 'fairness.userHeader', /header name/],
      [{ maxConcurency: 1 }, 'fairness.maxConcurency', /unknown field/],
      [{ priorityTokenWeight: 0 }, 'fairness.priorityTokenWeight', /cannot both be 0/],
    ];
    for (const [raw, path, message] of cases) {
      const parsed = parseFairnessConfig(raw, 'router.yaml');
      assert.equal(parsed.ok, false, JSON.stringify(raw));
      const issue = parsed.issues.find((i) => i.path === path);
      assert.ok(issue, `${JSON.stringify(raw)}: ${JSON.stringify(parsed.issues)}`);
      assert.equal(issue.file, 'router.yaml');
      assert.match(issue.message, message);
    }
  });
});
