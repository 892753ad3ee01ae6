// Kthena's validating-webhook checks and Switchyard's extra warnings: each case changes one field of a valid object.
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

type Spec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test fixtures are edited freely

const BASE_SPECS = { ModelRoute: baseRouteSpec, ModelServer: baseServerSpec, ExternalModelProvider: baseProviderSpec };

function check(kind: keyof typeof BASE_SPECS, edit: (spec: Spec) => void, expected: ExpectedIssue[], extra: Record<string, unknown> = {}) {
  const spec: Spec = BASE_SPECS[kind]();
  edit(spec);
  const { resources, issues } = load(yamlOf(kind, spec, extra));
  assertIssues(issues, expected);
  const hasErrors = expected.some(([severity]) => severity === 'error');
  assert.equal(resources.length, hasErrors ? 0 : 1, hasErrors ? 'an object with errors is not loaded' : 'warnings do not reject the object');
}

const RULE = 'spec.rules[0]';
const TARGET = `${RULE}.targetModels[0]`;

describe('ModelRoute webhook checks', () => {
  it('needs a modelName or a LoRA adapter', () => check('ModelRoute', (s) => delete s.modelName, [['error', 'spec', 'modelName and loraAdapters cannot both be empty']]));
  it('an empty modelName counts as none', () => check('ModelRoute', (s) => (s.modelName = ''), [['error', 'spec', 'cannot both be empty']]));
  it('a LoRA-only route is valid', () => check('ModelRoute', (s) => ((s.loraAdapters = ['lora-a']), delete s.modelName), []));
  it('no empty LoRA adapter name', () => check('ModelRoute', (s) => (s.loraAdapters = ['lora-a', '']), [['error', 'spec.loraAdapters[1]', 'LoRA adapter name must not be empty']]));
  it('a target needs a backend', () => check('ModelRoute', (s) => (s.rules[0].targetModels = [{ weight: 10 }]), [['error', TARGET, 'set one of modelServerName or externalModelProviderName']]));
  it('an empty modelServerName counts as none', () => check('ModelRoute', (s) => (s.rules[0].targetModels[0].modelServerName = ''), [['error', TARGET, 'set one of']]));
  it('a target has only one backend', () =>
    check('ModelRoute', (s) => (s.rules[0].targetModels[0].externalModelProviderName = 'openai'), [['error', TARGET, 'set only one of modelServerName and externalModelProviderName']]));
  it('an external provider target is valid on a plain route', () => check('ModelRoute', (s) => (s.rules[0].targetModels = [{ externalModelProviderName: 'openai' }]), []));
  it('LoRA routes must target ModelServers', () =>
    check(
      'ModelRoute',
      (s) => ((s.loraAdapters = ['lora-a']), (s.rules[0].targetModels = [{ externalModelProviderName: 'openai' }])),
      [['error', `${TARGET}.externalModelProviderName`, 'lora routes must target modelServerName']],
    ));
  it('the total weight of a rule must be positive', () =>
    check('ModelRoute', (s) => (s.rules[0].targetModels = [{ modelServerName: 'a', weight: 0 }, { modelServerName: 'b', weight: 0 }]), [['error', `${RULE}.targetModels`, 'total weight must be greater than zero']]));
  it('an absent weight counts as 100', () => check('ModelRoute', (s) => (s.rules[0].targetModels = [{ modelServerName: 'a', weight: 0 }, { modelServerName: 'b' }]), []));
  it('header regexes must compile', () =>
    check('ModelRoute', (s) => (s.rules[0].modelMatch = { headers: { 'x-user': { regex: '(premium' } } }), [['error', `${RULE}.modelMatch.headers.x-user.regex`, 'invalid regex "(premium": error parsing regexp: missing closing ): `(premium`']]));
  it('uri regexes must compile', () => check('ModelRoute', (s) => (s.rules[0].modelMatch = { uri: { regex: '[a-' } }), [['error', `${RULE}.modelMatch.uri.regex`, 'invalid regex "[a-"']]));
  it('a backreference is refused, as Go refuses it', () =>
    check('ModelRoute', (s) => (s.rules[0].modelMatch = { headers: { 'x-user': { regex: '(a)\\1' } } }), [
      ['error', `${RULE}.modelMatch.headers.x-user.regex`, 'invalid escape sequence: `\\1`'],
    ]));
  it('lookaround is refused, as Go refuses it', () =>
    check('ModelRoute', (s) => (s.rules[0].modelMatch = { uri: { regex: '^/v1/(?!embeddings)' } }), [
      ['error', `${RULE}.modelMatch.uri.regex`, 'invalid or unsupported Perl syntax: `(?!`'],
    ]));
  it('case-insensitive and ungreedy flags load as Go loads them', () =>
    check('ModelRoute', (s) => (s.rules[0].modelMatch = { headers: { 'x-user': { regex: '(?iU)premium.+' } } }), []));
  it('valid matches load', () =>
    check('ModelRoute', (s) => (s.rules[0].modelMatch = { headers: { 'x-user': { prefix: 'vip-' } }, uri: { regex: '^/v1/(chat/)?completions$' }, body: { model: 'm' } }), []));
});

