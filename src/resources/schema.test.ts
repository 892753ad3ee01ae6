// CRD structure, defaults and constraints: each case changes one field of a valid object.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertIssues,
  baseProviderSpec,
  baseRouteSpec,
  baseServerSpec,
  load,
  yamlOf,
  type ExpectedIssue,
} from './test-helpers.ts';
import type { ExternalModelProvider, ModelRoute, ModelServer } from './types.ts';

type Spec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test fixtures are edited freely

interface Case {
  name: string;
  kind: 'ModelRoute' | 'ModelServer' | 'ExternalModelProvider';
  edit: (spec: Spec) => void;
  expect: ExpectedIssue[];
}

const BASE_SPECS = { ModelRoute: baseRouteSpec, ModelServer: baseServerSpec, ExternalModelProvider: baseProviderSpec };

function runCases(cases: readonly Case[]): void {
  for (const { name, kind, edit, expect } of cases) {
    it(name, () => {
      const spec: Spec = BASE_SPECS[kind]();
      edit(spec);
      const { resources, issues } = load(yamlOf(kind, spec));
      assertIssues(issues, expect);
      if (expect.some(([severity]) => severity === 'error')) assert.equal(resources.length, 0);
    });
  }
}

const targets = (count: number) => Array.from({ length: count }, (_, i) => ({ modelServerName: `s${i}` }));

describe('ModelRoute CRD constraints', () => {
  runCases([
    { name: 'rules is required', kind: 'ModelRoute', edit: (s) => delete s.rules, expect: [['error', 'spec.rules', 'is required']] },
    // Kthena's CRD and webhook admit an empty rules list (no minItems); the route then matches nothing.
    { name: 'an empty rules list is admitted with a warning', kind: 'ModelRoute', edit: (s) => (s.rules = []), expect: [['warning', 'spec.rules', 'no rules: this route matches no request']] },
    {
      name: 'rules has at most 16 rules',
      kind: 'ModelRoute',
      edit: (s) => (s.rules = Array.from({ length: 17 }, () => ({ targetModels: targets(1) }))),
      expect: [['error', 'spec.rules', 'must have at most 16 items (has 17)']],
    },
    {
      name: 'targetModels needs at least one target',
      kind: 'ModelRoute',
      edit: (s) => (s.rules[0].targetModels = []),
      expect: [['error', 'spec.rules[0].targetModels', 'must have at least 1 item']],
    },
    {
      name: 'targetModels has at most 16 targets',
      kind: 'ModelRoute',
      edit: (s) => (s.rules[0].targetModels = targets(17)),
      expect: [['error', 'spec.rules[0].targetModels', 'must have at most 16 items']],
    },
    { name: 'weight at most 100', kind: 'ModelRoute', edit: (s) => (s.rules[0].targetModels[0].weight = 101), expect: [['error', 'spec.rules[0].targetModels[0].weight', 'must be at most 100, got 101']] },
    { name: 'weight at least 0', kind: 'ModelRoute', edit: (s) => (s.rules[0].targetModels[0].weight = -1), expect: [['error', 'spec.rules[0].targetModels[0].weight', 'must be at least 0']] },
    { name: 'weight is an integer', kind: 'ModelRoute', edit: (s) => (s.rules[0].targetModels[0].weight = 2.5), expect: [['error', 'spec.rules[0].targetModels[0].weight', 'must be an integer, got 2.5']] },
    { name: 'weight is not a string', kind: 'ModelRoute', edit: (s) => (s.rules[0].targetModels[0].weight = '50'), expect: [['error', 'spec.rules[0].targetModels[0].weight', 'must be a number, got "50"']] },
    {
      name: 'loraAdapters has at most 10 entries',
      kind: 'ModelRoute',
      edit: (s) => (s.loraAdapters = Array.from({ length: 11 }, (_, i) => `lora-${i}`)),
      expect: [['error', 'spec.loraAdapters', 'must have at most 10 items (has 11)']],
    },
    { name: 'rateLimit.unit is an enum', kind: 'ModelRoute', edit: (s) => (s.rateLimit = { unit: 'week' }), expect: [['error', 'spec.rateLimit.unit', 'must be one of second, minute, hour, day, month; got "week"']] },
    { name: 'inputTokensPerUnit at least 1', kind: 'ModelRoute', edit: (s) => (s.rateLimit = { inputTokensPerUnit: 0 }), expect: [['error', 'spec.rateLimit.inputTokensPerUnit', 'must be at least 1']] },
    { name: 'outputTokensPerUnit at least 1', kind: 'ModelRoute', edit: (s) => (s.rateLimit = { outputTokensPerUnit: 0 }), expect: [['error', 'spec.rateLimit.outputTokensPerUnit', 'must be at least 1']] },
    { name: 'redis needs an address', kind: 'ModelRoute', edit: (s) => (s.rateLimit = { global: { redis: {} } }), expect: [['error', 'spec.rateLimit.global.redis.address', 'is required']] },
    { name: 'redis address not empty (the router\'s check, not the CRD\'s)', kind: 'ModelRoute', edit: (s) => (s.rateLimit = { global: { redis: { address: '' } } }), expect: [['error', 'spec.rateLimit.global.redis.address', 'must not be empty']] },
    { name: 'parentRefs need a name', kind: 'ModelRoute', edit: (s) => (s.parentRefs = [{ sectionName: 'http' }]), expect: [['error', 'spec.parentRefs[0].name', 'is required']] },
    { name: 'parentRefs port 1-65535', kind: 'ModelRoute', edit: (s) => (s.parentRefs = [{ name: 'gw', port: 0 }]), expect: [['error', 'spec.parentRefs[0].port', 'must be at least 1']] },
    { name: 'parentRefs namespace is a DNS label', kind: 'ModelRoute', edit: (s) => (s.parentRefs = [{ name: 'gw', namespace: 'Team_A' }]), expect: [['error', 'spec.parentRefs[0].namespace', '']] },
    { name: 'parentRefs group may be empty (the core group)', kind: 'ModelRoute', edit: (s) => (s.parentRefs = [{ name: 'svc', group: '', kind: 'Service' }]), expect: [] },
    // zod also runs a list's max-length check on a string; only the type error is reported.
    { name: 'rules is a list, one problem', kind: 'ModelRoute', edit: (s) => (s.rules = 'use-ms1-for-everything'), expect: [['error', 'spec.rules', 'must be a list, got "use-ms1-for-everything"']] },
    { name: 'loraAdapters is a list, one problem', kind: 'ModelRoute', edit: (s) => (s.loraAdapters = 'lora-A,lora-B'), expect: [['error', 'spec.loraAdapters', 'must be a list, got "lora-A,lora-B"']] },
    { name: 'header matches are mappings', kind: 'ModelRoute', edit: (s) => (s.rules[0].modelMatch = { headers: { 'x-tier': 'gold' } }), expect: [['error', 'spec.rules[0].modelMatch.headers.x-tier', 'must be a mapping, got "gold"']] },
  ]);
});

