// What a watched configuration survives: its directory deleted and re-created or replaced, a file's directory
// re-created, a symlink's target removed and put back, a file too large to read. In each case the last good state
// stays (nothing is emitted without an error for what could not be read) and later edits apply again.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SourceState } from '../resources/types.ts';
import { FileSource, MAX_CONFIG_FILE_BYTES } from './file-source.ts';

const route = (name: string, model: string): string =>
  `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelRoute\nmetadata: {name: ${name}}\nspec:\n  modelName: ${model}\n  rules: [{targetModels: [{modelServerName: s}]}]\n`;

const models = (state: SourceState): string[] =>
  state.resources.flatMap((r) => (r.resource.kind === 'ModelRoute' ? [r.resource.spec.modelName ?? ''] : [])).sort();
const errors = (state: SourceState): string[] => state.issues.filter((i) => i.severity === 'error').map((i) => `${i.file}: ${i.message}`);

/** Waits (up to 10 s) for an emitted state that satisfies `wanted`, after `change`. */
async function stateAfter(states: SourceState[], change: () => Promise<void>, wanted: (state: SourceState) => boolean, what: string): Promise<SourceState> {
  const from = states.length;
  await change();
  for (let waited = 0; ; waited += 25) {
    const found = states.slice(from).find(wanted);
    if (found !== undefined) return found;
    assert.ok(waited < 10_000, `timed out waiting for ${what}; got ${JSON.stringify(states.slice(from).map((s) => [models(s), errors(s)]))}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function watching(path: string, body: (states: SourceState[]) => Promise<void>): Promise<void> {
  const source = new FileSource({ paths: [path], debounceMs: 20 });
  const initial = await source.load();
  assert.deepEqual(errors(initial), []);
  const states: SourceState[] = [];
  await source.watch((state) => states.push(state));
  try {
    await body(states);
  } finally {
    await source.close();
  }
}

const good = (...expected: string[]) => (state: SourceState): boolean =>
  errors(state).length === 0 && JSON.stringify(models(state)) === JSON.stringify(expected.sort());

describe('FileSource recovery', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'switchyard-recovery-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('watches a configuration directory again after it was deleted and re-created', async () => {
    const dir = join(root, 'deleted');
    await mkdir(dir);
    await writeFile(join(dir, 'routes.yaml'), route('r', 'before'));
    await watching(dir, async (states) => {
      const gone = await stateAfter(states, () => rm(dir, { recursive: true }), (s) => errors(s).length > 0, 'an error for the missing directory');
      assert.match(errors(gone)[0], /cannot read/);
      await stateAfter(states, async () => {
        await mkdir(dir);
        await writeFile(join(dir, 'routes.yaml'), route('r', 'back'));
      }, good('back'), 'the re-created directory loaded');
      // The point: an edit after the re-creation is seen.
      await stateAfter(states, () => writeFile(join(dir, 'routes.yaml'), route('r', 'edited')), good('edited'), 'an edit in the re-created directory');
    });
  });

  it('watches the new directory when the old one is moved away and replaced', async () => {
    const dir = join(root, 'replaced');
    await mkdir(dir);
    await writeFile(join(dir, 'routes.yaml'), route('r', 'old'));
    await watching(dir, async (states) => {
      const fresh = join(root, 'replaced-new');
      await mkdir(fresh);
      await writeFile(join(fresh, 'routes.yaml'), route('r', 'new'));
      await stateAfter(states, async () => {
        await rename(dir, join(root, 'replaced-old'));
        await rename(fresh, dir);
      }, good('new'), 'the replacing directory loaded');
      await stateAfter(states, () => writeFile(join(dir, 'routes.yaml'), route('r', 'new-edited')), good('new-edited'), 'an edit in the replacing directory');
      // The old directory, now elsewhere, is not watched any more.
      await writeFile(join(root, 'replaced-old', 'routes.yaml'), route('r', 'stale'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(models(states[states.length - 1]), ['new-edited']);
    });
  });

  it('watches a single file again after its directory was re-created', async () => {
    const dir = join(root, 'file-parent');
    await mkdir(dir);
    const file = join(dir, 'all.yaml');
    await writeFile(file, route('r', 'one'));
    await watching(file, async (states) => {
      await stateAfter(states, () => rm(dir, { recursive: true }), (s) => errors(s).length > 0, 'an error for the missing file');
      await stateAfter(states, async () => {
        await mkdir(dir);
        await writeFile(file, route('r', 'two'));
      }, good('two'), 'the file back');
      await stateAfter(states, () => writeFile(file, route('r', 'three')), good('three'), 'an edit after the re-creation');
    });
  });

  it('reports a symlink whose target is missing, and follows the target once it is back', async () => {
    const shared = join(root, 'shared');
    await mkdir(shared);
    await writeFile(join(shared, 'r3.yaml'), route('r3', 'm3'));
    const dir = join(root, 'linked');
    await mkdir(dir);
    await writeFile(join(dir, 'routes.yaml'), route('r1', 'm1'));
    await symlink(join(shared, 'r3.yaml'), join(dir, 'r3.yaml'));
    await watching(dir, async (states) => {
      const broken = await stateAfter(states, () => rename(join(shared, 'r3.yaml'), join(root, 'r3.yaml.away')), (s) => errors(s).length > 0, 'an error for the dangling symlink');
      assert.deepEqual(errors(broken), [`${join(dir, 'r3.yaml')}: cannot read file: it is a symlink to ${join(shared, 'r3.yaml')}, which does not exist`]);
      await stateAfter(states, () => rename(join(root, 'r3.yaml.away'), join(shared, 'r3.yaml')), good('m1', 'm3'), 'the target back');
      await stateAfter(states, () => writeFile(join(shared, 'r3.yaml'), route('r3', 'm3-edited')), good('m1', 'm3-edited'), 'an edit of the target once it is back');
    });
  });

  it('does not read a file larger than the limit, and says how large it is', async () => {
    const dir = join(root, 'large');
    await mkdir(dir);
    await writeFile(join(dir, 'routes.yaml'), route('r', 'small'));
    const big = join(dir, 'big.yaml');
    await writeFile(big, '');
    await truncate(big, MAX_CONFIG_FILE_BYTES + 1);
    const state = await new FileSource({ paths: [dir], debounceMs: 0 }).load();
    assert.deepEqual(errors(state), [`${big}: the file is 16.0 MiB, more than the 16 MiB a configuration file may have; not read`]);
  });
});
