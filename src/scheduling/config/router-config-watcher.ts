// Reads the router configuration file, and watches it through the router's one file-watch mechanism (symlinks and
// a ConfigMap's `..data` swap included): every change that alters the text re-validates it and hands the result
// over. Deciding what to do with a bad file (keep the last good one) is the caller's job.
import { readFile } from 'node:fs/promises';
import { WatchedPaths } from '../../util/watched-paths.ts';
import { parseRouterConfig, type RouterConfigResult } from './router-config.ts';

export class RouterConfigWatcher {
  readonly file: string;
  private readonly watched: WatchedPaths;
  /** Text of the latest read (null: unreadable); a reload that reads the same text emits nothing. */
  private lastText: string | null | undefined;
  /** Some read had content: reading empty then is a rewrite in place caught half-way, not "no configuration". */
  private hadContent = false;
  private closed = false;

  constructor(file: string, debounceMs: number) {
    this.file = file;
    this.watched = new WatchedPaths([file], debounceMs);
  }

  async load(): Promise<RouterConfigResult> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      this.lastText = null;
      return { ok: false, issues: [{ severity: 'error', file: this.file, path: '', message: `cannot read file: ${(err as Error).message}` }] };
    }
    this.lastText = text;
    if (text.trim() !== '') this.hadContent = true;
    else if (this.hadContent) {
      // Taken as empty, it would put the defaults in place: authentication off, fairness and plugins reset.
      return {
        ok: false,
        issues: [{ severity: 'error', file: this.file, path: '', message: 'the file is empty (still being written?); the last good router configuration keeps serving. Write {} to go back to the defaults' }],
      };
    }
    return parseRouterConfig(text, this.file);
  }

  /**
   * Calls `emit` with the re-read file after each burst of changes that altered it, one reload at a time, in order.
   * Resolves once the watch is in place.
   */
  watch(emit: (result: RouterConfigResult) => void): Promise<void> {
    return this.watched.watch(async () => {
      const before = this.lastText;
      const result = await this.load();
      if (this.lastText !== before && !this.closed) emit(result);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watched.close();
  }
}
