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
/**
 * How often each watched path is looked at again. A directory deleted and re-created, moved away and replaced, or a
 * symlink to it re-pointed is a new inode that the old watch never reports on: the path is watched anew.
 */
export const IDENTITY_CHECK_MS = 1000;
/** While a reload could not read everything (a file or a symlink's target missing), it is retried this often. */
export const INCOMPLETE_RETRY_MS = 2000;

/** What a reload reports: `incomplete` when something could not be read, so that it is retried and watched anew. */
export type ReloadOutcome = void | 'incomplete';

interface ArmedPath {
  /** `${dev}:${ino}` of the watched directory (for a file: its directory), or `missing`. */
  readonly identity: string;
  close(): Promise<void>;
}

export class WatchedPaths {
  private readonly paths: readonly string[];
  private readonly debounceMs: number;
  private armed: ArmedPath[] = [];
  private reload: (() => Promise<ReloadOutcome>) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private identityTimer: NodeJS.Timeout | null = null;
  private checking = false;
  /** The last reload was incomplete: the next complete one re-arms every watch. */
  private incomplete = false;
  private running: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(paths: readonly string[], debounceMs: number) {
    this.paths = paths.map((path) => resolve(path));
    this.debounceMs = Math.max(debounceMs, MIN_DEBOUNCE_MS);
  }

  /**
   * Runs `reload` after each burst of changes (debounced), one run at a time, in order, and once more when the watch
   * is in place, so that nothing changed between the caller's first read and that moment is missed.
   */
  async watch(reload: () => Promise<ReloadOutcome>): Promise<void> {
    this.reload = reload;
    this.armed = await Promise.all(this.paths.map((path) => this.arm(path)));
    if (this.closed) {
      await this.closeWatchers();
      return;
    }
    this.identityTimer = setInterval(this.queueIdentityCheck, IDENTITY_CHECK_MS).unref();
    this.schedule();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.identityTimer !== null) clearInterval(this.identityTimer);
    await this.running;
    await this.closeWatchers();
  }

  private readonly changed = (): void => this.schedule();

  private schedule(delayMs = this.debounceMs): void {
    if (this.closed || this.reload === null) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(this.runReload, delayMs);
  }

  private readonly runReload = (): void => {
    this.timer = null;
    const reload = this.reload;
    if (reload === null) return;
    this.running = this.running
      .then(async () => {
        if (this.closed) return;
        const outcome = await reload();
        if (outcome === 'incomplete') {
          this.incomplete = true;
          if (this.timer === null) this.schedule(INCOMPLETE_RETRY_MS);
        } else if (this.incomplete) {
          // Something unreadable came back, perhaps as a new inode (a symlink's target re-created): watch it anew.
          this.incomplete = false;
          await this.rearm();
          this.schedule(); // a change made while the watches were being replaced
        }
      })
      .catch(() => undefined);
  };

  private async arm(path: string): Promise<ArmedPath> {
    const info = await stat(path).catch(() => null);
    if (info?.isDirectory() === true) {
      const tree = await watchTree(path, this.changed);
      return { identity: identityOf(info), close: () => tree.close() };
    }
    // A file, or a path that is missing: watched through its directory's entries (it may appear there).
    const parent = await stat(dirname(path)).catch(() => null);
    if (parent === null) return { identity: 'missing', close: () => Promise.resolve() };
    const file = watchFile(path, this.changed);
    return { identity: `file@${identityOf(parent)}`, close: () => file.close() };
  }

  /** Identity checks run between reloads (never beside one), and never pile up. */
  private readonly queueIdentityCheck = (): void => {
    if (this.checking || this.closed) return;
    this.checking = true;
    this.running = this.running
      .then(() => this.checkIdentities())
      .catch(() => undefined)
      .finally(() => {
        this.checking = false;
      });
  };

  /** Re-arms the watch of every path whose identity changed (deleted, re-created, re-pointed), then reloads. */
  private async checkIdentities(): Promise<void> {
    let moved = false;
    for (let i = 0; i < this.paths.length && !this.closed; i++) {
      if ((await currentIdentity(this.paths[i])) === this.armed[i]?.identity) continue;
      const old = this.armed[i];
      this.armed[i] = await this.arm(this.paths[i]);
      await old?.close().catch(() => undefined);
      moved = true;
    }
    if (this.closed) await this.closeWatchers();
    else if (moved) this.schedule();
  }

  private async rearm(): Promise<void> {
    const old = this.armed;
    this.armed = await Promise.all(this.paths.map((path) => this.arm(path)));
    await Promise.all(old.map((watch) => watch.close().catch(() => undefined)));
    if (this.closed) await this.closeWatchers();
  }

  private async closeWatchers(): Promise<void> {
    const watchers = this.armed;
    this.armed = [];
    await Promise.all(watchers.map((watch) => watch.close().catch(() => undefined)));
  }
}

function identityOf(info: { dev: number; ino: number }): string {
  return `${info.dev}:${info.ino}`;
}

/** The identity arm() would record for `path` now. */
async function currentIdentity(path: string): Promise<string> {
  const info = await stat(path).catch(() => null);
  if (info?.isDirectory() === true) return identityOf(info);
  const parent = await stat(dirname(path)).catch(() => null);
  return parent === null ? 'missing' : `file@${identityOf(parent)}`;
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
 * once, through the visible symlinks). A symlink whose target is missing is listed as a file when its name has
 * one of the extensions: a route must not vanish without a word because its file's target did.
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
        // A dangling (or looping) symlink with a configuration name is listed: reading it fails and says so.
        isFile = target === null || target.isFile();
      }
      if (isDirectory) await walk(full);
      else if (isFile && extensions.has(extname(entry.name).toLowerCase())) found.push(full);
    }
  };
  await walk(absolute);
  return found.sort();
}
