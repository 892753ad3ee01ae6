import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RouterError } from '../errors/router-error.ts';
import type { ExchangeOutcome } from '../proxy/backend.ts';
import type { CompiledRoute, CompiledRule, CompiledServer, PodEndpoint } from '../snapshot/types.ts';
import { AccessLog, accessLogEntry, jsonLine } from './access-log.ts';
import { BatchWriter } from './batch-writer.ts';
import type { RequestRecord } from './request-record.ts';
import type { RequestTokens } from './token-estimate.ts';

const pod = (name: string): PodEndpoint => ({ name }) as PodEndpoint;
const SELECTED = pod('pod-0');

function record(fields: Partial<RequestRecord> = {}): RequestRecord {
  const outcome: ExchangeOutcome = { status: 200, attempts: 1, pod: SELECTED, upstreamStatus: 200, usage: null, error: null, clientAborted: false, headersAt: 1001.8 };
  return {
    requestId: '3b241101-e2bb-4255-8caf-4136c566a962', method: 'POST', path: '/v1/completions?x=1', protocol: 'HTTP/1.1',
    startedAt: Date.UTC(2026, 10, 26, 4, 39, 47, 123), receivedAt: 1000, scheduledAt: 1000.3, endedAt: 1002.5,
    model: 'bench-static', body: null, route: { key: 'default/r' } as CompiledRoute, rule: { name: 'default' } as CompiledRule,
    server: { key: 'default/ms' } as CompiledServer, upstreamModel: 'org/model', scheduled: [SELECTED, pod('pod-1')],
    traceId: '0af7651916cd43dd8448eb211c80319c', status: 200, error: null, outcome, dispatchedTo: null, ...fields,
  };
}

const TOKENS: RequestTokens[] = [{ input: 0, output: 0, inputSource: 'none' }, { input: 3.5, output: 7, inputSource: 'usage' }];

describe('access log lines', () => {
  it('jsonLine is JSON.stringify(accessLogEntry(...)) + "\\n", byte for byte', () => {
    const base = record();
    const variants: RequestRecord[] = [
      base,
      record({ outcome: { ...base.outcome!, pod: pod('pod-1'), attempts: 2 } }),
      record({ model: `we"ird\n\u0001\ud800 \u00e9 model ${'x'.repeat(300)}`, requestId: 'a\\b', startedAt: 0 }),
      record({ route: null, rule: null, server: null, upstreamModel: null, scheduled: null, traceId: null, outcome: null, status: 404, scheduledAt: 0, error: new RouterError('model_not_found', 'The model `x` does not exist.') }),
      record({ status: 400, error: new RouterError('invalid_json', 'Unexpected token } in JSON: {"secret"') }),
      record({ status: 0, outcome: { ...base.outcome!, clientAborted: true } }),
      record({ status: 502, outcome: { ...base.outcome!, upstreamStatus: 502, headersAt: 0 } }),
      record({ startedAt: 1234567.5 }),
      record({ startedAt: -5 }),
      record({ model: null, path: '/v1/\u00e9t\u00e9' }),
      record({ user: 'alice "the admin"', queueMs: 1234.7 }),
      record({ user: null, queueMs: 0 }),
    ];
    for (const v of variants) {
      for (const tokens of TOKENS) assert.equal(jsonLine(v, tokens), `${JSON.stringify(accessLogEntry(v, tokens))}\n`);
    }
    // The timestamp's cached second, across seconds and milliseconds.
    for (let ms = Date.UTC(2026, 0, 1) - 3000; ms < Date.UTC(2026, 0, 1) + 3000; ms += 7) {
      const v = record({ startedAt: ms });
      assert.equal(jsonLine(v, TOKENS[0]), `${JSON.stringify(accessLogEntry(v, TOKENS[0]))}\n`);
    }
  });
});

describe('access log output', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'switchyard-access-log-unit-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes every line, in order, as soon as the router is quiet, and everything on close', async () => {
    const file = join(dir, 'order.log');
    const log = await AccessLog.open({ output: file, format: 'json' });
    log.write(record({ requestId: 'first' }), TOKENS[0]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await readFile(file, 'utf8')).split('\n').filter(Boolean).length, 1, 'a lone line goes out at once');
    for (let i = 0; i < 5000; i++) log.write(record({ requestId: `r${i}` }), TOKENS[1]);
    await log.close();
    const ids = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { request_id: string }).request_id);
    assert.deepEqual(ids, ['first', ...Array.from({ length: 5000 }, (_, i) => `r${i}`)]);
    assert.equal(log.dropped, 0);
  });

  it('writes what is waiting when the process exits without closing the log', async () => {
    const file = join(dir, 'exit.log');
    const module = fileURLToPath(new URL('./access-log.ts', import.meta.url));
    const script = `
      const { AccessLog } = await import(${JSON.stringify(module)});
      const log = await AccessLog.open({ output: ${JSON.stringify(file)}, format: 'text' });
      const record = { requestId: 'x', method: 'POST', path: '/v1/completions', protocol: 'HTTP/1.1', startedAt: 0, receivedAt: 0,
        scheduledAt: 0, endedAt: 0, model: 'm', body: null, route: null, rule: null, server: null, upstreamModel: null,
        scheduled: null, traceId: null, status: 200, error: null, outcome: null };
      for (let i = 0; i < 3000; i++) log.write({ ...record, requestId: 'r' + i }, { input: 0, output: 0, inputSource: 'none' });
      process.exit(0);`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
    assert.equal(lines.length, 3000);
    assert.match(lines[2999], /request_id=r2999 /);
  });

  it('drops (and counts) batches beyond the queue limit instead of blocking', async () => {
    const file = join(dir, 'drop.log');
    const { openSync } = await import('node:fs');
    const writer = new BatchWriter(openSync(file, 'a'), { ownsFd: true, batchBytes: 16, maxQueuedBytes: 32 });
    for (let i = 0; i < 5; i++) {
      const buffer = writer.buffer();
      const length = buffer.write(`line ${i}\n`);
      writer.enqueue(buffer, length, 1);
    }
    await writer.close();
    const text = await readFile(file, 'utf8');
    assert.ok(writer.dropped >= 1, 'the queue holds 32 bytes: not all five lines fit');
    assert.equal(text.split('\n').filter(Boolean).length + writer.dropped, 5);
    assert.ok(text.startsWith('line 0\n'), text);
  });
});
