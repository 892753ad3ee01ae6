// A real redis-server for the global rate-limit and Kthena KV index tests: started on a free loopback port, without persistence,
// stopped by its PID. `.ci/run` installs redis-server with apt-get when it is missing.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort } from './process.ts';

export interface RedisServer {
  readonly port: number;
  /** "127.0.0.1:port", as spec.rateLimit.global.redis.address. */
  readonly address: string;
  /** SIGKILL: the server disappears as in a crash. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: the server hangs (connections stay open, nothing is answered) and comes back. */
  pause(): void;
  resume(): void;
  /** Clears every key (between tests). */
  flush(): Promise<void>;
}

/** On a free port, or on `port` (a restart where a killed one was). */
export async function startRedis(port?: number): Promise<RedisServer> {
  port ??= await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const failed = once(child, 'error').then(([err]) => {
    throw new Error(`cannot start redis-server (is it installed? .ci/run installs it): ${(err as Error).message}`);
  });
  const address = `127.0.0.1:${port}`;
  await Promise.race([waitForPing(port, () => output), failed]);
  const { pid } = child;
  let exited = child.exitCode !== null;
  child.once('exit', () => (exited = true));
  return {
    port,
    address,
    async kill() {
      if (exited || pid === undefined) return;
      const gone = once(child, 'exit');
      process.kill(pid, 'SIGKILL');
      await gone;
    },
    pause() {
      if (!exited && pid !== undefined) process.kill(pid, 'SIGSTOP');
    },
    resume() {
      if (!exited && pid !== undefined) process.kill(pid, 'SIGCONT');
    },
    async flush() {
      const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
      await client.connect();
      await client.flushall();
      client.disconnect();
    },
  };
}

async function waitForPing(port: number, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch {
      // not listening yet
    } finally {
      client.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within 10 s: ${output()}`);
}
