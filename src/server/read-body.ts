// Reads a request body into one Buffer, refusing bodies above the limit before reading them when possible.
import type { IncomingMessage } from 'node:http';

export type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too_large' | 'aborted' };

export function readBody(req: IncomingMessage, limit: number, done: (result: BodyResult) => void): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    done({ ok: false, reason: 'too_large' });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const settle = (result: BodyResult): void => {
    if (settled) return;
    settled = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onAbort);
    req.off('close', onClose);
    done(result);
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > limit) {
      settle({ ok: false, reason: 'too_large' });
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = (): void => settle({ ok: true, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size) });
  const onAbort = (): void => settle({ ok: false, reason: 'aborted' });
  const onClose = (): void => {
    if (!req.complete) onAbort();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onAbort);
  req.on('close', onClose);
}
