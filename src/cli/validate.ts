// `switchyard validate`: the same checks as serve, printed, without serving.
import { formatIssue } from '../resources/types.ts';
import { SnapshotStore } from '../snapshot/snapshot-store.ts';
import { FileSource } from '../sources/file-source.ts';

export async function runValidate(flags: { config: string[] }): Promise<void> {
  const state = await new FileSource({ paths: flags.config, debounceMs: 0 }).load();
  const result = new SnapshotStore().apply(state);
  for (const issue of result.issues) process.stdout.write(`${formatIssue(issue)}\n`);
  if (result.accepted) {
    const { routes, servers, pods, providers } = result.snapshot.stats;
    process.stdout.write(`valid: ${routes} ModelRoute(s), ${servers} ModelServer(s), ${providers} ExternalModelProvider(s), ${pods} ready pod endpoint(s)\n`);
    process.exitCode = 0;
  } else {
    const errors = result.issues.filter((i) => i.severity === 'error').length;
    process.stdout.write(`invalid: ${errors} error(s)\n`);
    process.exitCode = 1;
  }
}
