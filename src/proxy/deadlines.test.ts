import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeadlineList, DeadlineNode } from './deadlines.ts';

class Probe extends DeadlineNode {
  passedAt = 0;
  readonly onPass: (() => void) | null;
  constructor(onPass: (() => void) | null = null) {
    super();
    this.onPass = onPass;
  }
  deadlinePassed(): void {
    this.passedAt = performance.now();
    this.onPass?.();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('DeadlineList', () => {
  it('passes each deadline once, not before its time, in order; removed nodes never pass', async () => {
    const list = new DeadlineList(40);
    const a = new Probe();
    const b = new Probe();
    const removed = new Probe();
    const startedAt = performance.now();
    list.add(a);
    await sleep(15);
    list.add(removed);
    list.add(b);
    list.remove(removed);
    list.remove(removed); // twice: nothing happens
    await sleep(120);
    assert.ok(a.passedAt >= startedAt + 40, `a passed ${a.passedAt - startedAt} ms after it started`);
    assert.ok(b.passedAt >= a.passedAt + 10, 'b (started 15 ms later) passes later');
    assert.equal(removed.passedAt, 0);
    assert.equal(a.deadlineList, null);
  });

  it('times a node added while deadlines pass (a retry after a timeout) from its own start', async () => {
    // Wide margins (a 300 ms timeout, `second` added 100 ms in) so that a busy machine's stalls do not decide it.
    const list = new DeadlineList(300);
    const retry = new Probe();
    let retryAddedAt = 0;
    const first = new Probe(() => {
      retryAddedAt = performance.now();
      list.add(retry);
    });
    const second = new Probe();
    list.add(first);
    await sleep(100);
    list.add(second); // still waiting when `first` passes: its deadline must not be pushed back by `retry`'s
    assert.equal(first.passedAt, 0, 'second was added before first passed');
    for (let waited = 0; retry.passedAt === 0 && waited < 5000; waited += 20) await sleep(20);
    assert.ok(second.passedAt > 0 && second.passedAt < retryAddedAt + 300, 'second passes on time, before the retry');
    assert.ok(retry.passedAt >= retryAddedAt + 300, 'the retry gets its full timeout');
  });

  it('can be reused after it emptied', async () => {
    const list = new DeadlineList(10);
    const a = new Probe();
    list.add(a);
    list.remove(a);
    await sleep(30);
    const b = new Probe();
    list.add(b);
    await sleep(40);
    assert.equal(a.passedAt, 0);
    assert.ok(b.passedAt > 0);
  });
});
