// Configuration hot reload through real files, the real file watcher, the real router and real clients.
import assert from 'node:assert/strict';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { startRouterApp, type RouterApp } from '../../src/cli/router-app.ts';
import type { MockEngineHandle } from '../../src/mock-engine/index.ts';
import {
  client, createEnv, get, mockStats, modelServer, podStub, post, simpleRoute, startMock, startRouter, waitFor, writeYaml, type TestEnv,
} from '../support/harness.ts';
import { openStream, tokenEvents } from '../support/process.ts';

interface LogLine {
  level: number;
  msg: string;
  file?: string;
  document?: number;
  object?: string;
  field?: string;
  generation?: number;
}

/** The router on the given config paths, its log lines collected. */
async function startWatchedRouter(env: TestEnv, configPaths: string[], debounceMs = 50): Promise<{ app: RouterApp; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  env.router = await startRouterApp({
    configPaths, port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20, reloadDebounceMs: debounceMs, healthCheckIntervalMs: 0, logger,
  });
  return { app: env.router, logs };
}

const generation = (app: RouterApp): number => app.store.snapshot?.generation ?? 0;
const rejections = (logs: LogLine[]): number => logs.filter((l) => l.msg.startsWith('configuration rejected')).length;

/** ModelServer + pod stub + ModelRoute for one mock, as the documents of one file. */
function backend(name: string, mock: MockEngineHandle, routeDoc?: string): string[] {
  return [modelServer(`${name}-srv`, { model: `${name}-upstream` }), podStub(`${name}-0`, `${name}-srv`, mock.port), routeDoc ?? simpleRoute(name, name, `${name}-srv`)];
}

