// Subprocess support for end-to-end tests of the command line: `node bin/switchyard.js ...` run with the Node that
// runs the tests, its output collected, and every process still running killed by killAll() (call it in after()).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

export const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/switchyard.js', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Set<CliProcess>();

export class CliProcess {
  readonly child: ChildProcess;
  readonly startedAt = Date.now();
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private exit: Exit | null = null;
  private readonly listeners = new Set<() => void>();

  /** `env`: variables added to this process's environment. */
  constructor(args: readonly string[], env: Readonly<Record<string, string>> = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    running.add(this);
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.notify();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        running.delete(this);
        this.exit = { code, signal };
        this.notify();
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get hasExited(): boolean {
    return this.exit !== null;
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  /** Resolves with the first match of `pattern` in stdout (or stderr); rejects on exit or timeout, with the output. */
  waitForOutput(pattern: RegExp, timeoutMs = 30_000, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(this[stream]);
        if (match) {
          done();
          resolve(match);
        } else if (this.exit !== null) {
          done();
          reject(new Error(`process exited (${JSON.stringify(this.exit)}) before printing ${pattern}\n${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}\n${this.describe()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Waits for the exit; SIGKILLs the process and rejects if it takes longer than timeoutMs. */
  async waitForExit(timeoutMs = 20_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`process did not exit within ${timeoutMs} ms\n${this.describe()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  async kill(): Promise<void> {
    if (this.exit !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  describe(): string {
    return `--- stdout ---\n${this.stdout.slice(-4000)}\n--- stderr ---\n${this.stderr.slice(-4000)}`;
  }
}

export function spawnCli(args: readonly string[], env: Readonly<Record<string, string>> = {}): CliProcess {
  return new CliProcess(args, env);
}

/** Runs a command to its end. */
export async function runCli(args: readonly string[], timeoutMs = 30_000, env: Readonly<Record<string, string>> = {}): Promise<Exit & { stdout: string; stderr: string }> {
  const proc = spawnCli(args, env);
  const exit = await proc.waitForExit(timeoutMs);
  return { ...exit, stdout: proc.stdout, stderr: proc.stderr };
}

export async function killAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}

/** `switchyard serve` with --port 0 logs its address as a JSON line {"url":…,"msg":"switchyard listening"}. */
export async function startServe(args: readonly string[], timeoutMs = 30_000): Promise<{ proc: CliProcess; url: string }> {
  // No metrics or debug listener on their fixed default ports (9090, 15000) unless a test asks: tests run in parallel.
  const proc = spawnCli(['serve', '--port', '0', '--host', '127.0.0.1', '--health-check-interval', '0', '--metrics-port', '0', '--debug-port', '0', ...args]);
  const match = await proc.waitForOutput(/^(\{.*"msg":"switchyard listening".*\})$/m, timeoutMs);
  const line = JSON.parse(match[1]) as { url?: unknown };
  if (typeof line.url !== 'string') throw new Error(`no url in ${match[1]}`);
  return { proc, url: line.url };
}

/** A port that was free a moment ago (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Resolves 'refused' when nothing listens at the port any more, 'accepted' when a TCP connection succeeds, else the error code. */
export function tryConnect(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : (err.code ?? err.message)));
  });
}

// ---- SSE streams read raw, so that a cut stream is visible as such ----

export interface RawStream {
  status: number;
  /** Resolves when the first data event arrived. */
  firstEvent: Promise<void>;
  /** Resolves when the body ended or broke, never rejects. */
  done: Promise<StreamResult>;
  /** Client-side disconnect. */
  abort(): void;
}

export interface StreamResult {
  events: string[];
  text: string;
  sawDone: boolean;
  error: Error | null;
}

/** POSTs a streaming completion and collects its `data:` events. */
export async function openStream(url: string, body: object, headers: Record<string, string> = {}): Promise<RawStream> {
  const controller = new AbortController();
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ ...body, stream: true }),
    signal: controller.signal,
  });
  const result: StreamResult = { events: [], text: '', sawDone: false, error: null };
  let firstSeen!: () => void;
  const firstEvent = new Promise<void>((resolve) => (firstSeen = resolve));
  const done = (async (): Promise<StreamResult> => {
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += (chunk as Buffer).toString('utf8');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!event.startsWith('data: ')) continue;
          const data = event.slice(6);
          result.events.push(data);
          firstSeen();
          if (data === '[DONE]') result.sawDone = true;
          else {
            const parsed = JSON.parse(data) as { choices?: { text?: string; delta?: { content?: string } }[] };
            result.text += parsed.choices?.[0]?.text ?? parsed.choices?.[0]?.delta?.content ?? '';
          }
        }
      }
    } catch (err) {
      result.error = err as Error;
    }
    firstSeen();
    return result;
  })();
  return { status: res.statusCode, firstEvent, done, abort: () => controller.abort() };
}

/** Number of completion chunks (events carrying choices) in a finished stream. */
export function tokenEvents(result: StreamResult): number {
  return result.events.filter((e) => e !== '[DONE]' && (JSON.parse(e) as { choices?: unknown[] }).choices?.length).length;
}
