// SIGTERM to the process that started the router (npm, or the shell npx runs commands in) reaches the router: it
// drains and exits, never left running re-parented.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { createEnv, modelServer, podStub, simpleRoute, waitFor, writeYaml, type TestEnv } from '../support/harness.ts';
import { BIN, REPO_DIR } from '../support/process.ts';

/** Pids of processes whose command line mentions `marker` (the test's own config directory). */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe('signals reach the router', () => {
  const envs: TestEnv[] = [];
  after(async () => {
    for (const env of envs) for (const pid of processesWith(env.dir)) process.kill(pid, 'SIGKILL'); // only when a test failed
    await Promise.all(envs.map((e) => e.cleanup()));
  });

  async function configDir(): Promise<TestEnv> {
    const env = await createEnv();
    envs.push(env);
    await writeYaml(env, 'r.yaml', [modelServer('srv', { model: 'm' }), podStub('p-0', 'srv', 1), simpleRoute('m', 'm', 'srv')]);
    return env;
  }

  async function startedAndTerminated(child: ChildProcess, env: TestEnv): Promise<string> {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
    await waitFor(() => out.includes('switchyard listening'), 60_000, `the router listening: ${out}`);
    // 'close': the process exited and every holder of its output pipes (the router too) closed them.
    const closed = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGTERM');
    await closed;
    await waitFor(() => processesWith(env.dir).length === 0, 10_000, 'no router process left');
    return out;
  }

  const serveArgs = (env: TestEnv): string[] =>
    ['--config', env.dir, '--port', '0', '--host', '127.0.0.1', '--metrics-port', '0', '--debug-port', '0', '--health-check-interval', '0'];

  it('npm start: SIGTERM to npm drains the router and leaves no process', async () => {
    const env = await configDir();
    const child = spawn('npm', ['start', '--', ...serveArgs(env)], { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = await startedAndTerminated(child, env);
    assert.match(out, /"msg":"drained; exiting"/);
  });

  it('the shell npx runs the bin in: SIGTERM to it drains the router and leaves no process', async () => {
    const env = await configDir();
    // What `npx switchyard` runs: sh -c 'switchyard …' under npm; a shell that does not exec its command.
    const command = `"${process.execPath}" "${BIN}" serve ${serveArgs(env).join(' ')}; true`;
    const child = spawn('sh', ['-c', command], { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_lifecycle_event: 'npx' } });
    const out = await startedAndTerminated(child, env);
    assert.match(out, /"msg":"drained; exiting"/);
  });
});
