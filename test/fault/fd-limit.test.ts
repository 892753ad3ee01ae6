// The scenario: a router with a finite file-descriptor limit, 300 connections that never finish their
// headers, and real clients: before, inference requests failed with 502 EMFILE; now the router sheds the idle
// connections and keeps a descriptor for every real request and its upstream socket.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import OpenAI from 'openai';
import { createEnv, modelServer, podStub, simpleRoute, startMock, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { BIN, REPO_DIR } from '../support/process.ts';
import { openSocket } from './support.ts';

describe('file-descriptor limit', () => {
  let env: TestEnv;
  const sockets: Socket[] = [];
  let stop = (): void => undefined;
  after(async () => {
    for (const socket of sockets) socket.destroy();
    stop();
    await env.cleanup();
  });

  it('300 slow-header connections under `ulimit -n 300`: real requests are still answered', async () => {
    env = await createEnv();
    const mock = await startMock(env, { model: 'echo-upstream', mode: 'echo' });
    await writeYaml(env, 'echo.yaml', [modelServer('echo-srv', { model: 'echo-upstream' }), podStub('echo-0', 'echo-srv', mock.port), simpleRoute('echo', 'echo', 'echo-srv')]);
    const args = ['serve', '--config', env.dir, '--port', '0', '--host', '127.0.0.1', '--metrics-port', '0', '--debug-port', '0', '--health-check-interval', '0', '--access-log', 'off'];
    const child = spawn('sh', ['-c', `ulimit -n 300 && exec "${process.execPath}" "${BIN}" ${args.join(' ')}`], { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    stop = () => child.kill('SIGKILL');
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    await waitFor(() => /"msg":"switchyard listening"/.test(out), 30_000, `the router listening: ${out}`);
    const url = /"url":"([^"]+)","msg":"switchyard listening"/.exec(out)![1];

    for (let i = 0; i < 300; i++) {
      const socket = await openSocket(url).catch(() => null);
      if (socket === null) continue;
      socket.on('error', () => undefined);
      socket.write('POST /v1/completions HTTP/1.1\r\nhost: x\r\n');
      sockets.push(socket);
    }
    const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'k', maxRetries: 0 });
    for (let i = 0; i < 5; i++) {
      const answer = await openai.completions.create({ model: 'echo', prompt: `real ${i}`, max_tokens: 2 });
      assert.equal(answer.choices[0].text, `real ${i}`);
    }
    assert.match(out, /connection cap reached/);
    assert.doesNotMatch(out, /EMFILE/);
  });
});
