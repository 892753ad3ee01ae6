// Every error code the router can answer with is documented in README's error table (fastify's habit).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ERROR_CODES, RouterError } from './router-error.ts';

test('README documents every error code with its status', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const errorTable = readme.slice(readme.indexOf('\n## Errors'));
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    const row = errorTable.split('\n').find((line) => line.startsWith('|') && line.includes(`\`${code}\``));
    assert.ok(row, `README's error table has no row for ${code}`);
    assert.match(row, new RegExp(`\\| ${spec.status} \\|`), `README gives ${code} another status than ${spec.status}`);
  }
});

test('error bodies have the OpenAI shape', () => {
  const body = JSON.parse(new RouterError('model_not_found', 'The model `x` does not exist.').toBody()) as unknown;
  assert.deepEqual(body, { error: { message: 'The model `x` does not exist.', type: 'invalid_request_error', code: 'model_not_found' } });
});
