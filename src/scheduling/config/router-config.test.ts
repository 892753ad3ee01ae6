import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { formatIssue } from '../../resources/types.ts';
import { makeEnv } from '../framework/test-support.ts';
import type { LeastRequestPlugin } from '../plugins/least-request.ts';
import type { PrefixCachePlugin } from '../plugins/prefix-cache.ts';
import { buildProfile } from './build-profile.ts';
import { DEFAULT_FILTERS, DEFAULT_LOAD_BOUND, DEFAULT_SCORES, defaultSchedulerConfig, parseRouterConfig, type SchedulerConfig } from './router-config.ts';

const FILE = '/etc/switchyard/router.yaml';

/** Kthena's Helm chart configmap, verbatim. */
const KTHENA_CHART = readFileSync(new URL('../../../examples/router-config/kthena-chart.yaml', import.meta.url), 'utf8');

function ok(text: string): { config: SchedulerConfig; warnings: string[] } {
  const result = parseRouterConfig(text, FILE);
  if (!result.ok) assert.fail(result.issues.map(formatIssue).join('\n'));
  return { config: result.config, warnings: result.issues.map(formatIssue) };
}

function errors(text: string): string[] {
  const result = parseRouterConfig(text, FILE);
  assert.equal(result.ok, false, 'expected the file to be rejected');
  return result.issues.filter((i) => i.severity === 'error').map(formatIssue);
}

const scoreNames = (config: SchedulerConfig): string[] => config.scores.map((s) => `${s.name}:${s.weight}`);

