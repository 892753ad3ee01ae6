// Keeps the listener's open connections under a cap without letting anyone who holds connections open starve real
// clients: when a new connection takes the count over the cap, the connections that have done least for longest —
// still sending their request (slow headers or body) or idle between requests — are closed first, oldest first,
// down to 95% of the cap. A request whose body has arrived (it is being answered, streams included) is never
// closed. The cap is the smaller of --max-connections and what the file-descriptor limit leaves for client
// sockets once every proxied request has its upstream socket.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';

/** Descriptors kept for listeners, config files, watchers, logs and the engines' scrapes. */
const RESERVED_DESCRIPTORS = 128;
const LOW_WATER = 0.95;

/** The soft RLIMIT_NOFILE of this process (Node raises it to the hard limit at start), or null when unknown. */
export function fileDescriptorLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8'); // once, at start-up
    } catch {
      return null;
    }
  }
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (match === null || match[1] === 'unlimited') return null;
  return Number(match[1]);
}

/** Client connections the router can hold: each may need one upstream socket too. */
export function connectionCap(maxConnections: number, fdLimit: number | null): number {
  if (fdLimit === null) return maxConnections;
  return Math.max(1, Math.min(maxConnections, Math.floor((fdLimit - RESERVED_DESCRIPTORS) / 2)));
}

interface ConnectionState {
  /** When the connection last became unproductive: its opening, or the end of its last response. */
  since: number;
  req: IncomingMessage | null;
  res: ServerResponse | null;
}

const STATE = Symbol('connectionState');
const NO_REQUEST = Object.freeze({ req: null, res: null });
interface GuardedSocket extends Socket {
  [STATE]: ConnectionState;
}

export class ConnectionGuard {
  readonly cap: number;
  private readonly open = new Set<GuardedSocket>();
  private readonly onShed: (closed: number, open: number) => void;
  /** Connections closed by the guard since start. */
  shed = 0;

  constructor(server: Server, cap: number, onShed: (closed: number, open: number) => void) {
    this.cap = cap;
    this.onShed = onShed;
    server.on('connection', this.onConnection);
    // Over TLS the requests come on the TLS socket: it shares the state of the TCP connection it wraps.
    server.on('secureConnection', this.onSecureConnection);
  }

  get openConnections(): number {
    return this.open.size;
  }

  /** The connection's request (its headers are in) is being handled by `res`. */
  requestStarted(req: IncomingMessage, res: ServerResponse): void {
    const state = (req.socket as Partial<GuardedSocket>)[STATE];
    if (state === undefined) return;
    state.req = req;
    state.res = res;
  }

  /** The request and response in progress on `socket`, if any. */
  current(socket: Duplex): { req: IncomingMessage | null; res: ServerResponse | null } {
    const state = (socket as Partial<GuardedSocket>)[STATE];
    return state === undefined ? NO_REQUEST : state;
  }

  /** `res` closed: its connection is idle (or gone). */
  responseClosed(res: ServerResponse): void {
    const state = (res.req.socket as Partial<GuardedSocket> | null)?.[STATE];
    if (state === undefined || state.res !== res) return;
    state.res = null;
    state.since = performance.now();
  }

  private readonly onConnection = (socket: Socket): void => {
    const guarded = socket as GuardedSocket;
    guarded[STATE] = { since: performance.now(), req: null, res: null };
    this.open.add(guarded);
    socket.once('close', () => this.open.delete(guarded));
    if (this.open.size > this.cap) this.shedDown(guarded);
  };

  private readonly onSecureConnection = (socket: TLSSocket): void => {
    const raw = (socket as TLSSocket & { _parent?: Partial<GuardedSocket> | null })._parent;
    const state = raw?.[STATE];
    if (state !== undefined) (socket as unknown as GuardedSocket)[STATE] = state;
  };

  /** The responses being written now, one per connection (HTTP/1.1 answers a connection's requests in turn). */
  responsesInFlight(): ServerResponse[] {
    const responses: ServerResponse[] = [];
    for (const socket of this.open) {
      const res = socket[STATE].res;
      if (res !== null) responses.push(res);
    }
    return responses;
  }

  private shedDown(newest: GuardedSocket): void {
    const candidates: GuardedSocket[] = [];
    for (const socket of this.open) if (socket !== newest && unproductive(socket[STATE])) candidates.push(socket);
    candidates.sort((a, b) => a[STATE].since - b[STATE].since);
    const excess = this.open.size - Math.floor(this.cap * LOW_WATER);
    let closed = 0;
    for (const socket of candidates.slice(0, excess)) {
      socket.destroy();
      this.open.delete(socket);
      closed++;
    }
    if (this.open.size > this.cap) {
      // Every other connection carries a request being answered: this one cannot be served without harming them.
      newest.destroy();
      this.open.delete(newest);
      closed++;
    }
    this.shed += closed;
    this.onShed(closed, this.open.size);
  }
}

/** Idle between requests, or still sending its request: nothing is being answered on it. */
function unproductive(state: ConnectionState): boolean {
  if (state.res === null) return true;
  return state.req !== null && !state.req.complete && !state.res.headersSent;
}
