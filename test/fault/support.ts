// Fault-suite support: an echo mock behind model "echo", raw sockets that misbehave on purpose, and access-log lines.
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import { createEnv, modelServer, podStub, simpleRoute, startMock, startRouter, writeYaml, type TestEnv } from '../support/harness.ts';

export type RouterOverrides = Parameters<typeof startRouter>[1];

export interface FaultEnv {
  env: TestEnv;
  mock: MockEngineHandle;
  router: RouterApp;
  accessLogPath: string;
  accessLog(): Promise<Record<string, unknown>[]>;
}

export async function startEchoRouter(overrides: RouterOverrides = {}, itlMs = 0): Promise<FaultEnv> {
  const env = await createEnv();
  const mock = await startMock(env, { model: 'echo-upstream', mode: 'echo', itlMs });
  await writeYaml(env, 'echo.yaml', [
    modelServer('echo-srv', { model: 'echo-upstream' }),
    podStub('echo-0', 'echo-srv', mock.port),
    simpleRoute('echo', 'echo', 'echo-srv'),
  ]);
  const accessLogPath = join(env.dir, 'access.log');
  const router = await startRouter(env, { accessLog: { output: accessLogPath, format: 'json' }, ...overrides });
  const accessLog = async (): Promise<Record<string, unknown>[]> => {
    const text = await readFile(accessLogPath, 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  };
  return { env, mock, router, accessLogPath, accessLog };
}

export function openSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

export interface SocketResult {
  data: Buffer;
  /** The first socket error (EPIPE, ECONNRESET), if any. */
  error: NodeJS.ErrnoException | null;
}

/** Collects everything the server sends until it closes the connection (or timeoutMs). */
export function collect(socket: Socket, timeoutMs = 20_000): Promise<SocketResult> {
  const chunks: Buffer[] = [];
  let error: NodeJS.ErrnoException | null = null;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', (err) => (error ??= err));
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), error });
    });
  });
}

export const statusOf = (data: Buffer): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1'))?.[1] ?? 0);

export async function waitForLine(fault: FaultEnv, match: (line: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = (await fault.accessLog()).find(match);
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no access-log line matched; lines: ${JSON.stringify(await fault.accessLog())}`);
}
