// The one file-watch mechanism of the router: the resource files and the router configuration file both reload
// through it. Kubernetes mounts a ConfigMap as symlinks (`file -> ..data/file`, `..data -> ..2025_…`) and updates it
// by swapping `..data` atomically, so a watched file is watched through its directory (a watch on the file itself
// follows the old target, which the kubelet deletes), and symlinks are followed when listing and reading.
import { watch as watchDirectoryEntries } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { watch } from 'chokidar';

/**
 * chokidar drops a file's change events that come within 50 ms of the previous one; a reload that starts later than
 * that after the first event reads whatever those dropped events wrote.
 */
const MIN_DEBOUNCE_MS = 100;

export class WatchedPaths {
  private readonly paths: readonly string[];
  private readonly debounceMs: number;
  private watchers: { close(): Promise<void> }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(paths: readonly string[], debounceMs: number) {
    this.paths = paths;
    this.debounceMs = Math.max(debounceMs, MIN_DEBOUNCE_MS);
  }

  /**
   * Runs `reload` after each burst of changes (debounced), one run at a time, in order, and once more when the watch
   * is in place, so that nothing changed between the caller's first read and that moment is missed.
   */
  async watch(reload: () => Promise<void>): Promise<void> {
    const schedule = (): void => this.schedule(reload);
    const watchers = await Promise.all(this.paths.map(async (path) => {
      const absolute = resolve(path);
      const info = await stat(absolute).catch(() => null);
      return info?.isDirectory() === true ? watchTree(absolute, schedule) : watchFile(absolute, schedule);
    }));
    this.watchers = watchers;
    if (this.closed) await Promise.all(watchers.map((w) => w.close()));
    schedule();
  }

  private schedule(reload: () => Promise<void>): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.running.then(() => (this.closed ? undefined : reload())).catch(() => undefined);
    }, this.debounceMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await Promise.all(this.watchers.map((w) => w.close()));
    await this.running;
  }
}

/** A directory of resource files, recursively (chokidar follows symlinked subdirectories and new ones). */
async function watchTree(path: string, changed: () => void): Promise<{ close(): Promise<void> }> {
  const watcher = watch(path, { ignoreInitial: true, persistent: true });
  await new Promise<void>((done) => {
    watcher.on('all', changed).on('error', changed);
    const ready = (): void => {
      watcher.off('ready', ready).off('error', ready);
      done();
    };
    watcher.on('ready', ready).on('error', ready);
  });
  return watcher;
}

/**
 * One file, through its directory's entries: a change of the file itself, an editor's rename onto it, or a
 * ConfigMap's `..data` swap. Other files of that directory (a log written next to the configuration) are ignored
 * without a rescan of the directory, which chokidar would do for every one of their writes.
 */
function watchFile(path: string, changed: () => void): { close(): Promise<void> } {
  const name = basename(path);
  try {
    const watcher = watchDirectoryEntries(dirname(path), { persistent: true }, (_event, entry) => {
      if (entry === null || entry === name || entry.startsWith('..')) changed();
    });
    watcher.on('error', changed);
    return { close: () => Promise.resolve(watcher.close()) };
  } catch {
    changed(); // the directory is gone: the reload reports the missing file
    return { close: () => Promise.resolve() };
  }
}

/**
 * A path as given when it is a file (or a symlink to one), or the files under a directory whose extension is in
 * `extensions`, recursively, sorted, following symlinks to files and directories. Names starting with a dot are
 * skipped, which leaves out a ConfigMap volume's `..data` and timestamped directories (their files are reached
 * once, through the visible symlinks).
 */
export async function listFiles(path: string, extensions: ReadonlySet<string>): Promise<string[]> {
  const absolute = resolve(path);
  const info = await stat(absolute);
  if (!info.isDirectory()) return [path];
  const found: string[] = [];
  const visited = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (visited.has(real)) return;
    visited.add(real);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      let isDirectory = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await stat(full).catch(() => null);
        isDirectory = target?.isDirectory() === true;
        isFile = target?.isFile() === true;
      }
      if (isDirectory) await walk(full);
      else if (isFile && extensions.has(extname(entry.name).toLowerCase())) found.push(full);
    }
  };
  await walk(absolute);
  return found.sort();
}
