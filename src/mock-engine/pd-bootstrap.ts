// The bootstrap server of an SGLang-style prefill instance: its own HTTP listener (SGLang's
// --disaggregation-bootstrap-port, 8998 by default) where a decode instance meets the prefill of its bootstrap_room.
//   GET /bootstrap/claim?room=R&group=G&prompt=H&decode=NAME
//     waits until the prefill publishes room R (or pdTimeoutMs passes: 404), then answers 200 {"prefill","group"};
//     403 when the decode is of another PD group, 409 when its prompt is not the one prefilled for R.
// A room is handed over once; a prefill whose room nobody claims within pdTimeoutMs fails its request.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorBody } from './http-io.ts';

interface Published {
  readonly prompt: string;
  readonly claimed: (decode: string) => void;
}

interface Waiter {
  readonly res: ServerResponse;
  readonly prompt: string;
  readonly decode: string;
  readonly timer: NodeJS.Timeout | null;
}

export type PublishResult = { readonly decode: string } | { readonly timedOut: true } | { readonly aborted: true };

export class BootstrapServer {
  private readonly server: Server;
  private readonly instance: string;
  private readonly group: string | null;
  private readonly timeoutMs: number;
  private readonly published = new Map<number, Published>();
  private readonly waiting = new Map<number, Waiter[]>();
  /** Claims refused (other group, other prompt, room never published). */
  claimsRefused = 0;
  port = 0;

  constructor(instance: string, group: string | null, timeoutMs: number) {
    this.instance = instance;
    this.group = group;
    this.timeoutMs = timeoutMs;
    this.server = createServer((req, res) => this.handle(req, res));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  /** The prefill computed room `room`: waits for its decode. */
  publish(room: number, prompt: string, signal: AbortSignal): Promise<PublishResult> {
    if (this.published.has(room)) return Promise.reject(new Error(`bootstrap_room ${room} is already waiting for its decode`));
    return new Promise((resolve) => {
      const settle = (result: PublishResult): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (this.published.get(room) === entry) this.published.delete(room);
        resolve(result);
      };
      const timer = setTimeout(() => settle({ timedOut: true }), this.timeoutMs);
      const onAbort = (): void => settle({ aborted: true });
      const entry: Published = { prompt, claimed: (decode) => settle({ decode }) };
      signal.addEventListener('abort', onAbort, { once: true });
      this.published.set(room, entry);
      // A decode may have arrived first.
      const queue = this.waiting.get(room) ?? [];
      while (queue.length > 0 && this.published.get(room) === entry) this.match(room, entry, queue.shift()!);
      if (queue.length === 0) this.waiting.delete(room);
    });
  }

  close(): Promise<void> {
    for (const queue of this.waiting.values()) for (const waiter of queue) if (waiter.timer !== null) clearTimeout(waiter.timer);
    this.waiting.clear();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://bootstrap');
    if (req.method !== 'GET' || url.pathname !== '/bootstrap/claim') return this.answer(res, 404, errorBody(404, 'Not Found'));
    const room = Number(url.searchParams.get('room'));
    const group = url.searchParams.get('group');
    const prompt = url.searchParams.get('prompt') ?? '';
    const decode = url.searchParams.get('decode') ?? 'a decode instance';
    if (!Number.isSafeInteger(room) || room < 0) return this.refuse(res, 400, 'room must be a non-negative integer.');
    if ((group ?? null) !== this.group) {
      return this.refuse(res, 403, `Prefill ${this.instance} is in PD group ${JSON.stringify(this.group)}; ${decode} of group ${JSON.stringify(group)} may not take its KV.`);
    }
    const entry = this.published.get(room);
    if (entry !== undefined) return this.match(room, entry, { res, prompt, decode, timer: null });
    const timer = setTimeout(() => {
      this.dropWaiter(room, waiter);
      this.refuse(res, 404, `No prefill request with bootstrap_room ${room} reached prefill ${this.instance} within ${this.timeoutMs} ms.`);
    }, this.timeoutMs);
    const waiter: Waiter = { res, prompt, decode, timer };
    const queue = this.waiting.get(room);
    if (queue === undefined) this.waiting.set(room, [waiter]);
    else queue.push(waiter);
    // The decode gave up (its own request was cancelled): it no longer waits.
    res.once('close', () => {
      clearTimeout(timer);
      this.dropWaiter(room, waiter);
    });
  }

  private match(room: number, entry: Published, waiter: Waiter): void {
    if (waiter.timer !== null) clearTimeout(waiter.timer);
    if (waiter.res.destroyed) return;
    if (waiter.prompt !== entry.prompt) {
      this.refuse(waiter.res, 409, `bootstrap_room ${room} of prefill ${this.instance} holds the KV of another prompt than ${waiter.decode}'s.`);
      return;
    }
    this.answer(waiter.res, 200, { prefill: this.instance, group: this.group, room });
    entry.claimed(waiter.decode);
  }

  private dropWaiter(room: number, waiter: Waiter): void {
    const queue = this.waiting.get(room);
    if (queue === undefined) return;
    const at = queue.indexOf(waiter);
    if (at >= 0) queue.splice(at, 1);
    if (queue.length === 0) this.waiting.delete(room);
  }

  private refuse(res: ServerResponse, status: number, message: string): void {
    this.claimsRefused++;
    this.answer(res, status, errorBody(status, message));
  }

  private answer(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent || res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}
