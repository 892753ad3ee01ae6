import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TIMER_MS } from '../resources/duration.ts';
import { parseResourceDocuments } from '../resources/load-documents.ts';
import type { ExternalModelProvider, LoadedResource } from '../resources/types.ts';
import { compileProviders, DEFAULT_PROVIDER_TIMEOUT_MS } from './providers.ts';

function compiledTimeout(annotations: string): number {
  const text = `apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ExternalModelProvider
metadata: {name: p, annotations: {${annotations}}}
spec: {baseURL: "https://api.openai.com/v1"}`;
  const loaded = parseResourceDocuments(text, 'test.yaml', 0);
  assert.deepEqual(loaded.issues.filter((issue) => issue.severity === 'error'), []);
  const providers = loaded.resources as LoadedResource<ExternalModelProvider>[];
  const compiled = compileProviders(providers, new Map(), []).get('default/p');
  assert.ok(compiled);
  return compiled.timeoutMs;
}

describe('provider response timeout (switchyard.dev/response-timeout)', () => {
  it('defaults to 60 s', () => assert.equal(compiledTimeout(''), DEFAULT_PROVIDER_TIMEOUT_MS));
  it('is read as a duration', () => assert.equal(compiledTimeout('switchyard.dev/response-timeout: 1m30s'), 90_000));
  it('is clamped to the longest timer', () => assert.equal(compiledTimeout('switchyard.dev/response-timeout: 600h'), MAX_TIMER_MS));
});
