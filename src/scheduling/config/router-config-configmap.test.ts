// The router configuration mounted from a ConfigMap (kubelet-style `..data` swaps) loads and hot-reloads.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigMapVolume } from '../../util/configmap-volume.test-support.ts';
import { makeEnv } from '../framework/test-support.ts';
import { setUpScheduler, type ReloadEvent } from './scheduler-setup.ts';

const weights = (w: number) => `scheduler:\n  plugins:\n    Score:\n      enabled:\n        - {name: gpu-usage, weight: ${w}}\n`;

describe('router configuration in a ConfigMap volume', () => {
  let dir = '';
  after(() => rm(dir, { recursive: true, force: true }));

  it('loads through the ..data symlink and reloads on each swap, once per change', async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-router-config-cm-'));
    const volume = new ConfigMapVolume(dir);
    await volume.write({ 'router-config.yaml': weights(1) });
    const setup = await setUpScheduler({ routerConfigFile: join(dir, 'router-config.yaml'), reloadDebounceMs: 20, env: makeEnv() });
    assert.ok(setup.ok);
    const scores = (): string[] => setup.picker.profile.scores.map((s) => `${s.plugin.name}:${s.weight}`);
    const events: ReloadEvent[] = [];
    await setup.watch((event) => events.push(event));
    try {
      assert.deepEqual(scores(), ['gpu-usage:1']);
      for (const w of [2, 3]) {
        await volume.write({ 'router-config.yaml': weights(w) });
        for (let waited = 0; !scores().includes(`gpu-usage:${w}`); waited += 20) {
          assert.ok(waited < 10_000, `no reload to weight ${w}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(events.length, 2, 'one reload per swap');
      assert.ok(events.every((e) => e.accepted));
    } finally {
      await setup.close();
    }
  });
});
