import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeCycle, makeEnv, makePods, makeRequest, runScore } from '../framework/test-support.ts';
import { ACTIVE_MS, loraResidencyPlugin } from './lora-residency.ts';

describe('lora-residency', () => {
  const pods = makePods(3);
  const loraA = () => makeCycle(makeRequest({ model: 'lora-A', upstreamModel: 'lora-A', isLora: true }));
  const loraB = () => makeCycle(makeRequest({ model: 'lora-B', upstreamModel: 'lora-B', isLora: true }));
  const base = () => makeCycle(makeRequest({ model: 'org/base', upstreamModel: 'org/base' }));

  it('prefers the pods whose engines run or queue requests for the adapter (scraped), then pods with a free slot', () => {
    const env = makeEnv();
    env.engines.stats.set(pods[1].origin, { loraAdapters: new Set(['lora-A', 'lora-C']), loraSlots: 2 });
    env.engines.stats.set(pods[2].origin, { loraAdapters: new Set(['lora-B']), loraSlots: 2 });
    const plugin = loraResidencyPlugin.create(loraResidencyPlugin.args.parse({}), env);
    // pod 0: nothing known in use (a free slot); pod 1: its two slots busy with other adapters; pod 2: one free.
    assert.deepEqual(runScore(plugin, pods, loraA()), [50, 100, 50]);
    assert.deepEqual(runScore(plugin, pods, loraB()), [50, 0, 100]);
  });

  it("takes the engine's reported slots (max_lora) over the configured ones", () => {
    const env = makeEnv();
    env.engines.stats.set(pods[0].origin, { loraAdapters: new Set(['lora-B', 'lora-C']), loraSlots: 4 });
    env.engines.stats.set(pods[1].origin, { loraAdapters: new Set(['lora-B']), loraSlots: 1 });
    env.engines.stats.set(pods[2].origin, { loraAdapters: new Set(['lora-B', 'lora-C']) });
    assert.deepEqual(runScore(loraResidencyPlugin.create({ slots: 2 }, env), pods, loraA()), [50, 0, 0]);
  });

  it('has no opinion on base-model requests', () => {
    const env = makeEnv();
    env.engines.stats.set(pods[0].origin, { loraAdapters: new Set(['lora-A']) });
    const plugin = loraResidencyPlugin.create(loraResidencyPlugin.args.parse({}), env);
    assert.deepEqual(runScore(plugin, pods, base()), [NaN, NaN, NaN]);
  });

  it('a cold adapter avoids the pod whose slots hold adapters sent there just now', () => {
    const env = makeEnv();
    const plugin = loraResidencyPlugin.create({ slots: 2 }, env);
    const at = (name: string, now: number) => makeCycle(makeRequest({ model: name, upstreamModel: name, isLora: true }), now);
    const t0 = 1_000_000;
    plugin.picked!(at('lora-A', t0), pods[0]);
    plugin.picked!(at('lora-B', t0), pods[0]);
    plugin.picked!(at('lora-A', t0), pods[1]);
    assert.deepEqual(runScore(plugin, pods, at('lora-C', t0 + 1000)), [0, 50, 50]);
    // Sent long enough ago, they no longer count as in use: the slots are free to take (an eviction costs nothing).
    assert.deepEqual(runScore(plugin, pods, at('lora-C', t0 + ACTIVE_MS + 1)), [50, 50, 50]);
    assert.deepEqual(runScore(plugin, pods, at('lora-B', t0 + ACTIVE_MS + 1)), [100, 50, 50], 'still loaded there');
  });

  it('remembers the last `slots` adapters served on each pod, most recent first', () => {
    const env = makeEnv();
    const plugin = loraResidencyPlugin.create({ slots: 2 }, env);
    const adapter = (name: string) => makeCycle(makeRequest({ model: name, upstreamModel: name, isLora: true }));
    plugin.served!(adapter('lora-A'), pods[0]);
    plugin.served!(adapter('lora-B'), pods[0]);
    plugin.served!(base(), pods[0]); // base-model requests take no slot
    assert.deepEqual(runScore(plugin, pods, loraA()), [100, 50, 50]);
    plugin.served!(adapter('lora-C'), pods[0]); // evicts lora-A, the least recent
    assert.deepEqual(runScore(plugin, pods, loraA()), [0, 50, 50]);
    assert.deepEqual(runScore(plugin, pods, loraB()), [100, 50, 50]);
    plugin.retain!(new Set([pods[1].origin, pods[2].origin]));
    assert.deepEqual(runScore(plugin, pods, loraB()), [50, 50, 50], 'a pod that left is forgotten');
  });

  it('scores only the pods still alive', () => {
    const env = makeEnv();
    env.engines.stats.set(pods[0].origin, { loraAdapters: new Set(['lora-A']) });
    env.engines.stats.set(pods[2].origin, { loraAdapters: new Set(['lora-A']) });
    assert.deepEqual(runScore(loraResidencyPlugin.create(loraResidencyPlugin.args.parse({}), env), pods, loraA(), Uint8Array.from([0, 1, 1])), [NaN, 50, 100]);
  });
});
