// Kthena's router configuration file (routerConfiguration.yaml): which scheduler plugins run, their weights and
// args. Validated with zod; every problem is reported with the file and the field path. Unlike Kthena:
//  - a section without `enabled` keeps Switchyard's defaults (an empty or auth-only file does not leave the
//    scheduler without plugins), and `disabled` removes a plugin even when a default enables it;
//  - unknown fields, unknown plugin names and invalid args are errors, not silently defaulted;
//  - a score entry without `weight` has weight 1 (Kthena: 0, which disables it);
//  - `scheduler.loadBound` (Switchyard's) caps how far the scores may load one pod above the others;
//  - `auth` (Kthena's) and `fairness` (Switchyard's) are not the scheduler's: they are handed on unparsed as
//    `sections`, and the composition root validates them (a rejected section rejects the whole file).
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { formatFieldPath, type FieldPath } from '../../resources/field-path.ts';
import type { ConfigIssue } from '../../resources/types.ts';
import { readableErrorMap, zodIssues } from '../../resources/zod-issues.ts';
import type { LoadBound } from '../framework/types.ts';
import { PLUGINS, UNSUPPORTED_PLUGINS } from '../plugins/registry.ts';

/**
 * The best configuration measured by `npm run bench:routing` (bench/README.md): Kthena's chart filters plus
 * lora-affinity; kvcache-aware (decides for pods that publish KV events, silent and free for the others),
 * prefix-cache (the approximate signal for pods without events), lora-residency (LoRA requests to the pods holding
 * their adapter; x3 so that each of its steps, 100/50/0, outweighs least-request's whole 0-100 swing: a busy holder
 * beats an idle pod with a free slot, which a busy pod with a free slot beats in turn over an idle one whose slots
 * are full) and least-request. gpu-usage and least-latency are
 * left out: they mostly reflect which pod holds the hot prefixes and pull requests away from it.
 */
export const DEFAULT_FILTERS: readonly string[] = ['lora-affinity', 'least-request'];
export const DEFAULT_SCORES: readonly ScoreSetting[] = [
  { name: 'kvcache-aware', weight: 2 },
  { name: 'prefix-cache', weight: 2 },
  { name: 'lora-residency', weight: 3 },
  { name: 'least-request', weight: 1 },
];
/**
 * The load bound when the file sets none (`scheduler.loadBound`, Switchyard's): a pod may hold up to 1.5x its fair
 * share of the router's requests in flight plus 4 before the pods with room go first. With the affinity scores
 * alone a hot prefix (one application's system prompt on every request) put 3.3x the mean load on one engine in
 * `npm run bench:routing -- --workload hot-prefix` and cut throughput to 0.77x random's; bounded, 0.94x, while the
 * multi-turn workload keeps its stickiness (bench/README.md); with the copy of a hot prefix to an idle pod (the
 * framework picker's addCacheCopy), 1.00x. The slack keeps affinity whole at low load.
 */
export const DEFAULT_LOAD_BOUND: LoadBound = { factor: 1.5, slack: 4 };

/** Args of default plugins the file does not configure: whole prompts (conversation histories), not Kthena's 8 KB. */
export const DEFAULT_ARGS: ReadonlyMap<string, Readonly<Record<string, unknown>>> = new Map([
  ['kvcache-aware', { maxBlocksToMatch: 512 }],
  ['prefix-cache', { maxBlocksToMatch: 1024 }],
]);

export interface ScoreSetting {
  readonly name: string;
  readonly weight: number;
}

export interface PluginArgs {
  /** Validated args, defaults applied. */
  readonly value: unknown;
  /** Canonical JSON of `value`: an unchanged plugin keeps its instance (and state) across reloads. */
  readonly key: string;
}

export interface SchedulerConfig {
  readonly filters: readonly string[];
  readonly scores: readonly ScoreSetting[];
  /** Args of every plugin in `filters` or `scores`. */
  readonly args: ReadonlyMap<string, PluginArgs>;
  /** null: no bound (`loadBound: false`). */
  readonly loadBound: LoadBound | null;
  /** The file's non-scheduler sections, unvalidated (undefined when absent). */
  readonly sections: RouterConfigSections;
}

