// Reads the router configuration file, and watches it: every change (debounced) re-reads and re-validates it and
// hands the result over. Deciding what to do with a bad file (keep the last good one) is the caller's job.
import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'chokidar';
import { parseRouterConfig, type RouterConfigResult } from './router-config.ts';

/**
 * chokidar drops a file's change events that come within 50 ms of the previous one; a reload that starts later than
 * that after the first event reads whatever those dropped events wrote.
 */
const MIN_DEBOUNCE_MS = 100;

export class RouterConfigWatcher {
  readonly file: string;
  private readonly debounceMs: number;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private loading: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(file: string, debounceMs: number) {
    this.file = file;
    this.debounceMs = Math.max(debounceMs, MIN_DEBOUNCE_MS);
  }

  async load(): Promise<RouterConfigResult> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      return { ok: false, issues: [{ severity: 'error', file: this.file, path: '', message: `cannot read file: ${(err as Error).message}` }] };
    }
    return parseRouterConfig(text, this.file);
  }

  /**
   * Calls `emit` with the re-read file after each burst of changes, one reload at a time, in order.
   * Resolves once the watch is in place.
   */
  watch(emit: (result: RouterConfigResult) => void): Promise<void> {
    const watcher = watch(this.file, { ignoreInitial: true, persistent: true, atomic: true });
    this.watcher = watcher;
    const schedule = (): void => {
      if (this.closed) return;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.loading = this.loading.then(async () => {
          const result = await this.load();
          if (!this.closed) emit(result);
        }).catch(() => undefined);
      }, this.debounceMs);
    };
    watcher.on('all', schedule);
    watcher.on('error', schedule);
    return new Promise((resolve) => watcher.once('ready', () => resolve()));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.watcher?.close();
    await this.loading;
  }
}
