// ExternalModelProvider (networking.serving.volcano.sh/v1alpha1) with the CRD's defaults and limits.
import { z } from 'zod';
import { API_VERSION, type ExternalModelProvider } from './types.ts';
import { metadataField, stringMap } from './schema-common.ts';
import type { SameType } from './type-equality.ts';
import { ignoringKeys } from './unknown-fields.ts';

const auth = z.object({
  scheme: z.enum(['Bearer', 'APIKey']).optional(),
  // corev1.SecretKeySelector: name defaults to "" (refused by validate-external-model-provider.ts, as Kthena's webhook).
  secretRef: z
    .object({
      name: z.string().default(''),
      key: z.string(),
      optional: z.boolean().optional(),
    })
    .meta({ 'x-kubernetes-map-type': 'atomic' }),
});

const externalModelProviderSpec = z.object({
  providerType: z.enum(['OpenAI', 'Anthropic']).default('OpenAI'),
  model: z.string().max(256).optional(),
  baseURL: z.string().min(1).regex(/^https:\/\/.+/, 'must start with https:// (plain HTTP is not allowed for external providers)'),
  insecureSkipVerify: z.boolean().default(false),
  auth: auth.optional(),
  headers: stringMap('header').default({}),
});

export const externalModelProviderSchema = ignoringKeys(
  z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('ExternalModelProvider'),
    metadata: metadataField,
    spec: externalModelProviderSpec,
  }),
  ['status'],
);

const _providerMatchesTypes: SameType<z.output<typeof externalModelProviderSchema>, ExternalModelProvider> = true;
