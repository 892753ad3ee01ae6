// How an event stream's bytes reach the client once its head is out: the router writes them to the client's socket
// with its own chunk framing (exchange.ts), bypassing node:http's res.write. These tests hold that path to what
// res.write guaranteed: well-formed chunked framing that ends cleanly and leaves the connection reusable, a slow
// client pausing the pod (no unbounded buffering), and the cases it must not take (HTTP/1.0, pipelined requests).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { startRouterApp, type RouterApp } from '../../src/cli/router-app.ts';
import type { RequestRecord } from '../../src/observability/request-record.ts';
import { parseResponses } from '../fault/raw-exchange.ts';
import { collect, openSocket } from '../fault/support.ts';
import { createEnv, modelServer, podStub, simpleRoute, startRouter, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { startFakePod, type FakePod } from '../support/proxy-fixtures.ts';
import { createTestCa } from '../support/tls.ts';

const MODEL = 'relay';
const event = (i: number, pad = 0): string =>
  `data: {"id":"c","object":"text_completion","model":"${MODEL}","choices":[{"index":0,"text":"t${i}${'x'.repeat(pad)}","finish_reason":null}]}\n\n`;
const USAGE = `data: {"id":"c","object":"text_completion","model":"${MODEL}","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":5,"total_tokens":7}}\n\n`;

function request(body: object, version = '1.1', extra = ''): string {
  const json = JSON.stringify(body);
  return `POST /v1/completions HTTP/${version}\r\nhost: router\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\n${extra}\r\n${json}`;
}

/** The body of one chunked response starting at `from` in `data`, and where the response ends. */
function dechunk(data: Buffer, from: number): { body: string; end: number } {
  let pos = data.indexOf('\r\n\r\n', from) + 4;
  const parts: Buffer[] = [];
  while (true) {
    const lineEnd = data.indexOf('\r\n', pos);
    const sizeText = data.toString('latin1', pos, lineEnd);
    assert.match(sizeText, /^[0-9a-f]+$/, `a chunk size line at ${pos}`);
    const size = parseInt(sizeText, 16);
    pos = lineEnd + 2;
    assert.equal(data.toString('latin1', pos + size, pos + size + 2), '\r\n', `the CRLF after the chunk at ${pos}`);
    if (size === 0) return { body: Buffer.concat(parts).toString('utf8'), end: pos + 2 };
    parts.push(data.subarray(pos, pos + size));
    pos += size + 2;
  }
}

/** Compares long texts without printing them whole. */
function assertSameText(actual: string, expected: string): void {
  if (actual === expected) return;
  let at = 0;
  while (at < actual.length && actual[at] === expected[at]) at++;
  assert.fail(`texts differ at ${at} (lengths ${actual.length} and ${expected.length}): ${JSON.stringify(actual.slice(Math.max(0, at - 40), at + 80))} vs ${JSON.stringify(expected.slice(Math.max(0, at - 40), at + 80))}`);
}

/** Reads from `socket` until `data` holds a complete chunked response (the terminating chunk seen). */
function readOneResponse(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let tail = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      tail = (tail + chunk.toString('latin1', Math.max(0, chunk.length - 5))).slice(-5);
      if (tail === '0\r\n\r\n') {
        socket.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`the connection closed after ${Buffer.concat(chunks).length} bytes`)));
  });
}

