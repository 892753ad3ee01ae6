// ModelRoute (networking.serving.volcano.sh/v1alpha1) with the CRD's defaults and structural limits.
import { z } from 'zod';
import { API_VERSION, type ModelRoute, type RateLimit, type TargetModel } from './types.ts';
import { metadataField, port, uint32 } from './schema-common.ts';
import type { SameType } from './type-equality.ts';
import { ignoringKeys } from './unknown-fields.ts';

const stringMatch = z.object({
  exact: z.string().optional(),
  prefix: z.string().optional(),
  regex: z.string().optional(),
});

const modelMatch = z.object({
  headers: z.record(z.string(), stringMatch).optional(),
  uri: stringMatch.optional(),
  body: z.object({ model: z.string().optional() }).optional(),
});

const targetModel = z
  .object({
    modelServerName: z.string().optional(),
    externalModelProviderName: z.string().optional(),
    weight: z.int().min(0).max(100).default(100),
  })
  // Widens the output to TargetModel, whose providerModel only the draft alias sets (proposal-aliases.ts).
  .transform((target): TargetModel => target);

const rule = z.object({
  name: z.string().optional(),
  modelMatch: modelMatch.optional(),
  targetModels: z.array(targetModel).min(1).max(16),
});

const rateLimit = z
  .object({
    inputTokensPerUnit: uint32.min(1).optional(),
    outputTokensPerUnit: uint32.min(1).optional(),
    unit: z.enum(['second', 'minute', 'hour', 'day', 'month']).default('second'),
    // An empty address is refused by the router's validation (validate-model-route.ts), not by the CRD, as in Kthena.
    global: z.object({ redis: z.object({ address: z.string() }).optional() }).optional(),
  })
  .transform(({ global, ...limits }): RateLimit => {
    // `global: {}` without redis means local limiting in Kthena; the typed model has no empty `global`.
    return global?.redis ? { ...limits, global: { redis: global.redis } } : limits;
  });

// Gateway API's ParentReference with its patterns and bounds, as Kthena's CRD has them.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const parentReference = z.object({
  group: z.string().max(253).regex(/^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/).default('gateway.networking.k8s.io'),
  kind: z.string().min(1).max(63).regex(/^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/).default('Gateway'),
  name: z.string().min(1).max(253),
  namespace: z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).optional(),
  sectionName: z.string().min(1).max(253).regex(DNS_SUBDOMAIN).optional(),
  port: port.optional(),
});

const modelRouteSpec = z.object({
  modelName: z.string().optional(),
  loraAdapters: z.array(z.string()).max(10).default([]),
  parentRefs: z.array(parentReference).default([]),
  // No minItems, as in Kthena: a route without rules matches nothing (validate-model-route.ts warns).
  rules: z.array(rule).max(16),
  rateLimit: rateLimit.optional(),
});

export const modelRouteSchema = ignoringKeys(
  z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('ModelRoute'),
    metadata: metadataField,
    spec: modelRouteSpec,
  }),
  ['status'],
);

const _modelRouteMatchesTypes: SameType<z.output<typeof modelRouteSchema>, ModelRoute> = true;
