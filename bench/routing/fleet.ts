// A fleet of simulated engines in one process, for `npm run bench:routing`: started as a child process with its
// options as one JSON argument, it prints {"engines":[{"name","port","kvEventsPort","kvReplayPort"}…],"oraclePort"}
// as one line on stdout once every engine listens, and closes them all and exits when its stdin closes (the parent
// exited or is done) or on SIGTERM.
//
// The prefix oracle: at every admission in any engine, the fleet asks every engine how many of that request's
// prompt tokens its prefix cache holds at that moment; the best of them is what a router that knew every cache
// exactly would have got for this request. GET http://127.0.0.1:oraclePort/ → {"queried","hit","best"} (tokens).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startMockEngine, type MockEngineHandle, type MockEngineOptions, type PrefixOracle, type Sequence } from '../../src/mock-engine/index.ts';

export interface FleetSpec {
  /** Options shared by every engine (port and instanceName are set per engine). */
  readonly engine: Partial<MockEngineOptions> & { model: string };
  readonly count: number;
  /** Every engine publishes KV events (PUB and replay sockets on free ports). */
  readonly kvEvents?: boolean;
}

export interface FleetReady {
  readonly engines: readonly { readonly name: string; readonly port: number; readonly kvEventsPort: number | null; readonly kvReplayPort: number | null }[];
  readonly oraclePort: number;
}

export interface OracleTotals {
  readonly queried: number;
  readonly hit: number;
  readonly best: number;
}

class FleetOracle implements PrefixOracle {
  readonly #probes: ((seq: Sequence) => number)[] = [];
  queried = 0;
  hit = 0;
  best = 0;

  join(probe: (seq: Sequence) => number): void {
    this.#probes.push(probe);
  }

  admitted(seq: Sequence, queriedTokens: number, hitTokens: number): void {
    let best = hitTokens;
    for (const probe of this.#probes) best = Math.max(best, probe(seq));
    this.queried += queriedTokens;
    this.hit += hitTokens;
    this.best += Math.min(best, queriedTokens);
  }
}

const spec = JSON.parse(process.argv[2] ?? '') as FleetSpec;
const engines: MockEngineHandle[] = [];
const oracle = new FleetOracle();
const oracleServer = createServer((_req, res) => {
  const totals: OracleTotals = { queried: oracle.queried, hit: oracle.hit, best: oracle.best };
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(totals));
});
let closing = false;

async function shutdown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  oracleServer.close();
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
    const kv = spec.kvEvents === true ? { kvEventsPort: 0, kvReplayPort: 0 } : {};
    engines.push(await startMockEngine({ ...spec.engine, ...kv, port: 0, host: '127.0.0.1', instanceName: `engine-${i}`, prefixOracle: oracle }));
  }
  await new Promise<void>((resolve) => oracleServer.listen(0, '127.0.0.1', resolve));
  const ready: FleetReady = {
    engines: engines.map((e) => ({ name: e.instanceName, port: e.port, kvEventsPort: e.kvEventsPort, kvReplayPort: e.kvReplayPort })),
    oraclePort: (oracleServer.address() as AddressInfo).port,
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
} catch (err) {
  process.stderr.write(`fleet: ${(err as Error).stack ?? String(err)}\n`);
  await shutdown(1);
}
