// Fault suite, upstream side: pods that never answer, close after their headers, send garbage, stall mid-stream,
// gzip an event stream, send a huge body, or have every connection busy. The client always gets one well-formed
// answer, and the access log says what happened.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RouterApp } from '../../src/cli/router-app.ts';
import { createEnv, modelServer, podStub, simpleRoute, startRouter, writeYaml, type TestEnv } from '../support/harness.ts';
import { killAll, startServe } from '../support/process.ts';
import { rawRequest, sseData } from '../support/raw-http.ts';
import { startFaultyPod, HUGE_BODY_BYTES, type FaultyPod } from './faulty-pod.ts';
import { exchange } from './raw-exchange.ts';
import type { RouterOverrides } from './support.ts';

interface FaultyEnv {
  env: TestEnv;
  pods: FaultyPod[];
  router: RouterApp;
  logLine(requestId: string): Promise<Record<string, unknown>>;
}

async function startFaultyRouter(podCount: number, overrides: RouterOverrides): Promise<FaultyEnv> {
  const env = await createEnv();
  const pods: FaultyPod[] = [];
  for (let i = 0; i < podCount; i++) pods.push(await startFaultyPod());
  await writeYaml(env, 'faulty.yaml', [
    modelServer('faulty-srv', { model: 'faulty' }),
    ...pods.map((pod, i) => podStub(`faulty-${i}`, 'faulty-srv', pod.port)),
    simpleRoute('faulty', 'faulty', 'faulty-srv'),
  ]);
  const logPath = join(env.dir, 'access.log');
  const router = await startRouter(env, { accessLog: { output: logPath, format: 'json' }, ...overrides });
  const logLine = async (requestId: string): Promise<Record<string, unknown>> => {
    for (let i = 0; i < 100; i++) {
      const text = await readFile(logPath, 'utf8').catch(() => '');
      const line = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.request_id === requestId);
      if (line !== undefined) return line;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no access-log line for ${requestId}`);
  };
  const cleanup = env.cleanup.bind(env);
  env.cleanup = async () => {
    await cleanup();
    await Promise.all(pods.map((p) => p.close()));
  };
  return { env, pods, router, logLine };
}

const request = (fault: string, id: string, stream = false): { head: string; body: string } => ({
  head: `POST /v1/completions HTTP/1.1\nhost: x\ncontent-type: application/json\nconnection: close\nx-fault: ${fault}\nx-request-id: ${id}`,
  body: JSON.stringify({ model: 'faulty', prompt: 'hi', max_tokens: 5, stream }),
});

const errorCode = (json: unknown): string => (json as { error: { code: string } }).error.code;

describe('faulty pods', () => {
  let f: FaultyEnv;
  before(async () => (f = await startFaultyRouter(1, { upstream: { headerTimeoutMs: 400, streamIdleTimeoutMs: 400 } })));
  after(() => f.env.cleanup());

  it('a pod that never answers: 504 upstream_timeout after --upstream-header-timeout, logged', async () => {
    const { head, body } = request('never', 'never-1');
    const res = await rawRequest(f.router.url, head, body);
    assert.equal(res.status, 504, res.text);
    assert.equal(errorCode(res.json()), 'upstream_timeout');
    const line = await f.logLine('never-1');
    assert.equal(line.status_code, 504);
  });

  it('a pod that closes after the headers of a JSON answer: 502, and the log says 502 with upstream status 200', async () => {
    const { head, body } = request('close-headers', 'close-1');
    const res = await rawRequest(f.router.url, head, body);
    assert.equal(res.status, 502, res.text);
    assert.equal(errorCode(res.json()), 'upstream_stream_error');
    const line = await f.logLine('close-1');
    assert.equal(line.status_code, 502);
    assert.equal(line.upstream_status_code, 200);
  });

  it('a malformed answer after its headers: one well-formed 502, nothing written after it', async () => {
    const { head, body } = request('malformed', 'malformed-1');
    const out = await exchange(f.router.url, Buffer.from(`${head.replace(/\n/g, '\r\n')}\r\ncontent-length: ${body.length}\r\n\r\n${body}`));
    assert.equal(out.malformed, null, out.data.toString('latin1'));
    assert.equal(out.responses, 1, out.data.toString('latin1'));
    assert.match(out.data.toString('latin1'), /^HTTP\/1\.1 502 /);
    assert.doesNotMatch(out.data.toString('latin1'), /400 Bad|ZZZ/);
  });

  it('broken framing in the middle of a stream: the stream ends with one SSE error event, well-formed', async () => {
    const { head, body } = request('garbage-stream', 'garbage-1', true);
    const out = await exchange(f.router.url, Buffer.from(`${head.replace(/\n/g, '\r\n')}\r\ncontent-length: ${body.length}\r\n\r\n${body}`));
    const text = out.data.toString('latin1');
    assert.equal(out.malformed, null, text);
    assert.equal(out.responses, 1, text);
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.equal(text.match(/"error"/g)?.length, 1, text);
    assert.doesNotMatch(text, /Oops|ZZZ/);
  });

  it('a stream that stalls: one SSE error event after --stream-idle-timeout, and a proper end', async () => {
    const { head, body } = request('stall', 'stall-1', true);
    const res = await rawRequest(f.router.url, head, body);
    assert.equal(res.status, 200);
    const events = sseData(res.text);
    assert.match(events[0], /"text":"hi"/);
    assert.equal(events.length, 2, res.text);
    assert.equal(errorCode(JSON.parse(events[1])), 'upstream_stream_error');
    await f.logLine('stall-1');
  });

  it('a JSON body that stalls after its first bytes: cut after --stream-idle-timeout, logged with the error', async () => {
    const { head, body } = request('stall-body', 'stall-body-1');
    const out = await exchange(f.router.url, Buffer.from(`${head.replace(/\n/g, '\r\n')}\r\ncontent-length: ${body.length}\r\n\r\n${body}`));
    const text = out.data.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.equal(out.malformed, 'a body shorter than its content-length', text);
    const line = await f.logLine('stall-body-1');
    assert.equal((line.error as { code?: string; message?: string } | undefined)?.message?.includes('stream idle timeout'), true, JSON.stringify(line));
  });

  it('a gzip event stream despite accept-encoding: identity is refused (502), the usage event never reaches the client', async () => {
    const { head, body } = request('gzip-sse', 'gzip-1', true);
    const res = await rawRequest(f.router.url, head, body);
    assert.equal(res.status, 502, res.text);
    assert.equal(errorCode(res.json()), 'upstream_protocol_error');
    assert.doesNotMatch(res.text, /usage/);
    const line = await f.logLine('gzip-1');
    assert.equal(line.status_code, 502);
  });

  it('a huge JSON answer passes whole', async () => {
    const res = await fetch(`${f.router.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-fault': 'huge', 'x-request-id': 'huge-1' },
      body: JSON.stringify({ model: 'faulty', prompt: 'hi', max_tokens: 5 }),
    });
    assert.equal(res.status, 200);
    assert.equal((await res.arrayBuffer()).byteLength, HUGE_BODY_BYTES);
    const line = await f.logLine('huge-1');
    assert.equal(line.status_code, 200);
  });
});

