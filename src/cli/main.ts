// `switchyard` command line: serve, validate, mock, demo.
import { Command, Option } from 'commander';
import { collect, parseByteSize, parseDurationMs, parsePort, parsePositiveInt } from './flag-values.ts';
import { runDemo } from './demo.ts';
import { runMock } from './mock.ts';
import { runServe } from './serve.ts';
import { runValidate } from './validate.ts';

const program = new Command('switchyard')
  .description('LLM inference router for OpenAI-compatible engines, configured with Kthena ModelRoute/ModelServer YAML')
  .showHelpAfterError()
  .configureHelp({ showGlobalOptions: true });

const logLevel = new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

program
  .command('serve', { isDefault: true })
  .description('route OpenAI API requests according to ModelRoute/ModelServer YAML (files are watched and hot-reloaded)')
  .requiredOption('-c, --config <path>', 'YAML file or directory of YAML files (repeatable)', collect)
  .option('-p, --port <port>', 'listen port', parsePort, 8080)
  .option('--host <host>', 'listen address', '0.0.0.0')
  .option('--drain-timeout <duration>', 'on SIGTERM/SIGINT, how long running requests may take to finish', parseDurationMs, 30_000)
  .option('--max-body-size <size>', 'largest accepted request body', parseByteSize, 16 * 1024 * 1024)
  .option('--reload-debounce <duration>', 'quiet time after a file change before reloading', parseDurationMs, 200)
  .option('--health-check-interval <duration>', 'interval of active GET /health probes to pods (0 disables)', parseDurationMs, 5000)
  .addOption(logLevel)
  .action(runServe);

program
  .command('validate')
  .description('check configuration files and print every problem, without serving (exit 0 when valid, 1 otherwise)')
  .requiredOption('-c, --config <path>', 'YAML file or directory of YAML files (repeatable)', collect)
  .action(runValidate);

program
  .command('mock')
  .description('run a mock vLLM/SGLang inference engine (OpenAI-compatible API and Prometheus metrics)')
  .requiredOption('-m, --model <name>', 'model the engine serves')
  .option('-p, --port <port>', 'listen port', parsePort, 8000)
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--served-model-name <name>', 'name clients use for the model (default: --model)')
  .option('--lora <names>', 'comma-separated LoRA adapters loaded at start', (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean), [] as string[])
  .addOption(new Option('--engine <engine>', 'engine to imitate').choices(['vllm', 'sglang']).default('vllm'))
  .option('--ttft-ms <ms>', 'time to first token', parsePositiveInt, 0)
  .option('--itl-ms <ms>', 'time between tokens', parsePositiveInt, 0)
  .option('--max-tokens <n>', 'completion length when the request sets none', parsePositiveInt, 16)
  .addOption(new Option('--mode <mode>', 'fixed: "This is simulated message from <model>!"; echo: repeat the prompt').choices(['echo', 'fixed']).default('fixed'))
  .option('--instance-name <name>', 'name reported in the x-mock-instance header')
  .action(runMock);

program
  .command('demo')
  .description('start mock engines and the router on the examples/ configuration, and print curl commands to try')
  .option('-p, --port <port>', 'router port', parsePort, 8080)
  .addOption(new Option('--log-level <level>', 'router log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'))
  .action(runDemo);

await program.parseAsync(process.argv);
