// The admission webhook registered with a real API server: `kubectl apply` of a ModelRoute that the CRD schema
// accepts but the router's validation does not (a regex RE2 cannot compile) is refused with Switchyard's message;
// a valid one goes through.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startWebhookServer } from '../../src/webhook/webhook-server.ts';
import { KubeCluster, envtestBinaries } from '../support/kube-cluster.ts';

const binaries = envtestBinaries();

function route(name: string, regex: string): string {
  return JSON.stringify({
    apiVersion: 'networking.serving.volcano.sh/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name, namespace: 'default' },
    spec: { modelName: name, rules: [{ modelMatch: { headers: { 'x-tier': { regex } } }, targetModels: [{ modelServerName: 's' }] }] },
  });
}

describe('switchyard webhook registered with a real API server', { skip: 'skip' in binaries ? binaries.skip : false }, () => {
  let cluster: KubeCluster;
  let server: Server;
  const reviews: string[] = [];

  before(async () => {
    cluster = await KubeCluster.start((binaries as { dir: string }).dir);
    cluster.kubectl(['apply', '-f', 'deploy/crds/']);
    cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    // A serving certificate for 127.0.0.1, as cert-manager would hand it over in files.
    const cert = join(cluster.dir, 'webhook.crt');
    const key = join(cluster.dir, 'webhook.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const started = await startWebhookServer({
      cert: readFileSync(cert, 'utf8'),
      key: readFileSync(key, 'utf8'),
      onReview: (path, allowed) => reviews.push(`${path} ${allowed}`),
    }, 0, '127.0.0.1');
    server = started.server;
    const caBundle = readFileSync(cert).toString('base64');
    const webhook = (kind: string, plural: string) => ({
      name: `${kind}.switchyard.dev`,
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Fail',
      clientConfig: { url: `https://127.0.0.1:${started.port}/validate/${kind}`, caBundle },
      rules: [{ apiGroups: ['networking.serving.volcano.sh'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE'], resources: [plural] }],
    });
    cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'switchyard-validating-webhook' },
      webhooks: [webhook('modelroute', 'modelroutes'), webhook('modelserver', 'modelservers'), webhook('externalmodelprovider', 'externalmodelproviders')],
    }));
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await cluster?.stop();
  });

  it('refuses an invalid ModelRoute with the router\'s own message and admits a valid one', async () => {
    // The API server may take a moment to pick up a new webhook configuration.
    // kubectl runs asynchronously: the webhook answering it is in this process.
    let refused = await cluster.kubectlAsync(['apply', '-f', '-'], route('bad', '('));
    for (let i = 0; i < 50 && refused.status === 0; i++) {
      await cluster.kubectlAsync(['delete', 'modelroute', 'bad', '--ignore-not-found']);
      await new Promise((resolve) => setTimeout(resolve, 100));
      refused = await cluster.kubectlAsync(['apply', '-f', '-'], route('bad', '('));
    }
    assert.notEqual(refused.status, 0, 'kubectl apply must fail');
    assert.match(refused.stderr, /admission webhook "modelroute\.switchyard\.dev" denied the request: switchyard: ModelRoute default\/bad: field spec\.rules\[0\]\.modelMatch\.headers\.x-tier\.regex: /);
    assert.equal(cluster.kubectlResult(['get', 'modelroute', 'bad']).status, 1, 'nothing was stored');

    const good = await cluster.kubectlAsync(['apply', '-f', '-'], route('good', '^premium$'));
    assert.equal(good.status, 0, good.stderr);
    assert.ok(reviews.includes('/validate/modelroute true') && reviews.includes('/validate/modelroute false'));
  });
});