describe('ModelRoute warnings', () => {
  it('more than one of exact, prefix and regex', () =>
    check('ModelRoute', (s) => (s.rules[0].modelMatch = { headers: { 'x-user': { exact: 'a', regex: 'b' } } }), [['warning', `${RULE}.modelMatch.headers.x-user`, 'exact and regex are both set; only `exact` is used']]));
  it('all three of exact, prefix and regex', () =>
    check('ModelRoute', (s) => (s.rules[0].modelMatch = { uri: { exact: '/a', prefix: '/', regex: 'a' } }), [['warning', `${RULE}.modelMatch.uri`, 'exact, prefix and regex are all set; only `exact` is used']]));
  it('an unknown field, which is probably a typo', () =>
    check('ModelRoute', (s) => ((s.rules[0].targetModels[0].wieght = 50), (s.rules[0].modelMatch = { header: {} })), [
      ['warning', `${TARGET}.wieght`, 'unknown field, ignored (check the spelling)'],
      ['warning', `${RULE}.modelMatch.header`, 'unknown field'],
    ]));
  it('an unknown top-level field', () => check('ModelRoute', () => undefined, [['warning', 'sepc', 'unknown field']], { sepc: {} }));
  it('server-written fields are not unknown', () => check('ModelRoute', () => undefined, [], { status: { conditions: [] } }));
});

describe('ModelServer webhook checks', () => {
  const SELECTOR = 'spec.workloadSelector';
  const withPdGroup = (pdGroup: unknown) => (s: Spec) => (s.workloadSelector.pdGroup = pdGroup);
  const pdGroup = () => ({ groupKey: 'group', prefillLabels: { role: 'prefill' }, decodeLabels: { role: 'decode' } });

  it('matchLabels must not be empty', () => check('ModelServer', (s) => (s.workloadSelector.matchLabels = {}), [['error', `${SELECTOR}.matchLabels`, 'must have at least one label']]));
  // Optional in Kthena's CRD (defaults to no labels), refused like an empty selector, as Kthena's webhook does.
  it('matchLabels missing is refused', () => check('ModelServer', (s) => (s.workloadSelector = {}), [['error', `${SELECTOR}.matchLabels`, 'must have at least one label']]));
  it('label keys must be valid', () =>
    check('ModelServer', (s) => (s.workloadSelector.matchLabels = { 'my app': 'a' }), [['error', `${SELECTOR}.matchLabels["my app"]`, 'label key "my app" must consist of']]));
  it('label key prefixes must be DNS subdomains', () =>
    check('ModelServer', (s) => (s.workloadSelector.matchLabels = { 'Example.com/app': 'a' }), [['error', `${SELECTOR}.matchLabels["Example.com/app"]`, 'label key prefix "Example.com"']]));
  it('label values must be valid', () =>
    check('ModelServer', (s) => (s.workloadSelector.matchLabels = { app: 'deep seek' }), [['error', `${SELECTOR}.matchLabels.app`, 'label value "deep seek" must be empty or consist of']]));
  it('a complete pdGroup is valid', () => check('ModelServer', withPdGroup(pdGroup()), []));
  it('pdGroup.groupKey must not be empty', () => check('ModelServer', withPdGroup({ ...pdGroup(), groupKey: '' }), [['error', `${SELECTOR}.pdGroup.groupKey`, 'must not be empty']]));
  it('pdGroup.groupKey must be a label key', () => check('ModelServer', withPdGroup({ ...pdGroup(), groupKey: 'group key' }), [['error', `${SELECTOR}.pdGroup.groupKey`, 'label key "group key"']]));
  it('pdGroup.prefillLabels must not be empty', () => check('ModelServer', withPdGroup({ ...pdGroup(), prefillLabels: {} }), [['error', `${SELECTOR}.pdGroup.prefillLabels`, 'must have at least one label']]));
  it('pdGroup.decodeLabels must be valid', () =>
    check('ModelServer', withPdGroup({ ...pdGroup(), decodeLabels: { role: '-decode' } }), [['error', `${SELECTOR}.pdGroup.decodeLabels.role`, 'label value "-decode"']]));
  it('pdGroup.decodeLabels is required', () => check('ModelServer', withPdGroup({ groupKey: 'g', prefillLabels: { a: 'b' } }), [['error', `${SELECTOR}.pdGroup.decodeLabels`, 'is required']]));
});

