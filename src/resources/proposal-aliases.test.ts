import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResourceObject } from './parse-object.ts';
import { baseProviderSpec, load, assertIssues, yamlOf } from './test-helpers.ts';
import { API_VERSION, PROVIDER_TIMEOUT_ANNOTATION, type ExternalModelProvider, type ModelRoute } from './types.ts';

const route = (targets: unknown[]): string => yamlOf('ModelRoute', { modelName: 'm', rules: [{ targetModels: targets }] });
const provider = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}): string =>
  yamlOf('ExternalModelProvider', { ...baseProviderSpec(), ...spec }, extra);

describe("draft forms of Kthena's provider proposal", () => {
  it('reads externalProviderRef {name, model} as externalModelProviderName with a target model, and warns', () => {
    const { resources, issues } = load(route([{ modelServerName: 'local', weight: 80 }, { externalProviderRef: { name: 'openai', model: 'gpt-4o-mini' }, weight: 20 }]));
    assertIssues(issues, [['warning', 'spec.rules[0].targetModels[1].externalProviderRef', 'read as externalModelProviderName: openai and requests through this target use the upstream model "gpt-4o-mini"']]);
    const targets = (resources[0] as ModelRoute).spec.rules[0].targetModels;
    assert.deepEqual(targets, [{ modelServerName: 'local', weight: 80 }, { externalModelProviderName: 'openai', providerModel: 'gpt-4o-mini', weight: 20 }]);
  });

  it('keeps the caller\'s object unchanged', () => {
    const input = { apiVersion: API_VERSION, kind: 'ModelRoute', metadata: { name: 'x' }, spec: { modelName: 'm', rules: [{ targetModels: [{ externalProviderRef: { name: 'p' } }] }] } };
    const copy = structuredClone(input);
    const parsed = parseResourceObject(input);
    assert.ok(parsed.resource);
    assert.deepEqual(input, copy);
  });

  it('refuses externalProviderRef next to externalModelProviderName, without a name, or on a LoRA route', () => {
    assertIssues(load(route([{ externalProviderRef: { name: 'p' }, externalModelProviderName: 'p' }])).issues, [
      ['error', 'spec.rules[0].targetModels[0].externalProviderRef', 'set only one of externalModelProviderName and externalProviderRef'],
    ]);
    assertIssues(load(route([{ externalProviderRef: { model: 'x' } }, { modelServerName: 's' }])).issues, [
      ['error', 'spec.rules[0].targetModels[0].externalProviderRef', 'must be a mapping with a non-empty name'],
      ['error', 'spec.rules[0].targetModels[0]', 'set one of modelServerName or externalModelProviderName'],
    ]);
    const lora = yamlOf('ModelRoute', { loraAdapters: ['a'], rules: [{ targetModels: [{ externalProviderRef: { name: 'p' } }] }] });
    assertIssues(load(lora).issues, [
      ['warning', 'spec.rules[0].targetModels[0].externalProviderRef', 'read as externalModelProviderName: p'],
      ['error', 'spec.rules[0].targetModels[0].externalModelProviderName', 'lora routes must target modelServerName'],
    ]);
  });

  it('reads providerType OpenAICompatible, auth.header/scheme and trafficPolicy.timeout as their released forms', () => {
    const { resources, issues } = load(provider({
      providerType: 'OpenAICompatible',
      auth: { secretRef: { name: 'k', key: 'apiKey' }, header: 'Authorization', scheme: 'Bearer' },
      trafficPolicy: { timeout: '60s' },
    }));
    assertIssues(issues, [
      ['warning', 'spec.providerType', 'read as OpenAI'],
      ['warning', 'spec.auth.header', 'read as scheme: Bearer'],
      ['warning', 'spec.trafficPolicy.timeout', `read as the annotation ${PROVIDER_TIMEOUT_ANNOTATION}: 60s`],
    ]);
    const { spec, metadata } = resources[0] as ExternalModelProvider;
    assert.equal(spec.providerType, 'OpenAI');
    assert.deepEqual(spec.auth, { scheme: 'Bearer', secretRef: { name: 'k', key: 'apiKey' } });
    assert.equal(metadata.annotations[PROVIDER_TIMEOUT_ANNOTATION], '60s');
  });

  it('reads x-api-key with scheme Raw as APIKey; an annotation already set wins over trafficPolicy.timeout', () => {
    const { resources, issues } = load(provider(
      { auth: { secretRef: { name: 'k', key: 'apiKey' }, header: 'X-API-Key', scheme: 'Raw' }, trafficPolicy: { timeout: '5s', retry: { attempts: 3 } } },
      { metadata: { name: 'x', annotations: { [PROVIDER_TIMEOUT_ANNOTATION]: '9s' } } },
    ));
    assertIssues(issues, [
      ['warning', 'spec.auth.header', 'read as scheme: APIKey'],
      ['warning', 'spec.trafficPolicy.retry', 'ignored'],
      ['warning', 'spec.trafficPolicy.timeout', 'read as the annotation'],
      ['warning', 'spec.trafficPolicy.timeout', 'is set too and wins'],
    ]);
    const { spec, metadata } = resources[0] as ExternalModelProvider;
    assert.equal(spec.auth?.scheme, 'APIKey');
    assert.equal(metadata.annotations[PROVIDER_TIMEOUT_ANNOTATION], '9s');
  });

  it('refuses what the released CRD cannot express: other credential headers, allowInsecure with http', () => {
    assertIssues(load(provider({ auth: { secretRef: { name: 'k', key: 'apiKey' }, header: 'api-key', scheme: 'Raw' } })).issues, [
      ['error', 'spec.auth.header', 'would send "api-key: <key>", which the released CRD cannot express'],
    ]);
    assertIssues(load(provider({ auth: { secretRef: { name: 'k', key: 'apiKey' }, scheme: 'Raw' } })).issues, [
      ['error', 'spec.auth.scheme', 'would send "Authorization: <key>"'],
    ]);
    assertIssues(load(provider({ baseURL: 'http://127.0.0.1:8000', allowInsecure: true })).issues, [
      ['error', 'spec.allowInsecure', 'the released CRD requires an https baseURL'],
      ['error', 'spec.baseURL', 'must start with https://'],
    ]);
    assertIssues(load(provider({ allowInsecure: false, trafficPolicy: { timeout: 'soon' } })).issues, [
      ['error', 'spec.trafficPolicy.timeout', 'must be a duration'],
      ['warning', 'spec.allowInsecure', 'ignored'],
    ]);
  });
});
