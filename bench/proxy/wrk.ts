// Running wrk with post.lua and reading the JSON line its done() prints.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LUA_SCRIPT = fileURLToPath(new URL('./post.lua', import.meta.url));
const MARKER = 'WRK_JSON ';

export interface WrkErrors {
  readonly connect: number;
  readonly read: number;
  readonly write: number;
  /** Responses with status >= 400. */
  readonly status: number;
  readonly timeout: number;
}

export interface WrkResult {
  readonly requests: number;
  readonly durationUs: number;
  readonly bytes: number;
  readonly errors: WrkErrors;
  readonly latencyUs: {
    readonly min: number;
    readonly max: number;
    readonly mean: number;
    readonly stdev: number;
    readonly p50: number;
    readonly p75: number;
    readonly p90: number;
    readonly p99: number;
    readonly p999: number;
  };
}

export interface WrkRun {
  readonly url: string;
  readonly body: string;
  readonly connections: number;
  readonly threads: number;
  readonly durationS: number;
  /** Prefix of the command line, e.g. ['taskset', '-c', '0']; empty for no pinning. */
  readonly pin: readonly string[];
  /** Socket/request timeout; a response slower than this counts as a timeout error. */
  readonly timeoutS?: number;
}

export function totalErrors(errors: WrkErrors): number {
  return errors.connect + errors.read + errors.write + errors.status + errors.timeout;
}

export function runWrk(run: WrkRun): Promise<WrkResult> {
  const args = [
    '-t', String(run.threads),
    '-c', String(run.connections),
    '-d', `${run.durationS}s`,
    '--timeout', `${run.timeoutS ?? 5}s`,
    '--latency',
    '-s', LUA_SCRIPT,
    run.url,
    '--',
    run.body,
  ];
  const [command, ...prefix] = run.pin.length > 0 ? [...run.pin, 'wrk', ...args] : ['wrk', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command, prefix, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(MARKER));
      if (code !== 0 || line === undefined) {
        reject(new Error(`wrk ${args.slice(0, 8).join(' ')} ${run.url} failed (exit ${String(code)}):\n${stdout}${stderr}`));
        return;
      }
      const raw = JSON.parse(line.slice(MARKER.length)) as Omit<WrkResult, 'durationUs' | 'latencyUs'> & {
        duration_us: number;
        latency_us: WrkResult['latencyUs'];
      };
      resolve({ requests: raw.requests, durationUs: raw.duration_us, bytes: raw.bytes, errors: raw.errors, latencyUs: raw.latency_us });
    });
  });
}

/** What is wrong with a wrk run: errors, nothing completed, or answers shorter than the checked one. */
export function wrkProblems(label: string, result: WrkResult, minBodyBytes: number): string[] {
  if (totalErrors(result.errors) > 0) return [`${label}: wrk reported errors ${JSON.stringify(result.errors)}`];
  if (result.requests === 0) return [`${label}: no request completed`];
  if (result.bytes / result.requests < minBodyBytes) {
    return [`${label}: ${(result.bytes / result.requests).toFixed(0)} bytes per response, expected at least ${minBodyBytes} (truncated answers?)`];
  }
  return [];
}
