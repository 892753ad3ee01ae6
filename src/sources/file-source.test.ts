// A file rewritten in place is read empty for a moment (truncated, not yet written): that must not drop what it
// declared.
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileSource } from './file-source.ts';

const route = (name: string) =>
  `apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelRoute\nmetadata: {name: ${name}}\nspec:\n  modelName: ${name}\n  rules: [{targetModels: [{modelServerName: s}]}]\n`;

describe('FileSource and emptied files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-emptied-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('an emptied file is an error until it has content again or is deleted; a file empty from the start is fine', async () => {
    await writeFile(join(dir, 'a.yaml'), route('a'));
    await writeFile(join(dir, 'b.yaml'), route('b'));
    await writeFile(join(dir, 'placeholder.yaml'), '');
    const source = new FileSource({ paths: [dir], debounceMs: 0 });
    const first = await source.load();
    assert.deepEqual(first.issues, []);
    assert.equal(first.resources.length, 2);

    await writeFile(join(dir, 'a.yaml'), '\n');
    const emptied = await source.load();
    assert.deepEqual(emptied.issues.map((i) => [i.severity, i.file]), [['error', join(dir, 'a.yaml')]]);
    assert.match(emptied.issues[0].message, /empty \(still being written\?\)/);

    await writeFile(join(dir, 'a.yaml'), route('a2'));
    const refilled = await source.load();
    assert.deepEqual(refilled.issues, []);
    assert.equal(refilled.resources.length, 2);

    await writeFile(join(dir, 'a.yaml'), '');
    assert.equal((await source.load()).issues.length, 1, 'emptied again');
    await unlink(join(dir, 'a.yaml'));
    const removed = await source.load();
    assert.deepEqual(removed.issues, []);
    assert.equal(removed.resources.length, 1);
  });
});