export interface RouterConfigSections {
  readonly auth: unknown;
  readonly fairness: unknown;
}

export type RouterConfigResult =
  | { readonly ok: true; readonly config: SchedulerConfig; readonly issues: readonly ConfigIssue[] }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

const nameSchema = z.string().min(1);
const nameList = z.array(nameSchema).nullish();
const fileSchema = z.strictObject({
  scheduler: z
    .strictObject({
      pluginConfig: z.array(z.strictObject({ name: nameSchema, args: z.unknown().optional() })).nullish(),
      plugins: z
        .strictObject({
          Filter: z.strictObject({ enabled: nameList, disabled: nameList }).nullish(),
          Score: z
            .strictObject({
              enabled: z.array(z.strictObject({ name: nameSchema, weight: z.number().min(0).nullish() })).nullish(),
              disabled: z.array(z.union([nameSchema, z.strictObject({ name: nameSchema, weight: z.number().nullish() })])).nullish(),
            })
            .nullish(),
        })
        .nullish(),
      loadBound: z
        .union([z.literal(false), z.strictObject({ factor: z.number().min(1).optional(), slack: z.number().min(0).optional() })], {
          error: 'must be false (no bound) or {factor: >= 1, slack: >= 0}',
        })
        .nullish(),
    })
    .nullish(),
  auth: z.unknown().optional(),
  fairness: z.unknown().optional(),
});

/** The defaults, as used when no router configuration file is given. */
export function defaultSchedulerConfig(): SchedulerConfig {
  const result = resolve({}, 'defaults', []);
  if (result === null) throw new Error('the built-in scheduler defaults are invalid');
  return result;
}

export function parseRouterConfig(text: string, file: string): RouterConfigResult {
  const issues: ConfigIssue[] = [];
  const document = parseDocument(text, { merge: true });
  if (document.errors.length > 0) {
    return { ok: false, issues: document.errors.map((e) => ({ severity: 'error', file, path: '', message: `YAML syntax error: ${e.message}` })) };
  }
  let value: unknown;
  try {
    value = document.toJS() ?? {};
  } catch (err) {
    return { ok: false, issues: [{ severity: 'error', file, path: '', message: `cannot read YAML: ${(err as Error).message}` }] };
  }
  const config = resolve(value, file, issues);
  if (config === null || issues.some((i) => i.severity === 'error')) return { ok: false, issues };
  return { ok: true, config, issues };
}

