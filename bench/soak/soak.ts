// Soak: `npm run soak -- --streams N --seconds T`. N clients each keep one streaming completion open through the real
// router (`switchyard serve`, a child process) in front of mock engines (bench/routing/fleet.ts, another process),
// opening the next stream when one ends. Half-way through T the router gets SIGTERM: clients stop opening streams,
// and every stream that started before the signal must still end with all its tokens and [DONE] (the drain). Reports
// completions and losses, the router's RSS per open stream, and /healthz latency under load; exits 1 on any loss.
//
// Options: --streams N (200)  --seconds T (20)  --tokens K (20 per stream)  --itl-ms M (100 between tokens)
//          --engines E (streams / 500, at least 2: the router opens at most 1,024 connections per pod)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import type { FleetReady, FleetSpec } from '../routing/fleet.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FLEET = fileURLToPath(new URL('../routing/fleet.ts', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/switchyard.js', import.meta.url));

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '20' },
    tokens: { type: 'string', default: '20' },
    'itl-ms': { type: 'string', default: '100' },
    engines: { type: 'string' },
  },
});
const STREAMS = Number(values.streams);
const SECONDS = Number(values.seconds);
const TOKENS = Number(values.tokens);
const ITL_MS = Number(values['itl-ms']);
const ENGINES = Number(values.engines ?? Math.max(2, Math.ceil(STREAMS / 500)));

const children: ChildProcess[] = [];
const stopChildren = (): void => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL'));
process.on('exit', stopChildren);

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024;
}

