// Certificates made by the test with openssl: a throw-away CA and server certificates it signs for 127.0.0.1 and
// localhost. Nothing is committed or downloaded; every call makes fresh keys in a temporary directory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  /** PEM of the CA certificate. */
  readonly cert: string;
  /** A server certificate (PEM chain and key) for 127.0.0.1 and localhost, signed by this CA. */
  issue(commonName?: string): { cert: string; key: string };
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function createTestCa(name = 'Switchyard Test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-ca-'));
  try {
    openssl(dir, ['req', '-x509', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${name}`]);
    const caCert = readFileSync(join(dir, 'ca.pem'), 'utf8');
    const caKey = readFileSync(join(dir, 'ca.key'), 'utf8');
    let serial = 1;
    return {
      cert: caCert,
      issue(commonName = 'localhost') {
        const work = mkdtempSync(join(tmpdir(), 'switchyard-cert-'));
        try {
          writeFileSync(join(work, 'ca.pem'), caCert);
          writeFileSync(join(work, 'ca.key'), caKey);
          writeFileSync(join(work, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
          openssl(work, ['req', ...EC_KEY, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', `/CN=${commonName}`]);
          openssl(work, ['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++ + Date.now()), '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf']);
          return { cert: readFileSync(join(work, 'srv.pem'), 'utf8'), key: readFileSync(join(work, 'srv.key'), 'utf8') };
        } finally {
          rmSync(work, { recursive: true, force: true });
        }
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