function resolve(value: unknown, file: string, issues: ConfigIssue[]): SchedulerConfig | null {
  const error = (path: FieldPath, message: string): void => void issues.push({ severity: 'error', file, path: formatFieldPath(path), message });
  const warn = (path: FieldPath, message: string): void => void issues.push({ severity: 'warning', file, path: formatFieldPath(path), message });

  const parsed = fileSchema.safeParse(value, { error: readableErrorMap, reportInput: true });
  if (!parsed.success) {
    issues.push(...zodIssues(parsed.error, [], file));
    return null;
  }
  const scheduler = parsed.data.scheduler ?? {};
  const plugins = scheduler.plugins ?? {};

  // Every name must be a known plugin of the right kind.
  const check = (path: FieldPath, name: string, kind: 'filter' | 'score' | null): boolean => {
    const definition = PLUGINS.get(name);
    if (definition === undefined) {
      error(path, UNSUPPORTED_PLUGINS.get(name) ?? `unknown plugin "${name}"; known plugins: ${[...PLUGINS.keys()].join(', ')}`);
      return false;
    }
    if (kind !== null && !definition[kind]) {
      error(path, `${name} is not a ${kind} plugin (it is a ${kind === 'filter' ? 'score' : 'filter'} plugin)`);
      return false;
    }
    return true;
  };
  const noDuplicates = (path: FieldPath, names: readonly string[]): void => {
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i) error([...path, i], `${name} is listed twice`);
    });
  };

  const filterPath = ['scheduler', 'plugins', 'Filter'];
  const scorePath = ['scheduler', 'plugins', 'Score'];
  const filterEnabled = plugins.Filter?.enabled ?? null;
  const filterDisabled = plugins.Filter?.disabled ?? [];
  const scoreEnabled = plugins.Score?.enabled?.map((e) => ({ name: e.name, weight: e.weight ?? 1 })) ?? null;
  const scoreDisabled = (plugins.Score?.disabled ?? []).map((e) => (typeof e === 'string' ? e : e.name));

  filterEnabled?.forEach((name, i) => check([...filterPath, 'enabled', i], name, 'filter'));
  filterDisabled.forEach((name, i) => check([...filterPath, 'disabled', i], name, 'filter'));
  scoreEnabled?.forEach((entry, i) => check([...scorePath, 'enabled', i, 'name'], entry.name, 'score'));
  scoreDisabled.forEach((name, i) => check([...scorePath, 'disabled', i], name, 'score'));
  if (filterEnabled !== null) noDuplicates([...filterPath, 'enabled'], filterEnabled);
  if (scoreEnabled !== null) noDuplicates([...scorePath, 'enabled'], scoreEnabled.map((e) => e.name));
  filterDisabled.forEach((name, i) => {
    if (filterEnabled?.includes(name)) error([...filterPath, 'disabled', i], `${name} is both enabled and disabled`);
  });
  scoreDisabled.forEach((name, i) => {
    if (scoreEnabled?.some((e) => e.name === name)) error([...scorePath, 'disabled', i], `${name} is both enabled and disabled`);
  });

  const filters = (filterEnabled ?? DEFAULT_FILTERS).filter((name) => !filterDisabled.includes(name));
  let scores = (scoreEnabled ?? DEFAULT_SCORES).filter((entry) => !scoreDisabled.includes(entry.name));
  if (scores.some((e) => e.name === 'random') && scores.some((e) => e.name !== 'random' && e.weight > 0)) {
    warn([...scorePath, 'enabled'], 'random is removed because other score plugins are enabled (as Kthena does)');
    scores = scores.filter((e) => e.name !== 'random');
  }

  // Args: from pluginConfig, or each plugin's defaults.
  const used = new Set([...filters, ...scores.map((e) => e.name)]);
  const given = new Map<string, unknown>();
  (scheduler.pluginConfig ?? []).forEach((entry, i) => {
    const path = ['scheduler', 'pluginConfig', i];
    if (!check([...path, 'name'], entry.name, null)) return;
    if (given.has(entry.name)) return error([...path, 'name'], `${entry.name} is configured twice`);
    given.set(entry.name, entry.args ?? {});
    if (!used.has(entry.name)) warn([...path, 'name'], `${entry.name} is configured but not enabled`);
  });
  const args = new Map<string, PluginArgs>();
  for (const name of new Set([...used, ...given.keys()])) {
    const definition = PLUGINS.get(name);
    if (definition === undefined) continue;
    const fromDefaults = (filterEnabled === null && DEFAULT_FILTERS.includes(name)) || (scoreEnabled === null && DEFAULT_SCORES.some((s) => s.name === name));
    const raw = given.get(name) ?? (fromDefaults ? DEFAULT_ARGS.get(name) : undefined) ?? {};
    const index = (scheduler.pluginConfig ?? []).findIndex((e) => e.name === name);
    const result = definition.args.safeParse(raw, { error: readableErrorMap, reportInput: true });
    if (!result.success) {
      issues.push(...zodIssues(result.error, ['scheduler', 'pluginConfig', index, 'args'], file));
      continue;
    }
    if (used.has(name)) args.set(name, { value: result.data, key: JSON.stringify(result.data) });
  }
  if (issues.some((i) => i.severity === 'error')) return null;
  const bound = scheduler.loadBound;
  const loadBound = bound === false ? null : { factor: bound?.factor ?? DEFAULT_LOAD_BOUND.factor, slack: bound?.slack ?? DEFAULT_LOAD_BOUND.slack };
  return { filters, scores, args, loadBound, sections: { auth: parsed.data.auth, fairness: parsed.data.fairness } };
}

