// The fairness queue and session boost: admission order under saturation, QPS admission, timeouts, aborts, usage.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { RouterError } from '../../errors/router-error.ts';
import { defineQueueMetrics } from '../../observability/metric-definitions.ts';
import { DEFAULT_FAIRNESS_CONFIG, type FairnessConfig } from './fairness-config.ts';
import { FairQueue, type AdmissionResult, type AdmissionTicket, type BackendLoad } from './fair-queue.ts';

const never = new AbortController().signal;
const MODEL = 'llama';

function queue(overrides: Partial<FairnessConfig>, backendLoad?: (model: string) => BackendLoad | null) {
  const registry = new Registry();
  const metrics = defineQueueMetrics(registry, 'switchyard');
  const config = { ...DEFAULT_FAIRNESS_CONFIG, mode: 'fairness' as const, ...overrides };
  const fair = new FairQueue({ config, metrics, ...(backendLoad ? { backendLoad } : {}) });
  return { fair, registry };
}

function ticket(result: AdmissionResult | Promise<AdmissionResult>): AdmissionTicket {
  assert.ok(!(result instanceof Promise), 'expected an immediate ticket');
  assert.ok(!(result instanceof RouterError), `expected a ticket, got ${result instanceof RouterError ? result.message : ''}`);
  return result;
}

/** Queues requests, records the order in which they are admitted, and keeps their tickets. */
function recorder(fair: FairQueue) {
  const order: string[] = [];
  const tickets = new Map<string, AdmissionTicket>();
  const enqueue = (name: string, user: string, sessionKey: string | null = null, signal = never): Promise<AdmissionResult> => {
    const result = fair.admit({ model: MODEL, user, sessionKey }, signal);
    assert.ok(result instanceof Promise, `${name} should wait`);
    return result.then((r) => {
      if (!(r instanceof RouterError)) {
        order.push(name);
        tickets.set(name, r);
      }
      return r;
    });
  };
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  return { order, tickets, enqueue, settle };
}

