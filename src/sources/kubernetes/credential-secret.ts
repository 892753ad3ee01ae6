// Provider credentials in a cluster: only Secrets carrying Kthena's credential label are watched (a server-side
// label selector, as Kthena's Secret informer does), and each is handed to the file loader's Secret schema as the
// same `v1 Secret` document a config file would hold, so nothing downstream knows where it came from.
import { CREDENTIAL_LABEL } from '../../resources/types.ts';

export const CREDENTIAL_SELECTOR = `${CREDENTIAL_LABEL}=true`;

export interface ApiSecret {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly resourceVersion?: string;
  };
  readonly type?: string;
  readonly data?: Readonly<Record<string, string>>;
}

/**
 * The document the Secret schema reads: identity, labels and base64 `data` only. The typed client turns timestamps
 * into Dates and the list's items carry no kind; neither matters for a credential.
 */
export function secretDocumentOf(secret: ApiSecret): ApiSecret & { readonly apiVersion: 'v1'; readonly kind: 'Secret' } {
  const meta = secret.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: meta.name,
      namespace: meta.namespace,
      labels: meta.labels ?? {},
      ...(meta.resourceVersion !== undefined && { resourceVersion: meta.resourceVersion }),
    },
    ...(secret.type !== undefined && { type: secret.type }),
    data: secret.data ?? {},
  };
}
