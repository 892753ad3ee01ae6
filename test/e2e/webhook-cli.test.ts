// `switchyard webhook` with certificate files laid out as the kubelet mounts a Secret (files behind the `..data`
// symlink, swapped atomically when cert-manager renews): a renewed certificate is served to new connections without
// a restart; a broken pair is refused and the last good certificate keeps serving.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/harness.ts';
import { freePort, runCli, spawnCli, type CliProcess } from '../support/process.ts';
import { createTestCa, type TestCa } from '../support/tls.ts';

/** The serial number of the certificate a new TLS connection is served. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.once('error', reject);
  });
}

function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}

describe('switchyard webhook certificate files', () => {
  let dir: string;
  let ca: TestCa;
  let webhook: CliProcess;
  let port: number;
  let generation = 0;

  /** Writes a new ..data directory and swaps the symlink to it, as the kubelet updates a mounted Secret. */
  async function mount(pair: { cert: string; key: string }): Promise<void> {
    const data = join(dir, `..data-${generation++}`);
    await mkdir(data);
    await writeFile(join(data, 'tls.crt'), pair.cert);
    await writeFile(join(data, 'tls.key'), pair.key);
    await symlink(data, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-webhook-tls-'));
    ca = createTestCa();
    await mount(ca.issue('first'));
    await symlink('..data/tls.crt', join(dir, 'tls.crt'));
    await symlink('..data/tls.key', join(dir, 'tls.key'));
    port = await freePort();
    webhook = spawnCli(['webhook', '--port', String(port), '--host', '127.0.0.1', '--cert-file', join(dir, 'tls.crt'), '--key-file', join(dir, 'tls.key')]);
    await webhook.waitForOutput(/switchyard webhook listening/);
  });

  after(async () => {
    await webhook?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a renewed certificate without a restart, and keeps the last good one when a pair is broken', async () => {
    const first = await servedSerial(port);
    const renewed = ca.issue('renewed');
    await mount(renewed);
    const expected = serialOf(renewed.cert);
    assert.notEqual(expected, first);
    await waitFor(async () => (await servedSerial(port)) === expected, 10_000, 'the renewed certificate');
    await webhook.waitForOutput(/webhook certificate reloaded/);

    // A key that does not match the certificate: refused, logged, and the renewed pair keeps serving.
    await mount({ cert: ca.issue('third').cert, key: renewed.key });
    await webhook.waitForOutput(/"err":"--cert-file .* and --key-file .* do not load as a pair.*webhook certificate not reloaded/, 10_000);
    assert.equal(await servedSerial(port), expected);
    assert.equal(webhook.hasExited, false);
  });
});

describe('switchyard webhook start-up errors', { concurrency: true }, () => {
  // Each is one line on stderr and exit 1, as for serve and mock: no uncaught exception's stack trace.
  const cases: [string, string[], RegExp][] = [
    ['certificate files that do not exist', ['--cert-file', '/nonexistent/tls.crt', '--key-file', '/nonexistent/tls.key'], /^switchyard webhook: cannot start: cannot read --cert-file \/nonexistent\/tls\.crt: ENOENT/],
    ['a certificate without its key', ['--cert-file', '/nonexistent/tls.crt'], /^switchyard webhook: cannot start: --cert-file and --key-file go together$/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const run = await runCli(['webhook', '--port', '0', '--host', '127.0.0.1', ...args]);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stderr.trim(), message);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    });
  }

  it('a port in use', async () => {
    const port = await freePort();
    const first = spawnCli(['webhook', '--port', String(port), '--host', '127.0.0.1']);
    try {
      await first.waitForOutput(/switchyard webhook listening/);
      const run = await runCli(['webhook', '--port', String(port), '--host', '127.0.0.1']);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stderr.trim(), /^switchyard webhook: cannot start: listen EADDRINUSE: address already in use 127\.0\.0\.1:\d+$/);
    } finally {
      await first.kill();
    }
  });
});
