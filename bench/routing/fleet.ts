// A fleet of simulated engines in one process, for `npm run bench:routing`: started as a child process with its
// options as one JSON argument, it prints {"engines":[{"name","port"}…]} as one line on stdout once every engine
// listens, and closes them all and exits when its stdin closes (the parent exited or is done) or on SIGTERM.
import { startMockEngine, type MockEngineHandle, type MockEngineOptions } from '../../src/mock-engine/index.ts';

export interface FleetSpec {
  /** Options shared by every engine (port and instanceName are set per engine). */
  readonly engine: Partial<MockEngineOptions> & { model: string };
  readonly count: number;
}

export interface FleetReady {
  readonly engines: readonly { readonly name: string; readonly port: number }[];
}

const spec = JSON.parse(process.argv[2] ?? '') as FleetSpec;
const engines: MockEngineHandle[] = [];
let closing = false;

async function shutdown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  await Promise.allSettled(engines.map((e) => e.close()));
  process.exit(code);
}

process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
process.stdin.on('end', () => void shutdown(0));
process.stdin.on('error', () => void shutdown(0));
process.stdin.resume();

try {
  for (let i = 0; i < spec.count; i++) {
    engines.push(await startMockEngine({ ...spec.engine, port: 0, host: '127.0.0.1', instanceName: `engine-${i}` }));
  }
  const ready: FleetReady = { engines: engines.map((e) => ({ name: e.instanceName, port: e.port })) };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
} catch (err) {
  process.stderr.write(`fleet: ${(err as Error).stack ?? String(err)}\n`);
  await shutdown(1);
}
