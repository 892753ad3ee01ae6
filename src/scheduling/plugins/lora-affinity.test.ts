import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeCycle, makeEnv, makePods, makeRequest, runFilter } from '../framework/test-support.ts';
import { loraAffinityPlugin } from './lora-affinity.ts';

describe('lora-affinity', () => {
  const pods = makePods(3);
  const lora = makeCycle(makeRequest({ model: 'lora-A', upstreamModel: 'lora-A', isLora: true }));
  const base = makeCycle(makeRequest({ model: 'virtual', upstreamModel: 'org/base' }));
  const cases: { name: string; models: (string[] | null)[]; cycle: typeof lora; alive?: number[]; expected: string[] }[] = [
    { name: 'keeps the pods that have the adapter loaded', models: [['org/base'], ['org/base', 'lora-A'], ['org/base', 'lora-A']], cycle: lora, expected: ['p1', 'p2'] },
    { name: 'keeps every pod when none has it', models: [['org/base'], ['org/base'], null], cycle: lora, expected: ['p0', 'p1', 'p2'] },
    { name: 'prefers known pods over pods whose list is unknown', models: [null, ['lora-A'], null], cycle: lora, expected: ['p1'] },
    { name: 'matches the upstream model, not a virtual request name', models: [['org/base'], ['other'], ['org/base']], cycle: base, expected: ['p0', 'p2'] },
    { name: 'keeps base-model pods whose list is unknown (unscraped or unreachable: still a fallback)', models: [null, ['org/base'], ['other']], cycle: base, expected: ['p0', 'p1'] },
    { name: 'only considers pods still alive', models: [['lora-A'], ['org/base'], ['org/base']], cycle: lora, alive: [0, 1, 1], expected: ['p1', 'p2'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const env = makeEnv();
      c.models.forEach((m, i) => m !== null && env.engines.modelLists.set(pods[i].origin, new Set(m)));
      const alive = c.alive === undefined ? undefined : Uint8Array.from(c.alive);
      assert.deepEqual(runFilter(loraAffinityPlugin.create({}, env), pods, c.cycle, alive), c.expected);
    });
  }
});
