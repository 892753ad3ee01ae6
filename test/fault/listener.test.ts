// The listener's bounds: slow headers and slow bodies are cut, connections held open by clients that do not send a
// request cannot starve real clients or harm requests in flight.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { client, post } from '../support/harness.ts';
import { openStream, tokenEvents } from '../support/process.ts';
import { collect, openSocket, startEchoRouter, statusOf, waitForLine, type FaultEnv } from './support.ts';

const words = (n: number): string => Array.from({ length: n }, (_, i) => `t${i}`).join(' ');

describe('listener bounds', () => {
  const envs: FaultEnv[] = [];
  after(() => Promise.all(envs.map((f) => f.env.cleanup())));
  const start = async (...args: Parameters<typeof startEchoRouter>): Promise<FaultEnv> => {
    const fault = await startEchoRouter(...args);
    envs.push(fault);
    return fault;
  };

  it('cuts a client that does not finish its headers with 408', async () => {
    const fault = await start({ limits: { headersTimeoutMs: 500, bodyTimeoutMs: 500 } });
    const socket = await openSocket(fault.router.url);
    const result = collect(socket);
    socket.write('POST /v1/completions HTTP/1.1\r\nhost: x\r\n');
    const { data } = await result;
    assert.equal(statusOf(data), 408, data.toString('latin1'));
    assert.match(data.toString('latin1'), /"code":"request_timeout"/);
  });

  it('cuts a body sent at 1 byte/s with 408 request_timeout, in the access log', async () => {
    const fault = await start({ limits: { headersTimeoutMs: 500, bodyTimeoutMs: 1000 } });
    const socket = await openSocket(fault.router.url);
    const result = collect(socket);
    socket.write('POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{');
    const drip = setInterval(() => socket.writable && socket.write(' '), 1000);
    const { data } = await result;
    clearInterval(drip);
    assert.equal(statusOf(data), 408, data.toString('latin1'));
    assert.match(data.toString('latin1'), /"code":"request_timeout"/);
    const line = await waitForLine(fault, (l) => l.status_code === 408);
    assert.equal(line.path, '/v1/completions');
  });

  it('a client that gives up while uploading its body is a 499 client_disconnected in the access log, not a 400', async () => {
    const fault = await start();
    const controller = new AbortController();
    let sent = 0;
    // An SDK aborting mid-upload closes its connection (FIN): Node's parser reports a body that ends early.
    const body = new Readable({
      read() {
        if (sent++ === 0) this.push('{"model":"echo","prompt":"');
        else if (sent === 20) controller.abort();
        else setTimeout(() => this.push(' word'), 10);
      },
    });
    const answer = await request(`${fault.router.url}/v1/completions`, {
      method: 'POST', signal: controller.signal, body, headers: { 'content-type': 'application/json', 'content-length': '100000', 'x-request-id': 'gave-up-uploading' },
    }).then(() => 'answered', (err: Error) => err.name);
    assert.equal(answer, 'AbortError');
    const line = await waitForLine(fault, (l) => l.request_id === 'gave-up-uploading');
    assert.equal(line.status_code, 499, JSON.stringify(line));
    assert.equal((line.error as { type: string }).type, 'client_disconnected');
  });

  it('closes a keep-alive connection left idle past the keep-alive timeout', async () => {
    const fault = await start({ limits: { keepAliveTimeoutMs: 300 } });
    const socket = await openSocket(fault.router.url);
    let closedByRouter = false;
    socket.once('end', () => (closedByRouter = true));
    const result = collect(socket, 10_000);
    socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    const { data } = await result;
    assert.equal(closedByRouter, true, 'the router closed the idle connection (not the 10 s guard of the test)');
    assert.equal(statusOf(data), 200);
    assert.match(data.toString('latin1'), /keep-alive/i, 'the answer kept the connection alive');
  });

  it('300 connections that never send a request neither starve real clients nor harm a stream in flight', async () => {
    const fault = await start({ limits: { maxConnections: 100 } }, 20);
    const stream = await openStream(`${fault.router.url}/v1/completions`, { model: 'echo', prompt: words(60), max_tokens: 60 });
    await stream.firstEvent;
    const slow: Socket[] = [];
    const closed: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const socket = await openSocket(fault.router.url).catch(() => null);
      if (socket === null) continue;
      socket.on('error', () => undefined);
      socket.write('POST /v1/completions HTTP/1.1\r\nhost: x\r\n'); // and never more
      closed.push(new Promise((resolve) => socket.once('close', resolve)));
      slow.push(socket);
    }
    const openai = client(fault.router);
    for (let i = 0; i < 5; i++) {
      const answer = await openai.completions.create({ model: 'echo', prompt: `real client ${i}`, max_tokens: 3 });
      assert.equal(answer.choices[0].text, `real client ${i}`);
    }
    assert.ok(fault.router.server.guard.openConnections <= 100, `open: ${fault.router.server.guard.openConnections}`);
    assert.ok(fault.router.server.guard.shed >= 200, `shed: ${fault.router.server.guard.shed}`);
    const result = await stream.done;
    assert.equal(result.error, null);
    assert.equal(tokenEvents(result), 60, 'the stream in flight got every token');
    for (const socket of slow) socket.destroy();
    await Promise.all(closed);
  });

  it('keeps serving a client with keep-alive after the cap closed idle connections', async () => {
    const fault = await start({ limits: { maxConnections: 20 } });
    const idle: Socket[] = [];
    for (let i = 0; i < 40; i++) {
      const socket = await openSocket(fault.router.url);
      socket.on('error', () => undefined);
      idle.push(socket);
    }
    const res = await post(`${fault.router.url}/v1/completions`, { model: 'echo', prompt: 'still served', max_tokens: 2 });
    assert.equal(res.status, 200, res.text);
    for (const socket of idle) socket.destroy();
  });
});