describe('ModelServer CRD constraints', () => {
  runCases([
    { name: 'inferenceEngine is required', kind: 'ModelServer', edit: (s) => delete s.inferenceEngine, expect: [['error', 'spec.inferenceEngine', 'is required']] },
    { name: 'inferenceEngine is case-sensitive', kind: 'ModelServer', edit: (s) => (s.inferenceEngine = 'vllm'), expect: [['error', 'spec.inferenceEngine', 'must be one of vLLM, SGLang; got "vllm"']] },
    { name: 'workloadPort.port is required', kind: 'ModelServer', edit: (s) => (s.workloadPort = {}), expect: [['error', 'spec.workloadPort.port', 'is required']] },
    { name: 'port at least 1', kind: 'ModelServer', edit: (s) => (s.workloadPort.port = 0), expect: [['error', 'spec.workloadPort.port', 'must be at least 1, got 0']] },
    { name: 'port at most 65535', kind: 'ModelServer', edit: (s) => (s.workloadPort.port = 65536), expect: [['error', 'spec.workloadPort.port', 'must be at most 65535, got 65536']] },
    { name: 'protocol is http or https', kind: 'ModelServer', edit: (s) => (s.workloadPort.protocol = 'grpc'), expect: [['error', 'spec.workloadPort.protocol', 'must be one of http, https; got "grpc"']] },
    { name: 'kvConnector.type is an enum', kind: 'ModelServer', edit: (s) => (s.kvConnector = { type: 'sglang' }), expect: [['error', 'spec.kvConnector.type', 'must be one of http, lmcache, nixl, mooncake; got "sglang"']] },
    { name: 'model at most 256 characters', kind: 'ModelServer', edit: (s) => (s.model = 'm'.repeat(257)), expect: [['error', 'spec.model', 'must be at most 256 characters long (has 257)']] },
    { name: 'timeout is a Go duration', kind: 'ModelServer', edit: (s) => (s.trafficPolicy = { timeout: '10 seconds' }), expect: [['error', 'spec.trafficPolicy.timeout', 'invalid duration "10 seconds"']] },
    { name: 'timeout is a string', kind: 'ModelServer', edit: (s) => (s.trafficPolicy = { timeout: 10 }), expect: [['error', 'spec.trafficPolicy.timeout', 'must be a duration string such as "10s"']] },
    { name: 'retryInterval is not negative', kind: 'ModelServer', edit: (s) => (s.trafficPolicy = { retry: { retryInterval: '-1s' } }), expect: [['error', 'spec.trafficPolicy.retry.retryInterval', 'must not be negative']] },
    { name: 'timeout is not negative', kind: 'ModelServer', edit: (s) => (s.trafficPolicy = { timeout: '-5s' }), expect: [['error', 'spec.trafficPolicy.timeout', 'must not be negative, got "-5s"']] },
    { name: 'timeout longer than a timer is clamped with a warning', kind: 'ModelServer', edit: (s) => (s.trafficPolicy = { timeout: '600h' }), expect: [['warning', 'spec.trafficPolicy.timeout', '"600h" is longer than the longest timer Node.js supports; treated as the maximum, 596h31m23.647s']] },
    { name: 'retryInterval longer than a timer is clamped with a warning', kind: 'ModelServer', edit: (s) => (s.trafficPolicy = { retry: { retryInterval: '2562047h' } }), expect: [['warning', 'spec.trafficPolicy.retry.retryInterval', 'treated as the maximum']] },
    { name: 'workloadSelector is required', kind: 'ModelServer', edit: (s) => delete s.workloadSelector, expect: [['error', 'spec.workloadSelector', 'is required']] },
    {
      name: 'label values must be strings',
      kind: 'ModelServer',
      edit: (s) => (s.workloadSelector.matchLabels = { app: 'a', version: 2 }),
      expect: [['error', 'spec.workloadSelector.matchLabels.version', 'label values must be strings; quote the value']],
    },
  ]);
});