describe('event stream relay', () => {
  let env: TestEnv;
  let router: RouterApp;
  let pod: FakePod;
  const records: RequestRecord[] = [];

  before(async () => {
    env = await createEnv();
    pod = await startFakePod('relay');
    await writeYaml(env, 'config.yaml', [modelServer('relay', { model: MODEL }), podStub('relay-0', 'relay', pod.port), simpleRoute('relay', MODEL, 'relay')]);
    router = await startRouter(env, { onRequestDone: (record) => records.push(record) });
  });
  after(async () => {
    await pod.close();
    await env.cleanup();
  });

  it('frames every event, ends the stream and keeps the connection for the next request', async () => {
    pod.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const timer = setInterval(() => {
        // Small events and one large enough to be written as three buffers instead of one copy.
        res.write(event(i, i === 3 ? 40_000 : 0));
        if (++i === 8) {
          clearInterval(timer);
          res.end(`${USAGE}data: [DONE]\n\n`);
        }
      }, 2);
    };
    const socket = await openSocket(router.url);
    try {
      for (let round = 0; round < 2; round++) {
        const response = readOneResponse(socket);
        // The first client did not ask for usage: the router's usage-only event is kept from it.
        const includeUsage = round === 1;
        socket.write(request({ model: MODEL, prompt: 'p', stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) }));
        const data = await response;
        assert.equal(parseResponses(data).malformed, null);
        assert.match(data.toString('latin1', 0, data.indexOf('\r\n\r\n')), /^HTTP\/1\.1 200 [\s\S]*\r\ntransfer-encoding: chunked$/im);
        const { body, end } = dechunk(data, 0);
        assert.equal(end, data.length, 'nothing after the terminating chunk');
        const expected = [...Array.from({ length: 8 }, (_, i) => event(i, i === 3 ? 40_000 : 0)), includeUsage ? USAGE : '', 'data: [DONE]\n\n'].join('');
        assertSameText(body, expected);
      }
    } finally {
      socket.destroy();
    }
    await waitFor(() => records.length >= 2, 5000, 'two request records');
    for (const record of records.splice(0)) {
      assert.equal(record.status, 200);
      assert.equal(record.outcome?.usage?.completionTokens, 5);
      assert.equal(record.outcome?.streamedEvents, 10); // the hidden usage event counted too
    }
  });

  it('pauses the pod while the client does not read, then delivers every byte in order', async () => {
    const EVENTS = 400;
    const PAD = 128 * 1024; // 400 x 128 KiB: 51 MiB, far beyond what the sockets' buffers hold
    let written = 0;
    let finished = false;
    pod.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const pump = (): void => {
        while (i < EVENTS) {
          const text = event(i++, PAD);
          written += text.length;
          if (!res.write(text)) {
            res.once('drain', pump);
            return;
          }
        }
        finished = true;
        res.end('data: [DONE]\n\n');
      };
      pump();
    };
    const socket = await openSocket(router.url);
    socket.pause();
    socket.write(request({ model: MODEL, prompt: 'p', stream: true }));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const writtenWhilePaused = written;
    assert.ok(!finished && writtenWhilePaused < (EVENTS * PAD) / 2, `the pod wrote ${writtenWhilePaused} bytes to a client that read nothing`);
    const response = readOneResponse(socket);
    socket.resume();
    const data = await response;
    socket.destroy();
    const { body } = dechunk(data, 0);
    const events = body.split('\n\n').filter(Boolean);
    assert.equal(events.length, EVENTS + 1);
    for (let i = 0; i < EVENTS; i += 97) assert.equal(`${events[i]}\n\n`, event(i, PAD));
    assert.equal(events[EVENTS], 'data: [DONE]');
    await waitFor(() => records.length >= 1, 5000, 'the request record');
    assert.equal(records.splice(0)[0].status, 200);
  });

  it('sends an HTTP/1.0 client the stream unframed, ended by the close', async () => {
    pod.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(event(0));
      setTimeout(() => res.end(`${event(1)}data: [DONE]\n\n`), 20);
    };
    const socket = await openSocket(router.url);
    const result = collect(socket, 10_000);
    socket.write(request({ model: MODEL, prompt: 'p', stream: true }, '1.0'));
    const { data } = await result;
    const text = data.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(text.slice(0, text.indexOf('\r\n\r\n')), /transfer-encoding/i);
    assert.equal(text.slice(text.indexOf('\r\n\r\n') + 4), `${event(0)}${event(1)}data: [DONE]\n\n`);
    records.splice(0);
  });

  it('answers pipelined streaming requests one after the other, each well framed', async () => {
    pod.handler = (req, res) => {
      const { prompt } = JSON.parse(req.body) as { prompt: string };
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // The second answer is ready first: it must wait for the first to end.
      setTimeout(() => {
        res.write(event(prompt === 'first' ? 1 : 2));
        res.end('data: [DONE]\n\n');
      }, prompt === 'first' ? 150 : 10);
    };
    const socket = await openSocket(router.url);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(request({ model: MODEL, prompt: 'first', stream: true }) + request({ model: MODEL, prompt: 'second', stream: true }));
    await waitFor(() => parseResponses(Buffer.concat(chunks)).responses === 2 && Buffer.concat(chunks).subarray(-5).toString('latin1') === '0\r\n\r\n', 10_000, 'two responses');
    socket.destroy();
    const data = Buffer.concat(chunks);
    assert.equal(parseResponses(data).malformed, null);
    const first = dechunk(data, 0);
    const second = dechunk(data, first.end);
    assert.equal(first.body, `${event(1)}data: [DONE]\n\n`);
    assert.equal(second.body, `${event(2)}data: [DONE]\n\n`);
    assert.equal(second.end, data.length);
    records.splice(0);
  });
});

describe('event stream relay: the drain cutting a stream', () => {
  let env: TestEnv;
  let pod: FakePod;

  before(async () => {
    env = await createEnv();
    pod = await startFakePod('relay-drain');
  });
  after(async () => {
    await pod.close();
    await env.cleanup();
  });

  it('writes nothing after the terminating chunk of a stream it cut over HTTPS, while the pod still streams', async () => {
    // A TLS write completes after the tick that made it: the pod's next events arrive before the cut response's close.
    pod.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed) clearInterval(timer);
        else for (let k = 0; k < 4; k++) res.write(event(i++, 1500));
      }, 1);
      res.on('close', () => clearInterval(timer));
    };
    await writeYaml(env, 'config.yaml', [modelServer('relay', { model: MODEL }), podStub('relay-0', 'relay', pod.port), simpleRoute('relay', MODEL, 'relay')]);
    const issued = createTestCa().issue();
    const certFile = join(env.dir, 'router.pem');
    const keyFile = join(env.dir, 'router.key');
    await writeFile(certFile, issued.cert);
    await writeFile(keyFile, issued.key);
    const router = await startRouterApp({
      configPaths: [join(env.dir, 'config.yaml')], port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50, healthCheckIntervalMs: 0,
      metricsScrapeIntervalMs: 0, logger: pino({ level: 'silent' }), tls: { certFile, keyFile },
    });
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(router.url).port), rejectUnauthorized: false });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    try {
      socket.write(request({ model: MODEL, prompt: 'p', stream: true }));
      await waitFor(() => Buffer.concat(chunks).length > 200_000, 10_000, 'the stream flowing');
    } catch (err) {
      socket.destroy();
      await router.shutdown(0);
      throw err;
    }
    assert.equal(await router.shutdown(200), false, 'the drain cut the stream');
    await closed;
    const data = Buffer.concat(chunks);
    const { body, end } = dechunk(data, 0);
    assert.equal(data.length - end, 0, `bytes after the terminating chunk: ${JSON.stringify(data.toString('latin1', end, end + 80))}`);
    assert.match(body.slice(body.lastIndexOf('data: ')), /"code":"draining"/);
  });
});