async function metric(registry: Registry, name: string): Promise<number> {
  const text = await registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('fairness queue', () => {
  it("under saturation (concurrency 1), a light user's request overtakes a heavy user's queued ones", async () => {
    const { fair } = queue({ maxConcurrent: 1 });
    const { order, tickets, enqueue, settle } = recorder(fair);
    const running = ticket(fair.admit({ model: MODEL, user: 'heavy', sessionKey: null }, never));
    void enqueue('heavy-1', 'heavy');
    void enqueue('heavy-2', 'heavy');
    void enqueue('light-1', 'light');
    running.release({ inputTokens: 500, outputTokens: 1000 });
    await settle();
    assert.deepEqual(order, ['light-1']);
    tickets.get('light-1')!.release({ inputTokens: 10, outputTokens: 10 });
    await settle();
    tickets.get('heavy-1')!.release({ inputTokens: 10, outputTokens: 10 });
    await settle();
    assert.deepEqual(order, ['light-1', 'heavy-1', 'heavy-2'], 'one user is FIFO');
  });

  it('without usage recorded, users are served in arrival order (Kthena ties)', async () => {
    const { fair } = queue({ maxConcurrent: 1 });
    const { order, tickets, enqueue, settle } = recorder(fair);
    const running = ticket(fair.admit({ model: MODEL, user: 'heavy', sessionKey: null }, never));
    void enqueue('heavy-1', 'heavy');
    void enqueue('light-1', 'light');
    running.release(null);
    await settle();
    tickets.get('heavy-1')!.release(null);
    await settle();
    assert.deepEqual(order, ['heavy-1', 'light-1']);
  });

  it('queues are per model', () => {
    const { fair } = queue({ maxConcurrent: 1 });
    ticket(fair.admit({ model: 'a', user: 'u', sessionKey: null }, never));
    ticket(fair.admit({ model: 'b', user: 'u', sessionKey: null }, never));
  });

  it('release() with usage updates the user\'s window (input × 1 + output × 2); null and a second release do not', () => {
    const { fair } = queue({ maxConcurrent: 1 });
    const first = ticket(fair.admit({ model: MODEL, user: 'alice', sessionKey: null }, never));
    first.release({ inputTokens: 100, outputTokens: 50 });
    first.release({ inputTokens: 100, outputTokens: 50 });
    assert.deepEqual(fair.usageOf('alice', MODEL), { tokens: 200, requests: 1 });
    const second = ticket(fair.admit({ model: MODEL, user: 'alice', sessionKey: null }, never));
    second.release(null);
    assert.deepEqual(fair.usageOf('alice', MODEL), { tokens: 200, requests: 1 });
    assert.deepEqual(fair.usageOf('alice', 'other-model'), { tokens: 0, requests: 0 });
    // The double release above did not free a second slot.
    ticket(fair.admit({ model: MODEL, user: 'alice', sessionKey: null }, never));
    assert.ok(fair.admit({ model: MODEL, user: 'alice', sessionKey: null }, never) instanceof Promise);
  });

  it('QPS mode (maxConcurrent 0): one admission per 1/maxQps; the next waits and is admitted later', async () => {
    const { fair } = queue({ maxConcurrent: 0, maxQps: 4 });
    ticket(fair.admit({ model: MODEL, user: 'a', sessionKey: null }, never));
    const second = fair.admit({ model: MODEL, user: 'b', sessionKey: null }, never);
    const third = fair.admit({ model: MODEL, user: 'c', sessionKey: null }, never);
    assert.ok(second instanceof Promise && third instanceof Promise);
    assert.ok(!((await second) instanceof RouterError));
    let thirdDone = false;
    void third.then(() => (thirdDone = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(thirdDone, false, 'admissions are spaced, not released all at once');
    assert.ok(!((await third) instanceof RouterError));
  });

  it('a request that waits past the queue timeout gets 503 queue_timeout with Retry-After', async () => {
    const { fair, registry } = queue({ maxConcurrent: 1, queueTimeoutMs: 30, retryAfterSeconds: 7 });
    const running = ticket(fair.admit({ model: MODEL, user: 'a', sessionKey: null }, never));
    const result = await fair.admit({ model: MODEL, user: 'b', sessionKey: null }, never);
    assert.ok(result instanceof RouterError);
    assert.equal(result.code, 'queue_timeout');
    assert.equal(result.status, 503);
    assert.deepEqual(result.headers, ['retry-after', '7']);
    assert.equal(await metric(registry, 'switchyard_fairness_queue_cancelled_total'), 1);
    assert.equal(await metric(registry, 'switchyard_fairness_queue_size'), 0);
    running.release(null);
  });

  it('an aborted waiter leaves at once, settles, and is never admitted', async () => {
    const { fair, registry } = queue({ maxConcurrent: 1 });
    const { order, enqueue, settle } = recorder(fair);
    const running = ticket(fair.admit({ model: MODEL, user: 'a', sessionKey: null }, never));
    const controller = new AbortController();
    const aborted = enqueue('gone', 'b', null, controller.signal);
    void enqueue('next', 'c');
    assert.equal(await metric(registry, 'switchyard_fairness_queue_size'), 2);
    controller.abort();
    assert.equal(await metric(registry, 'switchyard_fairness_queue_size'), 1, 'removed synchronously on abort');
    const answer = await aborted;
    assert.ok(answer instanceof RouterError);
    running.release(null);
    await settle();
    assert.deepEqual(order, ['next']);
    assert.equal(await metric(registry, 'switchyard_fairness_queue_dequeue_total'), 2);
    assert.equal(await metric(registry, 'switchyard_fairness_queue_cancelled_total'), 1);
    assert.ok(fair.admit({ model: MODEL, user: 'x', sessionKey: null }, controller.signal) instanceof RouterError, 'already aborted');
  });

  it('a reloaded configuration applies at once; queued requests and recorded usage are kept', async () => {
    const { fair } = queue({ maxConcurrent: 1 });
    const { order, enqueue, settle } = recorder(fair);
    const running = ticket(fair.admit({ model: MODEL, user: 'a', sessionKey: null }, never));
    running.release({ inputTokens: 10, outputTokens: 0 });
    ticket(fair.admit({ model: MODEL, user: 'a', sessionKey: null }, never));
    void enqueue('b-1', 'b');
    void enqueue('c-1', 'c');
    fair.configure({ ...DEFAULT_FAIRNESS_CONFIG, mode: 'fairness', maxConcurrent: 3 });
    await settle();
    assert.deepEqual(order, ['b-1', 'c-1']);
    assert.deepEqual(fair.usageOf('a', MODEL), { tokens: 10, requests: 1 });
  });

  it('queue-size gauges return to 0 when the mode changes while requests wait', async () => {
    for (const next of ['off', 'session-boost'] as const) {
      const { fair, registry } = queue({ maxConcurrent: 1 });
      const { enqueue, tickets, settle } = recorder(fair);
      const running = ticket(fair.admit({ model: MODEL, user: 'a', sessionKey: null }, never));
      const waiting = [enqueue('b-1', 'b'), enqueue('c-1', 'c'), enqueue('d-1', 'd')];
      assert.equal(await metric(registry, 'switchyard_fairness_queue_size'), 3);
      fair.configure({ ...DEFAULT_FAIRNESS_CONFIG, mode: next, maxConcurrent: 1 });
      running.release(null);
      for (let i = 0; i < 3; i++) {
        await settle();
        for (const [name, t] of tickets) {
          tickets.delete(name);
          t.release(null);
        }
      }
      await Promise.all(waiting);
      assert.equal(await metric(registry, 'switchyard_fairness_queue_size'), 0, `after switching to ${next}`);
      assert.equal(await metric(registry, 'switchyard_session_boost_queue_size'), 0, `after switching to ${next}`);
    }
  });

  it('close() answers every waiter', async () => {
    const { fair } = queue({ maxConcurrent: 1 });
    ticket(fair.admit({ model: MODEL, user: 'a', sessionKey: null }, never));
    const waiting = fair.admit({ model: MODEL, user: 'b', sessionKey: null }, never);
    fair.close();
    const result = await waiting;
    assert.ok(result instanceof RouterError && result.status === 503);
  });

  it('without an identity, the fairness key comes from the header the operator names', () => {
    const { fair } = queue({ userHeader: 'X-Team' });
    assert.deepEqual(fair.keysOf('alice', ['x-team', 'search']), { user: 'alice', sessionKey: null });
    assert.deepEqual(fair.keysOf(null, ['X-Team', 'search']), { user: 'search', sessionKey: null });
    assert.deepEqual(fair.keysOf(null, []), { user: '', sessionKey: null });
  });
});

describe('session boost', () => {
  it('follow-up turns of recently completed sessions go first, the most recent first; others FIFO', async () => {
    const { fair } = queue({ mode: 'session-boost', inflightPerPod: 1 });
    const { order, tickets, enqueue, settle } = recorder(fair);
    for (const session of ['s1', 's2']) {
      ticket(fair.admit({ model: MODEL, user: '', sessionKey: session }, never)).release({ inputTokens: 1, outputTokens: 1 });
      await new Promise((resolve) => setTimeout(resolve, 2)); // distinct completion times
    }
    ticket(fair.admit({ model: MODEL, user: '', sessionKey: 'failed' }, never)).release(null);
    const running = ticket(fair.admit({ model: MODEL, user: '', sessionKey: null }, never));
    void enqueue('plain-1', '', null);
    void enqueue('new-session', '', 'fresh');
    void enqueue('s1-turn-2', '', 's1');
    void enqueue('failed-turn-2', '', 'failed');
    void enqueue('s2-turn-2', '', 's2');
    running.release(null);
    for (let i = 0; i < 5; i++) {
      await settle();
      tickets.get(order[order.length - 1])!.release(null);
    }
    assert.deepEqual(order, ['s2-turn-2', 's1-turn-2', 'plain-1', 'new-session', 'failed-turn-2']);
  });

  it('the grace period holds a freed slot for a follow-up turn that arrives just after', async () => {
    const { fair } = queue({ mode: 'session-boost', inflightPerPod: 1, gracePeriodMs: 200 });
    const { order, enqueue } = recorder(fair);
    ticket(fair.admit({ model: MODEL, user: '', sessionKey: 'conv' }, never)).release({ inputTokens: 1, outputTokens: 1 });
    const running = ticket(fair.admit({ model: MODEL, user: '', sessionKey: null }, never));
    const plain = enqueue('plain', '', null);
    running.release(null);
    const followUp = enqueue('conv-turn-2', '', 'conv');
    await followUp;
    assert.deepEqual(order, ['conv-turn-2'], 'the slot went to the follow-up, not to the request that waited longer');
    (await followUp as AdmissionTicket).release(null);
    await plain;
    assert.deepEqual(order, ['conv-turn-2', 'plain']);
  });

  it('keysOf reads the session header', () => {
    const { fair } = queue({ mode: 'session-boost', sessionHeader: 'X-Session-ID' });
    assert.deepEqual(fair.keysOf(null, ['x-session-id', 'conv-1']), { user: '', sessionKey: 'conv-1' });
  });

  it('in-flight is capped at inflightPerPod × pods, and nothing is admitted while every pod has requests waiting', async () => {
    let load: BackendLoad = { pods: 2, minWaiting: 0 };
    const { fair } = queue({ mode: 'session-boost', inflightPerPod: 1, backpressurePollMs: 10 }, () => load);
    ticket(fair.admit({ model: MODEL, user: '', sessionKey: null }, never));
    ticket(fair.admit({ model: MODEL, user: '', sessionKey: null }, never));
    const third = fair.admit({ model: MODEL, user: '', sessionKey: null }, never);
    assert.ok(third instanceof Promise, 'two pods × 1');
    load = { pods: 3, minWaiting: 4 };
    let admitted = false;
    void third.then(() => (admitted = true));
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(admitted, false, 'every pod has requests waiting');
    load = { pods: 3, minWaiting: 0 };
    // No release or arrival happens: the poll notices the pods have room (Kthena would stall here).
    assert.ok(!((await third) instanceof RouterError));
  });

  it('the session-boost timeout answers 503 queue_timeout', async () => {
    const { fair, registry } = queue({ mode: 'session-boost', inflightPerPod: 1, sessionBoostTimeoutMs: 20 });
    ticket(fair.admit({ model: MODEL, user: '', sessionKey: null }, never));
    const result = await fair.admit({ model: MODEL, user: '', sessionKey: 'x' }, never);
    assert.ok(result instanceof RouterError && result.code === 'queue_timeout');
    assert.equal(await metric(registry, 'switchyard_session_boost_queue_cancelled_total'), 1);
  });
});
