import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProviderStatusWriter, desiredStatus, type ProviderConditionInput } from './provider-status.ts';

const ready: ProviderConditionInput[] = [
  { type: 'CredentialsResolved', status: 'True', reason: 'CredentialResolved', message: 'ok' },
  { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' },
];
const notFound: ProviderConditionInput[] = [
  { type: 'CredentialsResolved', status: 'False', reason: 'CredentialNotFound', message: 'Secret missing' },
  { type: 'Ready', status: 'False', reason: 'CredentialNotFound', message: 'Secret missing' },
];
const at = new Date('2026-12-05T04:30:00.123Z');

describe('desiredStatus', () => {
  it('writes the conditions of a provider without status, stamped and with the generation', () => {
    const status = desiredStatus({ generation: 3, status: {} }, ready, at);
    assert.deepEqual(status, {
      observedGeneration: 3,
      conditions: ready.map((c) => ({ ...c, lastTransitionTime: '2026-12-05T04:30:00Z', observedGeneration: 3 })),
    });
  });

  it('writes nothing when the status already says it; keeps the transition time across a change of message', () => {
    const written = desiredStatus({ generation: 3, status: {} }, ready, at)!;
    assert.equal(desiredStatus({ generation: 3, status: written }, ready, new Date()), null);
    const reworded = ready.map((c) => ({ ...c, message: 'still ok' }));
    const next = desiredStatus({ generation: 3, status: written }, reworded, new Date('2026-12-05T05:00:00Z')) as { conditions: { lastTransitionTime: string }[] };
    assert.deepEqual(next.conditions.map((c) => c.lastTransitionTime), ['2026-12-05T04:30:00Z', '2026-12-05T04:30:00Z']);
  });

  it('a change of status is a transition; other condition types and status fields stay', () => {
    const foreign = { type: 'Programmed', status: 'True', reason: 'ByAnotherController' };
    const before = { observedGeneration: 3, extra: 'kept', conditions: [foreign, ...(desiredStatus({ generation: 3, status: {} }, ready, at) as { conditions: object[] }).conditions] };
    const next = desiredStatus({ generation: 4, status: before as never }, notFound, new Date('2026-12-05T05:00:00Z')) as Record<string, unknown> & { conditions: { type: string; lastTransitionTime: string; observedGeneration: number }[] };
    assert.equal(next.extra, 'kept');
    assert.equal(next.observedGeneration, 4);
    assert.deepEqual(next.conditions.map((c) => c.type), ['Programmed', 'CredentialsResolved', 'Ready']);
    assert.deepEqual(next.conditions.slice(1).map((c) => [c.lastTransitionTime, c.observedGeneration]), [['2026-12-05T05:00:00Z', 4], ['2026-12-05T05:00:00Z', 4]]);
  });
});

describe('ProviderStatusWriter', () => {
  const conditions: ProviderConditionInput[] = [{ type: 'Ready', status: 'False', reason: 'CredentialNotFound', message: 'Secret default/k not found' }];
  const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  it('tries a failed write again with backoff until it succeeds, without a new change', async () => {
    const attempts: number[] = [];
    const errors: string[] = [];
    let failuresLeft = 2;
    const writer = new ProviderStatusWriter(
      (_namespace, _name, status) => {
        attempts.push(Date.now());
        assert.ok(Array.isArray(status.conditions));
        return failuresLeft-- > 0 ? Promise.reject(new Error('forbidden')) : Promise.resolve();
      },
      (object, error) => errors.push(`${object}: ${error.message}`),
      { retryMs: 30, maxRetryMs: 1000 },
    );
    writer.observe('default', 'p', 1, { conditions: [{ type: 'Ready', status: 'True', reason: 'CredentialResolved' }] });
    writer.report('default', 'p', conditions);
    for (let waited = 0; attempts.length < 3; waited += 10) {
      assert.ok(waited < 3000, `only ${attempts.length} attempts`);
      await pause(10);
    }
    await pause(200);
    assert.equal(attempts.length, 3, 'no write after the one that succeeded');
    assert.deepEqual(errors, ['ExternalModelProvider default/p: forbidden', 'ExternalModelProvider default/p: forbidden']);
    assert.ok(attempts[2] - attempts[1] >= attempts[1] - attempts[0], 'the second wait is at least the first (doubling)');
    writer.close();
  });

  it('stops trying for a provider that is deleted', async () => {
    let attempts = 0;
    const writer = new ProviderStatusWriter(() => {
      attempts++;
      return Promise.reject(new Error('unavailable'));
    }, () => undefined, { retryMs: 20 });
    writer.observe('default', 'gone', 1, {});
    writer.report('default', 'gone', conditions);
    await pause(5);
    writer.forget('default', 'gone');
    await pause(150);
    assert.equal(attempts, 1);
    writer.close();
  });
});
