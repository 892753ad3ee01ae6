// Standalone config source: YAML files and directories of them. Every change (debounced) reloads the whole set
// and emits one complete state, like Traefik's file provider; deciding whether it is good is the store's job.
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { loadResourcesFromTexts, type ParseCache } from '../resources/load-documents.ts';
import type { ConfigIssue, SourceState } from '../resources/types.ts';

const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export interface FileSourceOptions {
  readonly paths: readonly string[];
  /** Quiet time after the last file event before reloading. */
  readonly debounceMs: number;
}

export class FileSource {
  readonly name = 'file';
  private readonly options: FileSourceOptions;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private loading: Promise<void> = Promise.resolve();
  /** Hash of the files read by the latest load; a reload that reads the same bytes emits nothing. */
  private lastSignature: string | null = null;
  private closed = false;
  private readonly parseCache: ParseCache = new Map();

  constructor(options: FileSourceOptions) {
    this.options = options;
  }

  /** Reads every configured file now. */
  async load(): Promise<SourceState> {
    return (await this.read()).state;
  }

  private async read(): Promise<{ state: SourceState; changed: boolean }> {
    const issues: ConfigIssue[] = [];
    const files: { file: string; text: string }[] = [];
    for (const path of this.options.paths) {
      for (const file of await listConfigFiles(path, issues)) {
        try {
          files.push({ file, text: await readFile(file, 'utf8') });
        } catch (err) {
          issues.push({ severity: 'error', file, path: '', message: `cannot read file: ${(err as Error).message}` });
        }
      }
    }
    if (files.length === 0 && issues.length === 0) {
      issues.push({ severity: 'error', file: this.options.paths.join(', '), path: '', message: 'no .yaml, .yml or .json files found' });
    }
    const hash = createHash('sha256');
    for (const { file, text } of files) hash.update(`${file}\0${text.length}\0${text}\0`);
    for (const issue of issues) hash.update(`${issue.file}\0${issue.message}\0`);
    const signature = hash.digest('hex');
    const changed = signature !== this.lastSignature;
    this.lastSignature = signature;
    const loaded = loadResourcesFromTexts(files, this.parseCache);
    return { state: { source: this.name, resources: loaded.resources, issues: [...issues, ...loaded.issues] }, changed };
  }

  /**
   * Watches the paths; `emit` gets a complete new state after each burst of changes that altered what the files
   * hold. Resolves once the watcher is in place. Changes made between the last load() and that moment are not lost:
   * the files are read once more then, and emitted if they differ.
   */
  watch(emit: (state: SourceState) => void): Promise<void> {
    const watcher = watch([...this.options.paths], { ignoreInitial: true, persistent: true });
    this.watcher = watcher;
    watcher.on('all', () => this.schedule(emit));
    watcher.on('error', () => this.schedule(emit));
    return new Promise((resolve) => {
      const ready = (): void => {
        watcher.off('ready', ready).off('error', ready);
        this.schedule(emit);
        resolve();
      };
      watcher.on('ready', ready).on('error', ready);
    });
  }

  private schedule(emit: (state: SourceState) => void): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      // Reloads run one at a time so that states are emitted in order.
      this.loading = this.loading
        .then(async () => {
          const { state, changed } = await this.read();
          if (changed && !this.closed) emit(state);
        })
        .catch(() => undefined);
    }, this.options.debounceMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.watcher?.close();
    await this.loading;
  }
}

/** A file as given, or the config files under a directory (recursively, sorted by path). */
async function listConfigFiles(path: string, issues: ConfigIssue[]): Promise<string[]> {
  const absolute = resolve(path);
  let info;
  try {
    info = await stat(absolute);
  } catch (err) {
    issues.push({ severity: 'error', file: path, path: '', message: `cannot read: ${(err as Error).message}` });
    return [];
  }
  if (!info.isDirectory()) return [path];
  const entries = await readdir(absolute, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && CONFIG_EXTENSIONS.has(extname(e.name).toLowerCase()) && !e.name.startsWith('.'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}
