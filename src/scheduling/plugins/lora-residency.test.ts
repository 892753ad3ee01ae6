import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeCycle, makeEnv, makePods, makeRequest, runScore } from '../framework/test-support.ts';
import { loraResidencyPlugin } from './lora-residency.ts';

describe('lora-residency', () => {
  const pods = makePods(3);
  const loraA = () => makeCycle(makeRequest({ model: 'lora-A', upstreamModel: 'lora-A', isLora: true }));
  const loraB = () => makeCycle(makeRequest({ model: 'lora-B', upstreamModel: 'lora-B', isLora: true }));
  const base = () => makeCycle(makeRequest({ model: 'org/base', upstreamModel: 'org/base' }));

  it('prefers the pods whose engines run or queue requests for the adapter (scraped)', () => {
    const env = makeEnv();
    env.engines.stats.set(pods[1].origin, { loraAdapters: new Set(['lora-A', 'lora-C']) });
    env.engines.stats.set(pods[2].origin, { loraAdapters: new Set(['lora-B']) });
    const plugin = loraResidencyPlugin.create({}, env);
    assert.deepEqual(runScore(plugin, pods, loraA()), [0, 100, 0]);
    assert.deepEqual(runScore(plugin, pods, loraB()), [0, 0, 100]);
  });

  it('has no opinion on base-model requests, nor on an adapter no pod is known to hold', () => {
    const env = makeEnv();
    env.engines.stats.set(pods[0].origin, { loraAdapters: new Set(['lora-A']) });
    const plugin = loraResidencyPlugin.create({}, env);
    assert.deepEqual(runScore(plugin, pods, base()), [NaN, NaN, NaN]);
    assert.deepEqual(runScore(plugin, pods, loraB()), [NaN, NaN, NaN]);
  });

  it('remembers the last `slots` adapters served on each pod, most recent first', () => {
    const env = makeEnv();
    const plugin = loraResidencyPlugin.create({ slots: 2 }, env);
    const adapter = (name: string) => makeCycle(makeRequest({ model: name, upstreamModel: name, isLora: true }));
    plugin.served!(adapter('lora-A'), pods[0]);
    plugin.served!(adapter('lora-B'), pods[0]);
    plugin.served!(base(), pods[0]); // base-model requests take no slot
    assert.deepEqual(runScore(plugin, pods, loraA()), [100, 0, 0]);
    plugin.served!(adapter('lora-C'), pods[0]); // evicts lora-A, the least recent
    assert.deepEqual(runScore(plugin, pods, loraA()), [NaN, NaN, NaN]);
    assert.deepEqual(runScore(plugin, pods, loraB()), [100, 0, 0]);
    plugin.retain!(new Set([pods[1].origin, pods[2].origin]));
    assert.deepEqual(runScore(plugin, pods, loraB()), [NaN, NaN, NaN], 'a pod that left is forgotten');
  });

  it('scores only the pods still alive', () => {
    const env = makeEnv();
    env.engines.stats.set(pods[0].origin, { loraAdapters: new Set(['lora-A']) });
    env.engines.stats.set(pods[2].origin, { loraAdapters: new Set(['lora-A']) });
    assert.deepEqual(runScore(loraResidencyPlugin.create({}, env), pods, loraA(), Uint8Array.from([0, 1, 1])), [NaN, 0, 100]);
  });
});