describe('router configuration file', () => {
  it("reads Kthena's chart configuration", () => {
    const { config, warnings } = ok(KTHENA_CHART);
    assert.deepEqual(config.filters, ['least-request']);
    assert.deepEqual(scoreNames(config), ['least-request:1', 'gpu-usage:1', 'least-latency:1', 'prefix-cache:1']);
    assert.deepEqual(config.args.get('least-request')?.value, { maxWaitingRequests: 10 });
    assert.deepEqual(config.args.get('least-latency')?.value, { TTFTTPOTWeightFactor: 0.5 });
    assert.deepEqual(warnings, []);
  });

  describe('scheduler.loadBound (Switchyard\'s)', () => {
    it('defaults to 1.5x the fair share plus 4, also for a Kthena file, and reaches the profile', () => {
      assert.deepEqual(defaultSchedulerConfig().loadBound, DEFAULT_LOAD_BOUND);
      assert.deepEqual(ok(KTHENA_CHART).config.loadBound, { factor: 1.5, slack: 4 });
      assert.deepEqual(buildProfile(ok('scheduler:\n  loadBound: {factor: 2}\n').config, makeEnv()).loadBound, { factor: 2, slack: 4 });
    });
    it('is turned off with false', () => assert.equal(ok('scheduler:\n  loadBound: false\n').config.loadBound, null));
    it('takes factor and slack', () => assert.deepEqual(ok('scheduler:\n  loadBound: {factor: 1.5, slack: 0}\n').config.loadBound, { factor: 1.5, slack: 0 }));
    const bad: [string, string][] = [
      ['{factor: 0.5}', 'scheduler.loadBound.factor'],
      ['{slack: -1}', 'scheduler.loadBound.slack'],
      ['{factr: 2}', 'scheduler.loadBound.factr'],
      ['true', 'scheduler.loadBound'],
    ];
    for (const [value, field] of bad) {
      it(`rejects loadBound: ${value}, naming ${field}`, () => {
        const found = errors(`scheduler:\n  loadBound: ${value}\n`);
        assert.ok(found.some((e) => e.includes(field)), found.join('\n'));
      });
    }
  });

  it('defaults without a file: kvcache-aware and prefix-cache on whole prompts, lora-residency, least-request, lora-affinity', () => {
    const config = defaultSchedulerConfig();
    assert.deepEqual(config.filters, DEFAULT_FILTERS);
    assert.deepEqual(config.filters, ['lora-affinity', 'least-request']);
    assert.deepEqual(config.scores, DEFAULT_SCORES);
    assert.deepEqual(scoreNames(config), ['kvcache-aware:2', 'prefix-cache:2', 'lora-residency:3', 'least-request:1']);
    assert.deepEqual(config.args.get('prefix-cache')?.value, { blockSizeToHash: 64, maxBlocksToMatch: 1024, maxHashCacheSize: 50000, topKMatches: 5 });
    assert.deepEqual(config.args.get('kvcache-aware')?.value, { blockSizeToHash: 16, maxBlocksToMatch: 512, tokenizeTimeoutMs: 5000, inlineTokenizeMaxChars: 16384 });
    assert.deepEqual(config.args.get('least-request')?.value, { maxWaitingRequests: 10 });
  });

  const layouts: { name: string; text: string; filters: string[]; scores: string[] }[] = [
    { name: 'an empty file keeps the defaults', text: '', filters: [...DEFAULT_FILTERS], scores: DEFAULT_SCORES.map((s) => `${s.name}:${s.weight}`) },
    { name: 'an empty scheduler section keeps the defaults', text: 'scheduler:\n', filters: [...DEFAULT_FILTERS], scores: DEFAULT_SCORES.map((s) => `${s.name}:${s.weight}`) },
    {
      name: 'disabled removes a default',
      text: 'scheduler:\n  plugins:\n    Filter:\n      disabled: [lora-affinity]\n    Score:\n      disabled: [{name: prefix-cache}, gpu-usage]\n',
      filters: ['least-request'],
      scores: ['kvcache-aware:2', 'lora-residency:3', 'least-request:1'],
    },
    {
      name: 'enabled replaces the defaults of its section only',
      text: 'scheduler:\n  plugins:\n    Score:\n      enabled:\n        - {name: session-affinity, weight: 10}\n        - {name: least-request}\n',
      filters: [...DEFAULT_FILTERS],
      scores: ['session-affinity:10', 'least-request:1'],
    },
    { name: 'an empty enabled list means none', text: 'scheduler:\n  plugins:\n    Filter:\n      enabled: []\n', filters: [], scores: DEFAULT_SCORES.map((s) => `${s.name}:${s.weight}`) },
    {
      name: 'random is dropped next to other score plugins, as Kthena does',
      text: 'scheduler:\n  plugins:\n    Score:\n      enabled: [{name: random, weight: 1}, {name: gpu-usage, weight: 1}]\n',
      filters: [...DEFAULT_FILTERS],
      scores: ['gpu-usage:1'],
    },
    {
      name: 'random alone stays',
      text: 'scheduler:\n  plugins:\n    Score:\n      enabled: [{name: random, weight: 1}]\n',
      filters: [...DEFAULT_FILTERS],
      scores: ['random:1'],
    },
  ];
  for (const c of layouts) {
    it(c.name, () => {
      const { config } = ok(c.text);
      assert.deepEqual(config.filters, c.filters);
      assert.deepEqual(scoreNames(config), c.scores);
    });
  }

  it("reads Kthena's documented kvcache-aware configurations, tokenizer service included", () => {
    const { config, warnings } = ok(
      'scheduler:\n  pluginConfig:\n  - name: least-request\n    args:\n      maxWaitingRequests: 10\n  - name: kvcache-aware\n    args:\n      blockSizeToHash: 128\n      maxBlocksToMatch: 128\n' +
        '  plugins:\n    Filter:\n      enabled:\n        - least-request\n    Score:\n      enabled:\n        - name: least-request\n          weight: 1\n        - name: kvcache-aware\n          weight: 1\n',
    );
    assert.deepEqual(scoreNames(config), ['least-request:1', 'kvcache-aware:1']);
    assert.deepEqual(config.args.get('kvcache-aware')?.value, { blockSizeToHash: 128, maxBlocksToMatch: 128, tokenizeTimeoutMs: 5000, inlineTokenizeMaxChars: 16384 });
    assert.deepEqual(warnings, []);
    const service = ok(
      'scheduler:\n  pluginConfig:\n  - name: kvcache-aware\n    args:\n      blockSizeToHash: 16\n      maxBlocksToMatch: 128\n      tokenizerService:\n        enabled: true\n        endpoint: http://127.0.0.1:8100\n        fallbackToEngine: true\n' +
        '  plugins:\n    Score:\n      enabled:\n        - name: kvcache-aware\n          weight: 1\n        - name: least-request\n          weight: 1\n',
    );
    assert.deepEqual(service.config.args.get('kvcache-aware')?.value, {
      blockSizeToHash: 16,
      maxBlocksToMatch: 128,
      tokenizeTimeoutMs: 5000,
      inlineTokenizeMaxChars: 16384,
      tokenizerService: { enabled: true, endpoint: 'http://127.0.0.1:8100', fallbackToEngine: true },
    });
  });

  it('hands the auth and fairness sections on unparsed, for the composition root to validate', () => {
    const { config, warnings } = ok('auth:\n  issuer: https://issuer\n  audiences: [a]\n  jwksUri: https://issuer/jwks\nfairness:\n  mode: fairness\n');
    assert.deepEqual(config.filters, DEFAULT_FILTERS);
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.sections, { auth: { issuer: 'https://issuer', audiences: ['a'], jwksUri: 'https://issuer/jwks' }, fairness: { mode: 'fairness' } });
  });

  it('warns about args for a plugin that is not enabled', () => {
    const { warnings } = ok('scheduler:\n  pluginConfig:\n    - name: session-affinity\n      args: {headerName: x-user}\n');
    assert.deepEqual(warnings, [`warning: ${FILE}: field scheduler.pluginConfig[0].name: session-affinity is configured but not enabled`]);
  });

  const invalid: { name: string; text: string; expected: string[] }[] = [
    {
      name: 'an unknown plugin name',
      text: 'scheduler:\n  plugins:\n    Filter:\n      enabled: [least-requests]\n',
      expected: [`error: ${FILE}: field scheduler.plugins.Filter.enabled[0]: unknown plugin "least-requests"; known plugins: least-request, least-latency, prefix-cache, gpu-usage, lora-affinity, random, session-affinity, kvcache-aware, lora-residency`],
    },
    {
      name: 'a kvcache-aware tokenizer port out of range',
      text: 'scheduler:\n  pluginConfig:\n    - name: kvcache-aware\n      args: {vllmTokenizerPort: 70000}\n  plugins:\n    Score:\n      enabled: [{name: kvcache-aware, weight: 1}]\n',
      expected: [`error: ${FILE}: field scheduler.pluginConfig[0].args.vllmTokenizerPort: must be at most 65535, got 70000`],
    },
    {
      name: 'a plugin of the wrong kind',
      text: 'scheduler:\n  plugins:\n    Score:\n      enabled: [{name: lora-affinity, weight: 1}]\n',
      expected: [`error: ${FILE}: field scheduler.plugins.Score.enabled[0].name: lora-affinity is not a score plugin (it is a filter plugin)`],
    },
    {
      name: 'an out-of-range factor',
      text: 'scheduler:\n  pluginConfig:\n    - name: least-latency\n      args:\n        TTFTTPOTWeightFactor: 1.5\n',
      expected: [`error: ${FILE}: field scheduler.pluginConfig[0].args.TTFTTPOTWeightFactor: must be in [0, 1]`],
    },
    {
      name: 'a misspelt argument',
      text: 'scheduler:\n  pluginConfig:\n    - name: least-request\n      args:\n        maxWaitingRequest: 5\n',
      expected: [`error: ${FILE}: field scheduler.pluginConfig[0].args.maxWaitingRequest: unknown field`],
    },
    {
      name: 'a wrongly typed argument',
      text: 'scheduler:\n  pluginConfig:\n    - name: prefix-cache\n      args:\n        blockSizeToHash: big\n',
      expected: [`error: ${FILE}: field scheduler.pluginConfig[0].args.blockSizeToHash: must be a number, got "big"`],
    },
    {
      name: 'a negative weight',
      text: 'scheduler:\n  plugins:\n    Score:\n      enabled: [{name: gpu-usage, weight: -1}]\n',
      expected: [`error: ${FILE}: field scheduler.plugins.Score.enabled[0].weight: must be at least 0, got -1`],
    },
    {
      name: 'an unknown section',
      text: 'schedular:\n  plugins: {}\n',
      expected: [`error: ${FILE}: field schedular: unknown field`],
    },
    {
      name: 'a plugin both enabled and disabled',
      text: 'scheduler:\n  plugins:\n    Filter:\n      enabled: [least-request]\n      disabled: [least-request]\n',
      expected: [`error: ${FILE}: field scheduler.plugins.Filter.disabled[0]: least-request is both enabled and disabled`],
    },
    {
      name: 'a plugin listed twice',
      text: 'scheduler:\n  plugins:\n    Score:\n      enabled: [{name: gpu-usage}, {name: gpu-usage, weight: 2}]\n',
      expected: [`error: ${FILE}: field scheduler.plugins.Score.enabled[1]: gpu-usage is listed twice`],
    },
    {
      name: 'args given twice',
      text: 'scheduler:\n  pluginConfig:\n    - {name: least-request}\n    - {name: least-request, args: {maxWaitingRequests: 3}}\n',
      expected: [`error: ${FILE}: field scheduler.pluginConfig[1].name: least-request is configured twice`],
    },
    { name: 'broken YAML', text: 'scheduler: [\n', expected: [] },
  ];
  for (const c of invalid) {
    it(`rejects ${c.name}, naming the file and field`, () => {
      const found = errors(c.text);
      if (c.expected.length > 0) assert.deepEqual(found, c.expected);
      else assert.match(found[0] ?? '', new RegExp(`^error: ${FILE}: YAML syntax error`));
    });
  }
});

