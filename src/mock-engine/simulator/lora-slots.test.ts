import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoraSlots } from './lora-slots.ts';

describe('LoraSlots', () => {
  it('loads on a miss, evicting the least recently used idle adapter when the slots are full', () => {
    const slots = new LoraSlots(2);
    const idle = () => false;
    assert.equal(slots.acquire('a', idle), true);
    assert.equal(slots.acquire('b', idle), true);
    assert.equal(slots.acquire('a', idle), false, 'a hit loads nothing');
    assert.deepEqual(slots.resident(), ['b', 'a']);
    assert.equal(slots.acquire('c', idle), true);
    assert.deepEqual(slots.resident(), ['a', 'c'], 'b was the least recently used');
    assert.equal(slots.loads, 3);
  });

  it('never evicts a busy adapter: a request waits when every slot is busy', () => {
    const slots = new LoraSlots(1);
    slots.acquire('a', () => false);
    const aBusy = (name: string) => name === 'a';
    assert.equal(slots.canAcquire('a', aBusy), true);
    assert.equal(slots.canAcquire('b', aBusy), false);
    assert.throws(() => slots.acquire('b', aBusy));
    assert.equal(slots.canAcquire('b', () => false), true);
  });

  it('has no limit with maxLoras 0, and drops unloaded adapters unless busy', () => {
    const slots = new LoraSlots(0);
    for (const name of ['a', 'b', 'c', 'd']) slots.acquire(name, () => true);
    assert.deepEqual(slots.resident(), ['a', 'b', 'c', 'd']);
    slots.forget('b', () => false);
    slots.forget('c', () => true);
    assert.deepEqual(slots.resident(), ['a', 'c', 'd']);
    assert.throws(() => new LoraSlots(-1));
  });
});
