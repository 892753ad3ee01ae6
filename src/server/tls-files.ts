// The router listener's certificate and key files (--tls-cert, --tls-key), read at start and watched: after a change
// (debounced, so that a cert and key rotated together are read together) both are read again and, when they load
// as a pair, replace the old ones for new connections. A bad pair is logged and the old one keeps serving.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { watch, type FSWatcher } from 'chokidar';
import type { TlsCredentials } from './router-server.ts';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** The flags that named the files, for error messages (default --tls-cert, --tls-key). */
  readonly flags?: { readonly cert: string; readonly key: string };
}

/** Reads and checks the pair; throws naming the file at fault. */
export async function readTlsFiles(files: TlsFiles): Promise<TlsCredentials> {
  const flags = files.flags ?? { cert: '--tls-cert', key: '--tls-key' };
  const [cert, key] = await Promise.all([readPem(files.certFile, flags.cert), readPem(files.keyFile, flags.key)]);
  // createSecureContext accepts an empty (or blank) cert or key, e.g. a file truncated mid-rewrite, and every
  // handshake would then fail: each file must hold what its flag names.
  try {
    new X509Certificate(cert);
  } catch (err) {
    throw new Error(`${flags.cert} ${files.certFile} holds no PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  try {
    createPrivateKey(key);
  } catch (err) {
    throw new Error(`${flags.key} ${files.keyFile} holds no PEM private key: ${(err as Error).message}`, { cause: err });
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`${flags.cert} ${files.certFile} and ${flags.key} ${files.keyFile} do not load as a pair: ${(err as Error).message}`, { cause: err });
  }
  return { cert, key };
}

async function readPem(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${flag} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Watches both files; `apply` gets every new valid pair, `fail` every change that did not load. */
export async function watchTlsFiles(
  files: TlsFiles,
  debounceMs: number,
  apply: (tls: TlsCredentials) => void,
  fail: (err: Error) => void,
): Promise<{ close(): Promise<void> }> {
  // Polling: certificates mounted from Kubernetes Secrets change by a symlink swap that event watchers can miss.
  const watcher: FSWatcher = watch([files.certFile, files.keyFile], { ignoreInitial: true, usePolling: true, interval: 500 });
  let timer: NodeJS.Timeout | null = null;
  const reload = (): void => {
    timer = null;
    readTlsFiles(files).then(apply, (err: unknown) => fail(err as Error));
  };
  watcher.on('all', () => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(reload, debounceMs);
  });
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return {
    async close() {
      if (timer !== null) clearTimeout(timer);
      await watcher.close();
    },
  };
}