describe('ExternalModelProvider CRD constraints', () => {
  runCases([
    { name: 'baseURL is required', kind: 'ExternalModelProvider', edit: (s) => delete s.baseURL, expect: [['error', 'spec.baseURL', 'is required']] },
    { name: 'baseURL must be https', kind: 'ExternalModelProvider', edit: (s) => (s.baseURL = 'http://api.openai.com/v1'), expect: [['error', 'spec.baseURL', 'must start with https://']] },
    { name: 'an empty baseURL is one problem', kind: 'ExternalModelProvider', edit: (s) => (s.baseURL = ''), expect: [['error', 'spec.baseURL', 'must not be empty']] },
    { name: 'providerType is an enum', kind: 'ExternalModelProvider', edit: (s) => (s.providerType = 'Gemini'), expect: [['error', 'spec.providerType', 'must be one of OpenAI, Anthropic; got "Gemini"']] },
    { name: 'auth.scheme is an enum', kind: 'ExternalModelProvider', edit: (s) => (s.auth = { scheme: 'Basic', secretRef: { name: 'n', key: 'k' } }), expect: [['error', 'spec.auth.scheme', 'must be one of Bearer, APIKey; got "Basic"']] },
    { name: 'secretRef.name defaults to "" and is then refused', kind: 'ExternalModelProvider', edit: (s) => (s.auth = { secretRef: { key: 'k' } }), expect: [['error', 'spec.auth.secretRef.name', 'must not be empty']] },
    { name: 'auth needs a secretRef', kind: 'ExternalModelProvider', edit: (s) => (s.auth = { scheme: 'Bearer' }), expect: [['error', 'spec.auth.secretRef', 'is required']] },
    { name: 'model at most 256 characters', kind: 'ExternalModelProvider', edit: (s) => (s.model = 'm'.repeat(257)), expect: [['error', 'spec.model', 'at most 256 characters']] },
    { name: 'insecureSkipVerify is a boolean', kind: 'ExternalModelProvider', edit: (s) => (s.insecureSkipVerify = 'yes'), expect: [['error', 'spec.insecureSkipVerify', 'must be true or false, got "yes"']] },
  ]);
});

