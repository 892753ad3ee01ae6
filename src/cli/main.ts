// `switchyard` command line: serve, validate, mock, demo.
import { Command, Option } from 'commander';
import { collect, parseAllowedPath, parseByteSize, parseCountAtLeastOne, parseDurationMs, parseMetricPrefix, parseNonNegativeNumber, parsePort, parsePositiveInt } from './flag-values.ts';
import type { LogLevel } from '../observability/logger.ts';
import type { MockFlags } from './mock.ts';
import type { ServeFlags } from './serve.ts';
import type { WebhookFlags } from './webhook.ts';

// Each command loads its modules when it runs, so `--help` and `validate` do not pay for the router and the mock.

const program = new Command('switchyard')
  .description('LLM inference router for OpenAI-compatible engines, configured with Kthena ModelRoute/ModelServer YAML')
  .showHelpAfterError()
  .configureHelp({ showGlobalOptions: true });

/** A duration flag whose help shows the default as written ("30s"), not as milliseconds. */
function duration(flags: string, description: string, defaultMs: number, shown: string): Option {
  return new Option(flags, description).argParser(parseDurationMs).default(defaultMs, shown);
}

const logLevel = new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

program
  .command('serve', { isDefault: true })
  .description('route OpenAI API requests according to ModelRoute/ModelServer YAML (files are watched and hot-reloaded) or the Kubernetes API')
  .option('-c, --config <path>', 'YAML file or directory of YAML files (repeatable)', collect)
  .option('--kubernetes', 'read ModelRoutes, ModelServers, ExternalModelProviders and Pods from the Kubernetes API (watched)')
  .option('--namespace <ns>', 'with --kubernetes: watch this namespace (repeatable; default: all)', collect)
  .option('--kubeconfig <file>', 'with --kubernetes: kubeconfig file (default: as kubectl finds it, else the in-cluster service account)')
  .option('-p, --port <port>', 'listen port', parsePort, 8080)
  .option('--host <host>', 'listen address', '0.0.0.0')
  .addOption(duration('--drain-timeout <duration>', 'on SIGTERM/SIGINT, how long running requests may take to finish', 30_000, '30s'))
  .addOption(duration('--shutdown-grace <duration>', 'on SIGTERM/SIGINT, how long /readyz fails while requests are still accepted, before the drain (default 5s with --kubernetes)', 0, '0s'))
  .addOption(new Option('--max-body-size <size>', 'largest accepted request body').argParser(parseByteSize).default(16 * 1024 * 1024, '16MiB'))
  .addOption(duration('--header-timeout <duration>', "a client's request line and headers must arrive within this (408 otherwise); with --tls-cert its TLS handshake too", 30_000, '30s'))
  .addOption(duration('--body-timeout <duration>', "a client's request body must arrive within this after its headers (408 otherwise)", 60_000, '60s'))
  .addOption(duration('--keep-alive-timeout <duration>', 'an idle keep-alive client connection is closed after this', 65_000, '65s'))
  .option('--max-connections <n>', 'open client connections; beyond, the ones idle or sending their request longest are closed (the file-descriptor limit may lower it)', parseCountAtLeastOne, 10_000)
  .addOption(new Option('--max-header-size <size>', 'largest request line plus headers (431 beyond; 414 for a URL over 8KiB)').argParser(parseByteSize).default(32 * 1024, '32KiB'))
  .option('--allow-path <path>', 'forward POSTs on this path too, besides the inference API (repeatable), e.g. /v1/tokenize', parseAllowedPath)
  .addOption(duration('--reload-debounce <duration>', 'quiet time after a file change before reloading', 200, '200ms'))
  .addOption(duration('--health-check-interval <duration>', 'interval of active GET /health probes to pods (0 disables; default 0 with --kubernetes)', 5000, '5s'))
  .option('--router-config <file>', 'Kthena router configuration file: scheduler plugins, weights and args, auth, fairness (watched and hot-reloaded)')
  .addOption(duration('--metrics-scrape-interval <duration>', 'interval of GET /metrics and /v1/models on every pod (0 disables)', 1000, '1s'))
  .addOption(duration('--metrics-scrape-timeout <duration>', 'timeout of one metrics or models request to a pod', 5000, '5s'))
  .option('--metrics-port <port>', 'port of the Prometheus GET /metrics listener, on --host (0 disables)', parsePort, 9090)
  .option('--expose-metrics-on-router-port', 'also serve GET /metrics on --port')
  .option('--metrics-prefix <prefix>', 'metric name prefix; kthena_router gives the names of Kthena Router', parseMetricPrefix, 'switchyard')
  .option('--access-log <output>', 'access log, one line per request: stdout, stderr, a file path, or off', 'stdout')
  .addOption(new Option('--access-log-format <format>', 'access log format (text: Kthena\'s text shape)').choices(['json', 'text']).default('json'))
  .option('--debug-port <port>', 'port of the debug server (config dumps, POST /debug/explain), on 127.0.0.1 only (0 disables)', parsePort, 15000)
  .option('--allow-explain-header', 'answer requests carrying "x-switchyard-explain: 1" with the routing decision in that response header')
  .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate chain (with --tls-key; reloaded when the files change)')
  .option('--tls-key <file>', 'PEM private key of --tls-cert')
  .addOption(duration('--upstream-header-timeout <duration>', "a pod's response headers must arrive within this when the route has no trafficPolicy.timeout (504 otherwise; 0 disables)", 600_000, '10m'))
  .addOption(duration('--stream-idle-timeout <duration>', 'an answer from which no byte arrives for this long is cut (a stream ends with an SSE error event; 0 disables)', 300_000, '5m'))
  .addOption(duration('--upstream-connection-wait <duration>', 'how long a request may wait for a free connection to a pod (another pod, then 503 upstream_busy; 0 waits without bound)', 10_000, '10s'))
  .option('--upstream-ca <file>', 'PEM bundle of CAs trusted for pods with workloadPort.protocol https, besides the system\'s')
  .addOption(new Option('--rate-limit-failure-mode <mode>', 'when Redis (spec.rateLimit.global) cannot be asked: open lets requests through, closed refuses them (503)').choices(['open', 'closed']).default('open'))
  .addOption(logLevel)
  .action(async (flags: ServeFlags, command: Command) => {
    if (flags.config === undefined && flags.kubernetes !== true) command.error("error: required option '-c, --config <path>' not specified (or --kubernetes)");
    if (flags.config !== undefined && flags.kubernetes === true) command.error('error: --config and --kubernetes exclude each other');
    // Silently ignored, --namespace would look like a filter of the files' namespaces.
    if (flags.kubernetes !== true && (flags.namespace !== undefined || flags.kubeconfig !== undefined)) command.error('error: --namespace and --kubeconfig apply only with --kubernetes');
    // The kubelet's readiness is authoritative in a cluster: no active probing unless asked for.
    if (flags.kubernetes === true && command.getOptionValueSource('healthCheckInterval') === 'default') flags.healthCheckInterval = 0;
    if (flags.kubernetes === true && command.getOptionValueSource('shutdownGrace') === 'default') flags.shutdownGrace = 5000;
    return (await import('./serve.ts')).runServe(flags);
  })

