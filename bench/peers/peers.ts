// The peer routers the benchmarks run beside Switchyard: how to install them (bench/peers/install.sh, pinned versions,
// into a cache dir outside the repository) and the command line that starts each one in front of given workers.
// Shared by the proxy-overhead benchmark (plain proxies) and the routing benchmark (their smart policies).
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PEERS = ['smg', 'vllm-router', 'litellm'] as const;
export type PeerName = (typeof PEERS)[number];

const INSTALL_SCRIPT = fileURLToPath(new URL('./install.sh', import.meta.url));
export const PEERS_DIR = join(process.env.SWITCHYARD_CACHE ?? join(homedir(), '.cache', 'switchyard'), 'peers');
const ROUTER_BIN = join(PEERS_DIR, 'venv', 'bin');
const LITELLM_BIN = join(PEERS_DIR, 'litellm-venv', 'bin');
/** Pinned in install.sh; repeated here for the result files. */
export const PEER_VERSIONS: Readonly<Record<PeerName, string>> = { smg: '1.13.0', 'vllm-router': '0.1.17', litellm: '1.108.7' };

export function parsePeers(text: string): PeerName[] {
  const names = text.split(',').map((p) => p.trim()).filter(Boolean);
  if (names.length === 1 && names[0] === 'none') return [];
  for (const name of names) {
    if (!(PEERS as readonly string[]).includes(name)) throw new Error(`--peers takes ${PEERS.join(', ')} or none, comma-separated (got ${name})`);
  }
  return names as PeerName[];
}

/**
 * Runs install.sh for what `peers` need; returns, per peer, why it cannot run (absent when it can). Never throws:
 * a peer that cannot be installed is reported, not dropped.
 */
export function installPeers(peers: readonly PeerName[]): Map<PeerName, string> {
  const failures = new Map<PeerName, string>();
  const parts = new Map<string, PeerName[]>();
  for (const peer of peers) {
    const part = peer === 'litellm' ? 'litellm' : 'router';
    parts.set(part, [...(parts.get(part) ?? []), peer]);
  }
  for (const [part, members] of parts) {
    const result = spawnSync('bash', [INSTALL_SCRIPT, part], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    process.stdout.write(result.stdout);
    if (result.status !== 0) {
      const reason = `install failed: ${(result.stderr || result.error?.message || `exit ${result.status}`).trim().split('\n').slice(-3).join(' / ')}`;
      for (const peer of members) failures.set(peer, reason);
    }
  }
  for (const peer of peers) {
    if (!failures.has(peer) && !existsSync(binaryOf(peer))) failures.set(peer, `installed, but ${binaryOf(peer)} is missing`);
  }
  return failures;
}

function binaryOf(peer: PeerName): string {
  return peer === 'litellm' ? join(LITELLM_BIN, 'litellm') : join(ROUTER_BIN, peer);
}

export interface Worker {
  /** The model name the worker serves (what clients put in `model`). */
  readonly model: string;
  readonly url: string;
}

export interface PeerInstance {
  /** Service name, e.g. "smg" or "vllm-router-bench-static". */
  readonly name: string;
  readonly command: string[];
  readonly port: number;
  /** The models this instance routes (requests for other models must go to another instance). */
  readonly models: readonly string[];
}

export interface PeerLaunch {
  /** The policy: 'round_robin' for plain proxying; 'cache_aware', 'power_of_two', ... in the routing benchmark. */
  readonly policy: string;
  readonly workers: readonly Worker[];
  /** Free loopback ports: `portsNeeded(peer, workers)` of them. */
  readonly ports: readonly number[];
  readonly workDir: string;
  /** Command prefix, e.g. ['taskset', '-c', '1']. */
  readonly pin: readonly string[];
  /** Extra arguments for the router (e.g. cache-aware thresholds). */
  readonly extraArgs?: readonly string[];
}

/**
 * One instance routes by model name for SMG and LiteLLM; vLLM's router forwards every request to its workers whatever
 * the model, so it takes one instance per model. Each Rust router also gets a Prometheus port (its default is fixed).
 */
export function portsNeeded(peer: PeerName, workers: readonly Worker[]): number {
  const models = new Set(workers.map((w) => w.model)).size;
  return peer === 'smg' ? 2 : peer === 'vllm-router' ? 2 * models : 1;
}

/** The command lines that start `peer` in front of `workers`; everything on loopback, logging at warn level. */
export function peerInstances(peer: PeerName, launch: PeerLaunch): PeerInstance[] {
  const ports = [...launch.ports];
  const take = (): number => {
    const port = ports.shift();
    if (port === undefined) throw new Error(`not enough ports for ${peer}`);
    return port;
  };
  const models = [...new Set(launch.workers.map((w) => w.model))];
  const extra = launch.extraArgs ?? [];
  if (peer === 'smg') {
    const port = take();
    return [{
      name: 'smg',
      port,
      models,
      command: [...launch.pin, binaryOf('smg'), 'launch', '--host', '127.0.0.1', '--port', String(port),
        '--worker-urls', ...launch.workers.map((w) => w.url), '--policy', launch.policy,
        '--prometheus-host', '127.0.0.1', '--prometheus-port', String(take()), '--log-level', 'warn', ...extra],
    }];
  }
  if (peer === 'vllm-router') {
    return models.map((model) => {
      const port = take();
      return {
        name: models.length === 1 ? 'vllm-router' : `vllm-router-${model}`,
        port,
        models: [model],
        command: [...launch.pin, binaryOf('vllm-router'), '--host', '127.0.0.1', '--port', String(port),
          '--worker-urls', ...launch.workers.filter((w) => w.model === model).map((w) => w.url), '--policy', launch.policy,
          '--prometheus-host', '127.0.0.1', '--prometheus-port', String(take()), '--log-level', 'warning', ...extra],
      };
    });
  }
  // LiteLLM: one deployment per worker in its model_list; it balances deployments sharing a model_name itself.
  const port = take();
  const configPath = join(launch.workDir, 'litellm.yaml');
  const deployments = launch.workers.map((w) => [
    `  - model_name: ${JSON.stringify(w.model)}`,
    '    litellm_params:',
    `      model: ${JSON.stringify(`openai/${w.model}`)}`,
    `      api_base: ${JSON.stringify(`${w.url}/v1`)}`,
    '      api_key: none',
  ].join('\n'));
  writeFileSync(configPath, [
    '# Written by the Switchyard benchmarks: LiteLLM proxy as a plain OpenAI-compatible proxy, no database, no auth.',
    'model_list:',
    ...deployments,
    'router_settings:',
    `  routing_strategy: ${launch.policy === 'round_robin' ? 'simple-shuffle' : launch.policy}`,
    'litellm_settings:',
    '  drop_params: true',
    '  telemetry: false',
    'general_settings:',
    '  dangerously_permit_weak_or_unset_master_key: true',
    '',
  ].join('\n'));
  return [{
    name: 'litellm',
    port,
    models,
    command: [...launch.pin, binaryOf('litellm'), '--config', configPath, '--host', '127.0.0.1', '--port', String(port), '--num_workers', '1', ...extra],
  }];
}