describe('metadata', () => {
  const withMetadata = (metadata: unknown) => load(yamlOf('ModelRoute', baseRouteSpec(), { metadata })).issues;
  it('name is required', () => assertIssues(withMetadata({ namespace: 'a' }), [['error', 'metadata.name', 'is required']]));
  it('missing metadata reports the missing name', () => assertIssues(withMetadata(undefined), [['error', 'metadata.name', 'is required']]));
  it('name is a DNS-1123 subdomain', () => assertIssues(withMetadata({ name: 'DeepSeek_R1' }), [['error', 'metadata.name', '"DeepSeek_R1" must consist of lowercase letters']]));
  it('namespace is a DNS-1123 label', () => assertIssues(withMetadata({ name: 'r', namespace: 'team.a' }), [['error', 'metadata.namespace', '(DNS-1123 label)']]));
  it('creationTimestamp is RFC 3339', () => assertIssues(withMetadata({ name: 'r', creationTimestamp: 'yesterday' }), [['error', 'metadata.creationTimestamp', 'RFC 3339']]));
  const impossibleTimes: [string, string][] = [
    ['2025-13-45T99:99:99Z', 'month 13'],
    ['2025-00-10T00:00:00Z', 'month 0'],
    ['2025-02-29T00:00:00Z', 'day 29'],
    ['2025-04-31T00:00:00Z', 'day 31'],
    ['2025-01-00T00:00:00Z', 'day 0'],
    ['2025-01-31T24:00:00Z', 'hour 24'],
    ['2025-01-31T12:60:00Z', 'minute 60'],
    ['2025-01-31T12:00:60Z', 'second 60'],
    ['2025-01-31T12:00:00+24:00', 'time zone offset'],
    ['2025-01-31T12:00:00-05:60', 'time zone offset'],
  ];
  for (const [time, reason] of impossibleTimes) {
    it(`creationTimestamp ${time} is refused: ${reason}`, () =>
      assertIssues(withMetadata({ name: 'r', creationTimestamp: time }), [['error', 'metadata.creationTimestamp', `must be a real date and time: ${reason} is out of range`]]));
  }
  for (const time of ['2024-02-29T23:59:59Z', '2000-02-29T00:00:00.123456Z', '2025-12-31T00:00:00+23:59', '2025-06-30T08:15:02-07:00']) {
    it(`creationTimestamp ${time} is valid`, () => assertIssues(withMetadata({ name: 'r', creationTimestamp: time }), []));
  }
  it('annotation values must be strings', () =>
    assertIssues(withMetadata({ name: 'r', annotations: { 'example.com/replicas': 3 } }), [['error', 'metadata.annotations["example.com/replicas"]', 'annotation values must be strings']]));
});

describe('defaults', () => {
  it('ModelRoute: parentRefs group and kind, rateLimit unit', () => {
    const spec = { ...baseRouteSpec(), parentRefs: [{ name: 'gw' }], rateLimit: { inputTokensPerUnit: 10 } };
    const route = load(yamlOf('ModelRoute', spec)).resources[0] as ModelRoute;
    assert.deepEqual(route.spec.parentRefs, [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }]);
    assert.deepEqual(route.spec.rateLimit, { inputTokensPerUnit: 10, unit: 'second' });
  });

  it('ModelRoute: `global: {}` without redis means local rate limiting', () => {
    const spec = { ...baseRouteSpec(), rateLimit: { outputTokensPerUnit: 5, unit: 'minute', global: {} } };
    const route = load(yamlOf('ModelRoute', spec)).resources[0] as ModelRoute;
    assert.deepEqual(route.spec.rateLimit, { outputTokensPerUnit: 5, unit: 'minute' });
  });

  it('ModelServer: protocol, retryInterval, kvConnector type', () => {
    const spec = { ...baseServerSpec(), trafficPolicy: { timeout: '1m30s', retry: {} }, kvConnector: {} };
    const server = load(yamlOf('ModelServer', spec)).resources[0] as ModelServer;
    assert.equal(server.spec.workloadPort.protocol, 'http');
    assert.deepEqual(server.spec.trafficPolicy, { timeoutMs: 90_000, retry: { retryIntervalMs: 100 } });
    assert.deepEqual(server.spec.kvConnector, { type: 'http' });
  });

  it('ModelServer: durations longer than the longest timer are clamped to it', () => {
    const spec = { ...baseServerSpec(), trafficPolicy: { timeout: '600h', retry: { retryInterval: '2562047h' } } };
    const server = load(yamlOf('ModelServer', spec)).resources[0] as ModelServer;
    assert.deepEqual(server.spec.trafficPolicy, { timeoutMs: 2 ** 31 - 1, retry: { retryIntervalMs: 2 ** 31 - 1 } });
  });

  it('ExternalModelProvider: providerType, insecureSkipVerify, headers', () => {
    const provider = load(yamlOf('ExternalModelProvider', baseProviderSpec())).resources[0] as ExternalModelProvider;
    assert.deepEqual(provider.spec, { providerType: 'OpenAI', baseURL: 'https://api.openai.com/v1', insecureSkipVerify: false, headers: {} });
  });
});
