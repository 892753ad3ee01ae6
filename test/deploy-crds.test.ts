// deploy/crds/ is generated from the resource models: the committed files must be what the generator writes now,
// so a change to a model cannot leave the CRDs behind (test/e2e/kube-deploy.test.ts checks them on an API server).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CRD_KINDS, crdFile } from '../deploy/generate-crds.ts';

describe('deploy/crds', () => {
  for (const entry of CRD_KINDS) {
    it(`${entry.plural}: the committed CRD is the generator's output (run node deploy/generate-crds.ts)`, () => {
      const { file, text } = crdFile(entry);
      assert.equal(readFileSync(file, 'utf8'), text);
    });
  }
});