describe('buildProfile', () => {
  it('builds one instance per plugin, shared by filter and score', () => {
    const profile = buildProfile(defaultSchedulerConfig(), makeEnv());
    assert.deepEqual(profile.filters.map((p) => p.name), ['lora-affinity', 'least-request']);
    assert.deepEqual(profile.scores.map((s) => s.plugin.name), ['kvcache-aware', 'prefix-cache', 'lora-residency', 'least-request']);
    assert.equal(profile.filters[1], profile.scores[3].plugin);
    assert.deepEqual(profile.hooks.map((p) => p.name), ['prefix-cache', 'lora-residency']);
    assert.equal(profile.plugins.length, 5);
  });

  it('keeps the instances (and their state) of plugins whose args did not change', () => {
    const env = makeEnv();
    const first = buildProfile(defaultSchedulerConfig(), env);
    const text = 'scheduler:\n  pluginConfig:\n    - name: least-request\n      args: {maxWaitingRequests: 3}\n';
    const result = parseRouterConfig(text, FILE);
    assert.ok(result.ok);
    const second = buildProfile(result.config, env, first);
    const prefix = (p: typeof first) => p.scores.find((s) => s.plugin.name === 'prefix-cache')?.plugin as PrefixCachePlugin;
    assert.equal(prefix(second), prefix(first), 'prefix-cache unchanged: same instance');
    const leastRequest = second.filters.find((p) => p.name === 'least-request') as LeastRequestPlugin;
    assert.notEqual(leastRequest, first.filters[1], 'least-request args changed: new instance');
    assert.equal(leastRequest.maxWaitingRequests, 3);
  });
});
