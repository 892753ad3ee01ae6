// Every error code the router can answer with is documented in README's error table (fastify's habit).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ERROR_CODES, RouterError, errorDialectOf, writeErrorResponse } from './router-error.ts';

test('README documents every error code with its status', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const errorTable = readme.slice(readme.indexOf('\n## Errors'));
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    const row = errorTable.split('\n').find((line) => line.startsWith('|') && line.includes(`\`${code}\``));
    assert.ok(row, `README's error table has no row for ${code}`);
    assert.match(row, new RegExp(`\\| ${spec.status} \\|`), `README gives ${code} another status than ${spec.status}`);
  }
});

test("README's error table has no code the catalogue lacks", async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const errorTable = readme.slice(readme.indexOf('\n## Errors'));
  const rows = errorTable.slice(0, errorTable.indexOf('\n## ', 1)).split('\n').filter((line) => line.startsWith('|'));
  for (const row of rows.filter((line) => /\| \d{3} \|/.test(line))) {
    const codeCell = row.split('|').at(-2) ?? '';
    for (const [, code] of codeCell.matchAll(/`([a-z_]+)`/g)) {
      assert.ok(Object.hasOwn(ERROR_CODES, code), `README documents ${code}, which the router never answers`);
    }
  }
});

test('error bodies have the OpenAI shape', () => {
  const body = JSON.parse(new RouterError('model_not_found', 'The model `x` does not exist.').toBody()) as unknown;
  assert.deepEqual(body, { error: { message: 'The model `x` does not exist.', type: 'invalid_request_error', param: null, code: 'model_not_found' } });
});

test("Anthropic's Messages API gets Anthropic's error shape, in bodies and in stream-ending events", () => {
  const notFound = new RouterError('model_not_found', 'The model `x` does not exist.');
  assert.deepEqual(JSON.parse(notFound.toBody('anthropic')), { type: 'error', error: { type: 'not_found_error', message: 'The model `x` does not exist.' } });
  const broken = new RouterError('upstream_stream_error', 'pod default/p broke off the response');
  assert.equal(broken.toSseEvent('anthropic'), `event: error\ndata: {"type":"error","error":{"type":"api_error","message":"pod default/p broke off the response"}}\n\n`);
  assert.equal(broken.toSseEvent('openai'), `data: ${broken.toBody()}\n\n`);
  const types = (['unauthorized', 'request_too_large', 'rate_limit_exceeded', 'no_ready_pods', 'upstream_timeout', 'method_not_allowed'] as const)
    .map((code) => (JSON.parse(new RouterError(code, 'x').toBody('anthropic')) as { error: { type: string } }).error.type);
  assert.deepEqual(types, ['authentication_error', 'request_too_large', 'rate_limit_error', 'overloaded_error', 'timeout_error', 'invalid_request_error']);
  for (const url of ['/v1/messages', '/v1/messages?beta=true', '/v1/messages/count_tokens']) assert.equal(errorDialectOf(url), 'anthropic', url);
  for (const url of ['/v1/messagesx', '/v1/chat/completions', '/v1/message', undefined]) assert.equal(errorDialectOf(url), 'openai', String(url));
});

test('an error with extra headers answers with them (WWW-Authenticate, Retry-After)', async () => {
  const server = createServer((_req, res) => {
    writeErrorResponse(res, new RouterError('unauthorized', 'no token', ['www-authenticate', 'Bearer realm="switchyard"']), 'req-1', false);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="switchyard"');
    assert.equal(response.headers.get('x-request-id'), 'req-1');
    assert.deepEqual(await response.json(), { error: { message: 'no token', type: 'invalid_request_error', param: null, code: 'unauthorized' } });
  } finally {
    server.close();
  }
});
