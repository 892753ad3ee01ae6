// Watches the API key file (auth.apiKeysFile) on its own, so that adding or revoking a key needs neither a restart
// nor an edit of the router configuration. Every burst of changes (debounced) re-reads and re-validates the file; a
// file that cannot be read or is invalid keeps the last good keys.
import { watch, type FSWatcher } from 'chokidar';
import type { ApiKeySet } from '../filters/auth/index.ts';
import { loadApiKeyFile } from '../filters/auth/index.ts';
import type { ConfigIssue } from '../resources/types.ts';

/** chokidar drops change events within 50 ms of the previous one; see router-config-watcher.ts. */
const MIN_DEBOUNCE_MS = 100;

export class KeyFileWatcher {
  readonly file: string;
  private readonly watcher: FSWatcher;
  private timer: NodeJS.Timeout | null = null;
  private loading: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(file: string, debounceMs: number, onKeys: (keys: ApiKeySet) => void, onRejected: (issues: readonly ConfigIssue[]) => void) {
    this.file = file;
    this.watcher = watch(file, { ignoreInitial: true, persistent: true, atomic: true });
    const schedule = (): void => {
      if (this.closed) return;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.loading = this.loading.then(async () => {
          const loaded = await loadApiKeyFile(file);
          if (this.closed) return;
          if (loaded.ok) onKeys(loaded.config);
          else onRejected(loaded.issues);
        }).catch(() => undefined);
      }, Math.max(debounceMs, MIN_DEBOUNCE_MS));
    };
    this.watcher.on('all', schedule);
    this.watcher.on('error', schedule);
  }

  /** Resolves once the watch is in place. */
  static async start(file: string, debounceMs: number, onKeys: (keys: ApiKeySet) => void, onRejected: (issues: readonly ConfigIssue[]) => void): Promise<KeyFileWatcher> {
    const watcher = new KeyFileWatcher(file, debounceMs, onKeys, onRejected);
    await new Promise<void>((resolve) => watcher.watcher.once('ready', () => resolve()));
    return watcher;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.watcher.close();
    await this.loading;
  }
}
