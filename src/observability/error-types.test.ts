import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { ERROR_CODES, RouterError, type ErrorCode } from '../errors/router-error.ts';
import { ERROR_TYPES, errorOriginOf, errorTypeOf, finishReasonOf, statusOf } from './error-types.ts';
import type { RequestRecord } from './request-record.ts';
import type { ExchangeOutcome } from '../proxy/backend.ts';

/** Kthena's access-log error types and finish reasons (reference §2.6, §6.5, §6.6). */
const KTHENA_TYPES = new Set([
  'request_parsing', 'prompt_parsing', 'input_rate_limit', 'output_rate_limit', 'rate_limit', 'model_route_matching', 'pod_discovery',
  'route_not_found', 'scheduling', 'proxy', 'external_provider_proxy', 'provider_discovery', 'request_failed',
]);

function record(fields: Partial<RequestRecord>): RequestRecord {
  return {
    requestId: 'r', method: 'POST', path: '/v1/completions', protocol: 'HTTP/1.1', startedAt: 0, receivedAt: 0, scheduledAt: 0, endedAt: 0,
    model: null, body: null, route: null, rule: null, server: null, upstreamModel: null, scheduled: null, traceId: null,
    status: 200, error: null, outcome: null, ...fields,
  };
}

const outcome = (upstreamStatus: number, clientAborted = false): ExchangeOutcome =>
  ({ status: clientAborted ? 0 : upstreamStatus, attempts: 1, pod: null, upstreamStatus, usage: null, error: null, clientAborted });

describe("error codes in Kthena's vocabulary", () => {
  it('maps every router error code to one of Kthena\'s error types', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const type = ERROR_TYPES[code];
      assert.ok(type !== undefined && KTHENA_TYPES.has(type), `${code} → ${String(type)}`);
    }
    assert.equal(ERROR_TYPES.model_not_found, 'route_not_found');
    assert.equal(ERROR_TYPES.upstream_timeout, 'proxy');
  });

  it("README's error_type table gives every router error code the error_type it gets, and no other code", async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('| router error code | error_type |'));
    const documented = new Map<string, string>();
    for (const row of table.slice(0, table.indexOf('\n\n')).split('\n').slice(2)) {
      const [codes = '', type = ''] = row.split('|').slice(1, 3);
      const errorType = /`([a-z_]+)`/.exec(type)?.[1];
      for (const [, code] of codes.matchAll(/`([a-z_]+)`/g)) if (errorType !== undefined) documented.set(code, errorType);
    }
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) assert.equal(documented.get(code), ERROR_TYPES[code], `README's error_type of ${code}`);
    for (const code of documented.keys()) assert.ok(Object.hasOwn(ERROR_CODES, code), `README maps ${code}, which the router never answers`);
  });

  it('labels outcomes as Kthena does: success, failure passed through, router refusal, upstream failure, client gone', () => {
    const ok = record({ status: 200, outcome: outcome(200) });
    assert.deepEqual([finishReasonOf(ok), errorTypeOf(ok), errorOriginOf(ok), statusOf(ok)], ['successful_request', null, null, 200]);
    const passed = record({ status: 400, outcome: outcome(400) });
    assert.deepEqual([finishReasonOf(passed), errorTypeOf(passed), errorOriginOf(passed)], ['request_failed', null, 'upstream']);
    const refused = record({ status: 404, error: new RouterError('model_not_found', 'x') });
    assert.deepEqual([finishReasonOf(refused), errorOriginOf(refused)], ['route_not_found', 'router']);
    const timedOut = record({ status: 504, error: new RouterError('upstream_timeout', 'x'), outcome: outcome(0) });
    assert.deepEqual([finishReasonOf(timedOut), errorOriginOf(timedOut)], ['proxy', 'upstream']);
    const gone = record({ status: 0, outcome: outcome(200, true) });
    assert.deepEqual([finishReasonOf(gone), errorOriginOf(gone), statusOf(gone)], ['client_disconnected', null, 499]);
  });
});
