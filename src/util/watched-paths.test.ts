// What makes a watched file reload: its own changes, a rename onto it, a ConfigMap ..data swap; not the writes of
// other files in its directory (a log written next to the configuration reloaded it every debounce interval).
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WatchedPaths } from './watched-paths.ts';

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    assert.ok(waited < 10_000, `timed out waiting for ${what}`);
    await pause(20);
  }
}

describe('WatchedPaths on a file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-watch-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reloads for the file and for renames onto it, not for the other files of its directory', async () => {
    const file = join(dir, 'config.yaml');
    await writeFile(file, 'a: 1\n');
    const watched = new WatchedPaths([file], 0);
    let reloads = 0;
    await watched.watch(() => {
      reloads++;
      return Promise.resolve();
    });
    try {
      await until(() => reloads === 1, 'the reload once the watch is in place');

      // A log next to the configuration, written continuously for a while.
      for (let i = 0; i < 40; i++) {
        await appendFile(join(dir, 'router.log'), `line ${i}\n`);
        await pause(10);
      }
      await writeFile(join(dir, 'other.yaml.tmp'), 'x');
      await pause(300);
      assert.equal(reloads, 1, 'writes to other files reloaded nothing');

      await writeFile(file, 'a: 2\n');
      await until(() => reloads === 2, 'a reload after the file changed');

      // An editor's save: write a temporary file, rename it onto the watched one.
      await writeFile(join(dir, '.config.yaml.swp'), 'a: 3\n');
      await rename(join(dir, '.config.yaml.swp'), file);
      await until(() => reloads === 3, 'a reload after a rename onto the file');
    } finally {
      await watched.close();
    }
  });
});
