import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CandidateExplanation, Explanation } from './explanation.ts';
import { MAX_SUMMARY_LENGTH, explainRequested, summarize } from './summary.ts';

function explanation(pods: number, route = 'default/r'): Explanation {
  const candidates: CandidateExplanation[] = Array.from({ length: pods }, (_, i) => ({
    pod: `default/a-rather-long-pod-name-${i}`, origin: `http://10.0.${i >> 8}.${i & 255}:8000`, filters: {}, removedBy: i % 3 === 0 ? 'least-request' : null,
    scores: {}, total: i % 3 === 0 ? null : 100 + i, healthy: true, rankedAfter: null, rank: i % 3 === 0 ? null : i,
  }));
  return {
    dryRun: false, model: 'm', path: '/v1/completions', decision: 'routed', error: null, lookup: 'modelName', routes: [route],
    rules: [{ route, rule: 'vip', ruleIndex: 0, matched: false, failed: { condition: 'headers.x-tier', expected: { exact: 'vip' }, actual: null } }, { route, rule: 'all', ruleIndex: 1, matched: true }],
    route, rule: 'all', target: { name: 'ms', kind: 'server', key: 'default/ms', weight: 100 }, weights: null,
    modelServer: 'default/ms', upstreamModel: 'm', isLora: false,
    scheduling: { filters: [], scorers: [], candidates, order: candidates.filter((c) => c.rank !== null).map((c) => c.pod) },
    pod: candidates[1]?.pod ?? null, notes: [],
  };
}

describe('x-switchyard-explain summaries', () => {
  it('is asked for with 1, true, json or text', () => {
    assert.equal(explainRequested(['X-Switchyard-Explain', '1']), 'json');
    assert.equal(explainRequested(['x-switchyard-explain', 'TEXT']), 'text');
    assert.equal(explainRequested(['x-switchyard-explain', '0']), null);
    assert.equal(explainRequested(['x-other', '1']), null);
  });

  it('says route, rule, skipped rules, target and pod in compact JSON', () => {
    const s = JSON.parse(summarize(explanation(3), 'json')) as Record<string, unknown>;
    assert.deepEqual([s.route, s.rule, s.target, s.pod], ['default/r', 'all', 'default/ms', 'default/a-rather-long-pod-name-1']);
    assert.deepEqual(s.skipped, ['default/r#vip: headers.x-tier']);
    assert.deepEqual(s.removed, { 'default/a-rather-long-pod-name-0': 'least-request' });
  });

  it('stays under the size limit, ASCII only, dropping detail first', () => {
    const big = summarize(explanation(2000, 'default/r-\u00e9t\u00e9'), 'json');
    assert.ok(big.length <= MAX_SUMMARY_LENGTH, String(big.length));
    assert.match(big, /^[\x20-\x7e]*$/);
    const s = JSON.parse(big) as Record<string, unknown>;
    assert.equal(s.truncated, true);
    assert.equal(s.route, 'default/r-\u00e9t\u00e9');
    assert.ok(summarize(explanation(2000), 'text').length <= MAX_SUMMARY_LENGTH);
  });
});
