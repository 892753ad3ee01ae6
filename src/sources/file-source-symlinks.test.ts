// Files reached through symlinks, and a ConfigMap volume updated the way the kubelet does it (atomic `..data` swap).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SourceState } from '../resources/types.ts';
import { ConfigMapVolume } from '../util/configmap-volume.test-support.ts';
import { FileSource } from './file-source.ts';

const route = (model: string) =>
  `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelRoute\nmetadata: {name: r}\nspec:\n  modelName: ${model}\n  rules: [{targetModels: [{modelServerName: s}]}]\n`;

const models = (state: SourceState): string[] =>
  state.resources.map((r) => (r.resource.kind === 'ModelRoute' ? (r.resource.spec.modelName ?? '') : r.resource.kind));

async function nextState(source: FileSource, change: () => Promise<void>, states: SourceState[]): Promise<SourceState> {
  const count = states.length;
  await change();
  for (let waited = 0; states.length === count; waited += 20) {
    assert.ok(waited < 10_000, 'no reload after the change');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return states[states.length - 1];
}

describe('FileSource through symlinks', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'switchyard-symlinks-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('loads a symlinked file inside a directory, a symlinked directory, and a symlink given as the path', async () => {
    const real = join(root, 'real');
    await mkdir(join(real, 'nested'), { recursive: true });
    await writeFile(join(real, 'a.yaml'), route('via-file-link'));
    await writeFile(join(real, 'nested', 'b.yaml'), route('via-dir-link').replace('name: r', 'name: r2'));
    const config = join(root, 'config');
    await mkdir(config);
    await symlink(join(real, 'a.yaml'), join(config, 'a.yaml'));
    await symlink(join(real, 'nested'), join(config, 'linked-dir'));
    const state = await new FileSource({ paths: [config], debounceMs: 0 }).load();
    assert.deepEqual(state.issues, []);
    assert.deepEqual(models(state).sort(), ['via-dir-link', 'via-file-link']);

    await symlink(join(real, 'a.yaml'), join(root, 'single.yaml'));
    const single = await new FileSource({ paths: [join(root, 'single.yaml')], debounceMs: 0 }).load();
    assert.deepEqual(models(single), ['via-file-link']);
  });

  for (const as of ['directory', 'file'] as const) {
    it(`loads a ConfigMap volume given as a ${as} once and follows its ..data swaps`, async () => {
      const volume = new ConfigMapVolume(join(root, `cm-${as}`));
      await volume.write({ 'routes.yaml': route('first') });
      const path = as === 'directory' ? volume.dir : join(volume.dir, 'routes.yaml');
      const source = new FileSource({ paths: [path], debounceMs: 20 });
      const initial = await source.load();
      assert.deepEqual(initial.issues, []);
      assert.deepEqual(models(initial), ['first'], 'the timestamped directory and ..data are not read a second time');
      const states: SourceState[] = [];
      await source.watch((state) => states.push(state));
      try {
        assert.deepEqual(models(await nextState(source, () => volume.write({ 'routes.yaml': route('second') }), states)), ['second']);
        assert.deepEqual(models(await nextState(source, () => volume.write({ 'routes.yaml': route('third') }), states)), ['third']);
      } finally {
        await source.close();
      }
    });
  }
});
