// Building blocks shared by the resource schemas: metadata, Kubernetes names, string maps, durations.
import { z } from 'zod';
import { checkTimerDuration, timerClampedMessage } from './duration.ts';
import { dns1123LabelProblem, dns1123SubdomainProblem } from './kubernetes-names.ts';
import { warningAt, type FieldProblem } from './problem.ts';
import { ignoringKeys, walkSchema } from './unknown-fields.ts';

/** Valid ObjectMeta fields that Switchyard does not read; they appear in `kubectl get -o yaml` output. */
const UNREAD_METADATA_FIELDS = [
  'uid',
  'generation',
  'generateName',
  'managedFields',
  'ownerReferences',
  'finalizers',
  'selfLink',
  'deletionGracePeriodSeconds',
];

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** A string checked by a function that returns the reason it is invalid. */
export function checkedString(problemOf: (value: string) => string | undefined) {
  return z.string().superRefine((value, ctx) => {
    const problem = problemOf(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} ${problem}` });
  });
}

/** map[string]string; YAML turns unquoted `true` or `8080` into non-strings, so say how to fix it. */
export function stringMap(what: string) {
  return z.record(
    z.string(),
    z.string({ error: (issue) => (issue.input === undefined ? undefined : `${what} values must be strings; quote the value`) }),
  );
}

/** Why `text` is not a time the API server would store (Go's time.Parse with RFC 3339), or undefined. */
function timestampProblem(text: string): string | undefined {
  const match = RFC3339.exec(text);
  if (!match) return 'must be an RFC 3339 time such as "2025-01-31T12:00:00Z"';
  const [year, month, day, hour, minute, second, offsetHour = 0, offsetMinute = 0] = match.slice(1).map(Number);
  const leapYear = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = [31, leapYear ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  const outOfRange =
    month < 1 || month > 12 ? `month ${month}`
    : day < 1 || day > daysInMonth ? `day ${day}`
    : hour > 23 ? `hour ${hour}`
    : minute > 59 ? `minute ${minute}`
    : second > 59 ? `second ${second}`
    : offsetHour > 23 || offsetMinute > 59 ? 'time zone offset'
    : undefined;
  return outOfRange && `must be a real date and time: ${outOfRange} is out of range in ${JSON.stringify(text)}`;
}

const timestamp = z.string().superRefine((value, ctx) => {
  const problem = timestampProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const objectMetaSchema = ignoringKeys(
  z.object({
    name: checkedString(dns1123SubdomainProblem),
    namespace: checkedString(dns1123LabelProblem).default('default'),
    labels: stringMap('label').default({}),
    annotations: stringMap('annotation').default({}),
    creationTimestamp: timestamp.optional(),
    resourceVersion: z.string().optional(),
    deletionTimestamp: timestamp.optional(),
  }),
  UNREAD_METADATA_FIELDS,
);

/** metadata itself may be missing; that is reported as a missing metadata.name. */
export const metadataField = objectMetaSchema.prefault(() => ({}) as z.input<typeof objectMetaSchema>);

export const port = z.int().min(1).max(65535);
export const int32 = z.int().min(-(2 ** 31)).max(2 ** 31 - 1);
export const uint32 = z.int().min(0).max(2 ** 32 - 1);

/** A metav1.Duration ("10s", "1m30s") as milliseconds, clamped to the longest timer (see durationWarnings). */
export const durationMs = z
  .string({ error: (issue) => (issue.input === undefined ? undefined : 'must be a duration string such as "10s" or "1m30s"') })
  .transform((text, ctx) => {
    const parsed = checkTimerDuration(text);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    return parsed.ms;
  });

/** A warning on each duration that durationMs clamps: zod has no warnings, so the raw object is walked for them. */
export function durationWarnings(schema: z.core.$ZodType, value: unknown): FieldProblem[] {
  const problems: FieldProblem[] = [];
  walkSchema(schema, value, (fieldSchema, field, path) => {
    if (fieldSchema !== durationMs || typeof field !== 'string') return;
    const parsed = checkTimerDuration(field);
    if (parsed.ok && parsed.clamped) problems.push(warningAt(path, timerClampedMessage(field)));
  });
  return problems;
}
