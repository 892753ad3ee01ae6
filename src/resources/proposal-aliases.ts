// Forms from the June 2026 drafts of Kthena's proposal for external providers (docs/proposal/
// kthena-router-third-party-model-api.md before its final version) that the released CRD replaced. A configuration
// file written from a draft is read as its released equivalent, with a warning naming each draft field; what the
// released CRD cannot express is an error saying why. The objects are rewritten before the schema sees them, so the
// schemas (and deploy/crds generated from them) keep the released shape only.
import type { FieldPath } from './field-path.ts';
import { checkTimerDuration } from './duration.ts';
import { errorAt, warningAt, type FieldProblem } from './problem.ts';
import { PROVIDER_TIMEOUT_ANNOTATION } from './types.ts';
import { isPlainObject } from './unknown-fields.ts';

const DRAFT = "a draft of Kthena's proposal";

/** externalProviderRef.model of one target: the upstream model for requests through that target. */
export interface TargetModelOverride {
  readonly rule: number;
  readonly target: number;
  readonly model: string;
}

export interface DraftRewrite {
  /** The object in the released shape; the input itself when it has no draft field. */
  readonly value: Record<string, unknown>;
  readonly problems: FieldProblem[];
  readonly targetModels: TargetModelOverride[];
}

type Json = Record<string, unknown>;

export function rewriteDraftForms(kind: string, value: Json): DraftRewrite {
  const result = { value, problems: [] as FieldProblem[], targetModels: [] as TargetModelOverride[] };
  if (!isPlainObject(value.spec)) return result;
  if (kind === 'ModelRoute') rewriteRoute(value, value.spec, result);
  if (kind === 'ExternalModelProvider') rewriteProvider(value, value.spec, result);
  return result;
}

interface Result {
  value: Json;
  problems: FieldProblem[];
  targetModels: TargetModelOverride[];
}

/** Copies the path from the root down to spec on first write, so the caller's object is never changed. */
function ownSpec(result: Result, original: Json): Json {
  if (result.value === original) result.value = { ...original, spec: { ...(original.spec as Json) } };
  return result.value.spec as Json;
}

function rewriteRoute(original: Json, spec: Json, result: Result): void {
  if (!Array.isArray(spec.rules)) return;
  let rules: unknown[] | null = null;
  spec.rules.forEach((rule: unknown, r) => {
    if (!isPlainObject(rule) || !Array.isArray(rule.targetModels)) return;
    rule.targetModels.forEach((target: unknown, t) => {
      if (!isPlainObject(target) || !('externalProviderRef' in target)) return;
      const path: FieldPath = ['spec', 'rules', r, 'targetModels', t, 'externalProviderRef'];
      const rewritten = rewriteProviderRef(target, path, result.problems);
      if (rewritten.model !== undefined) result.targetModels.push({ rule: r, target: t, model: rewritten.model });
      rules ??= [...(ownSpec(result, original).rules as unknown[])];
      const ownRule = { ...(rules[r] as Json) };
      ownRule.targetModels = [...(ownRule.targetModels as unknown[])];
      (ownRule.targetModels as unknown[])[t] = rewritten.target;
      rules[r] = ownRule;
      (result.value.spec as Json).rules = rules;
    });
  });
}

/**
 * `externalProviderRef: {name, model}` → `externalModelProviderName: name`, model kept for the target. The draft
 * field is removed even when it is wrong, so that only its own error is reported.
 */
function rewriteProviderRef(target: Json, path: FieldPath, problems: FieldProblem[]): { target: Json; model: string | undefined } {
  const { externalProviderRef: ref, ...rest } = target;
  if (!isPlainObject(ref) || typeof ref.name !== 'string' || ref.name === '') {
    problems.push(errorAt(path, `must be a mapping with a non-empty name (the form of ${DRAFT}; the released CRD has externalModelProviderName)`));
    return { target: rest, model: undefined };
  }
  if (target.externalModelProviderName !== undefined) {
    problems.push(errorAt(path, 'set only one of externalModelProviderName and externalProviderRef (its form in a draft of the proposal)'));
    return { target: rest, model: undefined };
  }
  const model = ref.model;
  if (model !== undefined && (typeof model !== 'string' || model === '' || model.length > 256)) {
    problems.push(errorAt([...path, 'model'], 'must be a model name of 1 to 256 characters'));
    return { target: rest, model: undefined };
  }
  for (const key of Object.keys(ref)) {
    if (key !== 'name' && key !== 'model') problems.push(warningAt([...path, key], 'unknown field, ignored (check the spelling)'));
  }
  const meaning = model === undefined ? '' : ` and requests through this target use the upstream model ${JSON.stringify(model)} (in the released CRD: the provider's spec.model)`;
  problems.push(warningAt(path, `is the form of ${DRAFT}; read as externalModelProviderName: ${ref.name}${meaning}`));
  return { target: { ...rest, externalModelProviderName: ref.name }, model };
}

