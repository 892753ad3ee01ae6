// TLS both ways, with certificates the test makes: pods whose ModelServer says workloadPort.protocol https are
// proxied, probed and scraped over verified TLS (the CA from --upstream-ca); the router's own listener serves
// HTTPS (--tls-cert, --tls-key) and picks up a rotated certificate without a restart.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { createConnection, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import pino from 'pino';
import { Agent, fetch as undiciFetch, request } from 'undici';
import { startRouterApp, type RouterApp, type RouterAppOptions } from '../../src/cli/router-app.ts';
import type { RequestRecord } from '../../src/server/inference-handler.ts';
import { createEnv, modelServer, podStub, simpleRoute, startMock, waitFor, type TestEnv } from '../support/harness.ts';
import { spawnCli } from '../support/process.ts';
import { createTestCa, type TestCa } from '../support/tls.ts';

const MODEL = 'org/tls-model';

/** An https pod that counts what the router's background work asks of it. */
async function startCountingPod(tls: { cert: string; key: string }): Promise<{ server: Server; port: number; seen: Map<string, number> }> {
  const seen = new Map<string, number>();
  const server = createServer(tls, (req, res) => {
    const path = req.url ?? '';
    seen.set(path, (seen.get(path) ?? 0) + 1);
    req.resume();
    if (path === '/health') res.writeHead(200).end();
    else if (path === '/metrics') res.writeHead(200, { 'content-type': 'text/plain' }).end('vllm:num_requests_running{model_name="m"} 0\n');
    else if (path === '/v1/models') res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[]}');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

describe('TLS', () => {
  let env: TestEnv;
  let ca: TestCa;
  let caFile: string;

  before(async () => {
    env = await createEnv();
    ca = createTestCa();
    caFile = join(env.dir, 'ca.pem');
    await writeFile(caFile, ca.cert);
  });
  after(() => env.cleanup());

  /** A config directory of its own for one router. */
  const configDir = async (name: string, docs: string[]): Promise<string> => {
    const dir = join(env.dir, name);
    await mkdir(dir);
    await writeFile(join(dir, 'config.yaml'), docs.join('\n---\n'));
    return dir;
  };

  /** A router serving HTTPS with a certificate named `name` on a config of its own; `extra` adds options. */
  const startTlsRouter = async (name: string, documents: string[], extra: Partial<RouterAppOptions> = {}): Promise<RouterApp> => {
    const dir = await configDir(name, documents);
    const certFile = join(env.dir, `${name}.pem`);
    const keyFile = join(env.dir, `${name}.key`);
    const issued = ca.issue(name);
    await writeFile(certFile, issued.cert);
    await writeFile(keyFile, issued.key);
    return startRouterApp({
      configPaths: [dir], port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50, healthCheckIntervalMs: 0,
      metricsScrapeIntervalMs: 0, logger: pino({ level: 'silent' }), tls: { certFile, keyFile }, ...extra,
    });
  };
  const plainServer = (): string[] => [modelServer('plain', { model: MODEL, port: 1, protocol: 'http' }), podStub('plain-0', 'plain', 1), simpleRoute('plain', 'plain', 'plain')];
  const start = (dir: string, extra: { upstreamCaFile?: string; tls?: { certFile: string; keyFile: string } } = {}, probes = 0): Promise<RouterApp> =>
    startRouterApp({
      configPaths: [dir], port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50,
      healthCheckIntervalMs: probes, metricsScrapeIntervalMs: probes, logger: pino({ level: 'silent' }), ...extra,
    });

  describe('to pods (workloadPort.protocol https)', () => {
    it('proxies streams and whole answers over TLS verified with --upstream-ca', async () => {
      const mock = await startMock(env, { model: MODEL, tls: ca.issue() });
      assert.match(mock.url, /^https:/);
      const dir = await configDir('pods', [modelServer('secure', { model: MODEL, port: 8443, protocol: 'https' }), podStub('secure-0', 'secure', mock.port), simpleRoute('secure', 'secure', 'secure')]);
      const router = await start(dir, { upstreamCaFile: caFile });
      try {
        const openai = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'k', maxRetries: 0 });
        const whole = await openai.chat.completions.create({ model: 'secure', messages: [{ role: 'user', content: 'hi' }] });
        assert.equal(whole.choices[0].message.content, `This is simulated message from ${MODEL}!`);
        const stream = await openai.completions.create({ model: 'secure', prompt: 'hi', stream: true });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
        assert.equal(text, `This is simulated message from ${MODEL}!`);
      } finally {
        await router.shutdown(1000);
      }
    });

    it('refuses a pod whose certificate is not trusted: 502, never plain text', async () => {
      const other = createTestCa('Unknown CA');
      const mock = await startMock(env, { model: MODEL, tls: other.issue() });
      const dir = await configDir('untrusted', [modelServer('bad', { model: MODEL, port: 8443, protocol: 'https' }), podStub('bad-0', 'bad', mock.port), simpleRoute('bad', 'bad', 'bad')]);
      const router = await start(dir, { upstreamCaFile: caFile });
      try {
        const res = await request(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bad', prompt: 'x' }) });
        const body = (await res.body.json()) as { error: { code: string; message: string } };
        assert.equal(res.statusCode, 502);
        assert.equal(body.error.code, 'upstream_unavailable');
        assert.match(body.error.message, /certificate|self.signed|issuer/i);
        assert.equal(await receivedBy(mock.url, other.cert), 0, 'no request reached the pod');
      } finally {
        await router.shutdown(1000);
      }
    });

    it('trusts --upstream-ca on top of NODE_EXTRA_CA_CERTS, not instead of it', async () => {
      // The pod's CA comes through NODE_EXTRA_CA_CERTS (e.g. a corporate CA); --upstream-ca names another one.
      const mock = await startMock(env, { model: MODEL, tls: ca.issue() });
      const dir = await configDir('extra-ca', [modelServer('extra', { model: MODEL, port: 8443, protocol: 'https' }), podStub('extra-0', 'extra', mock.port), simpleRoute('extra', 'extra', 'extra')]);
      const otherCa = join(env.dir, 'other-ca.pem');
      await writeFile(otherCa, createTestCa('Other CA').cert);
      const proc = spawnCli(['serve', '--config', dir, '--port', '0', '--host', '127.0.0.1', '--health-check-interval', '0', '--metrics-port', '0',
        '--debug-port', '0', '--metrics-scrape-interval', '0', '--upstream-ca', otherCa], { NODE_EXTRA_CA_CERTS: caFile });
      try {
        const listening = await proc.waitForOutput(/"url":"(http:[^"]+)","msg":"switchyard listening"/);
        const res = await request(`${listening[1]}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'extra', prompt: 'x' }) });
        const text = await res.body.text();
        assert.equal(res.statusCode, 200, text);
      } finally {
        await proc.kill();
      }
    });

    it('refuses to start with an --upstream-ca bundle whose certificate does not parse (TLS would skip it silently)', async () => {
      const dir = await configDir('bad-ca', [modelServer('secure', { model: MODEL, port: 8443, protocol: 'https' }), podStub('secure-0', 'secure', 1), simpleRoute('secure', 'secure', 'secure')]);
      const truncated = join(env.dir, 'truncated-ca.pem');
      await writeFile(truncated, `${createTestCa('Other CA').cert}${ca.cert.slice(0, -60)}`);
      const error = await start(dir, { upstreamCaFile: truncated }).then(async (started) => {
        await started.shutdown(0);
        return 'started';
      }, (err: Error) => err.message);
      assert.match(error, /--upstream-ca .*truncated-ca\.pem: certificate 2 does not parse/);
    });

    it('tries another pod when one presents a certificate that does not verify, as when it refuses connections', async () => {
      const trusted = await startMock(env, { model: MODEL, tls: ca.issue() });
      const otherCa = createTestCa('Unknown CA');
      const untrusted = await startMock(env, { model: MODEL, tls: otherCa.issue() });
      const dir = await configDir('mixed', [
        modelServer('mixed', { model: MODEL, port: 8443, protocol: 'https' }),
        podStub('mixed-0', 'mixed', trusted.port), podStub('mixed-1', 'mixed', untrusted.port), simpleRoute('mixed', 'mixed', 'mixed'),
      ]);
      const router = await start(dir, { upstreamCaFile: caFile });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 6; i++) {
          const res = await request(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mixed', prompt: `p${i}` }) });
          await res.body.dump();
          statuses.push(res.statusCode);
        }
        assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
        assert.equal(await receivedBy(untrusted.url, otherCa.cert), 0);
      } finally {
        await router.shutdown(1000);
      }
    });

    it('probes /health and scrapes /metrics and /v1/models over TLS', async () => {
      const pod = await startCountingPod(ca.issue());
      const dir = await configDir('probes', [modelServer('probed', { model: MODEL, port: 8443, protocol: 'https' }), podStub('probed-0', 'probed', pod.port), simpleRoute('probed', 'probed', 'probed')]);
      const router = await start(dir, { upstreamCaFile: caFile }, 100);
      try {
        await waitFor(() => (pod.seen.get('/health') ?? 0) > 0 && (pod.seen.get('/metrics') ?? 0) > 0 && (pod.seen.get('/v1/models') ?? 0) > 0, 5000, 'probes and scrapes over TLS');
        const origin = `https://127.0.0.1:${pod.port}`;
        await waitFor(() => router.engines.metrics(origin, performance.now()) !== null, 5000, 'the scraped metrics');
      } finally {
        await router.shutdown(1000);
        await new Promise((resolve) => pod.server.close(resolve));
      }
    });

    it('kvcache-aware tokenizes on an https pod through --upstream-ca, so its KV events decide', async () => {
      const mock = await startMock(env, { model: MODEL, tls: ca.issue(), kvEventsPort: 0, kvReplayPort: 0 });
      const pod = podStub('kv-0', 'kv', mock.port).replace(
        '    switchyard.dev/port:',
        `    switchyard.dev/kv-events-port: "${mock.kvEventsPort}"\n    switchyard.dev/kv-replay-port: "${mock.kvReplayPort}"\n    switchyard.dev/port:`,
      );
      const dir = await configDir('kv', [modelServer('kv', { model: MODEL, port: 8443, protocol: 'https' }), pod, simpleRoute('kv', 'kv', 'kv')]);
      const router = await startRouterApp({
        configPaths: [dir], port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50, healthCheckIntervalMs: 0,
        metricsScrapeIntervalMs: 0, logger: pino({ level: 'silent' }), upstreamCaFile: caFile, debugPort: 0,
      });
      try {
        await waitFor(() => [...router.kvBlocks.entries()].some(([, , trusted]) => trusted), 5000, 'the pod\'s KV index trusted');
        const body = { model: 'kv', prompt: Array.from({ length: 64 }, (_, i) => `word${i}`).join(' '), max_tokens: 2 };
        const served = await request(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        assert.equal(served.statusCode, 200, await served.body.text());
        const kvScore = async (): Promise<{ score: number | null; detail?: Record<string, number> } | undefined> => {
          const res = await request(`${router.debugUrl}/debug/explain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/v1/completions', body }) });
          const explained = (await res.body.json()) as { scheduling: { candidates: { scores: Record<string, { score: number | null; detail?: Record<string, number> }> }[] } };
          return explained.scheduling.candidates[0]?.scores['kvcache-aware'];
        };
        // Tokenizing failed on the pod's certificate: the plugin had no opinion (score null) however many blocks it held.
        await waitFor(async () => ((await kvScore())?.detail?.matchedBlocks ?? 0) > 0, 5000, 'the prompt matched in the pod\'s index');
        assert.equal((await kvScore())?.score, 100);
      } finally {
        await router.shutdown(1000);
      }
    });
  });

  describe('the router listener (--tls-cert, --tls-key)', () => {
    it('serves HTTPS and reloads a rotated certificate', async () => {
      const mock = await startMock(env, { model: MODEL });
      const dir = await configDir('listener', [modelServer('plain', { model: MODEL, port: mock.port, protocol: 'http' }), podStub('plain-0', 'plain', mock.port), simpleRoute('plain', 'plain', 'plain')]);
      const certFile = join(env.dir, 'router.pem');
      const keyFile = join(env.dir, 'router.key');
      const first = ca.issue('router-one');
      await writeFile(certFile, first.cert);
      await writeFile(keyFile, first.key);
      const router = await start(dir, { tls: { certFile, keyFile } });
      try {
        assert.match(router.url, /^https:/);
        const dispatcher = new Agent({ connect: { ca: ca.cert } });
        const res = await request(`${router.url}/v1/completions`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'plain', prompt: 'x' }), dispatcher,
        });
        assert.equal(res.statusCode, 200);
        assert.equal(((await res.body.json()) as { model: string }).model, MODEL);
        await dispatcher.close();
        assert.equal(await servedName(router.port, ca.cert), 'router-one');

        const second = ca.issue('router-two');
        await writeFile(keyFile, second.key);
        await writeFile(certFile, second.cert);
        await waitFor(async () => (await servedName(router.port, ca.cert)) === 'router-two', 10_000, 'the rotated certificate');

        // A broken pair is refused; the last good one keeps serving.
        await writeFile(certFile, 'not a certificate');
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.equal(await servedName(router.port, ca.cert), 'router-two');
      } finally {
        await router.shutdown(1000);
      }
    });

    it('refuses a certificate or key file that reads empty (truncated mid-rewrite), at start and on reload', async () => {
      const dir = await configDir('emptied', [modelServer('plain', { model: MODEL, port: 1, protocol: 'http' }), podStub('plain-0', 'plain', 1), simpleRoute('plain', 'plain', 'plain')]);
      const certFile = join(env.dir, 'emptied.pem');
      const keyFile = join(env.dir, 'emptied.key');
      const issued = ca.issue('router-kept');
      /** The start-up error, or null (after shutting the router down) when it started. */
      const startError = (): Promise<string | null> =>
        start(dir, { tls: { certFile, keyFile } }).then(async (started) => {
          await started.shutdown(0);
          return null;
        }, (err: Error) => err.message);
      await writeFile(certFile, '');
      await writeFile(keyFile, issued.key);
      assert.match(await startError() ?? 'started', /--tls-cert .*emptied\.pem holds no PEM certificate/);
      await writeFile(certFile, issued.cert);
      await writeFile(keyFile, '\n');
      assert.match(await startError() ?? 'started', /--tls-key .*emptied\.key holds no PEM private key/);

      await writeFile(keyFile, issued.key);
      const rejected: string[] = [];
      const logger = pino({ level: 'error' }, { write: (line: string) => void rejected.push(line) });
      const router = await startRouterApp({
        configPaths: [dir], port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: 50, healthCheckIntervalMs: 0,
        metricsScrapeIntervalMs: 0, logger, tls: { certFile, keyFile },
      });
      try {
        assert.equal(await servedName(router.port, ca.cert), 'router-kept');
        await writeFile(certFile, '');
        await waitFor(() => rejected.some((line) => line.includes('TLS certificate change rejected') && line.includes('holds no PEM certificate')), 10_000, 'the empty certificate refused');
        assert.equal(await servedName(router.port, ca.cert), 'router-kept', 'new connections still get the last good certificate');
      } finally {
        await router.shutdown(1000);
      }
    });

    it('closes a connection that never starts its TLS handshake within --header-timeout, answering and logging no HTTP request', async () => {
      const records: RequestRecord[] = [];
      const router = await startTlsRouter('silent', plainServer(), { limits: { headersTimeoutMs: 500 }, onRequestDone: (record) => records.push(record) });
      const silent = createConnection({ host: '127.0.0.1', port: router.port });
      try {
        let closed = false;
        let received = '';
        silent.on('error', () => undefined);
        silent.on('close', () => (closed = true));
        silent.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
        // Node's own handshake timeout is 120 s; the router's answer to a request that broke lingers 5 s.
        await waitFor(() => closed, 4000, 'the silent connection closed');
        assert.equal(received, '', 'no HTTP answer on a connection that never spoke TLS');
        assert.deepEqual(records.map((r) => r.status), [], 'no request was access-logged');
      } finally {
        silent.destroy();
        await router.shutdown(1000);
      }
    });

    it('answers plain HTTP sent to the HTTPS port with a plain 400 saying so, as nginx does', async () => {
      const router = await startTlsRouter('plaintext', plainServer());
      try {
        const res = await request(`http://127.0.0.1:${router.port}/v1/models`);
        assert.equal(res.statusCode, 400);
        const body = (await res.body.json()) as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'bad_request');
        assert.match(body.error.message, /plain HTTP request was sent to the HTTPS port/);
        // HTTPS on the same listener is unaffected.
        const models = await request(`https://127.0.0.1:${router.port}/v1/models`, { dispatcher: new Agent({ connect: { ca: ca.cert } }) });
        assert.equal(models.statusCode, 200);
        await models.body.dump();
      } finally {
        await router.shutdown(1000);
      }
    });

    it('the connection cap sheds idle connections, never an HTTPS stream in flight', async () => {
      const mock = await startMock(env, { model: MODEL, mode: 'echo', itlMs: 20 });
      const slow = [modelServer('slow', { model: MODEL, port: mock.port, protocol: 'http' }), podStub('slow-0', 'slow', mock.port), simpleRoute('slow', 'slow', 'slow')];
      const router = await startTlsRouter('capped', slow, { limits: { maxConnections: 10 } });
      const idle: TLSSocket[] = [];
      try {
        // The stream's connection is the oldest: shedding by age alone would close it first.
        const dispatcher = new Agent({ connect: { ca: ca.cert } });
        const openai = new OpenAI({
          baseURL: `${router.url}/v1`, apiKey: 'k', maxRetries: 0,
          fetch: ((url: string, init?: object) => undiciFetch(url, { ...init, dispatcher })) as unknown as typeof globalThis.fetch,
        });
        const prompt = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
        const stream = await openai.completions.create({ model: 'slow', prompt, max_tokens: 40, stream: true });
        const chunks = stream[Symbol.asyncIterator]();
        const first = await chunks.next();
        assert.equal(first.done, false);
        for (let i = 0; i < 30; i++) {
          const socket = await new Promise<TLSSocket>((resolve, reject) => {
            const s = connect({ host: '127.0.0.1', port: router.port, ca: ca.cert, servername: 'localhost' }, () => resolve(s));
            s.once('error', reject);
          }).catch(() => null);
          if (socket === null) continue;
          socket.on('error', () => undefined);
          idle.push(socket);
        }
        let tokens = 1;
        for (let next = await chunks.next(); !next.done; next = await chunks.next()) tokens += next.value.choices.length > 0 ? 1 : 0;
        assert.equal(tokens, 40, 'the stream got every token');
        assert.ok(router.server.guard.shed >= 20, `shed: ${router.server.guard.shed}`);
      } finally {
        for (const socket of idle) socket.destroy();
        await router.shutdown(1000);
      }
    });
  });
});

/** The common name of the certificate the listener presents. */
function servedName(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const subject = socket.getPeerCertificate().subject;
      socket.end();
      resolve(String(subject?.CN ?? ''));
    });
    socket.on('error', reject);
  });
}

/** Inference requests a TLS mock engine received. */
async function receivedBy(url: string, ca: string): Promise<number> {
  const dispatcher = new Agent({ connect: { ca } });
  try {
    const res = await request(`${url}/mock/stats`, { dispatcher });
    return ((await res.body.json()) as { received: number }).received;
  } finally {
    await dispatcher.close();
  }
}
