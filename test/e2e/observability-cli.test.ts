// The observability flags of `switchyard serve`, as a real subprocess: metrics under Kthena's prefix on their own
// port, a text access log in a file (flushed on SIGTERM), the debug server, and the explain header.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createEnv, get, modelServer, podStub, post, simpleRoute, startMock, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { scrape, total } from '../support/metrics.ts';
import { freePort, killAll, runCli, startServe } from '../support/process.ts';

describe('switchyard serve observability flags', () => {
  const envs: TestEnv[] = [];
  const logDirs: string[] = [];
  after(async () => {
    await killAll();
    await Promise.all([...envs.map((e) => e.cleanup()), ...logDirs.map((d) => rm(d, { recursive: true, force: true }))]);
  });

  it('serve --help lists them', async () => {
    const run = await runCli(['serve', '--help']);
    for (const flag of ['--metrics-port <port>', '--expose-metrics-on-router-port', '--metrics-prefix <prefix>', '--access-log <output>', '--access-log-format <format>', '--debug-port <port>', '--allow-explain-header']) {
      assert.ok(run.stdout.includes(flag), `${flag} in\n${run.stdout}`);
    }
  });

  it('rejects a metric prefix Prometheus cannot use', async () => {
    const run = await runCli(['serve', '--config', '/nonexistent', '--metrics-prefix', 'bad-prefix']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /metric name prefix/);
  });

  it('a metrics or debug port in use: the error names the listener and its flag, exit 1', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as AddressInfo).port;
    try {
      for (const [flag, listener] of [['--metrics-port', 'metrics'], ['--debug-port', 'debug'], ['--port', 'router']] as const) {
        const ports = { '--port': '0', '--metrics-port': '0', '--debug-port': '0', [flag]: String(port) };
        const run = await runCli(['serve', '--config', 'examples/routing', '--host', '127.0.0.1', ...Object.entries(ports).flat()]);
        assert.equal(run.code, 1, run.stdout + run.stderr);
        assert.match(run.stderr, new RegExp(`^switchyard: cannot start: the ${listener} listener \\(${flag} ${port}\\): listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}$`, 'm'));
      }
    } finally {
      taken.close();
    }
  });

  it('metrics under kthena_router_, a text access log flushed on SIGTERM, the debug server and the explain header', async () => {
    const env = await createEnv();
    envs.push(env);
    const mock = await startMock(env, { model: 'org/cli-upstream' });
    await writeYaml(env, 'config.yaml', [modelServer('ms', { model: 'org/cli-upstream' }), podStub('pod-0', 'ms', mock.port), simpleRoute('r', 'cli-model', 'ms')]);
    const [metricsPort, debugPort] = [await freePort(), await freePort()];
    const logFile = join(await mkdtemp(join(tmpdir(), 'switchyard-cli-log-')), 'access.log');
    logDirs.push(dirname(logFile));
    const { proc, url } = await startServe([
      '--config', env.dir, '--metrics-port', String(metricsPort), '--metrics-prefix', 'kthena_router', '--access-log', logFile,
      '--access-log-format', 'text', '--debug-port', String(debugPort), '--allow-explain-header',
    ]);

    const res = await post(`${url}/v1/completions`, { model: 'cli-model', prompt: 'hello' }, { 'x-switchyard-explain': 'text' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-switchyard-explain'], 'decision=routed route=default/r rule=default target=default/ms pod=default/pod-0 order=default/pod-0');
    const families = await scrape(`http://127.0.0.1:${metricsPort}`);
    assert.equal(total(families, 'kthena_router_requests_total', { model: 'cli-model', status_code: '200', error_type: 'successful_request' }), 1);
    assert.equal((await get(`${url}/metrics`)).status, 404, 'not on the router port without --expose-metrics-on-router-port');
    const dump = (await get(`http://127.0.0.1:${debugPort}/debug/config_dump/modelservers`)).json() as { modelservers: { name: string }[] };
    assert.deepEqual(dump.modelservers.map((s) => s.name), ['ms']);

    proc.signal('SIGTERM');
    assert.deepEqual(await proc.waitForExit(), { code: 0, signal: null }, proc.describe());
    const lines = (await readFile(logFile, 'utf8')).split('\n').filter(Boolean);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /"POST \/v1\/completions HTTP\/1\.1" 200 model_name=cli-model model_route=default\/r .* selected_pod=pod-0 .*timings=\d+ms/);
    assert.doesNotMatch(proc.stdout, /model_name=/, 'the access log went to its file only');
  });

  it('a pod that stops answering its health probe is logged, and so is its recovery', async () => {
    const env = await createEnv();
    envs.push(env);
    const mock = await startMock(env, { model: 'org/probed' });
    const port = mock.port;
    await writeYaml(env, 'config.yaml', [modelServer('ms', { model: 'org/probed' }), podStub('pod-0', 'ms', port), simpleRoute('r', 'probed', 'ms')]);
    const { proc } = await startServe(['--config', env.dir, '--health-check-interval', '100ms', '--access-log', 'off']);
    await mock.close();
    const failed = await proc.waitForOutput(/^\{.*"msg":"pod fails its health probe; it is tried last until it passes".*\}$/m);
    const line = JSON.parse(failed[0]) as { level: number; origin: string; err: string };
    assert.equal(line.level, 40);
    assert.equal(line.origin, `http://127.0.0.1:${port}`);
    assert.match(line.err, /health probe failed/);
    await startMock(env, { model: 'org/probed', port }); // the pod is back
    await proc.waitForOutput(new RegExp(`"origin":"http://127\\.0\\.0\\.1:${port}","msg":"pod passes its health probe again"`));
    assert.equal(proc.stdout.match(/pod fails its health probe/g)?.length, 1, 'logged once, not at every probe');
  });

  it('SIGHUP after logrotate moved the access log away: the file is opened again, the router keeps serving', async () => {
    const env = await createEnv();
    envs.push(env);
    const mock = await startMock(env, { model: 'org/rotated' });
    await writeYaml(env, 'config.yaml', [modelServer('ms', { model: 'org/rotated' }), podStub('pod-0', 'ms', mock.port), simpleRoute('r', 'rotated', 'ms')]);
    const logDir = await mkdtemp(join(tmpdir(), 'switchyard-cli-rotate-'));
    logDirs.push(logDir);
    const logFile = join(logDir, 'access.log');
    const { proc, url } = await startServe(['--config', env.dir, '--access-log', logFile]);
    const send = async (prompt: string): Promise<void> => assert.equal((await post(`${url}/v1/completions`, { model: 'rotated', prompt })).status, 200);
    const linesOf = async (file: string): Promise<string[]> => (await readFile(file, 'utf8')).split('\n').filter(Boolean);

    await send('before the rotation');
    await waitFor(async () => (await linesOf(logFile)).length === 1, 10_000, 'the first line');
    await rename(logFile, `${logFile}.1`); // what logrotate does, then it sends SIGHUP
    proc.signal('SIGHUP');
    await proc.waitForOutput(/access log file reopened/);
    await send('after the rotation');
    await waitFor(async () => (await linesOf(logFile).catch(() => [])).length === 1, 10_000, 'a line in the new file');
    assert.equal((await linesOf(`${logFile}.1`)).length, 1, 'the rotated file keeps its line and gets no other');
    assert.equal(proc.hasExited, false);

    proc.signal('SIGTERM');
    assert.deepEqual(await proc.waitForExit(), { code: 0, signal: null }, proc.describe());
  });
});
