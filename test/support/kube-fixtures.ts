// Pods and routes for the Kubernetes-mode tests: the test plays the kubelet by writing Pod status through the
// status subresource; mock engines on loopback stand in for pod IPs (port from the switchyard.dev/port annotation).
import type { KubeCluster } from './kube-cluster.ts';

export function createPod(cluster: KubeCluster, name: string, labels: Record<string, string>, port: number, namespace = 'default'): void {
  cluster.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels, annotations: { 'switchyard.dev/port': String(port) } },
    spec: { containers: [{ name: 'engine', image: 'vllm/vllm-openai:latest' }] },
  }));
}

/** What the kubelet reports: Running with an IP and Ready=True (or False). */
export function setPodStatus(cluster: KubeCluster, name: string, ready: boolean, namespace = 'default'): void {
  const status = {
    phase: 'Running',
    podIP: '127.0.0.1',
    podIPs: [{ ip: '127.0.0.1' }],
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }],
  };
  cluster.kubectl(['patch', 'pod', name, '-n', namespace, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
}

export function routeYaml(name: string, modelName: string, server: string, namespace = 'default'): string {
  return JSON.stringify({
    apiVersion: 'networking.serving.volcano.sh/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name, namespace },
    spec: { modelName, rules: [{ targetModels: [{ modelServerName: server }] }] },
  });
}

export function serverYaml(name: string, app: string, model: string, namespace = 'default'): string {
  return JSON.stringify({
    apiVersion: 'networking.serving.volcano.sh/v1alpha1',
    kind: 'ModelServer',
    metadata: { name, namespace },
    spec: { workloadSelector: { matchLabels: { app } }, workloadPort: { port: 8000 }, model, inferenceEngine: 'vLLM' },
  });
}
