// `switchyard mock`: one mock inference engine in the foreground.
import { readFileSync } from 'node:fs';
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
  mode: 'echo' | 'fixed' | 'random';
  seed: number;
  instanceName?: string;
  // Batch simulator; undefined = not given (the simulator stays off unless one of them is given).
  simulate?: boolean;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  kvBlocks?: number;
  blockSize?: number;
  prefillMsPerToken?: number;
  decodeMsBase?: number;
  decodeMsPerSeq?: number;
  maxLoras?: number;
  loraLoadMs?: number;
  kvEventsPort?: number;
  kvReplayPort?: number;
  tokenizer?: string;
  // PD disaggregation.
  role?: 'prefill' | 'decode';
  kvConnector: 'http' | 'lmcache' | 'nixl' | 'mooncake';
  group?: string;
  bootstrapPort: number;
  pdTimeoutMs: number;
  tlsCert?: string;
  tlsKey?: string;
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
    seed: flags.seed,
    simulate: flags.simulate,
    maxNumSeqs: flags.maxNumSeqs,
    maxNumBatchedTokens: flags.maxNumBatchedTokens,
    kvBlocks: flags.kvBlocks,
    blockSize: flags.blockSize,
    prefillMsPerToken: flags.prefillMsPerToken,
    decodeMsBase: flags.decodeMsBase,
    decodeMsPerSeq: flags.decodeMsPerSeq,
    maxLoras: flags.maxLoras,
    loraLoadMs: flags.loraLoadMs,
    kvEventsPort: flags.kvEventsPort,
    kvReplayPort: flags.kvReplayPort,
    tokenizer: flags.tokenizer,
    role: flags.role,
    kvConnector: flags.kvConnector,
    group: flags.group,
    bootstrapPort: flags.bootstrapPort,
    pdTimeoutMs: flags.pdTimeoutMs,
  };
  if (flags.servedModelName !== undefined) options.servedModelName = flags.servedModelName;
  if (flags.instanceName !== undefined) options.instanceName = flags.instanceName;
  let engine;
  try {
    if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new Error('--tls-cert and --tls-key go together');
    if (flags.tlsCert !== undefined && flags.tlsKey !== undefined) {
      options.tls = { cert: readFileSync(flags.tlsCert, 'utf8'), key: readFileSync(flags.tlsKey, 'utf8') };
    }
    engine = await startMockEngine(options);
  } catch (err) {
    process.stderr.write(`switchyard mock: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const adapters = flags.lora.length > 0 ? ` with LoRA ${flags.lora.join(', ')}` : '';
  const simulated = engine.simulated ? ' (batch simulator)' : '';
  const role = flags.role === undefined ? '' : ` as ${flags.role}${flags.group !== undefined ? ` of group ${flags.group}` : ''}` +
    (engine.bootstrapPort !== null ? `, bootstrap server on port ${engine.bootstrapPort}` : flags.engine === 'vllm' ? ` (kv connector ${flags.kvConnector})` : '');
  process.stdout.write(`mock ${flags.engine} engine serving ${flags.servedModelName ?? flags.model}${adapters} on ${engine.url}${simulated}${role}\n`);
  const stop = (): void => {
    void engine.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
