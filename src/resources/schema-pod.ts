// A v1 Pod reduced to what routing needs. Real Pod YAML (spec.containers, status.containerStatuses, ...)
// must load silently, so unknown fields are stripped without warnings.
import { isIP } from 'node:net';
import { z } from 'zod';
import type { PodStub } from './types.ts';
import { metadataField } from './schema-common.ts';
import type { SameType } from './type-equality.ts';

const podStatus = z.object({
  podIP: z
    .string()
    .refine((ip) => isIP(ip) !== 0, { error: (issue) => `${JSON.stringify(issue.input)} is not a valid IPv4 or IPv6 address` })
    .optional(),
  phase: z.string().optional(),
  conditions: z.array(z.object({ type: z.string(), status: z.enum(['True', 'False', 'Unknown']) })).optional(),
  // Only a running container's start time is read (kvcache-aware drops cache owners written before it).
  containerStatuses: z
    .array(
      z.object({
        state: z
          .object({
            running: z
              .object({ startedAt: z.string().refine((t) => !Number.isNaN(Date.parse(t)), 'must be an RFC 3339 time').optional() })
              .optional(),
          })
          .optional(),
      }),
    )
    .optional(),
});

export const podStubSchema = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('Pod'),
  metadata: metadataField,
  status: podStatus.prefault({}),
});

const _podMatchesTypes: SameType<z.output<typeof podStubSchema>, PodStub> = true;