describe('ExternalModelProvider webhook checks', () => {
  const withBaseURL = (baseURL: string) => (s: Spec) => (s.baseURL = baseURL);
  const withHeaders = (headers: Record<string, string>) => (s: Spec) => (s.headers = headers);
  const withSecretRef = (secretRef: unknown) => (s: Spec) => (s.auth = { scheme: 'Bearer', secretRef });

  it('a complete provider is valid', () =>
    check('ExternalModelProvider', (s) => Object.assign(s, { providerType: 'Anthropic', headers: { 'anthropic-version': '2023-06-01' }, auth: { secretRef: { name: 'key', key: 'token' } } }), []));
  it('baseURL has no user credentials', () => check('ExternalModelProvider', withBaseURL('https://user:pw@api.example.com'), [['error', 'spec.baseURL', 'must not contain user credentials']]));
  it('baseURL has no query', () => check('ExternalModelProvider', withBaseURL('https://api.example.com/v1?key=1'), [['error', 'spec.baseURL', 'must not contain a query string']]));
  it('baseURL has no fragment', () => check('ExternalModelProvider', withBaseURL('https://api.example.com/v1#x'), [['error', 'spec.baseURL', 'must not contain a fragment']]));
  it('baseURL has a host', () => check('ExternalModelProvider', withBaseURL('https:///v1'), [['error', 'spec.baseURL', 'must include a host']]));
  it('baseURL must parse', () => check('ExternalModelProvider', withBaseURL('https://exa mple.com'), [['error', 'spec.baseURL', 'is not a valid URL']]));
  it('header names must be valid', () => check('ExternalModelProvider', withHeaders({ 'x org': 'a' }), [['error', 'spec.headers["x org"]', '"x org" is not a valid header name']]));
  it('reserved headers are rejected', () => check('ExternalModelProvider', withHeaders({ Authorization: 'Bearer x' }), [['error', 'spec.headers.Authorization', 'Authorization is reserved']]));
  it('reserved headers are matched case-insensitively', () =>
    check('ExternalModelProvider', withHeaders({ 'x-api-key': 'k', te: 'trailers' }), [
      ['error', 'spec.headers.x-api-key', 'is reserved'],
      ['error', 'spec.headers.te', 'is reserved'],
    ]));
  it('headers the router sets per request are warned about (Kthena accepts them)', () =>
    check('ExternalModelProvider', withHeaders({ 'X-Request-Id': 'static', 'accept-encoding': 'br' }), [
      ['warning', 'spec.headers.X-Request-Id', 'not sent: the router sends each request its own x-request-id'],
      ['warning', 'spec.headers.accept-encoding', 'sent with non-streaming requests only'],
    ]));
  it('header values have no CR or LF', () => check('ExternalModelProvider', withHeaders({ 'x-org': 'a\r\nX-Evil: 1' }), [['error', 'spec.headers.x-org', 'must not contain CR or LF']]));
  it('secretRef needs a name and a key', () =>
    check('ExternalModelProvider', withSecretRef({ name: '', key: '' }), [
      ['error', 'spec.auth.secretRef.name', 'must not be empty'],
      ['error', 'spec.auth.secretRef.key', 'must not be empty'],
    ]));
  it('secretRef.key is required', () => check('ExternalModelProvider', withSecretRef({ name: 'n' }), [['error', 'spec.auth.secretRef.key', 'is required']]));
  it('secretRef must not be optional', () => check('ExternalModelProvider', withSecretRef({ name: 'n', key: 'k', optional: true }), [['error', 'spec.auth.secretRef.optional', 'must not be true']]));
  it('secretRef optional: false is fine', () => check('ExternalModelProvider', withSecretRef({ name: 'n', key: 'k', optional: false }), []));

  const TIMEOUT = 'metadata.annotations["switchyard.dev/response-timeout"]';
  const withTimeout = (timeout: string) => ({ metadata: { name: 'x', annotations: { 'switchyard.dev/response-timeout': timeout } } });
  it('the response-timeout annotation is a duration', () => check('ExternalModelProvider', () => undefined, [], withTimeout('1m30s')));
  it('the response-timeout annotation must parse', () => check('ExternalModelProvider', () => undefined, [['error', TIMEOUT, 'invalid duration "abc": expected a number']], withTimeout('abc')));
  it('the response-timeout annotation is not negative', () => check('ExternalModelProvider', () => undefined, [['error', TIMEOUT, 'must not be negative, got "-5s"']], withTimeout('-5s')));
  // As trafficPolicy.timeout (metav1.Duration): a bare number has no unit.
  it('the response-timeout annotation needs a unit', () => check('ExternalModelProvider', () => undefined, [['error', TIMEOUT, 'invalid duration "90": missing unit']], withTimeout('90')));
  it('a response-timeout of 0 is warned about: the default applies, it does not disable the timeout', () =>
    check('ExternalModelProvider', () => undefined, [['warning', TIMEOUT, '"0s" is no response timeout: the default, 60s, applies']], withTimeout('0s')));
  it('a response-timeout longer than a timer is clamped with a warning', () =>
    check('ExternalModelProvider', () => undefined, [['warning', TIMEOUT, '"600h" is longer than the longest timer Node.js supports; treated as the maximum']], withTimeout('600h')));
});
