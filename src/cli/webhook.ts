// `switchyard webhook`: the validating admission webhook for ModelRoute, ModelServer and ExternalModelProvider.
// Certificates from files (cert-manager's tls.crt / tls.key), or a self-signed one generated at start-up whose PEM
// is logged (put it, base64-encoded, in the ValidatingWebhookConfiguration's caBundle).
import { readFile } from 'node:fs/promises';
import { createLogger, type LogLevel } from '../observability/logger.ts';
import { startWebhookServer } from '../webhook/webhook-server.ts';

export interface WebhookFlags {
  port: number;
  host: string;
  certFile?: string;
  keyFile?: string;
  /** DNS names (and IPs) of a generated certificate. */
  dnsName?: string[];
  logLevel: LogLevel;
}

export async function runWebhook(flags: WebhookFlags): Promise<void> {
  const logger = createLogger(flags.logLevel);
  let cert: string;
  let key: string;
  if (flags.certFile !== undefined || flags.keyFile !== undefined) {
    if (flags.certFile === undefined || flags.keyFile === undefined) throw new Error('--cert-file and --key-file go together');
    [cert, key] = await Promise.all([readFile(flags.certFile, 'utf8'), readFile(flags.keyFile, 'utf8')]);
  } else {
    ({ cert, key } = await generateCertificate(flags.dnsName ?? ['localhost', '127.0.0.1']));
    logger.info({ cert }, 'generated a self-signed serving certificate; use it as the caBundle');
  }
  const { server, port } = await startWebhookServer({
    cert,
    key,
    onReview: (path, allowed, message) => logger.info({ path, allowed, message }, 'admission review'),
  }, flags.port, flags.host);
  logger.info({ port, host: flags.host }, 'switchyard webhook listening');
  const stop = (): void => {
    server.close(() => logger.flush(() => process.exit(0)));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function generateCertificate(names: readonly string[]): Promise<{ cert: string; key: string }> {
  const { generate } = await import('selfsigned');
  const isIp = (name: string): boolean => /^[\d.]+$/.test(name) || name.includes(':');
  const pems = await generate([{ name: 'commonName', value: names[0] ?? 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: names.map((n) => (isIp(n) ? { type: 7, ip: n } : { type: 2, value: n })) }],
  });
  return { cert: pems.cert, key: pems.private };
}
