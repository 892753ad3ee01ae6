// A real Kubernetes control plane for tests: etcd and kube-apiserver (and kubectl) built by
// test/kube/install-envtest.sh, on free loopback ports, stopped by PID. The API server generates its own serving
// certificate (trusted through the kubeconfig); clients authenticate with static tokens: an admin (system:masters)
// for the test and kubectl, and the router's identity, a ServiceAccount name that deploy/'s RBAC binds.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { REPO_DIR, freePort } from './process.ts';

const INSTALL_SCRIPT = join(REPO_DIR, 'test/kube/install-envtest.sh');
export const ROUTER_USER = 'system:serviceaccount:switchyard-system:switchyard';

/** Where the binaries are, or why the Kubernetes tests skip (locally only: CI installs them and never skips). */
export function envtestBinaries(): { dir: string } | { skip: string } {
  const dir = execFileSync('bash', [INSTALL_SCRIPT, '--dir'], { encoding: 'utf8' }).trim();
  const missing = ['kube-apiserver', 'etcd', 'kubectl'].filter((bin) => !existsSync(join(dir, bin)));
  if (missing.length === 0) return { dir };
  const why = `missing ${missing.join(', ')} in ${dir}: run bash test/kube/install-envtest.sh`;
  if (process.env.CI === 'true') throw new Error(`Kubernetes tests cannot run in CI: ${why}`);
  return { skip: why };
}

