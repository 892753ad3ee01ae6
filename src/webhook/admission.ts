// Kubernetes validating admission (AdmissionReview v1) of ModelRoutes, ModelServers and ExternalModelProviders, by
// exactly the checks the file loader and the Kubernetes source run (parseResourceObject): an object the router
// would leave out is refused at `kubectl apply`, with the same messages. Warnings go back as admission warnings.
import { nameOfRawObject } from '../resources/object-name.ts';
import { parseResourceObject } from '../resources/parse-object.ts';

/** Webhook paths as Kthena's, and the kind each admits. */
export const WEBHOOK_PATHS: Readonly<Record<string, string>> = {
  '/validate/modelroute': 'ModelRoute',
  '/validate/modelserver': 'ModelServer',
  '/validate/externalmodelprovider': 'ExternalModelProvider',
};

export interface AdmissionReview {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly request?: {
    readonly uid?: string;
    readonly operation?: string;
    readonly kind?: { readonly kind?: string };
    readonly object?: unknown;
  };
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: { readonly code: number; readonly reason: string; readonly message: string };
  readonly warnings?: readonly string[];
}

/** The AdmissionReview to answer with; throws a message for a body that is not an AdmissionReview v1 request. */
export function review(path: string, body: AdmissionReview): { apiVersion: string; kind: string; response: AdmissionResponse } {
  const expected = WEBHOOK_PATHS[path];
  if (body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview' || body.request?.uid === undefined) {
    throw new Error('expected an AdmissionReview of admission.k8s.io/v1 with a request');
  }
  const { uid, operation, object } = body.request;
  const wrap = (response: AdmissionResponse) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
  if (operation === 'DELETE' || operation === 'CONNECT') return wrap({ uid, allowed: true });
  const kind = body.request.kind?.kind;
  if (expected === undefined || kind !== expected) {
    return wrap(deny(uid, `this webhook path admits ${expected ?? 'nothing'}, got ${kind ?? 'no kind'}`));
  }
  const parsed = parseResourceObject(object);
  const name = nameOfRawObject(object) ?? kind;
  const describe = (p: { path: string; message: string }): string => `${name}: ${p.path === '' ? '' : `field ${p.path}: `}${p.message}`;
  const errors = parsed.problems.filter((p) => p.severity === 'error').map(describe);
  const warnings = parsed.problems.filter((p) => p.severity === 'warning').map(describe);
  if (errors.length > 0) return wrap({ ...deny(uid, errors.join('; ')), ...(warnings.length > 0 && { warnings }) });
  return wrap({ uid, allowed: true, ...(warnings.length > 0 && { warnings }) });
}

function deny(uid: string, message: string): AdmissionResponse {
  return { uid, allowed: false, status: { code: 422, reason: 'Invalid', message: `switchyard: ${message}` } };
}
