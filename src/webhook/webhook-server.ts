// The admission webhook's HTTPS listener: POST an AdmissionReview to one of WEBHOOK_PATHS, get one back.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { review, WEBHOOK_PATHS, type AdmissionReview } from './admission.ts';

/** AdmissionReviews are small; the API server caps objects at a few MB. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface WebhookServerOptions {
  readonly cert: string;
  readonly key: string;
  readonly onReview?: (path: string, allowed: boolean, message?: string) => void;
}

export function startWebhookServer(options: WebhookServerOptions, port: number, host: string): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert: options.cert, key: options.key }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (status: number, body: object): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    };
    if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) return answer(200, { status: 'ok' });
    if (req.method !== 'POST' || !Object.hasOwn(WEBHOOK_PATHS, path)) {
      return answer(404, { error: { message: `no webhook at ${req.method ?? ''} ${path}`, type: 'invalid_request_error', code: 'not_found' } });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        answer(413, { error: { message: 'AdmissionReview too large', type: 'invalid_request_error', code: 'body_too_large' } });
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      try {
        const result = review(path, JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReview);
        options.onReview?.(path, result.response.allowed, result.response.status?.message);
        answer(200, result);
      } catch (err) {
        answer(400, { error: { message: (err as Error).message, type: 'invalid_request_error', code: 'invalid_admission_review' } });
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}