class Daemon {
  readonly child: ChildProcess;
  output = '';
  constructor(bin: string, args: readonly string[]) {
    this.child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-20_000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

export class KubeCluster {
  readonly dir: string;
  readonly bin: string;
  readonly adminToken = 'switchyard-test-admin';
  readonly routerToken = 'switchyard-test-router';
  /** kubeconfig of the admin (kubectl, the test) and of the router's ServiceAccount identity. */
  readonly adminKubeconfig: string;
  readonly routerKubeconfig: string;
  apiPort = 0;
  private etcd: Daemon | null = null;
  private apiServer: Daemon | null = null;
  private readonly agent = new Agent({ connect: { rejectUnauthorized: false } });

  private constructor(dir: string, bin: string) {
    this.dir = dir;
    this.bin = bin;
    this.adminKubeconfig = join(dir, 'admin.kubeconfig');
    this.routerKubeconfig = join(dir, 'router.kubeconfig');
  }

  static async start(bin: string): Promise<KubeCluster> {
    const cluster = new KubeCluster(await mkdtemp(join(tmpdir(), 'switchyard-kube-')), bin);
    try {
      await onFreePorts(() => cluster.startEtcd());
      await onFreePorts(async () => {
        cluster.apiPort = await freePort();
        await cluster.startApiServer();
      });
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** kubectl of the API server's release, built beside it. */
  get kubectlBin(): string {
    return join(this.bin, 'kubectl');
  }

  get url(): string {
    return `https://127.0.0.1:${this.apiPort}`;
  }

  private async startEtcd(): Promise<void> {
    await this.etcd?.stop();
    await rm(join(this.dir, 'etcd'), { recursive: true, force: true }); // a failed attempt's member would keep its old URLs
    const [client, peer] = [await freePort(), await freePort()];
    this.etcdUrl = `http://127.0.0.1:${client}`;
    this.etcdPeerPort = peer;
    await this.runEtcd();
  }

  private etcdPeerPort = 0;

  /** Stops the API server and etcd, copies etcd's data (a backup, as `etcdctl snapshot` would take), restarts both. */
  async backupEtcd(): Promise<string> {
    await this.apiServer?.stop();
    await this.etcd?.stop();
    const backup = join(this.dir, `etcd-backup-${Date.now()}`);
    await cp(join(this.dir, 'etcd'), backup, { recursive: true });
    await this.runEtcd();
    await this.startApiServer();
    return backup;
  }

  /** Stops the API server and etcd, puts a backup's data in place (an etcd restore: resourceVersions go back), restarts. */
  async restoreEtcd(backup: string): Promise<void> {
    await this.apiServer?.stop();
    await this.etcd?.stop();
    await rm(join(this.dir, 'etcd'), { recursive: true, force: true });
    await cp(backup, join(this.dir, 'etcd'), { recursive: true });
    await this.runEtcd();
    await this.startApiServer();
  }

  /** etcd on the ports chosen, with the data in place. */
  private async runEtcd(): Promise<void> {
    const peer = this.etcdPeerPort;
    this.etcd = new Daemon(join(this.bin, 'etcd'), [
      '--name=default', `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=${this.etcdUrl}`, `--advertise-client-urls=${this.etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=default=http://127.0.0.1:${peer}`, '--unsafe-no-fsync', '--log-level=warn',
    ]);
    await this.waitFor(this.etcd, 'etcd', async () => {
      const res = await request(`${this.etcdUrl}/health`);
      return res.statusCode === 200 && (await res.body.text()).includes('true');
    });
  }

  private etcdUrl = '';

  /** Starts (or restarts, on the same port and data) the API server and waits for /readyz. */
  async startApiServer(): Promise<void> {
    await this.apiServer?.stop();
    const certDir = join(this.dir, 'certs');
    const saKey = join(this.dir, 'sa.key');
    if (!existsSync(saKey)) {
      execFileSync('openssl', ['genrsa', '-out', saKey, '2048'], { stdio: 'ignore' });
      await writeFile(join(this.dir, 'tokens.csv'),
        `${this.adminToken},admin,admin,"system:masters"\n${this.routerToken},${ROUTER_USER},router,"system:serviceaccounts,system:serviceaccounts:switchyard-system"\n`);
    }
    this.apiServer = new Daemon(join(this.bin, 'kube-apiserver'), [
      `--etcd-servers=${this.etcdUrl}`, `--secure-port=${this.apiPort}`, '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1', `--cert-dir=${certDir}`, `--token-auth-file=${join(this.dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC', '--service-cluster-ip-range=10.0.0.0/24', '--allow-privileged=true',
      '--disable-admission-plugins=ServiceAccount', '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${saKey}`, `--service-account-signing-key-file=${saKey}`,
      // Watch caches and endpoints of a one-node test control plane: nothing else needs to run.
      '--endpoint-reconciler-type=none', '--v=0',
    ]);
    await this.waitFor(this.apiServer, 'kube-apiserver', async () => {
      const res = await request(`${this.url}/readyz`, { dispatcher: this.agent, headers: { authorization: `Bearer ${this.adminToken}` } });
      await res.body.text();
      return res.statusCode === 200;
    }, 90_000);
    const ca = (await readFile(join(certDir, 'apiserver.crt'))).toString('base64');
    await writeFile(this.adminKubeconfig, kubeconfig(this.url, ca, this.adminToken));
    await writeFile(this.routerKubeconfig, kubeconfig(this.url, ca, this.routerToken));
  }

  async stopApiServer(): Promise<void> {
    await this.apiServer?.stop();
  }

  private async waitFor(daemon: Daemon, name: string, ready: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!daemon.running) throw new Error(`${name} exited:\n${daemon.output}`);
      if (await ready().catch(() => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${name} not ready after ${timeoutMs} ms:\n${daemon.output}`);
  }

  /** kubectl as the admin; `input` goes to stdin (use `-f -`). Throws with kubectl's stderr on failure. */
  kubectl(args: readonly string[], input?: string): string {
    return execFileSync(this.kubectlBin, [`--kubeconfig=${this.adminKubeconfig}`, ...args], {
      input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000,
    });
  }

  /** Like kubectl() but resolves to the exit code and both outputs instead of throwing. */
  kubectlResult(args: readonly string[], input?: string): { status: number; stdout: string; stderr: string } {
    try {
      return { status: 0, stdout: this.kubectl(args, input), stderr: '' };
    } catch (err) {
      const e = err as { status?: number; stdout?: string; stderr?: string };
      return { status: e.status ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  /** kubectl without blocking the event loop: for calls that reach a server in this process (a webhook). */
  kubectlAsync(args: readonly string[], input?: string): Promise<{ status: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = execFile(this.kubectlBin, [`--kubeconfig=${this.adminKubeconfig}`, ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
      });
      child.stdin?.end(input ?? '');
    });
  }

  async stop(): Promise<void> {
    await this.apiServer?.stop();
    await this.etcd?.stop();
    await this.agent.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

function kubeconfig(server: string, caData: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'envtest', cluster: { server, 'certificate-authority-data': caData } }],
    users: [{ name: 'user', user: { token } }],
    contexts: [{ name: 'envtest', context: { cluster: 'envtest', user: 'user' } }],
    'current-context': 'envtest',
  });
}

/**
 * Runs `start` again (it picks new ports) when the daemon it started found its port taken: a port freePort() saw
 * free can be given to another process's outgoing connection before the daemon binds it.
 */
async function onFreePorts(start: () => Promise<void>, attempts = 3): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      return;
    } catch (err) {
      if (attempt >= attempts || !String(err).includes('address already in use')) throw err;
    }
  }
}
