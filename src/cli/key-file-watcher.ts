// Watches the API key file (auth.apiKeysFile) on its own, so that adding or revoking a key needs neither a restart
// nor an edit of the router configuration. Every burst of changes (debounced) re-reads and re-validates the file; a
// file that cannot be read or is invalid keeps the last good keys. The watch is the router's one file-watch mechanism
// (util/watched-paths.ts), so a key file mounted from a Kubernetes Secret reloads on the kubelet's `..data` swap.
import type { ApiKeySet } from '../filters/auth/index.ts';
import { loadApiKeyFile } from '../filters/auth/index.ts';
import type { ConfigIssue } from '../resources/types.ts';
import { WatchedPaths } from '../util/watched-paths.ts';

export class KeyFileWatcher {
  readonly file: string;
  private readonly watched: WatchedPaths;

  private constructor(file: string, debounceMs: number) {
    this.file = file;
    this.watched = new WatchedPaths([file], debounceMs);
  }

  /** Resolves once the watch is in place. */
  static async start(file: string, debounceMs: number, onKeys: (keys: ApiKeySet) => void, onRejected: (issues: readonly ConfigIssue[]) => void): Promise<KeyFileWatcher> {
    const watcher = new KeyFileWatcher(file, debounceMs);
    let hadKeys = false;
    await watcher.watched.watch(async () => {
      const loaded = await loadApiKeyFile(file);
      if (!loaded.ok) {
        onRejected(loaded.issues);
        return;
      }
      if (loaded.config.size === 0 && hadKeys) {
        // Most likely rewritten in place (truncated, not yet written): every client would get 401 meanwhile.
        onRejected([emptiedKeyFile(file)]);
        return;
      }
      hadKeys = loaded.config.size > 0;
      onKeys(loaded.config);
    });
    return watcher;
  }

  close(): Promise<void> {
    return this.watched.close();
  }
}

/** A key file that held keys and now reads empty is most likely being rewritten in place: every client would get 401. */
export function emptiedKeyFile(file: string): ConfigIssue {
  return { severity: 'error', file, path: '', message: 'the API key file has no keys any more (being rewritten?); the last good keys stay. Revoke keys by removing their entries' };
}
