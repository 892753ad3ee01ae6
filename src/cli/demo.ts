// `switchyard demo`: a mock engine for every Pod stub of examples/routing, the router on that configuration, and
// the seed's curl commands to try. The mocks are derived from the configuration, so the YAML is the one truth.
import { fileURLToPath } from 'node:url';
import { startMockEngine, type MockEngineHandle } from '../mock-engine/index.ts';
import { createLogger, type LogLevel } from '../observability/logger.ts';
import { formatIssue } from '../resources/types.ts';
import { SnapshotStore } from '../snapshot/snapshot-store.ts';
import type { RoutingSnapshot } from '../snapshot/types.ts';
import { FileSource } from '../sources/file-source.ts';
import { startRouterApp } from './router-app.ts';

export const DEMO_CONFIG_DIR = fileURLToPath(new URL('../../examples/routing/', import.meta.url));

export interface MockPlan {
  readonly pod: string;
  readonly host: string;
  readonly port: number;
  readonly model: string;
  readonly engine: 'vllm' | 'sglang';
  readonly loraAdapters: string[];
}

/** One mock per pod endpoint: serving the ModelServer's model, plus the LoRA adapters routed to that server. */
export function planMocks(snapshot: RoutingSnapshot): MockPlan[] {
  const adaptersByServer = new Map<string, Set<string>>();
  for (const routes of snapshot.routesByLora.values()) {
    for (const route of routes) {
      for (const rule of route.rules) {
        for (const target of rule.targets) {
          if (target.kind !== 'server') continue;
          let set = adaptersByServer.get(target.serverKey);
          if (!set) adaptersByServer.set(target.serverKey, (set = new Set()));
          for (const lora of route.resource.spec.loraAdapters) set.add(lora);
        }
      }
    }
  }
  const plans: MockPlan[] = [];
  for (const server of snapshot.servers.values()) {
    for (const pod of server.pods) {
      plans.push({
        pod: pod.podKey,
        host: pod.ip,
        port: pod.port,
        model: server.model ?? server.name,
        engine: server.engine === 'SGLang' ? 'sglang' : 'vllm',
        loraAdapters: [...(adaptersByServer.get(server.key) ?? [])].sort(),
      });
    }
  }
  return plans;
}

export async function runDemo(flags: { port: number; logLevel: LogLevel }): Promise<void> {
  const started = Date.now();
  const state = await new FileSource({ paths: [DEMO_CONFIG_DIR], debounceMs: 0 }).load();
  const checked = new SnapshotStore().apply(state);
  if (!checked.accepted) {
    for (const issue of checked.issues) process.stderr.write(`${formatIssue(issue)}\n`);
    process.exit(1);
  }
  const mocks: MockEngineHandle[] = [];
  const closeMocks = (): Promise<unknown> => Promise.allSettled(mocks.map((m) => m.close()));
  try {
    for (const plan of planMocks(checked.snapshot)) {
      mocks.push(
        await startMockEngine({
          model: plan.model,
          host: plan.host,
          port: plan.port,
          engine: plan.engine,
          loraAdapters: plan.loraAdapters,
          instanceName: plan.pod,
          ttftMs: 50,
          itlMs: 20,
        }),
      );
      process.stdout.write(`  mock ${plan.engine.padEnd(6)} ${plan.pod.padEnd(30)} ${plan.host}:${plan.port}  ${plan.model}${plan.loraAdapters.length ? ` + LoRA ${plan.loraAdapters.join(', ')}` : ''}\n`);
    }
  } catch (err) {
    await closeMocks();
    process.stderr.write(`switchyard demo: cannot start a mock engine: ${(err as Error).message}\n`);
    process.exit(1);
  }

  const logger = createLogger(flags.logLevel);
  let app;
  try {
    app = await startRouterApp({
      configPaths: [DEMO_CONFIG_DIR],
      port: flags.port,
      host: '127.0.0.1',
      maxBodyBytes: 16 * 1024 * 1024,
      reloadDebounceMs: 200,
      healthCheckIntervalMs: 5000,
      logger,
    });
  } catch (err) {
    await closeMocks();
    process.stderr.write(`switchyard demo: cannot start the router on port ${flags.port}: ${(err as Error).message} (try --port)\n`);
    process.exit(1);
  }
  process.stdout.write(demoInstructions(`127.0.0.1:${app.port}`, Date.now() - started));

  const stop = (): void => {
    // Like serve: running requests get 5 s; should closing anything hang after that, exit all the same.
    setTimeout(() => process.exit(0), 8000).unref();
    void app.shutdown(5000).catch(() => false).then(closeMocks).finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function curl(router: string, model: string, extraHeader = ''): string {
  return `curl http://${router}/v1/completions \\
    -H "Content-Type: application/json" \\${extraHeader ? `\n    -H "${extraHeader}" \\` : ''}
    -d '{"model": "${model}", "prompt": "San Francisco is a", "temperature": 0}'`;
}

export function demoInstructions(router: string, startMs: number): string {
  return `
Switchyard is routing on http://${router} (configuration: examples/routing/, started in ${startMs} ms).
Edit the YAML there and the router reloads it. Try the seed's scenarios:

# 1. Simple model-based routing → deepseek-r1-1-5b
${curl(router, 'deepseek-simple')}

# 2. LoRA-aware routing → deepseek-r1-1-5b, adapter name kept
${curl(router, 'lora-A')}

# 3. Weighted canary 70/30 → deepseek-r1-1-5b-v1 / -v2 (exactly 7 of every 10 to v1)
for i in $(seq 1 10); do
  curl -s http://${router}/v1/completions -H "Content-Type: application/json" \\
    -d '{"model": "deepseek-subset", "prompt": "San Francisco is a"}'; echo
done

# 4. Header-based routing: premium users → deepseek-r1-7b (SGLang), others → deepseek-r1-1-5b
${curl(router, 'deepseek-multi-models', 'user-type: premium')}

# Streaming, and the model list:
curl -N http://${router}/v1/chat/completions -H "Content-Type: application/json" \\
    -d '{"model": "deepseek-simple", "messages": [{"role": "user", "content": "Hello"}], "stream": true}'
curl http://${router}/v1/models

Press Ctrl-C to stop.
`;
}
