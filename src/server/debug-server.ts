// The debug listener, bound to 127.0.0.1 only (--debug-port, default 15000; Kthena's localhost:15000):
//   GET  /debug/config_dump/{modelroutes,modelservers,pods}
//   GET  /debug/config_dump/namespaces/:ns/{modelroutes,modelservers,pods}/:name
//   POST /debug/explain   {"path","headers","body"} → the routing decision the router would make now (explain.ts)
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PathPolicy } from '../routing/path-policy.ts';
import type { PodPicker } from '../scheduling/pod-picker.ts';
import type { SnapshotStore } from '../snapshot/snapshot-store.ts';
import { dumpList, dumpOne, KIND_NAMES, type DumpKind, type DumpSources } from './config-dump.ts';
import { explainRequest } from './explain.ts';
import { closeServer, listen } from './metrics-server.ts';
import { readBody } from './read-body.ts';

export const DEBUG_HOST = '127.0.0.1';
const MAX_EXPLAIN_BODY = 16 * 1024 * 1024;
const DUMP_PREFIX = '/debug/config_dump/';
const LOOPBACK_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?$/i;
const KINDS: ReadonlySet<string> = new Set(Object.keys(KIND_NAMES));

export interface DebugServerDeps extends DumpSources {
  readonly store: SnapshotStore;
  readonly picker: PodPicker;
  readonly pathPolicy: PathPolicy;
}

export class DebugServer {
  readonly server: Server;
  private readonly deps: DebugServerDeps;

  constructor(deps: DebugServerDeps) {
    this.deps = deps;
    this.server = createServer((req, res) => {
      // A page in a browser on this machine can reach 127.0.0.1 under its own name (DNS rebinding): only loopback names.
      if (!LOOPBACK_HOST.test(req.headers.host ?? '')) return json(res, 403, { error: 'the debug server answers only Host 127.0.0.1, localhost or [::1]' });
      try {
        this.dispatch(req, res);
      } catch (err) {
        json(res, 500, { error: `internal error: ${(err as Error).message}` });
      }
    });
  }

  /** Listens on 127.0.0.1 only: the endpoints show the whole configuration and must not be reachable from outside. */
  listen(port: number): Promise<AddressInfo> {
    return listen(this.server, port, DEBUG_HOST);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    if (path === '/debug/explain') {
      if (req.method !== 'POST') return json(res, 405, { error: 'POST /debug/explain with {"path","headers","body"}' });
      return this.explain(req, res);
    }
    if (req.method !== 'GET' || !path.startsWith(DUMP_PREFIX)) return json(res, 404, { error: 'not found' });
    const parts = path.slice(DUMP_PREFIX.length).split('/').map(decode);
    const snapshot = this.deps.store.snapshot;
    if (parts.length === 1 && KINDS.has(parts[0])) return json(res, 200, dumpList(parts[0] as DumpKind, snapshot, this.deps));
    if (parts.length === 4 && parts[0] === 'namespaces' && KINDS.has(parts[2])) {
      const [, namespace, kind, name] = parts;
      if (namespace === '' || name === '') return json(res, 400, { error: 'namespace and name parameters are required' });
      const found = dumpOne(kind as DumpKind, namespace, name, snapshot, this.deps);
      return found === null ? json(res, 404, { error: `${KIND_NAMES[kind as DumpKind]} not found` }) : json(res, 200, found);
    }
    json(res, 404, { error: 'not found' });
  }

  private explain(req: IncomingMessage, res: ServerResponse): void {
    readBody(req, MAX_EXPLAIN_BODY, (result) => {
      if (!result.ok) {
        if (result.reason === 'too_large') json(res, 413, { error: `body larger than ${MAX_EXPLAIN_BODY} bytes` });
        return;
      }
      let input: unknown;
      try {
        input = JSON.parse(result.body.toString('utf8'));
      } catch {
        return json(res, 400, { error: 'the body is not valid JSON' });
      }
      void Promise.resolve(explainRequest(this.deps, input)).then((explained) => {
        if (explained.ok) json(res, 200, explained.explanation);
        else json(res, 400, { error: explained.message });
      });
    });
  }
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