const dir = mkdtempSync(join(tmpdir(), 'switchyard-soak-'));
const fleet = spawn(process.execPath, [FLEET, JSON.stringify({ count: ENGINES, engine: { model: 'soak-upstream', mode: 'random', seed: 1, itlMs: ITL_MS, maxTokens: TOKENS } } satisfies FleetSpec)], {
  cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'],
});
children.push(fleet);
const ready = await new Promise<FleetReady>((resolve) => createInterface({ input: fleet.stdout }).once('line', (line) => resolve(JSON.parse(line) as FleetReady)));
writeFileSync(join(dir, 'soak.yaml'), [
  'apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelServer\nmetadata: {name: soak}\nspec:\n  workloadSelector: {matchLabels: {app: soak}}\n  workloadPort: {port: 8000}\n  model: soak-upstream\n  inferenceEngine: vLLM\n',
  'apiVersion: networking.serving.volcano.sh/v1alpha1\nkind: ModelRoute\nmetadata: {name: soak}\nspec:\n  modelName: soak\n  rules: [{targetModels: [{modelServerName: soak}]}]\n',
  ...ready.engines.map((e) => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${e.name}, labels: {app: soak}, annotations: {switchyard.dev/port: "${e.port}"}}\nstatus: {podIP: 127.0.0.1}\n`),
].join('---\n'));
// In-flight count alone spreads streams evenly over the engines (as in bench:scale).
writeFileSync(join(dir, 'router.yaml'), 'scheduler:\n  plugins:\n    Filter: {enabled: []}\n    Score:\n      enabled: [{name: least-request, weight: 1}]\n');
const drainSeconds = Math.ceil((TOKENS * ITL_MS) / 1000) * 4 + 30;
const router = spawn(process.execPath, ['--max-semi-space-size=8', BIN, 'serve', '--config', join(dir, 'soak.yaml'), '--router-config', join(dir, 'router.yaml'),
  '--port', '0', '--host', '127.0.0.1', '--metrics-port', '0', '--debug-port', '0', '--access-log', 'off', '--health-check-interval', '0',
  '--metrics-scrape-interval', '0', '--drain-timeout', `${drainSeconds}s`, '--log-level', 'info'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
children.push(router);
const routerOut = createInterface({ input: router.stdout });
const url = await new Promise<string>((resolve) => routerOut.on('line', (line) => {
  const m = /"url":"([^"]+)","msg":"switchyard listening"/.exec(line);
  if (m) resolve(m[1]);
}));
const routerExit = new Promise<number | null>((resolve) => router.once('exit', (code) => resolve(code)));

const agent = new Agent({ connections: null, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 });
const body = JSON.stringify({ model: 'soak', prompt: 'soak', max_tokens: TOKENS, stream: true });
let terminated = false;
const counts = { started: 0, completed: 0, lost: 0, refusedAfterSignal: 0, startedBeforeSignal: 0, completedBeforeSignal: 0 };
const lossReasons = new Map<string, number>();
const lose = (reason: string): void => {
  counts.lost++;
  lossReasons.set(reason, (lossReasons.get(reason) ?? 0) + 1);
};

/** One stream: true when it completed (all tokens and [DONE]). */
async function oneStream(): Promise<void> {
  const beforeSignal = !terminated;
  let res;
  try {
    res = await request(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher: agent });
  } catch (err) {
    if (terminated) counts.refusedAfterSignal++; // the listener went away once drained: not a started stream
    else lose(`connect: ${(err as Error).message}`);
    return;
  }
  if (res.statusCode === 503 && terminated) {
    await res.body.dump();
    counts.refusedAfterSignal++;
    return;
  }
  counts.started++;
  if (beforeSignal) counts.startedBeforeSignal++;
  try {
    const text = await res.body.text();
    const tokens = (text.match(/"text"/g) ?? []).length;
    if (res.statusCode === 200 && text.includes('data: [DONE]') && tokens >= TOKENS) {
      counts.completed++;
      if (beforeSignal) counts.completedBeforeSignal++;
    } else lose(`status ${res.statusCode}, ${tokens} tokens${text.includes('[DONE]') ? '' : ', no [DONE]'}`);
  } catch (err) {
    lose(`body: ${(err as Error).message}`);
  }
}

async function client(): Promise<void> {
  while (!terminated) await oneStream();
}

// Baseline, then the load.
await new Promise((resolve) => setTimeout(resolve, 500));
const baselineRss = rssMiB(router.pid!);
const clients = Array.from({ length: STREAMS }, () => client());
const healthMs: number[] = [];
let peakRss = baselineRss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, rssMiB(router.pid!));
  const t0 = performance.now();
  request(`${url}/healthz`).then(async (r) => {
    await r.body.dump();
    healthMs.push(performance.now() - t0);
  }, () => undefined);
}, 200);

await new Promise((resolve) => setTimeout(resolve, (SECONDS * 1000) / 2));
const openAtSignal = counts.startedBeforeSignal - counts.completedBeforeSignal - counts.lost;
terminated = true;
router.kill('SIGTERM');
const signalAt = performance.now();
await Promise.all(clients);
const exitCode = await routerExit;
const drainSecondsTaken = (performance.now() - signalAt) / 1000;
clearInterval(sampler);
await agent.close();
fleet.stdin.end();
rmSync(dir, { recursive: true, force: true });

healthMs.sort((a, b) => a - b);
const pct = (p: number): string => (healthMs.length === 0 ? '-' : healthMs[Math.min(healthMs.length - 1, Math.floor(p * healthMs.length))].toFixed(1));
const report = {
  streams: STREAMS, seconds: SECONDS, tokensPerStream: TOKENS, itlMs: ITL_MS, engines: ENGINES,
  started: counts.started, completed: counts.completed, lost: counts.lost,
  startedBeforeSigterm: counts.startedBeforeSignal, completedOfThose: counts.completedBeforeSignal, openAtSigterm: openAtSignal,
  refusedAfterSigterm: counts.refusedAfterSignal, drainSeconds: Number(drainSecondsTaken.toFixed(1)), routerExitCode: exitCode,
  routerRssBaselineMiB: Number(baselineRss.toFixed(1)), routerRssPeakMiB: Number(peakRss.toFixed(1)),
  rssPerStreamKiB: Number((((peakRss - baselineRss) * 1024) / STREAMS).toFixed(1)),
  healthzMs: { samples: healthMs.length, p50: pct(0.5), p99: pct(0.99), max: healthMs.length ? healthMs[healthMs.length - 1].toFixed(1) : '-' },
  lossReasons: Object.fromEntries(lossReasons),
};
console.log(JSON.stringify(report, null, 2));
const ok = counts.lost === 0 && counts.completedBeforeSignal === counts.startedBeforeSignal && exitCode === 0;
console.log(ok ? 'soak: no stream lost' : 'soak: LOST STREAMS (or the router did not exit 0)');
process.exit(ok ? 0 : 1);
