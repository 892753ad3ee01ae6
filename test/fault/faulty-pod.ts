// A pod that misbehaves on purpose, on a raw loopback socket: the request's x-fault header picks the fault.
//   never            accepts and reads the request, never answers
//   close-headers    sends a 200 head promising a JSON body, then closes
//   malformed        sends a 200 head with chunked framing, then bytes that are no chunk
//   garbage-stream   sends an SSE head and one event, then broken chunk framing
//   stall            sends an SSE head and one event, then nothing (the connection stays open)
//   stall-body       sends a JSON head promising 100 bytes and 10 of them, then nothing
//   gzip-sse         gzips an SSE answer (with a usage event) although the router asked for identity
//   huge             a 200 JSON body of HUGE_BODY_BYTES
import { createServer, type Server, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';

export const HUGE_BODY_BYTES = 32 * 1024 * 1024;

export interface FaultyPod {
  readonly port: number;
  /** Sockets accepted so far. */
  readonly accepted: () => number;
  close(): Promise<void>;
}

const SSE_HEAD = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n';
const EVENT = 'data: {"id":"c1","object":"text_completion","choices":[{"index":0,"text":"hi","finish_reason":null}]}\n\n';
const USAGE_EVENT = 'data: {"id":"c1","object":"text_completion","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":7,"total_tokens":10}}\n\n';

const chunk = (text: string | Buffer): string | Buffer => {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
};

function act(socket: Socket, fault: string): void {
  switch (fault) {
    case 'never':
      return;
    case 'close-headers':
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n');
      return;
    case 'malformed':
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nZZZ not a chunk\r\n\r\nHTTP/1.1 400 Bad\r\n\r\n');
      return;
    case 'garbage-stream':
      socket.write(SSE_HEAD);
      socket.write(chunk(EVENT));
      setTimeout(() => socket.end('ZZZ not a chunk\r\nHTTP/1.1 500 Oops\r\n\r\n'), 50);
      return;
    case 'stall':
      socket.write(SSE_HEAD);
      socket.write(chunk(EVENT));
      return;
    case 'stall-body':
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"id":"x",');
      return;
    case 'gzip-sse': {
      const body = gzipSync(`${EVENT}${USAGE_EVENT}data: [DONE]\n\n`);
      socket.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n'), Buffer.from(`content-length: ${body.length}\r\n\r\n`), body]));
      return;
    }
    case 'huge': {
      const body = Buffer.alloc(HUGE_BODY_BYTES, 0x20);
      body.write('{"id":"x","choices":[],"pad":"', 0);
      body.write('"}', HUGE_BODY_BYTES - 2);
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${HUGE_BODY_BYTES}\r\n\r\n`);
      socket.end(body);
      return;
    }
    default:
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}');
  }
}

/** Reads one request (head and content-length body), then acts out its x-fault. */
function serve(socket: Socket): void {
  let buffered = Buffer.alloc(0);
  socket.on('error', () => undefined);
  const onData = (data: Buffer): void => {
    buffered = Buffer.concat([buffered, data]);
    const headEnd = buffered.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = buffered.toString('latin1', 0, headEnd);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (buffered.length < headEnd + 4 + length) return;
    socket.off('data', onData);
    act(socket, /\r\nx-fault:\s*([\w-]+)/i.exec(head)?.[1] ?? 'ok');
  };
  socket.on('data', onData);
}

export async function startFaultyPod(): Promise<FaultyPod> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serve(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    accepted: () => accepted,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
