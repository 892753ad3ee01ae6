// deploy/crds/ against the facts of Kthena's own CRDs (test/kube/kthena-crd-facts.jsonl, recorded from Kthena's
// repository by test/kube/kthena-crd-facts.ts): every Kthena field exists in ours with the same type and no stricter
// rule (an object Kthena's API server admits, ours admits), ours equal Kthena's except the differences listed below,
// and every field of ours exists in Kthena's or is a listed Switchyard extension.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { CRD_KINDS, crdFile } from '../deploy/generate-crds.ts';
import { crdFacts, isCrdRow, parseFacts, type FactsRow, type FieldFacts } from './support/crd-facts.ts';

const KTHENA = parseFacts(readFileSync(new URL('kube/kthena-crd-facts.jsonl', import.meta.url), 'utf8'));

/** Fields of ours that Kthena's CRDs lack, "Kind path" → why. None today; README "Run in Kubernetes" lists any. */
const SWITCHYARD_EXTENSIONS: Readonly<Record<string, string>> = {};

/**
 * Where ours differs from Kthena's on purpose, "Kind path key" → why. Each must be no stricter (checked below), and
 * each must still differ (a difference that went away is removed from this list).
 */
const KNOWN_DIFFERENCES: Readonly<Record<string, string>> = {
  // Same admission: in CEL an absent field is an error that `||` absorbs when the other side is true. Kthena's form
  // answers "no such key: modelName" when both are absent; ours names the rule's own message.
  'ModelRoute spec x-kubernetes-validations': 'has() guards around modelName and loraAdapters',
};

type Bound = 'minimum' | 'minLength' | 'minItems' | 'minProperties' | 'maximum' | 'maxLength' | 'maxItems' | 'maxProperties';
const LOWER_BOUNDS: readonly Bound[] = ['minimum', 'minLength', 'minItems', 'minProperties'];
const UPPER_BOUNDS: readonly Bound[] = ['maximum', 'maxLength', 'maxItems', 'maxProperties'];

function ours(): FactsRow[] {
  return CRD_KINDS.flatMap((entry) => crdFacts(parse(readFileSync(crdFile(entry).file, 'utf8')) as Record<string, unknown>));
}

function byKey(rows: readonly FactsRow[]): Map<string, FactsRow> {
  return new Map(rows.map((row) => [`${row.kind} ${row.path}`, row]));
}

/** Why `mine` would refuse something `theirs` admits, per key; empty when it never would. */
export function stricterRules(mine: FieldFacts, theirs: FieldFacts): string[] {
  const problems: string[] = [];
  if (mine.type !== theirs.type) problems.push(`type ${mine.type} instead of ${theirs.type}`);
  if (mine.format !== theirs.format) problems.push(`format ${mine.format} instead of ${theirs.format}`);
  if (mine.required && !theirs.required) problems.push('required');
  if (mine.enum !== undefined && (theirs.enum === undefined || theirs.enum.some((v) => !mine.enum!.some((m) => isDeepStrictEqual(m, v))))) {
    problems.push(`enum ${JSON.stringify(mine.enum)} narrower than ${JSON.stringify(theirs.enum)}`);
  }
  if (mine.pattern !== undefined && mine.pattern !== theirs.pattern) problems.push(`pattern ${mine.pattern} instead of ${theirs.pattern}`);
  for (const key of LOWER_BOUNDS) {
    if (mine[key] !== undefined && (theirs[key] === undefined || mine[key] > theirs[key])) problems.push(`${key} ${mine[key]} above ${theirs[key]}`);
  }
  for (const key of UPPER_BOUNDS) {
    if (mine[key] !== undefined && (theirs[key] === undefined || mine[key] < theirs[key])) problems.push(`${key} ${mine[key]} below ${theirs[key]}`);
  }
  if (theirs.nullable === true && mine.nullable !== true) problems.push('not nullable');
  if (theirs['x-kubernetes-preserve-unknown-fields'] === true && mine['x-kubernetes-preserve-unknown-fields'] !== true) problems.push('prunes unknown fields');
  // A CEL rule of ours is either one of Kthena's or an equivalent rewrite with the same message (KNOWN_DIFFERENCES).
  for (const rule of mine['x-kubernetes-validations'] ?? []) {
    const same = (theirs['x-kubernetes-validations'] ?? []).some((r) => r.rule === rule.rule || (r.message === rule.message && KNOWN_DIFFERENCES[`${mine.kind} ${mine.path} x-kubernetes-validations`] !== undefined));
    if (!same) problems.push(`CEL rule ${rule.rule}`);
  }
  if (mine.other !== undefined) problems.push(`unmodelled keywords ${JSON.stringify(mine.other)}`);
  return problems;
}

