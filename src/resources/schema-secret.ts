// A v1 Secret: metadata, `data` (base64) and `stringData`, merged into decoded `values`. Other fields of real Secret
// YAML (immutable, …) load silently.
import { z } from 'zod';
import { metadataField, stringMap } from './schema-common.ts';
import type { SecretDocument } from './types.ts';
import type { SameType } from './type-equality.ts';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export const secretSchema = z
  .object({
    apiVersion: z.literal('v1'),
    kind: z.literal('Secret'),
    metadata: metadataField,
    type: z.string().optional(),
    data: z
      .record(
        z.string(),
        z.string().refine((value) => BASE64.test(value.replace(/\s+/g, '')) && value.replace(/\s+/g, '').length % 4 === 0, { error: 'must be base64' }),
      )
      .default({}),
    stringData: stringMap('stringData').default({}),
  })
  .transform(({ apiVersion, kind, metadata, type, data, stringData }): SecretDocument => {
    const values: Record<string, string> = {};
    for (const [key, value] of Object.entries(data)) values[key] = Buffer.from(value.replace(/\s+/g, ''), 'base64').toString('utf8');
    Object.assign(values, stringData);
    return { apiVersion, kind, metadata, ...(type !== undefined && { type }), values };
  });

const _secretMatchesTypes: SameType<z.output<typeof secretSchema>, SecretDocument> = true;
