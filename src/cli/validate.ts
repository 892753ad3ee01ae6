// `switchyard validate`: the same checks as serve, printed, without serving: the resource files and, with
// --router-config, the router configuration file (scheduler, auth and its API key file, fairness).
import { readFile } from 'node:fs/promises';
import { loadApiKeyFile, parseAuthConfig } from '../filters/auth/index.ts';
import { fairnessConfigFromEnv, parseFairnessConfig } from '../filters/fairness/index.ts';
import { formatIssue, type ConfigIssue } from '../resources/types.ts';
import { parseRouterConfig } from '../scheduling/config/router-config.ts';
import { SnapshotStore } from '../snapshot/snapshot-store.ts';
import { FileSource } from '../sources/file-source.ts';

export async function runValidate(flags: { config: string[]; routerConfig?: string }): Promise<void> {
  const state = await new FileSource({ paths: flags.config, debounceMs: 0 }).load();
  const result = new SnapshotStore().apply(state);
  const routerIssues = flags.routerConfig === undefined ? [] : await routerConfigIssues(flags.routerConfig);
  for (const issue of [...result.issues, ...routerIssues]) process.stdout.write(`${formatIssue(issue)}\n`);
  const errors = [...result.issues, ...routerIssues].filter((i) => i.severity === 'error').length;
  if (result.accepted && errors === 0) {
    const { routes, servers, pods, providers } = result.snapshot.stats;
    const router = flags.routerConfig === undefined ? '' : ` and the router configuration ${flags.routerConfig}`;
    process.stdout.write(`valid: ${routes} ModelRoute(s), ${servers} ModelServer(s), ${providers} ExternalModelProvider(s), ${pods} ready pod endpoint(s)${router}\n`);
    process.exitCode = 0;
  } else {
    process.stdout.write(`invalid: ${errors} error(s)\n`);
    process.exitCode = 1;
  }
}

/** Every problem serve would find in the router configuration file, with the fairness defaults of this environment. */
async function routerConfigIssues(file: string): Promise<ConfigIssue[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return [{ severity: 'error', file, path: '', message: `cannot read the router configuration: ${(err as Error).message}` }];
  }
  const parsed = parseRouterConfig(text, file);
  if (!parsed.ok) return [...parsed.issues];
  const { auth: authSection, fairness: fairnessSection } = parsed.config.sections;
  const environment = fairnessConfigFromEnv(process.env);
  const fairness = parseFairnessConfig(fairnessSection, file, environment.config);
  const auth = parseAuthConfig(authSection, file);
  const issues = [...parsed.issues, ...environment.issues, ...fairness.issues, ...auth.issues];
  const keyFile = auth.ok ? auth.config?.apiKeysFile ?? null : null;
  if (keyFile !== null) {
    const keys = await loadApiKeyFile(keyFile);
    if (!keys.ok) issues.push(...keys.issues.map((issue) => ({ ...issue, message: `${issue.message} (auth.apiKeysFile of ${file})` })));
    else if (keys.config.size === 0) issues.push({ severity: 'warning', file: keyFile, path: '', message: 'the API key file holds no keys: every API key is refused' });
  }
  return issues;
}
