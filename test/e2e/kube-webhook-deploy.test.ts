// deploy/webhook/ (the admission webhook component) on a real API server: everything but cert-manager's objects is
// applied with kubectl (this control plane has no cert-manager, so those are checked statically: the caBundle
// injection names the Certificate, whose Secret the webhook Deployment mounts, for the Service's DNS name); the
// registered paths are exactly those `switchyard webhook` serves; and the registration as deployed, pointed at a
// `switchyard webhook` process started with the Deployment's own arguments, makes kubectl refuse an invalid object
// of each kind with Switchyard's message.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { WEBHOOK_PATHS } from '../../src/webhook/admission.ts';
import { KubeCluster, envtestBinaries } from '../support/kube-cluster.ts';
import { REPO_DIR, freePort, spawnCli, type CliProcess } from '../support/process.ts';

const binaries = envtestBinaries();
const GROUP = 'networking.serving.volcano.sh';

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  webhooks?: Webhook[];
}
interface Webhook {
  name: string;
  clientConfig: { service?: { name: string; namespace: string; port: number; path: string }; url?: string; caBundle?: string };
  rules: { apiGroups: string[]; resources: string[]; operations: string[] }[];
}
interface PodSpec {
  containers: { args: string[]; ports: { name: string; containerPort: number }[]; volumeMounts: { name: string; mountPath: string }[] }[];
  volumes: { name: string; secret?: { secretName: string } }[];
}

function find(manifests: readonly Manifest[], kind: string): Manifest {
  const found = manifests.find((m) => m.kind === kind);
  assert.ok(found, `deploy/webhook/ has a ${kind}`);
  return found;
}

function arg(args: readonly string[], name: string): string {
  const value = args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  assert.ok(value !== undefined, `the webhook container has --${name}=`);
  return value;
}