describe('config hot reload', () => {
  let env: TestEnv;
  before(async () => {
    env = await createEnv();
  });
  after(() => env.cleanup());

  it('add a route, break the file, fix it: a continuous client loop never sees one failure', async (t) => {
    const local = await createEnv();
    t.after(() => local.cleanup());
    const alphaMock = await startMock(local, { model: 'alpha-upstream', itlMs: 2 });
    const betaMock = await startMock(local, { model: 'beta-upstream', itlMs: 2 });
    await writeYaml(local, 'alpha.yaml', backend('alpha', alphaMock));
    const { app, logs } = await startWatchedRouter(local, [local.dir]);
    const openai = client(app);

    const models = ['alpha'];
    const upstreamOf: Record<string, string> = { alpha: 'alpha-upstream', beta: 'beta-upstream', 'alpha-2': 'alpha-upstream' };
    const served = new Map<string, number>();
    const failures: string[] = [];
    let phase = 'start';
    let stop = false;
    let sent = 0;
    const worker = async (id: number): Promise<void> => {
      for (let i = id; !stop; i++) {
        const model = models[i % models.length];
        sent++;
        try {
          let answeredBy: string;
          if (i % 2 === 0) {
            answeredBy = (await openai.completions.create({ model, prompt: 'hello there' })).model;
          } else {
            const stream = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], stream: true });
            answeredBy = '';
            for await (const chunk of stream) answeredBy = chunk.model;
          }
          assert.equal(answeredBy, upstreamOf[model]);
          served.set(`${phase}:${model}`, (served.get(`${phase}:${model}`) ?? 0) + 1);
        } catch (err) {
          failures.push(`${phase} ${model}: ${(err as Error).message}`);
        }
      }
    };
    const workers = Promise.all([0, 1, 2, 3].map(worker));
    // Lets the loop run until every routable model was answered a few times in the current phase.
    const settle = (): Promise<void> =>
      waitFor(() => models.every((m) => (served.get(`${phase}:${m}`) ?? 0) >= 3), 15_000, `requests served in phase ${phase}`).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; served ${JSON.stringify([...served])}; last failures: ${failures.slice(-3).join(' | ')}`);
      });
    try {
      await settle();

      // 1. a new file with a new route and ModelServer: routable after the reload.
      phase = 'added';
      await writeYaml(local, 'beta.yaml', backend('beta', betaMock));
      await waitFor(() => app.store.snapshot?.routesByModel.has('beta') ?? false, 5000, 'route beta');
      assert.equal((await openai.completions.create({ model: 'beta', prompt: 'x' })).model, 'beta-upstream');
      models.push('beta');
      await settle();

      // 2. a syntax error, then a schema error: each config is rejected whole, the last good one keeps serving.
      const good = generation(app);
      phase = 'broken-syntax';
      await writeFile(join(local.dir, 'alpha.yaml'), `${backend('alpha', alphaMock).join('\n---\n')}\n---\nkind: [unclosed\n`);
      await waitFor(() => rejections(logs) >= 1, 5000, 'rejection of the syntax error');
      await settle();
      phase = 'broken-schema';
      const badRoute = simpleRoute('alpha', 'alpha', 'alpha-srv').replace('- modelServerName: "alpha-srv"', '- modelServerName: "alpha-srv"\n      weight: 150');
      await writeYaml(local, 'alpha.yaml', backend('alpha', alphaMock, badRoute));
      await waitFor(() => rejections(logs) >= 2, 5000, 'rejection of the schema error');
      await settle();
      assert.equal(generation(app), good, 'no broken config was swapped in');
      const syntax = logs.find((l) => l.level === 50 && l.msg.includes('YAML syntax error'));
      assert.ok(syntax, `the syntax error is logged: ${JSON.stringify(logs.filter((l) => l.level >= 40))}`);
      assert.equal(syntax.file, join(local.dir, 'alpha.yaml'));
      assert.equal(syntax.document, 3);
      const schema = logs.find((l) => l.level === 50 && l.field === 'spec.rules[0].targetModels[0].weight');
      assert.ok(schema, `the schema error is logged with its field path: ${JSON.stringify(logs.filter((l) => l.level === 50))}`);
      assert.equal(schema.file, join(local.dir, 'alpha.yaml'));
      assert.equal(schema.document, 2);
      assert.equal(schema.object, 'ModelRoute default/alpha');
      assert.match(schema.msg, /alpha\.yaml, document 2, ModelRoute default\/alpha: field spec\.rules\[0\]\.targetModels\[0\]\.weight: .*150/);

      // 3. fixed, with one more route: the new config applies.
      phase = 'fixed';
      await writeYaml(local, 'alpha.yaml', [...backend('alpha', alphaMock), simpleRoute('alpha-2', 'alpha-2', 'alpha-srv')]);
      await waitFor(() => generation(app) > good, 5000, 'the fixed config');
      assert.equal((await openai.completions.create({ model: 'alpha-2', prompt: 'x' })).model, 'alpha-upstream');
      models.push('alpha-2');
      await settle();
    } finally {
      stop = true;
      await workers;
    }
    assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
    for (const key of ['start:alpha', 'added:alpha', 'added:beta', 'broken-syntax:alpha', 'broken-syntax:beta', 'broken-schema:alpha', 'broken-schema:beta', 'fixed:alpha-2']) {
      assert.ok((served.get(key) ?? 0) > 0, `requests were served in ${key}: ${JSON.stringify([...served])}`);
    }
  });

  it('an in-flight stream finishes after a reload removed its route and ModelServer', async () => {
    const steady = await startMock(env, { model: 'steady-upstream' });
    const doomed = await startMock(env, { model: 'doomed-upstream', mode: 'echo', itlMs: 25 });
    await writeYaml(env, 'steady.yaml', backend('steady', steady));
    await writeYaml(env, 'doomed.yaml', backend('doomed', doomed));
    const { app } = await startWatchedRouter(env, [env.dir]);
    const prompt = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
    const stream = await openStream(`${app.url}/v1/completions`, { model: 'doomed', prompt, max_tokens: 40 });
    assert.equal(stream.status, 200);
    await stream.firstEvent;

    const before = generation(app);
    await rm(join(env.dir, 'doomed.yaml'));
    await waitFor(() => generation(app) > before, 5000, 'the reload without doomed');
    assert.equal(app.store.snapshot?.servers.has('default/doomed-srv'), false);
    const refused = await post(`${app.url}/v1/completions`, { model: 'doomed', prompt: 'x' });
    assert.equal(refused.status, 404, 'new requests no longer find the route');

    const result = await stream.done;
    assert.equal(result.error, null);
    assert.equal(result.sawDone, true, 'the stream ends with [DONE]');
    assert.equal(tokenEvents(result), 40);
    assert.equal(result.text, prompt);
    const stats = await mockStats(doomed);
    assert.equal(stats.completed, 1);
    assert.equal(stats.cancelled, 0);
  });

  it('a pod that goes unready and back while it serves streams keeps counting them in flight (least-request sees its load)', async (t) => {
    const local = await createEnv();
    t.after(() => local.cleanup());
    const mock = await startMock(local, { model: 'flap-upstream', mode: 'echo', itlMs: 50 });
    const files = (ready: boolean, extra: string[] = []): string[] => [
      modelServer('flap-srv', { model: 'flap-upstream' }), podStub('flap-0', 'flap-srv', mock.port, { ready }), simpleRoute('flap', 'flap', 'flap-srv'), ...extra,
    ];
    await writeYaml(local, 'flap.yaml', files(true));
    const app = await startRouter(local, { debugPort: 0 });
    const inFlight = async (): Promise<number | null> => {
      const pod = (await get(`${app.debugUrl}/debug/config_dump/namespaces/default/pods/flap-0`)).json() as { endpoints?: { inFlight: number }[] };
      return pod.endpoints?.[0]?.inFlight ?? null;
    };
    const prompt = Array.from({ length: 100 }, (_, i) => `w${i}`).join(' ');
    const streams = await Promise.all([0, 1, 2].map(() => openStream(`${app.url}/v1/completions`, { model: 'flap', prompt, max_tokens: 100 })));
    await Promise.all(streams.map((s) => s.firstEvent));
    assert.equal(await inFlight(), 3);
    // A readiness flap (with another change in the same reload, so that the pod's state is let go at once).
    let before = generation(app);
    await writeYaml(local, 'flap.yaml', files(false, [simpleRoute('other', 'other', 'flap-srv')]));
    await waitFor(() => generation(app) > before, 5000, 'the reload with the pod unready');
    assert.equal(app.store.snapshot?.endpoints.size, 0);
    before = generation(app);
    await writeYaml(local, 'flap.yaml', files(true));
    await waitFor(() => generation(app) > before, 5000, 'the reload with the pod ready again');
    assert.equal(await inFlight(), 3, 'the three streams still running through the pod are counted');
    for (const stream of streams) assert.equal((await stream.done).sawDone, true);
    await waitFor(async () => (await inFlight()) === 0, 3000, 'the count back to 0');
  });

  it('a weight change restarts only that rule\'s smooth weighted round-robin', async (t) => {
    const local = await createEnv();
    t.after(() => local.cleanup());
    const v1 = await startMock(local, { model: 'v1-upstream' });
    const v2 = await startMock(local, { model: 'v2-upstream' });
    const route = (w1: number, w2: number): string =>
      [
        'apiVersion: networking.serving.volcano.sh/v1alpha1',
        'kind: ModelRoute',
        'metadata:',
        '  name: canary',
        'spec:',
        '  modelName: canary',
        '  rules:',
        '  - name: tuned',
        '    modelMatch:',
        '      headers:',
        '        x-rule:',
        '          exact: tuned',
        '    targetModels:',
        `    - {modelServerName: v1-srv, weight: ${w1}}`,
        `    - {modelServerName: v2-srv, weight: ${w2}}`,
        '  - name: untouched',
        '    targetModels:',
        '    - {modelServerName: v1-srv, weight: 50}',
        '    - {modelServerName: v2-srv, weight: 50}',
      ].join('\n');
    const servers = [
      modelServer('v1-srv', { model: 'v1-upstream' }), podStub('v1-0', 'v1-srv', v1.port),
      modelServer('v2-srv', { model: 'v2-upstream' }), podStub('v2-0', 'v2-srv', v2.port),
    ];
    await writeYaml(local, 'servers.yaml', servers);
    await writeYaml(local, 'route.yaml', [route(70, 30)]);
    const { app } = await startWatchedRouter(local, [local.dir]);
    const tuned = client(app, { 'x-rule': 'tuned' });
    const untouched = client(app);
    const pick = async (c: typeof tuned): Promise<string> => (await c.completions.create({ model: 'canary', prompt: 'x' })).model.replace('-upstream', '');

    // Smooth WRR 70/30 goes v1 v2 v1 v1 v1 v2 v1 v1 v2 v1, 30/70 its mirror image (ties go to the first target).
    assert.deepEqual([await pick(tuned), await pick(tuned)], ['v1', 'v2']);
    assert.equal(await pick(untouched), 'v1');

    // Reloading an unrelated file keeps both rules where they were.
    let gen = generation(app);
    await writeYaml(local, 'servers.yaml', [...servers, '# touched']);
    await waitFor(() => generation(app) > gen, 5000, 'reload of servers.yaml');
    assert.equal(await pick(tuned), 'v1', 'the 70/30 sequence continues (3rd pick)');

    gen = generation(app);
    await writeYaml(local, 'route.yaml', [route(30, 70)]);
    await waitFor(() => generation(app) > gen, 5000, 'reload of the new weights');
    const fresh: string[] = [];
    for (let i = 0; i < 10; i++) fresh.push(await pick(tuned));
    assert.deepEqual(fresh, ['v2', 'v1', 'v2', 'v2', 'v1', 'v2', 'v2', 'v2', 'v1', 'v2'], 'the changed rule starts a fresh 30/70 sequence');
    assert.equal(await pick(untouched), 'v2', 'the untouched rule continues its alternation');
  });

  it('picks up editors\' write-temp-then-rename, in a watched directory and for a watched file', async (t) => {
    const local = await createEnv();
    t.after(() => local.cleanup());
    const mock = await startMock(local, { model: 'first-upstream' });
    const dirFile = await writeYaml(local, 'dir-config.yaml', backend('first', mock));
    const { app: dirApp } = await startWatchedRouter(local, [local.dir]);

    // vim/VS Code style: the new text goes to a hidden temp file, then replaces the config by rename.
    const replace = async (target: string, docs: string[]): Promise<void> => {
      const temp = join(local.dir, `.${Date.now()}.tmp`);
      await writeFile(temp, docs.join('\n---\n'));
      await rename(temp, target);
    };
    await replace(dirFile, [...backend('first', mock), simpleRoute('second', 'second', 'first-srv')]);
    await waitFor(() => dirApp.store.snapshot?.routesByModel.has('second') ?? false, 5000, 'route second (directory)');
    assert.equal((await client(dirApp).completions.create({ model: 'second', prompt: 'x' })).model, 'first-upstream');
    await dirApp.shutdown(1000);
    local.router = null;

    // --config naming one file: the watch must survive the file being replaced, more than once.
    const single = join(local.dir, 'single.yaml');
    const oneMock = await startMock(local, { model: 'one-upstream' });
    await writeFile(single, backend('one', oneMock).join('\n---\n'));
    await rm(dirFile);
    const { app } = await startWatchedRouter(local, [single]);
    const has = (model: string) => (): boolean => app.store.snapshot?.routesByModel.has(model) ?? false;
    for (const [i, name] of ['two', 'three', 'four'].entries()) {
      const docs = [...backend('one', oneMock), simpleRoute(name, name, 'one-srv')];
      if (i === 2) await writeFile(single, docs.join('\n---\n'));
      else await replace(single, docs);
      await waitFor(has(name), 5000, `route ${name} (single file, change ${i + 1})`);
      assert.equal((await client(app).completions.create({ model: name, prompt: 'x' })).model, 'one-upstream');
    }
    assert.equal(has('two')(), false, 'each replacement is the whole new state');
  });
});