program
  .command('webhook')
  .description('validating admission webhook (AdmissionReview v1 over HTTPS) for ModelRoute, ModelServer, ExternalModelProvider')
  .option('-p, --port <port>', 'listen port', parsePort, 9443)
  .option('--host <host>', 'listen address', '0.0.0.0')
  .option('--cert-file <file>', 'serving certificate (PEM), e.g. cert-manager\'s tls.crt')
  .option('--key-file <file>', 'its private key (PEM)')
  .option('--dns-name <name>', 'without --cert-file: names of the generated self-signed certificate (repeatable)', collect)
  .addOption(logLevel)
  .action(async (flags: WebhookFlags) => (await import('./webhook.ts')).runWebhook(flags));

program
  .command('validate')
  .description('check configuration files and print every problem, without serving (exit 0 when valid, 1 otherwise)')
  .requiredOption('-c, --config <path>', 'YAML file or directory of YAML files (repeatable)', collect)
  .option('--router-config <file>', 'also check this router configuration file (scheduler, auth and its API key file, fairness)')
  .action(async (flags: { config: string[]; routerConfig?: string }) => (await import('./validate.ts')).runValidate(flags));

program
  .command('mock')
  .description('run a mock vLLM/SGLang inference engine (OpenAI-compatible API and Prometheus metrics)')
  .requiredOption('-m, --model <name>', 'model the engine serves')
  .option('-p, --port <port>', 'listen port', parsePort, 8000)
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--served-model-name <name>', 'name clients use for the model (default: --model)')
  .option('--lora <names>', 'comma-separated LoRA adapters loaded at start', (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean), [] as string[])
  .addOption(new Option('--engine <engine>', 'engine to imitate').choices(['vllm', 'sglang']).default('vllm'))
  .option('--ttft-ms <ms>', 'time to first token (simulator: a fixed prefill cost per request)', parsePositiveInt, 0)
  .option('--itl-ms <ms>', 'time between tokens (simulator: the default of --decode-ms-base)', parsePositiveInt, 0)
  .option('--max-tokens <n>', 'completion length when the request sets none (random mode: the longest)', parsePositiveInt, 16)
  .addOption(
    new Option('--mode <mode>', 'fixed: "This is simulated message from <model>!"; echo: repeat the prompt; random: seeded random words')
      .choices(['echo', 'fixed', 'random'])
      .default('fixed'),
  )
  .option('--seed <n>', 'seed of random mode (same seed, same answers on every engine)', parsePositiveInt, 0)
  .option('--instance-name <name>', 'name reported in the x-mock-instance header')
  // Batch simulator: no commander defaults, so that leaving every flag out keeps the fixed-delay behaviour.
  .option('--simulate', 'time tokens with the batch simulator (implied by any option below)')
  .option('--max-num-seqs <n>', 'sequences in the running batch; more wait in a FIFO queue (default 256)', parsePositiveInt)
  .option('--max-num-batched-tokens <n>', 'tokens per step, chunking long prefills; 0 = no limit (default 0)', parsePositiveInt)
  .option('--kv-blocks <n>', 'KV-cache size in blocks (default 8192)', parsePositiveInt)
  .option('--block-size <n>', 'tokens per KV block (default 16)', parsePositiveInt)
  .option('--prefill-ms-per-token <ms>', 'step cost per prompt token not in the prefix cache (default 0)', parseNonNegativeNumber)
  .option('--decode-ms-base <ms>', 'cost of a step that decodes (default --itl-ms)', parseNonNegativeNumber)
  .option('--decode-ms-per-seq <ms>', 'extra step cost per sequence decoding in it (default 0)', parseNonNegativeNumber)
  .option('--max-loras <n>', 'LoRA adapter slots; 0 = no limit (default 0)', parsePositiveInt)
  .option('--lora-load-ms <ms>', 'step cost of loading an adapter into a slot (default 0)', parseNonNegativeNumber)
  .option('--kv-events-port <port>', "publish the simulator's KV events, vLLM's way (ZeroMQ PUB); implies --simulate", parsePort)
  .option('--kv-replay-port <port>', 'with --kv-events-port: the replay socket (ZeroMQ ROUTER)', parsePort)
  .option('--tokenizer <path>', 'tokenize with this tokenizer.json (and the chat template of tokenizer_config.json next to it)')
  // PD disaggregation: no role = an ordinary engine.
  .addOption(new Option('--role <role>', 'act as the prefill or decode instance of a PD-disaggregated deployment').choices(['prefill', 'decode']))
  .addOption(new Option('--kv-connector <type>', 'vLLM: the KV connector handshake to check (http and lmcache: none)').choices(['http', 'lmcache', 'nixl', 'mooncake']).default('http'))
  .option('--group <name>', 'PD group of this instance; a prefill hands its KV only to decodes of the same group')
  .option('--bootstrap-port <port>', 'SGLang prefill: port of its bootstrap server (0: any free port)', parsePort, 8998)
  .option('--pd-timeout-ms <ms>', 'how long a prefill waits for its decode to take the KV, and a decode for its prefill', parsePositiveInt, 10_000)
  .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (with --tls-key)')
  .option('--tls-key <file>', 'PEM private key of --tls-cert')
  .addHelpText(
    'after',
    `
PD roles (--role): a vLLM nixl/mooncake prefill answers kv_transfer_params naming itself and a one-time transfer id,
which the decode claims from it (POST /mock/pd/claim) before generating; an SGLang prefill opens a bootstrap server on
--bootstrap-port where the decode of the same bootstrap_room meets it. Answers carry x-mock-pd-prefill/-decode;
GET /mock/pd shows the handshake counters.

Batch simulator: one engine loop steps the whole batch. A step lasts --decode-ms-base + --decode-ms-per-seq x decoding
sequences (if any decode) + --prefill-ms-per-token x prompt tokens computed + --ttft-ms x prefills started +
--lora-load-ms x adapters loaded. Prompts are cut into blocks of --block-size tokens with chained hashes; cached blocks
are reused (prefix caching) and evicted least recently used. See src/mock-engine/README.md.`,
  )
  .action(async (flags: MockFlags) => (await import('./mock.ts')).runMock(flags));

program
  .command('demo')
  .description('start mock engines and the router on the examples/ configuration, and print curl commands to try')
  .option('-p, --port <port>', 'router port', parsePort, 8080)
  .addOption(new Option('--log-level <level>', 'router log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'))
  .action(async (flags: { port: number; logLevel: LogLevel }) => (await import('./demo.ts')).runDemo(flags));

await program.parseAsync(process.argv);
