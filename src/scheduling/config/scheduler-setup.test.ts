import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeEnv } from '../framework/test-support.ts';
import type { ReloadEvent, SchedulerSetup } from './scheduler-setup.ts';
import { setUpScheduler } from './scheduler-setup.ts';

const scores = (setup: SchedulerSetup): string[] => (setup.ok ? setup.picker.profile.scores.map((s) => `${s.plugin.name}:${s.weight}`) : []);

describe('setUpScheduler', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-router-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('uses the defaults without a file', async () => {
    const setup = await setUpScheduler({ reloadDebounceMs: 10, env: makeEnv() });
    assert.ok(setup.ok);
    assert.deepEqual(scores(setup), ['kvcache-aware:2', 'prefix-cache:2', 'lora-residency:3', 'least-request:1']);
  });

  it('refuses to start on an invalid or missing file', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'scheduler:\n  plugins:\n    Filter:\n      enabled: [nope]\n');
    const bad = await setUpScheduler({ routerConfigFile: file, reloadDebounceMs: 10, env: makeEnv() });
    assert.equal(bad.ok, false);
    assert.match(bad.issues[0].message, /unknown plugin "nope"/);
    const missing = await setUpScheduler({ routerConfigFile: join(dir, 'missing.yaml'), reloadDebounceMs: 10, env: makeEnv() });
    assert.equal(missing.ok, false);
    assert.match(missing.issues[0].message, /cannot read file/);
  });

  it('hot-reloads the file and keeps the last good configuration when an edit is invalid', async () => {
    const file = join(dir, 'router.yaml');
    const weights = (w: number) => `scheduler:\n  plugins:\n    Score:\n      enabled:\n        - {name: gpu-usage, weight: ${w}}\n`;
    await writeFile(file, weights(1));
    const setup = await setUpScheduler({ routerConfigFile: file, reloadDebounceMs: 20, env: makeEnv() });
    assert.ok(setup.ok);
    const events: ReloadEvent[] = [];
    let wake: (() => void) | null = null;
    await setup.watch((event) => {
      events.push(event);
      wake?.();
    });
    const nextEvent = async (write: string): Promise<ReloadEvent> => {
      const count = events.length;
      const arrived = new Promise<void>((resolve) => (wake = resolve));
      await writeFile(file, write);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([arrived, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
      clearTimeout(timer);
      assert.equal(events.length, count + 1, 'one reload per edit');
      return events[events.length - 1];
    };
    try {
      assert.deepEqual(scores(setup), ['gpu-usage:1']);
      assert.equal((await nextEvent(weights(2))).accepted, true);
      assert.deepEqual(scores(setup), ['gpu-usage:2']);
      const profile = setup.picker.profile;

      const rejected = await nextEvent('scheduler:\n  pluginConfig:\n    - name: least-latency\n      args: {TTFTTPOTWeightFactor: 7}\n');
      assert.equal(rejected.accepted, false);
      assert.match(rejected.issues.map((i) => `${i.path}: ${i.message}`).join(), /scheduler\.pluginConfig\[0\]\.args\.TTFTTPOTWeightFactor: must be in \[0, 1\]/);
      assert.equal(setup.picker.profile, profile, 'the last good profile keeps serving');

      assert.equal((await nextEvent(weights(3))).accepted, true);
      assert.deepEqual(scores(setup), ['gpu-usage:3']);
    } finally {
      await setup.close();
    }
  });
});