describe('every pooled connection busy', () => {
  let f: FaultyEnv;
  before(async () => (f = await startFaultyRouter(2, { upstream: { connectionsPerPod: 1, connectionWaitMs: 300, headerTimeoutMs: 30_000 } })));
  after(() => f.env.cleanup());

  it('a request finds no free connection on any pod: 503 upstream_busy with Retry-After, logged', async () => {
    // Each pod's only connection is held by a request that is never answered.
    const held = [0, 1].map((i) => {
      const { head, body } = request('never', `held-${i}`);
      return rawRequest(f.router.url, head, body, 30_000).catch(() => null);
    });
    const deadline = Date.now() + 5000;
    while (f.pods.some((p) => p.accepted() === 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(f.pods.every((p) => p.accepted() === 1), 'each pod holds one request');
    const { head, body } = request('ok', 'busy-1');
    const res = await rawRequest(f.router.url, head, body);
    assert.equal(res.status, 503, res.text);
    assert.equal(errorCode(res.json()), 'upstream_busy');
    assert.equal(res.headers['retry-after'], '1');
    const line = await f.logLine('busy-1');
    assert.equal(line.status_code, 503);
    assert.equal(line.upstream_attempts, 2, 'the other pod was tried before the 503');
    assert.equal((line.error as { type: string }).type, 'proxy');
    await Promise.all(f.pods.map((p) => p.close()));
    await Promise.all(held);
  });
});

describe('the upstream flags of switchyard serve', () => {
  after(() => killAll());

  it('--upstream-header-timeout and --stream-idle-timeout reach the proxy', async () => {
    const f = await startFaultyRouter(1, {});
    try {
      const { url } = await startServe(['--config', f.env.dir, '--access-log', 'off', '--upstream-header-timeout', '300ms', '--stream-idle-timeout', '300ms']);
      const never = request('never', 'cli-never');
      const res = await rawRequest(url, never.head, never.body);
      assert.equal(res.status, 504, res.text);
      const stall = request('stall', 'cli-stall', true);
      const stalled = await rawRequest(url, stall.head, stall.body);
      assert.equal(errorCode(JSON.parse(sseData(stalled.text).at(-1) ?? '{}')), 'upstream_stream_error', stalled.text);
    } finally {
      await killAll();
      await f.env.cleanup();
    }
  });
});
