// `switchyard mock`: one mock inference engine in the foreground.
import { startMockEngine, type MockEngineOptions } from '../mock-engine/index.ts';

export interface MockFlags {
  model: string;
  port: number;
  host: string;
  servedModelName?: string;
  lora: string[];
  engine: 'vllm' | 'sglang';
  ttftMs: number;
  itlMs: number;
  maxTokens: number;
  mode: 'echo' | 'fixed';
  instanceName?: string;
}

export async function runMock(flags: MockFlags): Promise<void> {
  const options: Partial<MockEngineOptions> & { model: string } = {
    model: flags.model,
    port: flags.port,
    host: flags.host,
    engine: flags.engine,
    loraAdapters: flags.lora,
    ttftMs: flags.ttftMs,
    itlMs: flags.itlMs,
    maxTokens: flags.maxTokens,
    mode: flags.mode,
  };
  if (flags.servedModelName !== undefined) options.servedModelName = flags.servedModelName;
  if (flags.instanceName !== undefined) options.instanceName = flags.instanceName;
  let engine;
  try {
    engine = await startMockEngine(options);
  } catch (err) {
    process.stderr.write(`switchyard mock: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const adapters = flags.lora.length > 0 ? ` with LoRA ${flags.lora.join(', ')}` : '';
  process.stdout.write(`mock ${flags.engine} engine serving ${flags.servedModelName ?? flags.model}${adapters} on ${engine.url}\n`);
  const stop = (): void => {
    void engine.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
