// `switchyard demo`: a mock engine for every Pod stub of examples/routing, the router on that configuration, and
// the seed's curl commands to try. The mocks are derived from the configuration, so the YAML is the one truth.
import { fileURLToPath } from 'node:url';
import { startMockEngine, type MockEngineHandle } from '../mock-engine/index.ts';
import { createLogger, type LogLevel } from '../observability/logger.ts';
import { formatIssue } from '../resources/types.ts';
import { connectorName } from '../proxy/connectors/index.ts';
import { bootstrapPort } from '../proxy/connectors/sglang-connector.ts';
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
  /** PD-disaggregated ModelServers: the pod's role and group, and the handshake its connector needs. */
  readonly pd?: {
    readonly role: 'prefill' | 'decode';
    readonly group: string;
    readonly kvConnector: 'http' | 'lmcache' | 'nixl' | 'mooncake';
    readonly bootstrapPort: number;
  };
}

/**
 * One mock per pod endpoint: serving the ModelServer's model, plus the LoRA adapters routed to that server; a pod that
 * a PD-disaggregated ModelServer classes as prefill or decode plays that role. A pod selected by several ModelServers
 * (the seed's PD pods carry the plain 1.5B server's label too) gets one mock with the adapters of all of them.
 */
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
  const plans = new Map<string, MockPlan>();
  for (const server of snapshot.servers.values()) {
    const connector = connectorName(server);
    for (const pod of server.pods) {
      const role = server.pd?.roleOf.get(pod.podKey);
      const group = server.pd?.groupOf.get(pod.podKey);
      const earlier = plans.get(pod.origin);
      const adapters = new Set([...(earlier?.loraAdapters ?? []), ...(adaptersByServer.get(server.key) ?? [])]);
      const pd =
        role !== undefined && group !== undefined
          ? { role, group, kvConnector: connector === 'sglang' ? 'http' : connector, bootstrapPort: bootstrapPort(pod) } as const
          : earlier?.pd;
      plans.set(pod.origin, {
        pod: earlier?.pod ?? pod.podKey,
        host: pod.ip,
        port: pod.port,
        model: earlier?.model ?? server.model ?? server.name,
        engine: server.engine === 'SGLang' ? 'sglang' : (earlier?.engine ?? 'vllm'),
        loraAdapters: [...adapters].sort(),
        ...(pd !== undefined && { pd }),
      });
    }
  }
  return [...plans.values()];
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
          ...(plan.pd !== undefined && { role: plan.pd.role, group: plan.pd.group, kvConnector: plan.pd.kvConnector, bootstrapPort: plan.pd.bootstrapPort }),
        }),
      );
      const role = plan.pd === undefined ? '' : `  [${plan.pd.role}, group ${plan.pd.group}]`;
      process.stdout.write(`  mock ${plan.engine.padEnd(6)} ${plan.pod.padEnd(37)} ${plan.host}:${plan.port}  ${plan.model}${plan.loraAdapters.length ? ` + LoRA ${plan.loraAdapters.join(', ')}` : ''}${role}\n`);
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
    process.stderr.write(`switchyard demo: cannot start: ${(err as Error).message} (try --port)\n`);
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
Edit the YAML there and the router reloads it. Try the seed's five scenarios:

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

# 5. PD-disaggregated routing: the prefill on a P-instance pod, then the decode on the D-instance pod of the same
#    group (kvConnector http); -i shows the x-mock-pd-* headers naming the decode that answered
${curl(router, 'deepseek-r1-1-5b-pd-disaggregation').replace('curl ', 'curl -i ')}

# Streaming, and the model list:
curl -N http://${router}/v1/chat/completions -H "Content-Type: application/json" \\
    -d '{"model": "deepseek-simple", "messages": [{"role": "user", "content": "Hello"}], "stream": true}'
curl http://${router}/v1/models

# The Responses API (OpenAI SDK, Vercel AI SDK, LangChain's ChatOpenAI with useResponsesApi) and the Messages API
# (Anthropic SDK, LangChain's ChatAnthropic), streamed:
curl -N http://${router}/v1/responses -H "Content-Type: application/json" \\
    -d '{"model": "deepseek-simple", "input": "Hello", "stream": true}'
curl -N http://${router}/v1/messages -H "Content-Type: application/json" \\
    -d '{"model": "deepseek-simple", "max_tokens": 32, "messages": [{"role": "user", "content": "Hello"}], "stream": true}'

Press Ctrl-C to stop.
`;
}
