// Test support: a ConfigMap volume updated exactly as the kubelet's AtomicWriter does it.
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The kubelet's AtomicWriter: new timestamped dir, `..data_tmp` symlink renamed over `..data`, old dir removed. */
export class ConfigMapVolume {
  private generation = 0;
  private current: string | null = null;
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  async write(files: Record<string, string>): Promise<void> {
    const version = `..2025_01_01_00_00_0${this.generation++}.${process.pid}`;
    await mkdir(join(this.dir, version), { recursive: true });
    for (const [name, text] of Object.entries(files)) await writeFile(join(this.dir, version, name), text);
    await symlink(version, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const name of Object.keys(files)) await symlink(join('..data', name), join(this.dir, name)).catch(() => undefined);
    if (this.current !== null) await rm(join(this.dir, this.current), { recursive: true });
    this.current = version;
  }
}

