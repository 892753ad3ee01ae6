// `switchyard webhook`: the validating admission webhook for ModelRoute, ModelServer and ExternalModelProvider.
// Certificates from files (cert-manager's tls.crt / tls.key, watched: a renewed pair serves new connections without a
// restart), or a self-signed one generated at start-up whose PEM is logged (put it, base64-encoded, in the
// ValidatingWebhookConfiguration's caBundle).
import type { Logger } from 'pino';
import { createLogger, type LogLevel } from '../observability/logger.ts';
import { readTlsFiles, watchTlsFiles, type TlsFiles } from '../server/tls-files.ts';
import { startWebhookServer } from '../webhook/webhook-server.ts';

/** Quiet time after a certificate file changes before the pair is read again (cert and key change together). */
const CERT_RELOAD_DEBOUNCE_MS = 200;

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
  let started: Started;
  try {
    started = await start(flags, logger);
  } catch (err) {
    // As serve and mock: one line saying why, exit 1 (not an uncaught exception's stack trace).
    process.stderr.write(`switchyard webhook: cannot start: ${(err as Error).message}\n`);
    logger.flush(() => process.exit(1));
    return;
  }
  const { server, port, files } = started;
  const certWatcher = files === null ? null : await watchTlsFiles(files, CERT_RELOAD_DEBOUNCE_MS, (next) => {
    server.setSecureContext({ cert: next.cert, key: next.key });
    logger.info({ cert: flags.certFile }, 'webhook certificate reloaded');
  }, (err) => logger.error({ err: err.message }, 'webhook certificate not reloaded; the previous one keeps serving'));
  logger.info({ port, host: flags.host }, 'switchyard webhook listening');
  const stop = (): void => {
    void certWatcher?.close();
    server.close(() => logger.flush(() => process.exit(0)));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

type Started = Awaited<ReturnType<typeof startWebhookServer>> & { readonly files: TlsFiles | null };

/** The serving certificate (files, or generated), then the listener. */
async function start(flags: WebhookFlags, logger: Logger): Promise<Started> {
  let cert: string;
  let key: string;
  let files: TlsFiles | null = null;
  if (flags.certFile !== undefined || flags.keyFile !== undefined) {
    if (flags.certFile === undefined || flags.keyFile === undefined) throw new Error('--cert-file and --key-file go together');
    files = { certFile: flags.certFile, keyFile: flags.keyFile, flags: { cert: '--cert-file', key: '--key-file' } };
    ({ cert, key } = await readTlsFiles(files));
  } else {
    ({ cert, key } = await generateCertificate(flags.dnsName ?? ['localhost', '127.0.0.1']));
    logger.info({ cert }, 'generated a self-signed serving certificate; use it as the caBundle');
  }
  const { server, port } = await startWebhookServer({
    cert,
    key,
    onReview: (path, allowed, message) => logger.info({ path, allowed, message }, 'admission review'),
  }, flags.port, flags.host);
  return { server, port, files };
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
