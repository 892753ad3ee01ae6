// The command line as a user runs it: `node bin/switchyard.js ...` subprocesses, their output and exit codes.
import { ChatAnthropic } from '@langchain/anthropic';
import { ChatOpenAI } from '@langchain/openai';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { modelServer, simpleRoute } from '../support/harness.ts';
import { freePort, killAll, runCli, spawnCli, startServe } from '../support/process.ts';

const M15 = 'deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B';
const M7 = 'deepseek-ai/DeepSeek-R1-Distill-Qwen-7B';
const HEADER = ['apiVersion: networking.serving.volcano.sh/v1alpha1', 'kind: ModelRoute', 'metadata:'];

const route = (name: string, spec: string[]): string => [...HEADER, `  name: ${name}`, 'spec:', ...spec.map((l) => `  ${l}`)].join('\n');

/** One file per kind of mistake; each message must name file, document index, object and field path. */
const BROKEN: Record<string, string[]> = {
  'syntax.yaml': [modelServer('srv'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n'],
  'weight.yaml': [
    modelServer('srv2'),
    route('heavy', ['modelName: heavy', 'rules:', '- targetModels:', '  - modelServerName: srv', '    weight: 150']),
  ],
  'regex.yaml': [
    route('bad-regex', [
      'modelName: rx', 'rules:', '- modelMatch:', '    headers:', '      x-user:', '        regex: "(unclosed"', '  targetModels:', '  - modelServerName: srv',
    ]),
  ],
  'nomodel.yaml': [route('no-model', ['rules:', '- targetModels:', '  - modelServerName: srv'])],
  'others.yaml': [
    'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1',
    'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80',
    simpleRoute('fine', 'fine', 'srv'),
  ],
};

// The short-lived commands run side by side; the demo runs alone afterwards.
describe('switchyard command line', { concurrency: true }, () => {
  let dir: string;
  let broken: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
    broken = join(dir, 'broken');
    await mkdir(broken);
    for (const [file, docs] of Object.entries(BROKEN)) await writeFile(join(broken, file), docs.join('\n---\n'));
  });
  after(async () => {
    await killAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('--help lists every command', async () => {
    const run = await runCli(['--help']);
    assert.equal(run.code, 0, run.stderr);
    for (const command of ['serve', 'validate', 'mock', 'demo']) assert.match(run.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), command);
  });

  it('serve --help lists its options', async () => {
    const run = await runCli(['serve', '--help']);
    assert.equal(run.code, 0, run.stderr);
    for (const flag of ['--config <path>', '--port <port>', '--host <host>', '--drain-timeout <duration>', '--max-body-size <size>', '--reload-debounce <duration>', '--health-check-interval <duration>', '--log-level <level>']) {
      assert.ok(run.stdout.includes(flag), `${flag} in\n${run.stdout}`);
    }
  });

  it('validate accepts examples/routing: exit 0', async () => {
    const run = await runCli(['validate', '--config', 'examples/routing']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    // 7 pod stubs; the 4 labelled app: deepseek-r1-1-5b are endpoints of both the plain and the PD ModelServer.
    assert.match(run.stdout, /^valid: 5 ModelRoute\(s\), 5 ModelServer\(s\), 0 ExternalModelProvider\(s\), 11 ready pod endpoint\(s\)$/m);
    assert.doesNotMatch(run.stdout, /error/);
  });

  it('validate with overlapping --config paths (a directory and a file in it, a path twice) reads each file once: exit 0', async () => {
    const run = await runCli(['validate', '--config', 'examples/routing', '--config', 'examples/routing/pods.yaml', '--config', 'examples/routing/']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.doesNotMatch(run.stdout, /defined twice/);
    assert.match(run.stdout, /^valid: 5 ModelRoute\(s\), 5 ModelServer\(s\), 0 ExternalModelProvider\(s\), 11 ready pod endpoint\(s\)$/m);
  });

  it('validate reports every broken file with file, document index, object and field path: exit 1', async () => {
    const run = await runCli(['validate', '--config', broken]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const out = run.stdout;
    const at = (file: string): string => join(broken, file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(out, new RegExp(`^error: ${at('syntax.yaml')}, document 1: YAML syntax error at line \\d+, column \\d+: `, 'm'));
    assert.match(out, new RegExp(`^error: ${at('weight.yaml')}, document 1, ModelRoute default/heavy: field spec\\.rules\\[0\\]\\.targetModels\\[0\\]\\.weight: must be at most 100, got 150$`, 'm'));
    assert.match(out, new RegExp(`^error: ${at('regex.yaml')}, document 0, ModelRoute default/bad-regex: field spec\\.rules\\[0\\]\\.modelMatch\\.headers\\.x-user\\.regex: invalid regex "\\(unclosed"`, 'm'));
    assert.match(out, new RegExp(`^error: ${at('nomodel.yaml')}, document 0, ModelRoute default/no-model: field spec: modelName and loraAdapters cannot both be empty`, 'm'));
    assert.equal(out.match(/^warning: .*kind Deployment is not used by Switchyard; skipped$/gm)?.length, 1, 'one warning for the Deployment');
    assert.equal(out.match(/^warning: .*kind Service is not used by Switchyard; skipped$/gm)?.length, 1, 'one warning for the Service');
    assert.match(out, new RegExp(`^warning: ${at('others.yaml')}, document 0, Deployment default/web: kind Deployment`, 'm'));
    const errors = out.match(/^error: /gm)?.length ?? 0;
    assert.match(out, new RegExp(`^invalid: ${errors} error\\(s\\)$`, 'm'));
    assert.ok(errors >= 4);
  });

  it('validate on a file with only skipped kinds next to valid ones: warnings, exit 0', async () => {
    const ok = join(dir, 'ok');
    await mkdir(ok);
    await writeFile(join(ok, 'all.yaml'), [modelServer('srv'), ...BROKEN['others.yaml']].join('\n---\n'));
    const run = await runCli(['validate', '--config', join(ok, 'all.yaml')]);
    assert.equal(run.code, 0, run.stdout);
    assert.equal(run.stdout.match(/^warning: .*skipped$/gm)?.length, 2);
    assert.match(run.stdout, /^valid: 1 ModelRoute\(s\), 1 ModelServer\(s\)/m);
  });

  it('validate --router-config checks the router configuration too: scheduler, auth and its key file, fairness', async () => {
    const rc = join(dir, 'router-config');
    await mkdir(rc);
    const good = join(rc, 'good.yaml');
    await writeFile(join(rc, 'keys.yaml'), '- {user: bob, key: sk-bob}\n');
    await writeFile(good, `scheduler:\n  plugins:\n    Score:\n      enabled: [{name: least-request}]\nauth:\n  apiKeysFile: ${join(rc, 'keys.yaml')}\nfairness:\n  userHeader: X-User\n`);
    const valid = await runCli(['validate', '--config', 'examples/routing', '--router-config', good]);
    assert.equal(valid.code, 0, valid.stdout);
    assert.match(valid.stdout, new RegExp(`^valid: .* and the router configuration ${good}$`, 'm'));

    const bad = join(rc, 'bad.yaml');
    await writeFile(bad, `scheduler:\n  plugins:\n    Score:\n      enabled: [{name: no-such-plugin}]\n`);
    const badScheduler = await runCli(['validate', '--config', 'examples/routing', '--router-config', bad]);
    assert.equal(badScheduler.code, 1, badScheduler.stdout);
    assert.match(badScheduler.stdout, /bad\.yaml: field scheduler\.plugins\.Score\.enabled\[0\]\.name: unknown plugin "no-such-plugin"/);

    await writeFile(bad, `auth:\n  jwksUri: https://idp.example.com/jwks.json\n  apiKeysFile: ${join(rc, 'missing.yaml')}\n`);
    const badAuth = await runCli(['validate', '--config', 'examples/routing', '--router-config', bad]);
    assert.equal(badAuth.code, 1, badAuth.stdout);
    assert.match(badAuth.stdout, /field auth\.issuer/, 'the section error');
    await writeFile(bad, `auth:\n  apiKeysFile: ${join(rc, 'missing.yaml')}\n`);
    const badKeyFile = await runCli(['validate', '--config', 'examples/routing', '--router-config', bad]);
    assert.equal(badKeyFile.code, 1, badKeyFile.stdout);
    assert.ok(badKeyFile.stdout.includes(`cannot read the API key file`) && badKeyFile.stdout.includes(`(auth.apiKeysFile of ${bad})`), badKeyFile.stdout);
    const missingKeys = await runCli(['validate', '--config', 'examples/routing', '--router-config', good.replace('good', 'absent')]);
    assert.equal(missingKeys.code, 1);
    assert.match(missingKeys.stdout, /cannot read the router configuration: ENOENT/);
  });

  it('validate on a path that does not exist: exit 1 naming it', async () => {
    const missing = join(dir, 'no-such-dir');
    const run = await runCli(['validate', '--config', missing]);
    assert.equal(run.code, 1);
    assert.ok(run.stdout.includes(`error: ${missing}: cannot read: ENOENT: no such file or directory`), run.stdout);
  });

  it('serve on an invalid config: the errors on stderr, exit 1, nothing listening', async () => {
    const run = await runCli(['serve', '--config', join(broken, 'weight.yaml'), '--port', '0']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /weight\.yaml, document 1, ModelRoute default\/heavy: field spec\.rules\[0\]\.targetModels\[0\]\.weight: must be at most 100, got 150/);
    assert.match(run.stderr, /the configuration has 1 error\(s\); not starting/);
    assert.doesNotMatch(run.stdout, /switchyard listening/);
  });

  it('serve on a path that does not exist: a clear error, exit 1', async () => {
    const missing = join(dir, 'missing.yaml');
    const run = await runCli(['serve', '--config', missing, '--port', '0']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.ok(run.stderr.includes(`${missing}: cannot read: ENOENT: no such file or directory`), run.stderr);
    assert.match(run.stderr, /not starting/);
  });

  it('serve without --config: usage error, exit 1', async () => {
    const run = await runCli(['serve', '--port', '0']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /required option '-c, --config <path>' not specified/);
  });

  it('serve --config with --namespace or --kubeconfig (which apply only with --kubernetes): usage error, exit 1', async () => {
    for (const flag of [['--namespace', 'team-a'], ['--kubeconfig', '/tmp/kubeconfig']]) {
      const run = await runCli(['serve', '--config', 'examples/routing', '--port', '0', '--metrics-port', '0', '--debug-port', '0', ...flag]);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stderr, /--namespace and --kubeconfig apply only with --kubernetes/);
      assert.doesNotMatch(run.stdout, /switchyard listening/);
    }
  });

  it('serve --max-connections 0: usage error, exit 1 (it served one connection at a time)', async () => {
    const run = await runCli(['serve', '--config', 'examples/routing', '--port', '0', '--metrics-port', '0', '--debug-port', '0', '--max-connections', '0']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /option '--max-connections <n>' argument '0' is invalid\. expected a whole number >= 1/);
    assert.doesNotMatch(run.stdout, /switchyard listening/);
  });

  it('serve --router-config truncated in place (mid-rewrite) keeps the last good one: authentication stays on', async () => {
    const config = join(dir, 'router-config-truncated');
    await mkdir(config);
    await writeFile(join(config, 'all.yaml'), [modelServer('srv'), simpleRoute('r', 'm', 'srv')].join('\n---\n'));
    const keys = join(dir, 'router-config-keys.yaml');
    await writeFile(keys, '- user: alice\n  key: sk-alice-0123456789\n');
    const routerConfig = join(dir, 'router-config-truncated.yaml');
    await writeFile(routerConfig, `auth:\n  apiKeysFile: ${keys}\n`);
    const { proc, url } = await startServe(['--config', config, '--router-config', routerConfig, '--reload-debounce', '50ms']);
    const anonymous = async (): Promise<number> => (await fetch(`${url}/v1/models`)).status;
    assert.equal(await anonymous(), 401);
    await writeFile(routerConfig, '');
    await proc.waitForOutput(/"file":"[^"]*router-config-truncated\.yaml".*the file is empty \(still being written\?\)/);
    await proc.waitForOutput(/router configuration rejected; the last good one keeps scheduling/);
    assert.equal(await anonymous(), 401, 'authentication is still on');
    assert.doesNotMatch(proc.stdout, /authentication turned off/);
    // Deliberately back to the defaults: {} (an empty object) is a router configuration with nothing set.
    await writeFile(routerConfig, '{}');
    await proc.waitForOutput(/authentication turned off/);
    assert.equal(await anonymous(), 200);
  });

  it('serve whose stdout reader went away (`serve | head`) still exits 0 on SIGTERM', async () => {
    const config = join(dir, 'stdout-gone');
    await mkdir(config);
    await writeFile(join(config, 'all.yaml'), [modelServer('srv'), simpleRoute('r', 'm', 'srv')].join('\n---\n'));
    const { proc } = await startServe(['--config', config]);
    // The read end of the pipe closes: every later write to stdout fails with EPIPE, the exit's log lines included.
    proc.child.stdout!.destroy();
    proc.signal('SIGTERM');
    assert.deepEqual(await proc.waitForExit(), { code: 0, signal: null }, proc.describe());
  });

});

async function mockCounters(port: number): Promise<{ received: number; lastRequest: unknown }> {
  return (await (await fetch(`http://127.0.0.1:${port}/mock/stats`)).json()) as { received: number; lastRequest: unknown };
}

describe('switchyard demo', () => {
  after(killAll);

  it('demo: mock engines and the router answer the seed\'s five scenarios and LangChain\'s chat models; SIGINT exits 0', async (t) => {
    const port = await freePort();
    const demo = spawnCli(['demo', '--port', String(port)]);
    const ready = await demo.waitForOutput(/Switchyard is routing on (http:\/\/\S+) \(configuration: examples\/routing\/, started in (\d+) ms\)/, 30_000);
    t.diagnostic(`demo ready ${Date.now() - demo.startedAt} ms after spawn (it reports ${ready[2]} ms after its own start)`);
    assert.equal(ready[1], `http://127.0.0.1:${port}`);
    for (const p of [18001, 18002, 18003, 18004, 18005, 18006, 18007]) assert.match(demo.stdout, new RegExp(`127\\.0\\.0\\.1:${p}`));
    assert.match(demo.stdout, /deepseek-r1-1-5b-pd-prefill-0 +127\.0\.0\.1:18006 .*\[prefill, group pd-group-0\]/);
    assert.match(demo.stdout, /deepseek-r1-1-5b-pd-decode-0 +127\.0\.0\.1:18007 .*\[decode, group pd-group-0\]/);
    assert.match(demo.stdout, /# 5\. PD-disaggregated routing/);
    const openai = new OpenAI({ baseURL: `${ready[1]}/v1`, apiKey: 'demo', maxRetries: 0 });

    const simple = await openai.completions.create({ model: 'deepseek-simple', prompt: 'San Francisco is a', temperature: 0 });
    assert.equal(simple.choices[0].text, `This is simulated message from ${M15}!`);

    const lora = await openai.completions.create({ model: 'lora-A', prompt: 'San Francisco is a', temperature: 0 });
    assert.equal(lora.model, 'lora-A');
    assert.equal(lora.choices[0].text, 'This is simulated message from lora-A!');

    const subset: string[] = [];
    for (let i = 0; i < 10; i++) subset.push((await openai.completions.create({ model: 'deepseek-subset', prompt: 'San Francisco is a' })).model);
    assert.equal(subset.filter((m) => m === `${M15}-v1`).length, 7, subset.join(', '));
    assert.equal(subset.filter((m) => m === `${M15}-v2`).length, 3, subset.join(', '));

    const premium = new OpenAI({ baseURL: `${ready[1]}/v1`, apiKey: 'demo', maxRetries: 0, defaultHeaders: { 'user-type': 'premium' } });
    assert.equal((await premium.completions.create({ model: 'deepseek-multi-models', prompt: 'San Francisco is a' })).model, M7);
    assert.equal((await openai.completions.create({ model: 'deepseek-multi-models', prompt: 'San Francisco is a' })).model, M15);

    // 5. PD disaggregation: the decode pod answers after the prefill pod of its group computed the prompt.
    const prefillBefore = await mockCounters(18006);
    const { data: pd, response } = await openai.completions.create({ model: 'deepseek-r1-1-5b-pd-disaggregation', prompt: 'San Francisco is a', temperature: 0 }).withResponse();
    assert.equal(pd.choices[0].text, `This is simulated message from ${M15}!`);
    assert.equal(response.headers.get('x-mock-pd-decode'), 'default/deepseek-r1-1-5b-pd-decode-0');
    const prefillAfter = await mockCounters(18006);
    assert.equal(prefillAfter.received, prefillBefore.received + 1, 'the prefill pod computed the prompt first');
    assert.deepEqual((prefillAfter.lastRequest as { body: { max_tokens: number } }).body.max_tokens, 1);

    // LangChain, one of the clients the demo is meant to answer: Chat Completions, the Responses API, the Messages API.
    const chat = (useResponsesApi: boolean) => new ChatOpenAI({ model: 'deepseek-simple', apiKey: 'demo', maxRetries: 0, useResponsesApi, configuration: { baseURL: `${ready[1]}/v1` } });
    assert.equal((await chat(false).invoke('Hello')).text, `This is simulated message from ${M15}!`);
    assert.equal((await chat(true).invoke('Hello')).text, `This is simulated message from ${M15}!`);
    const claude = new ChatAnthropic({ model: 'deepseek-simple', apiKey: 'demo', maxRetries: 0, maxTokens: 64, anthropicApiUrl: ready[1] });
    assert.equal((await claude.invoke('Hello')).text, `This is simulated message from ${M15}!`);

    demo.signal('SIGINT');
    const exit = await demo.waitForExit();
    assert.deepEqual(exit, { code: 0, signal: null }, demo.describe());
  });
});