function rewriteProvider(original: Json, spec: Json, result: Result): void {
  const { problems } = result;
  if (spec.providerType === 'OpenAICompatible') {
    ownSpec(result, original).providerType = 'OpenAI';
    problems.push(warningAt(['spec', 'providerType'], `OpenAICompatible is the name in ${DRAFT}; read as OpenAI`));
  }
  if (isPlainObject(spec.auth) && ('header' in spec.auth || spec.auth.scheme === 'Raw')) {
    const scheme = releasedScheme(spec.auth, problems);
    const { header: _header, scheme: _scheme, ...auth } = spec.auth;
    // Without a released equivalent the error above stands alone: the draft fields go either way.
    ownSpec(result, original).auth = scheme === null ? auth : { ...auth, scheme };
  }
  if ('trafficPolicy' in spec) {
    const timeout = draftTimeout(spec.trafficPolicy, problems);
    const own = ownSpec(result, original);
    delete own.trafficPolicy;
    if (timeout !== null) setTimeoutAnnotation(result, timeout);
  }
  if ('allowInsecure' in spec) {
    const path = ['spec', 'allowInsecure'];
    if (spec.allowInsecure === true) {
      problems.push(errorAt(path, `is from ${DRAFT} and not supported: the released CRD requires an https baseURL (for a certificate the router cannot verify, use insecureSkipVerify: true or --upstream-ca)`));
    } else {
      problems.push(warningAt(path, `is from ${DRAFT}; ignored (providers are always reached over https)`));
    }
    delete ownSpec(result, original).allowInsecure;
  }
}

/**
 * The draft's `auth.header` (default Authorization) and `scheme` Bearer (default) or Raw, as the released scheme:
 * "Authorization: Bearer <key>" is Bearer and "x-api-key: <key>" is APIKey; nothing else can be expressed.
 */
function releasedScheme(auth: Json, problems: FieldProblem[]): 'Bearer' | 'APIKey' | null {
  const header = auth.header === undefined ? 'Authorization' : textOf(auth.header);
  const scheme = auth.scheme === undefined ? 'Bearer' : textOf(auth.scheme);
  const path = ['spec', 'auth', 'header' in auth ? 'header' : 'scheme'];
  const lower = header.toLowerCase();
  const released = lower === 'authorization' && scheme === 'Bearer' ? 'Bearer' : lower === 'x-api-key' && scheme === 'Raw' ? 'APIKey' : null;
  if (released === null) {
    const sent = scheme === 'Raw' ? `${header}: <key>` : `${header}: ${scheme} <key>`;
    problems.push(errorAt(path, `header and scheme from ${DRAFT} would send "${sent}", which the released CRD cannot express: it sends "Authorization: Bearer <key>" (scheme: Bearer) or "x-api-key: <key>" (scheme: APIKey)`));
    return null;
  }
  problems.push(warningAt(path, `auth.header/auth.scheme ${'header' in auth ? `${header}/` : ''}${scheme} are from ${DRAFT}; read as scheme: ${released}`));
  return released;
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The draft's provider `trafficPolicy.timeout`, read as the switchyard.dev/response-timeout annotation. */
function draftTimeout(policy: unknown, problems: FieldProblem[]): string | null {
  const path = ['spec', 'trafficPolicy'];
  if (!isPlainObject(policy)) {
    problems.push(errorAt(path, `must be a mapping (trafficPolicy on a provider is from ${DRAFT})`));
    return null;
  }
  for (const key of Object.keys(policy)) {
    if (key !== 'timeout') problems.push(warningAt([...path, key], `ignored: a provider is retried only on 429/503 with a Retry-After that fits its timeout`));
  }
  if (policy.timeout === undefined) return null;
  if (typeof policy.timeout !== 'string' || !checkTimerDuration(policy.timeout).ok) {
    problems.push(errorAt([...path, 'timeout'], `must be a duration such as 60s, got ${JSON.stringify(policy.timeout)}`));
    return null;
  }
  problems.push(warningAt([...path, 'timeout'], `is from ${DRAFT}; read as the annotation ${PROVIDER_TIMEOUT_ANNOTATION}: ${policy.timeout}`));
  return policy.timeout;
}

function setTimeoutAnnotation(result: Result, timeout: string): void {
  const metadata = isPlainObject(result.value.metadata) ? result.value.metadata : {};
  const annotations = isPlainObject(metadata.annotations) ? metadata.annotations : {};
  if (annotations[PROVIDER_TIMEOUT_ANNOTATION] !== undefined) {
    result.problems.push(warningAt(['spec', 'trafficPolicy', 'timeout'], `the annotation ${PROVIDER_TIMEOUT_ANNOTATION} is set too and wins`));
    return;
  }
  result.value.metadata = { ...metadata, annotations: { ...annotations, [PROVIDER_TIMEOUT_ANNOTATION]: timeout } };
}
