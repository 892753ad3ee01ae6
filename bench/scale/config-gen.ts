// The large configuration of `npm run bench:scale`, as the YAML files an operator would apply: `servers`
// ModelServers (each selecting its `podsPerServer` Pod stubs by an `app` label), one ModelRoute per ModelServer,
// and the Pod stubs, split over several files the way a config directory would hold them.
//
// Route i: modelName model-i; every 5th route also serves two LoRA adapters (lora-i-a, lora-i-b). Rules, tried in
// order: tenant (header x-tenant exact t-i) → server i; beta (header x-beta regex ^on, uri prefix /v1/chat) →
// server i+1; default → 90/10 between server i and server i+1. Every 10th ModelServer has a trafficPolicy.

export interface ScaleConfigSpec {
  readonly servers: number;
  readonly podsPerServer: number;
  /** Pod stubs per pods-NN.yaml file. */
  readonly podsPerFile: number;
}

export interface ConfigFile {
  readonly file: string;
  text: string;
}

export const API = 'networking.serving.volcano.sh/v1alpha1';

export function podIp(k: number): string {
  const n = k + 1;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

export function routeYaml(i: number, servers: number, defaultWeight = 90): string {
  const next = (i + 1) % servers;
  const lora = i % 5 === 0 ? `\n  loraAdapters: [lora-${i}-a, lora-${i}-b]` : '';
  return `apiVersion: ${API}
kind: ModelRoute
metadata: {name: route-${i}, namespace: default}
spec:
  modelName: model-${i}${lora}
  rules:
  - name: tenant
    modelMatch: {headers: {x-tenant: {exact: t-${i}}}}
    targetModels: [{modelServerName: ms-${i}}]
  - name: beta
    modelMatch: {headers: {x-beta: {regex: "^on"}}, uri: {prefix: /v1/chat}}
    targetModels: [{modelServerName: ms-${next}}]
  - name: default
    targetModels: [{modelServerName: ms-${i}, weight: ${defaultWeight}}, {modelServerName: ms-${next}, weight: ${100 - defaultWeight}}]
`;
}

function serverYaml(i: number): string {
  const policy = i % 10 === 0 ? '\n  trafficPolicy: {timeout: 60s, retry: {attempts: 2, retryInterval: 100ms}}' : '';
  return `apiVersion: ${API}
kind: ModelServer
metadata: {name: ms-${i}, namespace: default}
spec:
  workloadSelector: {matchLabels: {app: ms-${i}}}
  workloadPort: {port: 8000}
  model: "org/model-${i}"
  inferenceEngine: vLLM${policy}
`;
}

function podYaml(server: number, j: number, k: number): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ms-${server}-pod-${j}
  namespace: default
  labels: {app: ms-${server}, pod-template-hash: h${server % 97}}
status:
  podIP: ${podIp(k)}
  phase: Running
  conditions: [{type: Ready, status: "True"}]
`;
}

export function generateConfig(spec: ScaleConfigSpec): ConfigFile[] {
  const files: ConfigFile[] = [];
  files.push({ file: 'servers.yaml', text: Array.from({ length: spec.servers }, (_, i) => serverYaml(i)).join('---\n') });
  files.push({ file: 'routes.yaml', text: Array.from({ length: spec.servers }, (_, i) => routeYaml(i, spec.servers)).join('---\n') });
  const pods: string[] = [];
  for (let i = 0; i < spec.servers; i++) for (let j = 0; j < spec.podsPerServer; j++) pods.push(podYaml(i, j, i * spec.podsPerServer + j));
  for (let f = 0; f * spec.podsPerFile < pods.length; f++) {
    files.push({ file: `pods-${String(f).padStart(2, '0')}.yaml`, text: pods.slice(f * spec.podsPerFile, (f + 1) * spec.podsPerFile).join('---\n') });
  }
  return files;
}
