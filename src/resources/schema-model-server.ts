// ModelServer (networking.serving.volcano.sh/v1alpha1) with the CRD's defaults and structural limits.
import { z } from 'zod';
import { API_VERSION, type ModelServer, type ModelServerSpec } from './types.ts';
import { durationMs, int32, metadataField, port, stringMap } from './schema-common.ts';
import type { SameType } from './type-equality.ts';
import { ignoringKeys } from './unknown-fields.ts';

type TrafficPolicy = NonNullable<ModelServerSpec['trafficPolicy']>;
type Retry = NonNullable<TrafficPolicy['retry']>;

const DEFAULT_RETRY_INTERVAL_MS = 100;

const pdGroup = z.object({
  groupKey: z.string(),
  prefillLabels: stringMap('label'),
  decodeLabels: stringMap('label'),
});

const workloadSelector = z.object({
  // Optional in Kthena's CRD; an empty selector is refused by validate-workloads.ts, as by Kthena's webhook.
  matchLabels: stringMap('label').default({}),
  pdGroup: pdGroup.optional(),
});

const workloadPort = z.object({
  port,
  protocol: z.enum(['http', 'https']).default('http'),
});

// The YAML says `timeout` and `retryInterval` (Go durations); the typed model carries milliseconds.
const retry = z
  .object({ attempts: int32.optional(), retryInterval: durationMs.optional() })
  .transform(({ attempts, retryInterval }): Retry => ({
    ...(attempts !== undefined && { attempts }),
    retryIntervalMs: retryInterval ?? DEFAULT_RETRY_INTERVAL_MS,
  }));

const trafficPolicy = z
  .object({ timeout: durationMs.optional(), retry: retry.optional() })
  .transform(({ timeout, retry }): TrafficPolicy => ({
    ...(timeout !== undefined && { timeoutMs: timeout }),
    ...(retry !== undefined && { retry }),
  }));

const modelServerSpec = z.object({
  model: z.string().max(256).optional(),
  inferenceEngine: z.enum(['vLLM', 'SGLang']),
  workloadSelector,
  workloadPort,
  trafficPolicy: trafficPolicy.optional(),
  kvConnector: z.object({ type: z.enum(['http', 'lmcache', 'nixl', 'mooncake']).default('http') }).optional(),
});

export const modelServerSchema = ignoringKeys(
  z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('ModelServer'),
    metadata: metadataField,
    spec: modelServerSpec,
  }),
  ['status'],
);

const _modelServerMatchesTypes: SameType<z.output<typeof modelServerSchema>, ModelServer> = true;
