// Every error code the router can answer with is documented in README's error table (fastify's habit).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ERROR_CODES, RouterError, writeErrorResponse } from './router-error.ts';

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
  assert.deepEqual(body, { error: { message: 'The model `x` does not exist.', type: 'invalid_request_error', code: 'model_not_found' } });
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
    assert.deepEqual(await response.json(), { error: { message: 'no token', type: 'invalid_request_error', code: 'unauthorized' } });
  } finally {
    server.close();
  }
});