/** Keys whose value differs, "Kind path key". */
function differences(mine: FactsRow, theirs: FactsRow): string[] {
  const keys = new Set([...Object.keys(mine), ...Object.keys(theirs)]);
  return [...keys].filter((key) => !isDeepStrictEqual((mine as unknown as Record<string, unknown>)[key], (theirs as unknown as Record<string, unknown>)[key])).map((key) => `${mine.kind} ${mine.path} ${key}`);
}

describe("deploy/crds/ against Kthena's CRDs (test/kube/kthena-crd-facts.jsonl)", () => {
  const mine = byKey(ours());
  const theirs = byKey(KTHENA);

  it('the table covers the three kinds', () => {
    assert.deepEqual(KTHENA.filter(isCrdRow).map((row) => row.kind), ['ModelRoute', 'ModelServer', 'ExternalModelProvider']);
    assert.ok(KTHENA.length > 90, `${KTHENA.length} rows`);
  });

  it("every field of Kthena's exists in ours, with the same type and no stricter rule", () => {
    const problems: string[] = [];
    for (const [key, row] of theirs) {
      const own = mine.get(key);
      if (own === undefined) problems.push(`${key}: missing`);
      else if (!isCrdRow(row) && !isCrdRow(own)) problems.push(...stricterRules(own, row).map((p) => `${key}: ${p}`));
    }
    assert.deepEqual(problems, []);
  });

  it("every field of ours exists in Kthena's or is a listed Switchyard extension", () => {
    const extra = [...mine.keys()].filter((key) => !theirs.has(key) && SWITCHYARD_EXTENSIONS[key] === undefined);
    assert.deepEqual(extra, []);
    for (const key of Object.keys(SWITCHYARD_EXTENSIONS)) assert.ok(mine.has(key) && !theirs.has(key), `stale extension ${key}`);
  });

  it('ours equal Kthena\'s (names, scope, versions, subresources, printer columns, every rule and default), but for the listed differences', () => {
    const found: string[] = [];
    for (const [key, row] of theirs) {
      const own = mine.get(key);
      if (own !== undefined) found.push(...differences(own, row));
    }
    assert.deepEqual(found.filter((d) => KNOWN_DIFFERENCES[d] === undefined), [], 'differences not listed in KNOWN_DIFFERENCES');
    assert.deepEqual(Object.keys(KNOWN_DIFFERENCES).filter((d) => !found.includes(d)), [], 'listed differences that no longer exist');
  });

  it('the comparison catches a stricter rule (a check of the check)', () => {
    const weight = theirs.get('ModelRoute spec.rules[].targetModels[].weight') as FieldFacts;
    assert.deepEqual(stricterRules({ ...weight, maximum: 50 }, weight), ['maximum 50 below 100']);
    const unit = theirs.get('ModelRoute spec.rateLimit.unit') as FieldFacts;
    assert.deepEqual(stricterRules({ ...unit, enum: ['second'] }, unit), ['enum ["second"] narrower than ["second","minute","hour","day","month"]']);
    const rules = theirs.get('ModelRoute spec.rules') as FieldFacts;
    assert.deepEqual(stricterRules({ ...rules, minItems: 1 }, rules), ['minItems 1 above undefined']);
    const name = theirs.get('ExternalModelProvider spec.auth.secretRef.name') as FieldFacts;
    assert.deepEqual(stricterRules({ ...name, required: true, minLength: 1 }, name), ['required', 'minLength 1 above undefined']);
  });
});
