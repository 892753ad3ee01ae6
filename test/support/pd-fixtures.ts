// Fixtures for PD-disaggregation end-to-end tests: role mocks (prefill/decode, by group and connector), the seed's
// pdGroup labels, ModelServers with a kvConnector, and a raw-socket client that reads until the server closes, to see
// every byte the router ever writes on a connection.
import { connect } from 'node:net';
import type { MockEngineHandle, MockEngineOptions } from '../../src/mock-engine/index.ts';
import { startMock, type TestEnv } from './harness.ts';

export const GROUP_KEY = 'modelserving.volcano.sh/group-name';
export const ROLE_LABEL = 'modelserving.volcano.sh/rolename';
export type Connector = 'http' | 'lmcache' | 'nixl' | 'mooncake' | 'sglang';
export const CONNECTORS: readonly Connector[] = ['http', 'lmcache', 'nixl', 'mooncake', 'sglang'];

export interface PdPairMocks {
  readonly group: string;
  readonly prefill: MockEngineHandle;
  readonly decode: MockEngineHandle;
}

/** One prefill and one decode mock per group, named `${prefix}-${group}-prefill` / `-decode`. */
export async function startPdMocks(
  env: TestEnv,
  prefix: string,
  connector: Connector,
  groups: readonly string[],
  options: Partial<MockEngineOptions> & { model: string },
): Promise<PdPairMocks[]> {
  const engine = connector === 'sglang' ? 'sglang' : 'vllm';
  const kvConnector = connector === 'sglang' ? 'http' : connector;
  const out: PdPairMocks[] = [];
  for (const group of groups) {
    const common = { ...options, engine, kvConnector, group, bootstrapPort: 0 } as const;
    out.push({
      group,
      prefill: await startMock(env, { ...common, role: 'prefill', instanceName: `${prefix}-${group}-prefill` }),
      decode: await startMock(env, { ...common, role: 'decode', instanceName: `${prefix}-${group}-decode` }),
    });
  }
  return out;
}

/** A ModelServer with the seed's pdGroup labels; `connector` sglang means inferenceEngine SGLang without kvConnector. */
export function pdServer(
  name: string,
  connector: Connector,
  opts: { model?: string; timeout?: string; retry?: { attempts: number; interval?: string } } = {},
): string {
  const lines = [
    'apiVersion: networking.serving.volcano.sh/v1alpha1',
    'kind: ModelServer',
    'metadata:',
    `  name: ${name}`,
    '  namespace: default',
    'spec:',
    '  workloadSelector:',
    '    matchLabels:',
    `      app: ${name}`,
    '    pdGroup:',
    `      groupKey: "${GROUP_KEY}"`,
    '      prefillLabels:',
    `        ${ROLE_LABEL}: "P-instance"`,
    '      decodeLabels:',
    `        ${ROLE_LABEL}: "D-instance"`,
    '  workloadPort:',
    '    port: 8000',
    `  inferenceEngine: ${connector === 'sglang' ? 'SGLang' : 'vLLM'}`,
  ];
  if (opts.model !== undefined) lines.push(`  model: "${opts.model}"`);
  if (connector !== 'sglang') lines.push('  kvConnector:', `    type: ${connector}`);
  if (opts.timeout !== undefined || opts.retry !== undefined) {
    lines.push('  trafficPolicy:');
    if (opts.timeout !== undefined) lines.push(`    timeout: ${opts.timeout}`);
    if (opts.retry !== undefined) {
      lines.push('    retry:', `      attempts: ${opts.retry.attempts}`);
      if (opts.retry.interval !== undefined) lines.push(`      retryInterval: ${opts.retry.interval}`);
    }
  }
  return lines.join('\n');
}

/** A Pod stub for a PD role: labels app, group and role; port and bootstrap-port annotations. */
export function pdPod(name: string, app: string, role: 'prefill' | 'decode', group: string | null, port: number, bootstrapPort?: number | null): string {
  const lines = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    `  name: ${name}`,
    '  namespace: default',
    '  labels:',
    `    app: ${app}`,
    `    ${ROLE_LABEL}: ${role === 'prefill' ? 'P-instance' : 'D-instance'}`,
  ];
  if (group !== null) lines.push(`    ${GROUP_KEY}: ${group}`);
  lines.push('  annotations:', `    switchyard.dev/port: "${port}"`);
  if (bootstrapPort !== undefined && bootstrapPort !== null) lines.push(`    switchyard.dev/bootstrap-port: "${bootstrapPort}"`);
  lines.push('status:', '  podIP: 127.0.0.1');
  return lines.join('\n');
}

/** Pod stubs for the mocks of startPdMocks, selected by ModelServer `app`, named `${namePrefix}${instanceName}`. */
export function pdPods(app: string, pairs: readonly PdPairMocks[], namePrefix = ''): string[] {
  return pairs.flatMap(({ group, prefill, decode }) => [
    pdPod(`${namePrefix}${prefill.instanceName}`, app, 'prefill', group, prefill.port, prefill.bootstrapPort),
    pdPod(`${namePrefix}${decode.instanceName}`, app, 'decode', group, decode.port),
  ]);
}

export interface ConnectionBytes {
  /** Everything the server sent on the connection, until it closed it. */
  readonly raw: string;
  /** How many HTTP status lines the server sent. */
  readonly responses: number;
  readonly status: number;
  /** The body of the (only) response, chunked coding removed; `complete` when its terminating chunk arrived. */
  readonly body: string;
  readonly complete: boolean;
  /** Bytes after the end of the first response. */
  readonly trailing: string;
}

/**
 * POSTs `body` with `connection: close` over a raw socket and reads until the server closes the connection, so a
 * second response (or any byte after the first one) would show.
 */
export function postAndReadAll(url: string, path: string, body: object, timeoutMs = 10_000): Promise<ConnectionBytes> {
  const { hostname, port } = new URL(url);
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${timeoutMs} ms: ${Buffer.concat(chunks).toString('latin1')}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined); // a reset after the response still shows in what was read
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseConnection(Buffer.concat(chunks).toString('latin1')));
    });
    socket.write(
      `POST ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\ncontent-type: application/json\r\nconnection: close\r\n` +
        `content-length: ${payload.length}\r\n\r\n`,
    );
    socket.write(payload);
  });
}

function parseConnection(raw: string): ConnectionBytes {
  const responses = raw.match(/(^|\r\n)HTTP\/1\.[01] \d{3} /g)?.length ?? 0;
  const headEnd = raw.indexOf('\r\n\r\n');
  const head = headEnd < 0 ? raw : raw.slice(0, headEnd);
  const status = Number(head.split(' ')[1]);
  const rest = headEnd < 0 ? '' : raw.slice(headEnd + 4);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length !== null) {
    const n = Number(length[1]);
    return { raw, responses, status, body: rest.slice(0, n), complete: rest.length >= n, trailing: rest.slice(n) };
  }
  // Chunked: decode up to the terminating chunk.
  let pos = 0;
  let body = '';
  while (true) {
    const lineEnd = rest.indexOf('\r\n', pos);
    if (lineEnd < 0) return { raw, responses, status, body, complete: false, trailing: '' };
    const size = parseInt(rest.slice(pos, lineEnd), 16);
    if (Number.isNaN(size)) return { raw, responses, status, body, complete: false, trailing: rest.slice(pos) };
    if (size === 0) return { raw, responses, status, body, complete: true, trailing: rest.slice(lineEnd + 4) };
    body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    pos = lineEnd + 2 + size + 2;
  }
}
