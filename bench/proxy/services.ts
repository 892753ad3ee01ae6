// The processes of the proxy benchmark: started with their output in a log file, waited for, stopped in reverse order.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logPath: string;
  exited: boolean;
}

export const services: Service[] = [];

export function start(name: string, command: readonly string[], workDir: string, cwd = ROOT): Service {
  const logPath = join(workDir, `${name}.log`);
  const log = openSync(logPath, 'a');
  const [file, ...args] = command;
  const child = spawn(file, args, { cwd, stdio: ['ignore', log, log] });
  closeSync(log);
  if (child.pid === undefined) throw new Error(`cannot start ${name}: ${command.join(' ')}`);
  const service: Service = { name, child, pid: child.pid, logPath, exited: false };
  child.on('exit', () => (service.exited = true));
  services.push(service);
  return service;
}

export function logTail(service: Service, lines = 30): string {
  try {
    return readFileSync(service.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Polls `url` until it answers `status`; fails if the service exits or 15 s pass. */
export async function waitReady(service: Service, url: string, status = 200): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = '';
  while (Date.now() < deadline) {
    if (service.exited) throw new Error(`${service.name} exited while starting:\n${logTail(service)}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === status) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${service.name} not ready at ${url} after 15 s (${last}):\n${logTail(service)}`);
}

export async function stopService(service: Service): Promise<void> {
  if (service.exited) return;
  const exited = new Promise<void>((resolve) => service.child.once('exit', () => resolve()));
  service.child.kill('SIGTERM');
  const timer = setTimeout(() => service.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Retries `attempt` until it succeeds; fails when a service exits or after `timeoutMs` with the last error. */
export async function untilAnswered<T>(watched: readonly Service[], attempt: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const gone = watched.find((s) => s.exited);
    if (gone !== undefined) throw new Error(`${gone.name} exited: ${logTail(gone, 3)}`);
    try {
      return await attempt();
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no good answer after ${timeoutMs / 1000} s: ${last instanceof Error ? last.message : String(last)}`);
}

export async function stopAll(): Promise<void> {
  // Reverse order: proxies before backends. SIGTERM: Switchyard drains (and writes its CPU profile), nginx quits fast.
  for (const service of [...services].reverse()) await stopService(service);
}