describe('deploy/webhook/ on a real API server', { skip: 'skip' in binaries ? binaries.skip : false }, () => {
  let cluster: KubeCluster;
  let manifests: Manifest[];
  let webhook: CliProcess | null = null;

  before(async () => {
    cluster = await KubeCluster.start((binaries as { dir: string }).dir);
    cluster.kubectl(['apply', '-k', join(REPO_DIR, 'deploy')]);
    cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    manifests = parseAllDocuments(cluster.kubectl(['kustomize', join(REPO_DIR, 'deploy/webhook')])).map((doc) => doc.toJS() as Manifest);
  });

  after(async () => {
    await webhook?.kill();
    await cluster?.stop();
  });

  it('applies with kubectl; only cert-manager\'s kinds need cert-manager', () => {
    const certManager = manifests.filter((m) => m.apiVersion.startsWith('cert-manager.io/'));
    assert.deepEqual(certManager.map((m) => m.kind).sort(), ['Certificate', 'Issuer']);
    // Server-side dry-run of the whole component: the API server refuses nothing but the kinds it does not know.
    const dry = cluster.kubectlResult(['apply', '--dry-run=server', '-k', join(REPO_DIR, 'deploy/webhook')]);
    const refused = dry.stderr.split('\n').filter((line) => line.trim() !== '' && line.trim() !== 'ensure CRDs are installed first');
    assert.equal(refused.length, 2, dry.stderr);
    for (const line of refused) assert.match(line, /no matches for kind "(Certificate|Issuer)" in version "cert-manager\.io\/v1"/);
    const rest = manifests.filter((m) => !certManager.includes(m));
    const out = cluster.kubectl(['apply', '-f', '-'], rest.map((m) => JSON.stringify(m)).join('\n'));
    for (const object of ['service/switchyard-webhook', 'deployment.apps/switchyard-webhook',
      'validatingwebhookconfiguration.admissionregistration.k8s.io/switchyard-validating-webhook']) {
      assert.match(out, new RegExp(`${object.replaceAll('.', '\\.')} created`));
    }
  });

  it('wires cert-manager: the injected CA is the Certificate\'s, whose Secret the webhook mounts, for the Service', () => {
    const issuer = find(manifests, 'Issuer');
    const certificate = find(manifests, 'Certificate');
    const service = find(manifests, 'Service');
    const deployment = find(manifests, 'Deployment');
    const registration = find(manifests, 'ValidatingWebhookConfiguration');
    const spec = certificate.spec as { secretName: string; dnsNames: string[]; issuerRef: { name: string; kind: string } };
    assert.equal(registration.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${certificate.metadata.namespace}/${certificate.metadata.name}`);
    assert.deepEqual(spec.issuerRef, { name: issuer.metadata.name, kind: 'Issuer' });
    assert.equal(issuer.metadata.namespace, certificate.metadata.namespace);
    for (const hook of registration.webhooks!) {
      assert.deepEqual(hook.clientConfig.service && { name: hook.clientConfig.service.name, namespace: hook.clientConfig.service.namespace },
        { name: service.metadata.name, namespace: service.metadata.namespace });
      assert.ok(spec.dnsNames.includes(`${service.metadata.name}.${service.metadata.namespace}.svc`), 'the name the API server calls');
    }
    const pod = (deployment.spec as { template: { spec: PodSpec } }).template.spec;
    const container = pod.containers[0];
    const volume = pod.volumes.find((v) => v.secret?.secretName === spec.secretName);
    assert.ok(volume, 'the Deployment mounts the Certificate\'s Secret');
    const mount = container.volumeMounts.find((m) => m.name === volume.name)!;
    assert.equal(arg(container.args, 'cert-file'), `${mount.mountPath}/tls.crt`);
    assert.equal(arg(container.args, 'key-file'), `${mount.mountPath}/tls.key`);
    // The Service reaches the port the webhook listens on.
    const servicePort = (service.spec as { ports: { port: number; targetPort: string }[] }).ports[0];
    assert.equal(container.ports.find((p) => p.name === servicePort.targetPort)?.containerPort, Number(arg(container.args, 'port')));
    for (const hook of registration.webhooks!) assert.equal(hook.clientConfig.service!.port, servicePort.port);
  });

  it('registers exactly the paths `switchyard webhook` serves, each for its own kind', () => {
    const hooks = find(manifests, 'ValidatingWebhookConfiguration').webhooks!;
    assert.deepEqual(hooks.map((h) => h.clientConfig.service!.path).sort(), Object.keys(WEBHOOK_PATHS).sort());
    for (const hook of hooks) {
      const kind = WEBHOOK_PATHS[hook.clientConfig.service!.path];
      assert.deepEqual(hook.rules.map((r) => [r.apiGroups, r.resources, r.operations]), [[[GROUP], [`${kind.toLowerCase()}s`], ['CREATE', 'UPDATE']]]);
    }
  });

  it('as registered, against `switchyard webhook` run with the Deployment\'s arguments, refuses an invalid object of each kind', async () => {
    const deployment = find(manifests, 'Deployment');
    const args = (deployment.spec as { template: { spec: PodSpec } }).template.spec.containers[0].args;
    // cert-manager's files, made here for 127.0.0.1 (the API server reaches the process on loopback, not the Service).
    const cert = join(cluster.dir, 'tls.crt');
    const key = join(cluster.dir, 'tls.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const port = await freePort();
    const local = args.map((a) => (a.startsWith('--cert-file=') ? `--cert-file=${cert}` : a.startsWith('--key-file=') ? `--key-file=${key}` : a.startsWith('--port=') ? `--port=${port}` : a));
    webhook = spawnCli([...local, '--host', '127.0.0.1']);
    await webhook.waitForOutput(/switchyard webhook listening/);

    // The registration the API server stored, with its service reference swapped for the loopback URL.
    const stored = JSON.parse(cluster.kubectl(['get', 'validatingwebhookconfiguration', 'switchyard-validating-webhook', '-o', 'json'])) as Manifest;
    const caBundle = execFileSync('base64', ['-w0', cert], { encoding: 'utf8' });
    for (const hook of stored.webhooks!) hook.clientConfig = { url: `https://127.0.0.1:${port}${hook.clientConfig.service!.path}`, caBundle };
    cluster.kubectl(['replace', '-f', '-'], JSON.stringify(stored));

    const object = (kind: string, spec: object) => JSON.stringify({ apiVersion: `${GROUP}/v1alpha1`, kind, metadata: { name: 'bad', namespace: 'default' }, spec });
    const invalid: [string, string, RegExp][] = [
      ['modelroute', object('ModelRoute', { modelName: 'm', rules: [{ modelMatch: { headers: { 'x-tier': { regex: '(' } } }, targetModels: [{ modelServerName: 's' }] }] }), /field spec\.rules\[0\]\.modelMatch\.headers\.x-tier\.regex/],
      ['modelserver', object('ModelServer', { workloadSelector: { matchLabels: { '-bad': 'x' } }, workloadPort: { port: 8000 }, inferenceEngine: 'vLLM' }), /field spec\.workloadSelector\.matchLabels/],
      ['externalmodelprovider', object('ExternalModelProvider', { providerType: 'OpenAI', baseURL: 'https://user:pw@api.example.com/v1' }), /field spec\.baseURL: must not contain user credentials/],
    ];
    for (const [name, yaml, message] of invalid) {
      // The API server may take a moment to pick up the replaced registration.
      let result = cluster.kubectlResult(['apply', '-f', '-'], yaml);
      for (let i = 0; i < 50 && !result.stderr.includes(`"${name}.switchyard.dev"`); i++) {
        cluster.kubectlResult(['delete', name, 'bad', '--ignore-not-found']);
        await new Promise((resolve) => setTimeout(resolve, 100));
        result = cluster.kubectlResult(['apply', '-f', '-'], yaml);
      }
      assert.notEqual(result.status, 0, `${name}: kubectl apply must fail`);
      assert.match(result.stderr, new RegExp(`admission webhook "${name}\\.switchyard\\.dev" denied the request: switchyard: `));
      assert.match(result.stderr, message);
    }
  });
});
