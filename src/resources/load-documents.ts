// YAML files (one or more documents each) → typed resources and the problems found in them.
import { isScalar, parseAllDocuments, type Document, type YAMLError } from 'yaml';
import { joinFieldPath } from './field-path.ts';
import { nameOfRawObject } from './object-name.ts';
import { parseResourceObject } from './parse-object.ts';
import { validateResourceSet } from './resource-set.ts';
import { API_VERSION, type ConfigIssue, type LoadedResource } from './types.ts';
import { isPlainObject } from './unknown-fields.ts';

export { validateResourceSet };

export interface LoadResult {
  resources: LoadedResource[];
  issues: ConfigIssue[];
}

/** `kubectl get ... -o yaml` wraps objects in a List; the typed list kinds are accepted too. */
const LIST_KINDS: Readonly<Record<string, string>> = {
  List: 'v1',
  PodList: 'v1',
  SecretList: 'v1',
  ModelRouteList: API_VERSION,
  ModelServerList: API_VERSION,
  ExternalModelProviderList: API_VERSION,
};

/** YAML syntax errors reported per file. */
const MAX_SYNTAX_ERRORS_PER_FILE = 10;
/** Longest message, field path and object name an issue quotes (a 100,000-character name is still named). */
const MAX_MESSAGE_CHARS = 1000;
const MAX_NAME_CHARS = 253;
const MAX_YAML_REASON_CHARS = 200;

interface DocumentContext {
  file: string;
  documentIndex: number;
  firstLoadOrder: number;
  result: LoadResult;
}

/** Parses every document of one file; loadOrder counts up from firstLoadOrder over the resources produced. */
export function parseResourceDocuments(text: string, file: string, firstLoadOrder: number): LoadResult {
  const result: LoadResult = { resources: [], issues: [] };
  // merge: Kubernetes' YAML reader (go-yaml) supports `<<` merge keys.
  let syntaxErrors = 0;
  parseAllDocuments(text, { merge: true }).forEach((document, documentIndex) => {
    const context: DocumentContext = { file, documentIndex, firstLoadOrder, result };
    if (document.errors.length > 0) {
      // A file that is not YAML at all (binary, random) has thousands: the first few say enough.
      for (const error of document.errors) {
        if (++syntaxErrors <= MAX_SYNTAX_ERRORS_PER_FILE) addIssue(context, 'error', '', describeYamlProblem('YAML syntax error', error));
      }
      return;
    }
    for (const warning of document.warnings) addIssue(context, 'warning', '', describeYamlProblem('YAML warning', warning));
    if (isEmptyDocument(document)) return;
    let value: unknown;
    try {
      value = document.toJS();
    } catch (error) {
      // For example an alias bomb: too many alias expansions.
      addIssue(context, 'error', '', `cannot read YAML document: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    addObject(context, value, '', true);
  });
  if (syntaxErrors > MAX_SYNTAX_ERRORS_PER_FILE) {
    const more = syntaxErrors - MAX_SYNTAX_ERRORS_PER_FILE;
    result.issues.push({ severity: 'error', file, path: '', message: `${more} more YAML syntax error${more === 1 ? '' : 's'} not shown (is this a YAML file?)` });
  }
  return result;
}

/**
 * Per-file parse results from an earlier load, keyed by file name. A file whose text is unchanged is not parsed
 * again: YAML parsing dominates a reload, so a large configuration reloads at the cost of the files that changed.
 */
export type ParseCache = Map<string, { readonly text: string; readonly parsed: LoadResult }>;

/**
 * Loads files in the given order (loadOrder continues across them) and runs the cross-document checks.
 * With `cache`, unchanged files reuse their earlier parse and the cache is left holding exactly these files.
 */
export function loadResourcesFromTexts(files: readonly { file: string; text: string }[], cache?: ParseCache): LoadResult {
  const resources: LoadedResource[] = [];
  const issues: ConfigIssue[] = [];
  const seen = cache === undefined ? null : new Set<string>();
  for (const { file, text } of files) {
    let parsed: LoadResult;
    const cached = cache?.get(file);
    if (cached !== undefined && cached.text === text) {
      parsed = cached.parsed;
    } else {
      parsed = parseResourceDocuments(text, file, 0);
      cache?.set(file, { text, parsed });
    }
    seen?.add(file);
    const offset = resources.length;
    for (const item of parsed.resources) {
      resources.push(offset === 0 ? item : { resource: item.resource, origin: { ...item.origin, loadOrder: item.origin.loadOrder + offset } });
    }
    issues.push(...parsed.issues);
  }
  if (cache !== undefined && seen !== null) for (const file of cache.keys()) if (!seen.has(file)) cache.delete(file);
  issues.push(...validateResourceSet(resources));
  return { resources, issues };
}

function addObject(context: DocumentContext, value: unknown, pathPrefix: string, mayBeList: boolean): void {
  const listKind = isPlainObject(value) && typeof value.kind === 'string' && Object.hasOwn(LIST_KINDS, value.kind) ? value.kind : undefined;
  if (listKind !== undefined && isPlainObject(value)) {
    if (!mayBeList) return addIssue(context, 'error', pathPrefix, `a ${listKind} inside a list is not supported`);
    const expectedApiVersion = LIST_KINDS[listKind];
    if (value.apiVersion !== expectedApiVersion) {
      return addIssue(context, 'error', joinFieldPath(pathPrefix, 'apiVersion'), `${listKind} must have apiVersion ${expectedApiVersion}`);
    }
    const items = value.items ?? [];
    if (!Array.isArray(items)) return addIssue(context, 'error', joinFieldPath(pathPrefix, 'items'), 'must be a list');
    items.forEach((item, index) => addObject(context, item, joinFieldPath(pathPrefix, `items[${index}]`), false));
    return;
  }
  const parsed = parseResourceObject(value);
  const object = nameOfRawObject(value);
  for (const problem of parsed.problems) {
    addIssue(context, problem.severity, joinFieldPath(pathPrefix, problem.path), problem.message, object);
  }
  if (parsed.resource) {
    const { file, documentIndex, firstLoadOrder, result } = context;
    result.resources.push({ resource: parsed.resource, origin: { file, documentIndex, loadOrder: firstLoadOrder + result.resources.length } });
  }
}

function addIssue(context: DocumentContext, severity: ConfigIssue['severity'], path: string, message: string, object?: string): void {
  const { file, documentIndex } = context;
  const named = object === undefined ? {} : { object: clipped(object, MAX_NAME_CHARS) };
  context.result.issues.push({ severity, file, documentIndex, ...named, path: clipped(path, MAX_MESSAGE_CHARS), message: clipped(message, MAX_MESSAGE_CHARS) });
}

/** Text quoted from a configuration (a value, a name, a YAML token) is cut to a readable length. */
function clipped(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** Blank and comment-only documents (e.g. after a trailing `---`) are skipped silently. */
function isEmptyDocument(document: Document): boolean {
  return document.contents === null || (isScalar(document.contents) && document.contents.value === null);
}

/** "YAML syntax error at line 8, column 1: Map keys must be unique" (the yaml library appends a code frame). */
function describeYamlProblem(label: string, problem: YAMLError): string {
  const newline = problem.message.indexOf('\n');
  const firstLine = newline < 0 ? problem.message : problem.message.slice(0, newline);
  const reason = clipped(firstLine.replace(/ at line \d+, column \d+:?$/, ''), MAX_YAML_REASON_CHARS);
  const position = problem.linePos?.[0];
  return position ? `${label} at line ${position.line}, column ${position.col}: ${reason}` : `${label}: ${reason}`;
}
