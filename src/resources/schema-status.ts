// The status of Kthena's kinds as Kthena's CRDs declare it. Switchyard neither reads nor writes status; these models
// exist so that deploy/crds/ admit, store and prune what Kthena's controllers write exactly as Kthena's CRDs do.
import { z } from 'zod';

/** ModelRoute and ModelServer: an object without fields (the API server prunes whatever is written). */
export const emptyStatusSchema = z.object({});

/** metav1.Condition with the bounds the API server applies to it. */
const conditionSchema = z.object({
  lastTransitionTime: z.string().meta({ format: 'date-time' }),
  message: z.string().max(32768),
  observedGeneration: z.int().min(0).meta({ format: 'int64' }).optional(),
  reason: z.string().min(1).max(1024).regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
  status: z.enum(['True', 'False', 'Unknown']),
  type: z.string().max(316).regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/),
});

/** What Kthena's router writes on each ExternalModelProvider: Ready and CredentialsResolved conditions. */
export const externalModelProviderStatusSchema = z.object({
  conditions: z.array(conditionSchema).optional(),
  observedGeneration: z.int().meta({ format: 'int64' }).optional(),
});
