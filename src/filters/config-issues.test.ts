import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { durationMs, parseSection } from './config-issues.ts';

describe('durationMs (filter sections)', () => {
  const schema = z.object({ timeout: durationMs });
  const parse = (timeout: unknown) => parseSection(schema, { timeout }, 'router.yaml', ['fairness']);

  it('reads Go durations and bare seconds', () => {
    for (const [value, ms] of [['1m30s', 90_000], [2.5, 2500], ['596h31m23.647s', 2 ** 31 - 1]] as const) {
      const result = parse(value);
      assert.ok(result.ok, JSON.stringify(result.issues));
      assert.equal(result.config.timeout, ms);
    }
  });

  it('refuses durations no timer can wait, naming the file and field', () => {
    for (const value of ['600h', 2_147_484, '-1s']) {
      const result = parse(value);
      assert.equal(result.ok, false, String(value));
      assert.equal(result.issues.length, 1);
      assert.equal(result.issues[0].file, 'router.yaml');
      assert.equal(result.issues[0].path, 'fairness.timeout');
      assert.match(result.issues[0].message, /must be between 0 and 596h31m23\.647s \(the longest timer\)/);
    }
  });
});

describe('zodIssues (filter sections, router configuration)', () => {
  it('gives one issue per field: a list given as a string is not also "too long"', () => {
    const schema = z.object({ names: z.array(z.string()).max(3), id: z.string().min(1).startsWith('x-') });
    const result = parseSection(schema, { names: 'abcdefgh', id: '' }, 'router.yaml', ['auth']);
    assert.equal(result.ok, false);
    assert.deepEqual(result.issues.map((i) => i.path), ['auth.names', 'auth.id']);
  });
});
