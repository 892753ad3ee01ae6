// Standalone config source: YAML files and directories of them. Every change (debounced) reloads the whole set
// and emits one complete state, like Traefik's file provider; deciding whether it is good is the store's job.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadResourcesFromTexts, type ParseCache } from '../resources/load-documents.ts';
import type { ConfigIssue, SourceState } from '../resources/types.ts';
import { WatchedPaths, listFiles } from '../util/watched-paths.ts';
import type { ConfigSource } from './config-source.ts';

const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export interface FileSourceOptions {
  readonly paths: readonly string[];
  /** Quiet time after the last file event before reloading. */
  readonly debounceMs: number;
}

export class FileSource implements ConfigSource {
  readonly name = 'file';
  private readonly options: FileSourceOptions;
  private readonly watched: WatchedPaths;
  /** Hash of the files read by the latest load; a reload that reads the same bytes emits nothing. */
  private lastSignature: string | null = null;
  private closed = false;
  private readonly parseCache: ParseCache = new Map();
  /**
   * Files that have held something since they appeared. One of them read empty is most likely being rewritten in
   * place (truncated, not yet written): an error, so the last good configuration keeps serving, until it has content
   * again or is deleted. Never blank since start-up, a file may stay empty.
   */
  private readonly filled = new Set<string>();

  constructor(options: FileSourceOptions) {
    this.options = options;
    this.watched = new WatchedPaths(options.paths, options.debounceMs);
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
    const present = new Set(files.map((f) => f.file));
    for (const file of this.filled) if (!present.has(file)) this.filled.delete(file);
    for (const { file, text } of files) {
      if (text.trim() !== '') this.filled.add(file);
      else if (this.filled.has(file)) {
        issues.push({ severity: 'error', file, path: '', message: 'the file is empty (still being written?); the last good configuration keeps serving. Delete the file to remove what it declared' });
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
   * hold. Resolves once the watch is in place; changes made between the last load() and that moment are not lost.
   */
  watch(emit: (state: SourceState) => void): Promise<void> {
    return this.watched.watch(async () => {
      const { state, changed } = await this.read();
      if (changed && !this.closed) emit(state);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watched.close();
  }
}

async function listConfigFiles(path: string, issues: ConfigIssue[]): Promise<string[]> {
  try {
    return await listFiles(path, CONFIG_EXTENSIONS);
  } catch (err) {
    issues.push({ severity: 'error', file: path, path: '', message: `cannot read: ${(err as Error).message}` });
    return [];
  }
}
