// Regression tests of the defects found by trying the router as an attacker and as a faulty network would.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/harness.ts';
import { rawRequest } from '../support/raw-http.ts';
import { openStream, tokenEvents } from '../support/process.ts';
import { collect, openSocket, startEchoRouter, statusOf, waitForLine, type FaultEnv } from './support.ts';

const words = (n: number): string => Array.from({ length: n }, (_, i) => `t${i}`).join(' ');
const MIB = 1024 * 1024;

describe('defects', () => {
  let fault: FaultEnv;
  before(async () => (fault = await startEchoRouter({}, 20)));
  after(() => fault.env.cleanup());

  it('a model id that does not percent-decode is 400 bad_request, logged', async () => {
    const res = await rawRequest(fault.router.url, 'GET /v1/models/%E0%A4%A HTTP/1.1\nhost: x');
    assert.equal(res.status, 400, res.text);
    assert.equal((res.json() as { error: { code: string } }).error.code, 'bad_request');
    await waitForLine(fault, (l) => l.status_code === 400 && l.path === '/v1/models/%E0%A4%A');
  });

  it('a 17 MiB body sent without Expect: the client reads the 413 every time (40 tries, no EPIPE)', async () => {
    const body = Buffer.alloc(17 * MIB, 0x20);
    for (let i = 0; i < 40; i++) {
      const socket = await openSocket(fault.router.url);
      const result = collect(socket);
      // A naive client: writes the whole request, then reads.
      socket.write(`POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
      socket.write(body);
      socket.end();
      const { data, error } = await result;
      assert.equal(error, null, `try ${i}: ${error?.code}`);
      assert.equal(statusOf(data), 413, `try ${i}: ${data.toString('latin1', 0, 200)}`);
    }
  });

  it('a chunked body growing past the limit: the 413 is readable too', async () => {
    const socket = await openSocket(fault.router.url);
    const result = collect(socket);
    socket.write('POST /v1/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
    const chunk = Buffer.alloc(MIB, 0x20);
    for (let i = 0; i < 17; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`);
    socket.end('0\r\n\r\n');
    const { data, error } = await result;
    assert.equal(error, null);
    assert.equal(statusOf(data), 413);
  });

  it('Expect: 100-continue with a Content-Length over the limit gets 413, never 100 Continue', async () => {
    const socket = await openSocket(fault.router.url);
    const result = collect(socket);
    socket.write(`POST /v1/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: ${17 * MIB}\r\n\r\n`);
    const { data } = await result;
    assert.equal(statusOf(data), 413, data.toString('latin1'));
    assert.doesNotMatch(data.toString('latin1'), /100 Continue/);
  });

  it('Expect: 100-continue within the limit still gets 100 Continue and an answer', async () => {
    const res = await rawRequest(fault.router.url, 'POST /v1/completions HTTP/1.1\nhost: x\nexpect: 100-continue\ncontent-type: application/json', '{"model":"echo","prompt":"hi","max_tokens":1}');
    assert.equal(res.status, 200, res.text);
  });

  it('an oversized URL is 414 and oversized headers are 431, each in the access log', async () => {
    const long = await rawRequest(fault.router.url, `GET /v1/models/${'a'.repeat(10_000)} HTTP/1.1\nhost: x`);
    assert.equal(long.status, 414, long.text);
    const huge = await rawRequest(fault.router.url, `GET /v1/models/${'a'.repeat(40_000)} HTTP/1.1\nhost: x`);
    assert.equal(huge.status, 414, huge.text);
    const headers = await rawRequest(fault.router.url, `GET /v1/models HTTP/1.1\nhost: x\nx-big: ${'b'.repeat(40_000)}`);
    assert.equal(headers.status, 431, headers.text);
    assert.equal((headers.json() as { error: { code: string } }).error.code, 'headers_too_large');
    await waitForLine(fault, (l) => l.status_code === 414 && String(l.path).length < 300 && l.method === 'GET');
    await waitForLine(fault, (l) => l.status_code === 431);
    await waitFor(() => fault.router.server.activeApiRequests === 0, 3000, 'the active-request gauge back to 0');
    assert.equal(fault.router.server.activeApiRequests, 0);
  });

  it('bad chunked framing from a client is 400 bad_request in the access log, not a client disconnect', async () => {
    const socket = await openSocket(fault.router.url);
    const result = collect(socket);
    socket.write('POST /v1/completions HTTP/1.1\r\nhost: x\r\nx-request-id: bad-chunks\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"mod\r\nZZZ\r\n');
    const { data } = await result;
    assert.equal(statusOf(data), 400, data.toString('latin1'));
    assert.match(data.toString('latin1'), /"code":"bad_request"/);
    const line = await waitForLine(fault, (l) => l.request_id === 'bad-chunks');
    assert.equal(line.status_code, 400);
  });

  it('garbage pipelined behind a live SSE stream never puts a second status line into it', async () => {
    const socket = await openSocket(fault.router.url);
    const result = collect(socket);
    const body = JSON.stringify({ model: 'echo', prompt: words(30), max_tokens: 30, stream: true });
    socket.write(`POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.write('\x00\x01 GARBAGE NOT HTTP\r\n\r\n');
    const { data } = await result;
    const text = data.toString('latin1');
    assert.equal(text.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, text);
    assert.match(text, /data: \[DONE\]/, 'the stream finished');
    assert.equal(text.match(/"text"/g)?.length, 30, 'every token arrived');
  });
});

describe('debug server Host check (DNS rebinding)', () => {
  let fault: FaultEnv;
  before(async () => (fault = await startEchoRouter({ debugPort: 0 })));
  after(() => fault.env.cleanup());

  it('answers loopback names only', async () => {
    const url = fault.router.debugUrl!;
    const port = new URL(url).port;
    for (const host of ['127.0.0.1', `127.0.0.1:${port}`, 'localhost', `localhost:${port}`, '[::1]', `[::1]:${port}`]) {
      const res = await rawRequest(url, `GET /debug/config_dump/modelroutes HTTP/1.1\nhost: ${host}`);
      assert.equal(res.status, 200, `${host}: ${res.text}`);
    }
    for (const host of ['evil.example', `evil.example:${port}`, '127.0.0.1.evil.example', 'localhost.evil', '10.0.0.1']) {
      const res = await rawRequest(url, `GET /debug/config_dump/modelroutes HTTP/1.1\nhost: ${host}`);
      assert.equal(res.status, 403, `${host}: ${res.text}`);
    }
  });
});

describe('drain timeout', () => {
  it('ends an open stream with one SSE error event and logs every request of the drain', async () => {
    const fault = await startEchoRouter({}, 50);
    try {
      const stream = await openStream(`${fault.router.url}/v1/completions`, { model: 'echo', prompt: words(200), max_tokens: 200 }, { 'x-request-id': 'cut-stream' });
      await stream.firstEvent;
      fault.env.router = null;
      assert.equal(await fault.router.shutdown(300), false);
      const result = await stream.done;
      assert.equal(result.error, null, 'the stream ended properly, not with a reset');
      assert.ok(tokenEvents(result) < 200);
      const last = result.events.at(-1) ?? '';
      assert.match(last, /"code":"draining"/, `last event: ${last}`);
      assert.equal(result.events.filter((e) => e.includes('"error"')).length, 1);
      const line = await waitForLine(fault, (l) => l.request_id === 'cut-stream');
      assert.equal(line.status_code, 200);
      assert.equal((line.error as { type: string }).type, 'request_failed');
    } finally {
      await fault.env.cleanup();
    }
  });
});
