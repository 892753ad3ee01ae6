// The "best raw Node loop" of shared/reference/proxy-performance.md, for `npm run bench -- --raw-node`: node:http
// server + one undici Pool per backend, forwarding the original body bytes with Pool.dispatch() and a small handler
// (an event stream's chunks go to the client's socket directly with their chunk framing, as Switchyard's do).
// It parses the body once to pick the backend by `model` and does nothing else (no headers rewrite, no usage
// accounting, no timeouts, no retries), so it shows the ceiling a Node proxy reaches on this machine and this
// Node/undici version; Switchyard's distance to it is the cost of its own per-request work.
//
// Usage: node bench/proxy/raw-node-proxy.ts PORT MODEL=ORIGIN [MODEL=ORIGIN ...]
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Pool, type Dispatcher } from 'undici';

const [portText, ...routes] = process.argv.slice(2);
const pools = new Map<string, Pool>();
for (const route of routes) {
  const at = route.indexOf('=');
  pools.set(route.slice(0, at), new Pool(route.slice(at + 1), { connections: 256, pipelining: 1, headersTimeout: 0, bodyTimeout: 300_000 }));
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection']);

class Forward implements Dispatcher.DispatchHandler {
  private readonly res: ServerResponse;
  /** An event stream's socket once its head is out: events are chunk-framed here and written to it directly. */
  private socket: Socket | null = null;
  constructor(res: ServerResponse) {
    this.res = res;
  }
  onRequestStart(): void {
    // undici 8 requires the method; nothing to do here.
  }
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    const out: OutgoingHttpHeaders = {};
    for (const name in headers) if (!HOP_BY_HOP.has(name)) out[name] = headers[name];
    this.res.writeHead(statusCode, out);
    if (String(headers['content-type']).startsWith('text/event-stream')) {
      this.res.flushHeaders();
      if (this.res.chunkedEncoding) this.socket = this.res.socket;
    }
    this.res.on('drain', () => controller.resume());
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const socket = this.socket;
    if (socket !== null) {
      // As Switchyard does (exchange.ts): one write per event instead of res.write's cork, framing and uncork.
      const head = `${chunk.length.toString(16)}\r\n`;
      const out = Buffer.allocUnsafe(head.length + chunk.length + 2);
      out.write(head, 0, 'latin1');
      chunk.copy(out, head.length);
      out[out.length - 2] = 13;
      out[out.length - 1] = 10;
      if (!socket.write(out)) {
        controller.pause();
        socket.once('drain', () => controller.resume());
      }
      return;
    }
    if (!this.res.write(chunk)) controller.pause();
  }
  onResponseEnd(): void {
    this.res.end();
  }
  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.res.headersSent) this.res.destroy(error);
    else this.res.writeHead(502).end();
  }
}

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'); // health / readiness
      return;
    }
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const pool = pools.get((JSON.parse(body.toString('utf8')) as { model?: string }).model ?? '');
    if (pool === undefined) {
      res.writeHead(404).end();
      return;
    }
    pool.dispatch(
      { path: req.url ?? '/', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(body.length) }, body },
      new Forward(res),
    );
  });
}).listen(Number(portText), '127.0.0.1');

// Exit normally on SIGTERM, so that --cpu-prof, when given, writes its profile.
process.once('SIGTERM', () => process.exit(0));
