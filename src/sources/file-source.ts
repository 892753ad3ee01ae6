// Standalone config source: YAML files and directories of them. Every change (debounced) reloads the whole set
// and emits one complete state, like Traefik's file provider; deciding whether it is good is the store's job.
import { createHash } from 'node:crypto';
import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadResourcesFromTexts, type ParseCache } from '../resources/load-documents.ts';
import type { ConfigIssue, SourceState } from '../resources/types.ts';
import { WatchedPaths, listFiles, type ReloadOutcome } from '../util/watched-paths.ts';
import type { ConfigSource } from './config-source.ts';

const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
/**
 * Larger files are not read: parsing one would stall the router for seconds and hold its text and parse in memory
 * (a 50 MB file: ~5 s, 700 MB). 10,000 Pod stubs take ~4 MB; a Kubernetes object is at most 1.5 MB.
 */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;

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

  /** `incomplete`: a path or file could not be read (the state then has an error for it, so it is not applied). */
  private async read(): Promise<{ state: SourceState; changed: boolean; incomplete: boolean }> {
    const issues: ConfigIssue[] = [];
    const files: { file: string; text: string }[] = [];
    let incomplete = false;
    // A file named twice (`-c dir -c dir/x.yaml`, or one path given twice) is read once: not "defined twice".
    const seen = new Set<string>();
    for (const path of this.options.paths) {
      const listed = await listConfigFiles(path, issues);
      if (listed === null) incomplete = true;
      for (const file of listed ?? []) {
        const absolute = resolve(file);
        if (seen.has(absolute)) continue;
        seen.add(absolute);
        const text = await readConfigFile(file, issues);
        if (text === null) incomplete = true;
        else files.push({ file, text });
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
    return { state: { source: this.name, resources: loaded.resources, issues: [...issues, ...loaded.issues] }, changed, incomplete };
  }

  /**
   * Watches the paths; `emit` gets a complete new state after each burst of changes that altered what the files
   * hold. Resolves once the watch is in place; changes made between the last load() and that moment are not lost.
   */
  watch(emit: (state: SourceState) => void): Promise<void> {
    return this.watched.watch(async (): Promise<ReloadOutcome> => {
      const { state, changed, incomplete } = await this.read();
      if (changed && !this.closed) emit(state);
      return incomplete ? 'incomplete' : undefined;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watched.close();
  }
}

/** The files under `path`, or null (with an error) when it cannot be listed. */
async function listConfigFiles(path: string, issues: ConfigIssue[]): Promise<string[] | null> {
  try {
    return await listFiles(path, CONFIG_EXTENSIONS);
  } catch (err) {
    issues.push({ severity: 'error', file: path, path: '', message: `cannot read: ${(err as Error).message}` });
    return null;
  }
}

/** The file's text, or null (with an error naming the reason) when it cannot be read or is too large. */
async function readConfigFile(file: string, issues: ConfigIssue[]): Promise<string | null> {
  const fail = (message: string): null => {
    issues.push({ severity: 'error', file, path: '', message });
    return null;
  };
  try {
    const { size } = await stat(file);
    if (size > MAX_CONFIG_FILE_BYTES) {
      return fail(`the file is ${(size / 1048576).toFixed(1)} MiB, more than the ${MAX_CONFIG_FILE_BYTES / 1048576} MiB a configuration file may have; not read`);
    }
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const link = code === 'ENOENT' || code === 'ELOOP' ? await symlinkTarget(file) : null;
    if (link !== null) return fail(code === 'ELOOP' ? `cannot read file: it is a symlink loop (-> ${link})` : `cannot read file: it is a symlink to ${link}, which does not exist`);
    return fail(`cannot read file: ${(err as Error).message}`);
  }
}

async function symlinkTarget(file: string): Promise<string | null> {
  try {
    return (await lstat(file)).isSymbolicLink() ? await readlink(file) : null;
  } catch {
    return null;
  }
}
